#!/usr/bin/env python3
"""Check a Kaldi data dir before any work, reporting EVERY bad utterance at once.

    python -m espnet_plugin.bin.check_data_dir --data_dir dump/raw/dev [--token_list tokens.txt] [--no_text]

Reads ``wav.scp``, ``utt2spk`` and ``text`` (:func:`espnet_plugin.io.kaldi_dir.check_data_dir`,
collecting problems instead of stopping at the first): an utterance missing from one of them, a bad
line, and, with ``--token_list`` (ESPnet's ``tokens.txt``, one token per line), a transcript with
characters no token covers (they would silently become ``<unk>``). The characters a token list
covers are those of its tokens other than the ``<...>`` symbols; ``<space>`` (char lists) and
``\u2581`` (sentencepiece) stand for the space. One :class:`DataError` names the bad utterances
(the first 20 and a count) with their reasons; nothing is printed when the dir is clean.
``--unknown_chars warn`` logs the unknown characters instead (a tiny training set may lack a rare
letter of the valid/test text), still failing on missing utterances.
"""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Sequence, Union

from espnet_plugin.errors import DataError

PathLike = Union[str, os.PathLike]
MAX_LISTED = 20
SPACE_TOKENS = ("<space>", "\u2581")
CHARS_REASON = "text has characters not in"


def token_chars(token_list: PathLike) -> set[str]:
    """The characters covered by the tokens of ``token_list`` (see the module docstring)."""
    chars: set[str] = set()
    for line in Path(token_list).read_text(encoding="utf-8").splitlines():
        tok = line.strip()
        if not tok:
            continue
        if tok in SPACE_TOKENS:
            chars.add(" ")
        elif not (tok.startswith("<") and tok.endswith(">")):
            for space in SPACE_TOKENS[1:]:
                if space in tok:
                    chars.add(" ")
                    tok = tok.replace(space, "")
            chars.update(tok)
    return chars


def find_problems(data_dir: PathLike, token_list: PathLike | None = None,
                  require_text: bool = True) -> list[tuple[str, str]]:
    """``[(utt, reason)]`` for every bad utterance of ``data_dir`` (empty: clean).

    Raises:
        DataError: problems that are not about one utterance (missing dir or file, duplicate keys,
            a token list that cannot be read).
    """
    from espnet_plugin.io.kaldi_dir import check_data_dir

    problems: list[tuple[str, str]] = []
    kd = check_data_dir(data_dir, require_text=require_text, problems=problems, allow_segments=True)
    if token_list is not None and kd.text is not None:
        try:
            known = token_chars(token_list)
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{token_list}: cannot read the token list: {exc}") from exc
        for utt in sorted(kd.text):
            unknown = sorted({c for c in kd.text[utt] if c not in known and not c.isspace()})
            if unknown:
                problems.append((utt, f"{CHARS_REASON} {token_list}: "
                                      + " ".join(repr(c) for c in unknown)))
    return problems


def check(data_dir: PathLike, token_list: PathLike | None = None, require_text: bool = True,
          unknown_chars: str = "error") -> None:
    """Raise one :class:`DataError` listing every bad utterance of ``data_dir`` (see the module docstring).

    ``unknown_chars="warn"``: characters outside the token list are logged (one warning, same
    listing) instead of raising; missing utterances still raise.
    """
    problems = find_problems(data_dir, token_list, require_text)
    if unknown_chars == "warn":
        chars = [(u, r) for u, r in problems if r.startswith(CHARS_REASON)]
        if chars:
            logging.warning(_listing(data_dir, chars) + "\n  (they become <unk>)")
        problems = [(u, r) for u, r in problems if not r.startswith(CHARS_REASON)]
    if problems:
        raise DataError(_listing(data_dir, problems))


def _listing(data_dir: PathLike, problems: list[tuple[str, str]]) -> str:
    utts = sorted({u for u, _ in problems})
    lines = [f"  {u}: {r}" for u, r in problems[:MAX_LISTED]]
    more = f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    return (f"{data_dir}: {len(utts)} bad utterances ({len(problems)} problems):\n"
            + "\n".join(lines) + more)


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_dir", required=True, action="append", help="repeat for several dirs")
    p.add_argument("--token_list", default=None, help="tokens.txt: also check the text's characters")
    p.add_argument("--no_text", action="store_true", help="the dir need not have a text file")
    p.add_argument("--unknown_chars", default="error", choices=["error", "warn"],
                   help="characters outside --token_list: an error, or one warning (they become <unk>)")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for d in args.data_dir:
        check(d, args.token_list, require_text=not args.no_text, unknown_chars=args.unknown_chars)
        logging.info(f"{d}: checked{' against ' + args.token_list if args.token_list else ''}")


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
