#!/usr/bin/env python3
"""ESPnet's collect-stats outputs for the latent TTS, without building the task and its model.

Writes, for ``train`` and ``valid`` under ``--output_dir``, exactly what
``latent_tts_train --collect_stats true`` writes (ESPnet ``collect_stats``), from the latent arks and
the transcripts:

- ``feats_shape`` (``<utt> <frames>,<dim>``) and ``text_shape`` (``<utt> <tokens>``: the length of the
  token-id sequence ESPnet's ``CommonPreprocessor`` makes of the transcript, the one training uses);
- ``feats_stats.npz``: ``count = sum_u T_u``, ``sum = sum_{u,t} x_ut`` (D,), ``sum_square = sum_{u,t} x_ut^2``
  (D,) - what ``global_mvn`` reads;
- ``feats_lengths_stats.npz``: ``count = #utts``, ``sum = sum_u T_u``, ``sum_square = sum_u T_u^2``;
- ``batch_keys`` (``feats``, ``text``) and ``stats_keys`` (``feats``, ``feats_lengths``).

Sums are accumulated in float64 (ESPnet: float32), so ``sum`` agrees to float32 precision.
The task's model build and imports cost ~15 s of CPU per run; this costs ~2 s.

    python -m espnet_plugin.bin.tts_collect_stats --output_dir exp/tts_x/stats \\
        --train_latents exp/svae_x/latents/train/latents.scp --train_text dump/raw/train/text \\
        --valid_latents exp/svae_x/latents/dev/latents.scp --valid_text dump/raw/dev/text \\
        --token_type char --token_list exp/tts_tokens/char/tokens.txt
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence

import kaldiio
import numpy as np

from espnet_plugin.errors import DataError
from espnet_plugin.io.kaldi_dir import read_text

logger = logging.getLogger("tts_collect_stats")


def text_lengths(text_file: str, tokenize: Callable[[str, str], np.ndarray]) -> Dict[str, int]:
    """``{utt: number of token ids}`` of every transcript in ``text_file`` (``tokenize(utt, text)``)."""
    return {utt: int(len(tokenize(utt, txt))) for utt, txt in read_text(text_file).items()}


def collect_set(latents_scp: str, text_file: str, tokenize: Callable[[str, str], np.ndarray],
                out_dir: Path) -> int:
    """Write one set's shape files and statistics (see the module docstring); returns #utterances.

    Raises:
        DataError: an unreadable latent, a latent that is not (frames, dim), dims that differ, or an
            utterance without a transcript (each naming the utterance and file).
    """
    n_text = text_lengths(text_file, tokenize)
    out_dir.mkdir(parents=True, exist_ok=True)
    total = None
    total_sq = None
    count = 0
    lengths = []
    feats_shape, text_shape = [], []
    for utt, mat in kaldiio.load_scp_sequential(latents_scp):
        mat = np.asarray(mat)
        if mat.ndim != 2:
            raise DataError(f"{latents_scp}: latent of {utt!r} is not (frames, dim): shape {mat.shape}")
        if utt not in n_text:
            raise DataError(f"{text_file}: no transcript for {utt!r} (listed in {latents_scp})")
        x = mat.astype(np.float64)
        if total is None:
            total, total_sq = np.zeros(x.shape[1]), np.zeros(x.shape[1])
        elif x.shape[1] != total.shape[0]:
            raise DataError(f"{latents_scp}: {utt!r} has dim {x.shape[1]}, the first latent {total.shape[0]}")
        total += x.sum(0)
        total_sq += (x ** 2).sum(0)
        count += x.shape[0]
        lengths.append(x.shape[0])
        feats_shape.append(f"{utt} {x.shape[0]},{x.shape[1]}")
        text_shape.append(f"{utt} {n_text[utt]}")
    if total is None:
        raise DataError(f"{latents_scp}: no latents listed")
    (out_dir / "feats_shape").write_text("\n".join(feats_shape) + "\n", encoding="utf-8")
    (out_dir / "text_shape").write_text("\n".join(text_shape) + "\n", encoding="utf-8")
    np.savez(out_dir / "feats_stats.npz", count=count, sum=total, sum_square=total_sq)
    lens = np.asarray(lengths, dtype=np.int64)
    np.savez(out_dir / "feats_lengths_stats.npz", count=len(lens), sum=lens.sum(), sum_square=(lens ** 2).sum())
    (out_dir / "batch_keys").write_text("feats\ntext\n", encoding="utf-8")
    (out_dir / "stats_keys").write_text("feats\nfeats_lengths\n", encoding="utf-8")
    return len(lengths)


def make_tokenize(token_type: str, token_list: str, bpemodel: Optional[str], cleaner: Optional[str],
                  non_linguistic_symbols: Optional[str] = None) -> Callable[[str, str], np.ndarray]:
    """``tokenize(utt, text) -> token ids`` through ESPnet's ``CommonPreprocessor`` (as in training)."""
    from espnet2.train.preprocessor import CommonPreprocessor

    pre = CommonPreprocessor(train=False, token_type=token_type, token_list=token_list, bpemodel=bpemodel,
                             text_cleaner=cleaner, non_linguistic_symbols=non_linguistic_symbols)
    return lambda utt, text: pre(utt, {"text": text})["text"]


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output_dir", required=True)
    for s in ("train", "valid"):
        p.add_argument(f"--{s}_latents", required=True, help="latents.scp (kaldiio)")
        p.add_argument(f"--{s}_text", required=True, help="Kaldi text file")
    p.add_argument("--token_type", default="char")
    p.add_argument("--token_list", required=True)
    p.add_argument("--bpemodel", default=None)
    p.add_argument("--cleaner", default=None, help="ESPnet text cleaner (default: the --config's)")
    p.add_argument("--non_linguistic_symbols", default=None, help="(default: the --config's)")
    p.add_argument("--config", default=None, help="The TTS training config: its text options are the defaults")
    return p


def main(argv: Optional[Sequence[str]] = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s")
    args = get_parser().parse_args(argv)
    conf = {}
    if args.config:
        import yaml

        with open(args.config, encoding="utf-8") as f:
            conf = yaml.safe_load(f) or {}
    cleaner = args.cleaner if args.cleaner is not None else conf.get("cleaner")
    nls = args.non_linguistic_symbols if args.non_linguistic_symbols is not None else conf.get("non_linguistic_symbols")
    tokenize = make_tokenize(args.token_type, args.token_list, args.bpemodel, cleaner, nls)
    for s in ("train", "valid"):
        n = collect_set(getattr(args, f"{s}_latents"), getattr(args, f"{s}_text"), tokenize,
                        Path(args.output_dir) / s)
        logger.info("%s: %d utterances -> %s", s, n, Path(args.output_dir) / s)


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
