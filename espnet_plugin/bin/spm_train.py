#!/usr/bin/env python3
"""sentencepiece's trainer with its own ``--flag=value`` options (what ESPnet recipes call ``spm_train``).

    python -m espnet_plugin.bin.spm_train --input=train.txt --vocab_size=100 --model_type=unigram \\
        --model_prefix=bpe --character_coverage=1.0 --input_sentence_size=100000000

The pip ``espnet`` has no ``espnet2.bin.spm_train`` (ESPnet's recipes call the ``spm_train`` binary
from their tools); this runs ``sentencepiece.SentencePieceTrainer.train`` with the same arguments.
"""
from __future__ import annotations

import sys
from typing import Optional, Sequence


def main(argv: Optional[Sequence[str]] = None) -> None:
    import sentencepiece as spm

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or any(not a.startswith("--") for a in args):
        sys.exit("usage: spm_train --input=FILE --model_prefix=PREFIX --vocab_size=N [--flag=value ...]")
    spm.SentencePieceTrainer.train(" ".join(args))


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
