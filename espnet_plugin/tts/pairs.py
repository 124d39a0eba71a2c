"""The zero-shot TTS test list (pair list) read by synthesis and scoring.

Format: tab-separated ``utt  prompt_wav  prompt_text  target_text`` per line; an optional first
line starting with ``utt<TAB>`` is a header; blank lines are skipped. Written by
``espnet_plugin.bin.make_tts_pairs``.
"""
from __future__ import annotations

from espnet_plugin.errors import DataError


def read_pair_list(path: str) -> dict[str, tuple[str, str, str]]:
    """Read the TTS test list: ``{utt: (prompt_wav, prompt_text, target_text)}``.

    Raises:
        DataError: a line without 4 tab-separated fields, or a duplicate utterance id.
    """
    out: dict[str, tuple[str, str, str]] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip() or (lineno == 1 and line.split("\t")[0] == "utt"):
                continue
            parts = line.split("\t")
            if len(parts) != 4:
                raise DataError(f"{path}:{lineno}: expected 4 tab-separated fields "
                                f"(utt, prompt_wav, prompt_text, target_text), got {len(parts)}")
            utt = parts[0].strip()
            if utt in out:
                raise DataError(f"{path}:{lineno}: duplicate utterance {utt!r}")
            out[utt] = (parts[1].strip(), parts[2].strip(), parts[3].strip())
    if not out:
        raise DataError(f"{path}: empty TTS test list")
    return out
