#!/usr/bin/env python3
"""How much a latent varies in time: the share of its variance that lies within utterances.

    python -m espnet_plugin.bin.latent_stats --scp exp/svae_jmas/latents/test/latents.scp \\
        --out_json exp/svae_jmas/latents/test/stats.json

``time_share = mean_u mean_d var_t(z_u[:, d]) / mean_d var(z[:, d])`` over all frames of all
utterances (``z_u`` (T_u, D) one utterance's latent): about 1 when frames differ within an utterance
as much as across the corpus, 0 for a latent that is constant over each utterance (a collapsed
encoder: the decoder then hears one frame repeated, a buzz). Also written: ``frame_std`` (mean over
dims of the std over all frames), the number of utterances and frames.
"""
from __future__ import annotations

import argparse
import json
import logging
from typing import Iterable, Sequence

import numpy as np

from espnet_plugin.errors import DataError


def time_share(latents: Iterable[np.ndarray]) -> dict:
    """``{"time_share", "frame_std", "n_utts", "n_frames"}`` of (T, D) latents (see the module doc)."""
    within, frames, n = [], [], 0
    for z in latents:
        z = np.asarray(z, dtype=np.float64)
        if z.ndim != 2 or z.shape[0] == 0:
            raise DataError(f"latent of shape {z.shape}: expected (T, D) with T > 0")
        within.append(z.var(axis=0).mean())
        frames.append(z)
        n += 1
    if not n:
        raise DataError("no latents")
    allf = np.concatenate(frames)
    total = allf.var(axis=0).mean()
    share = float(np.mean(within) / total) if total > 0 else 0.0
    return {"time_share": share, "frame_std": float(allf.std(axis=0).mean()), "n_utts": n,
            "n_frames": int(allf.shape[0])}


def main(cmd: Sequence[str] | None = None) -> dict:
    import kaldiio

    from espnet_plugin.io.kaldi_dir import write_text_atomic

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scp", required=True, help="kaldiio scp of (T, D) latents")
    p.add_argument("--out_json", required=True)
    args = p.parse_args(cmd)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        stats = time_share(m for _, m in kaldiio.load_scp_sequential(args.scp))
    except (OSError, ValueError) as exc:  # a missing / unreadable scp or ark, or a DataError
        raise DataError(f"{args.scp}: {exc}") from exc
    stats["scp"] = args.scp
    write_text_atomic(args.out_json, json.dumps(stats, indent=2) + "\n")
    logging.info("%s: latent variance within utterances / total = %.3f", args.scp, stats["time_share"])
    return stats


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
