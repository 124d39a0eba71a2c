#!/usr/bin/env python3
"""Zero-shot TTS test list: each target utterance gets a prompt from ANOTHER utterance of its speaker.

    python -m espnet_plugin.bin.make_tts_pairs --data_dir dump/raw/test --output exp/tts_x/test_pairs.tsv \
        [--max_pairs 40] [--min_prompt_seconds 1.0] [--max_prompt_seconds 4.0] [--seed 0]

Writes a tab-separated ``utt  prompt_wav  prompt_text  target_text`` list (read by
``espnet_plugin.bin.latent_tts_inference`` and ``score_tts``). Speakers with a single utterance are
skipped (no prompt can be taken from a different utterance). Deterministic for a seed.
"""

from __future__ import annotations

import argparse
import logging
import random
from pathlib import Path

from espnet_plugin.errors import DataError
from espnet_plugin.io.kaldi_dir import check_data_dir, read_scp, write_text_atomic


def make_pairs(data_dir: Path, max_pairs: int = 0, min_prompt: float = 1.0, max_prompt: float = 4.0,
               seed: int = 0, fs: int = 16000) -> list[tuple[str, str, str, str]]:
    """Sorted ``(utt, prompt_wav, prompt_text, target_text)`` rows (see the module docstring).

    Raises:
        DataError: ``wav.scp``/``text``/``utt2spk`` missing, unreadable or with different
            utterances (the message names the file and the utterances).
    """
    kd = check_data_dir(data_dir, require_text=True)
    wav, text = kd.wav, kd.text
    nsamp = {k: int(v) for k, v in read_scp(data_dir / "utt2num_samples").items()} if (data_dir / "utt2num_samples").is_file() else {}
    rng = random.Random(seed)
    pairs = []
    for spk, utts in kd.spk2utt.items():  # speakers sorted, each speaker's utterances sorted
        if len(utts) < 2:
            logging.warning(f"speaker {spk}: one utterance only, no zero-shot pair")
            continue
        ok = [u for u in utts if not nsamp or min_prompt * fs <= nsamp[u] <= max_prompt * fs] or utts
        for tgt in utts:
            cands = [u for u in ok if u != tgt] or [u for u in utts if u != tgt]
            p = rng.choice(cands)
            pairs.append((tgt, wav[p], text[p], text[tgt]))
    rng.shuffle(pairs)
    if max_pairs:
        pairs = pairs[:max_pairs]
    return sorted(pairs)


def main(cmd=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data_dir", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--max_pairs", type=int, default=0, help="0 = every utterance")
    ap.add_argument("--min_prompt_seconds", type=float, default=1.0)
    ap.add_argument("--max_prompt_seconds", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(cmd)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    pairs = make_pairs(Path(args.data_dir), args.max_pairs, args.min_prompt_seconds, args.max_prompt_seconds, args.seed)
    if not pairs:
        raise DataError(f"{args.data_dir}: no speaker has two utterances: no zero-shot pair")
    out = Path(args.output)
    write_text_atomic(out, "".join("\t".join(p) + "\n" for p in pairs))
    logging.info(f"{len(pairs)} zero-shot pairs -> {out}")


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
