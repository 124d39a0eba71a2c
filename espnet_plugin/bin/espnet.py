#!/usr/bin/env python3
"""Run one of ESPnet's own command-line modules without its run-time NLTK download attempt.

    python -m espnet_plugin.bin.espnet espnet2.bin.tokenize_text --token_type char ...
    python -m espnet_plugin.bin.espnet espnet2.bin.hubert_train --config ...

Importing ``espnet_plugin`` defers ``g2p_en`` (:mod:`espnet_plugin.lazy_imports`); the module is
then run as ``__main__`` with the remaining arguments, exactly as ``python -m <module> ...`` would.
"""
from __future__ import annotations

import runpy
import sys

import espnet_plugin  # noqa: F401  (defers g2p_en before ESPnet imports its tokenizers)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-"):
        sys.exit("usage: python -m espnet_plugin.bin.espnet <module, e.g. espnet2.bin.tokenize_text> [args ...]")
    module = argv[0]
    sys.argv = [module] + argv[1:]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
