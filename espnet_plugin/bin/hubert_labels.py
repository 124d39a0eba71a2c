#!/usr/bin/env python3
"""MFCC k-means targets for pretraining a small HuBERT teacher with ESPnet's HuBERT task.

    # fit k-means on train and label it; then label dev with the same centroids
    python -m espnet_plugin.bin.hubert_labels --wav_scp dump/raw/train/wav.scp \
        --km_path exp/teacher/km.npy --output_dir dump/hubert_labels/train --n_clusters 32
    python -m espnet_plugin.bin.hubert_labels --wav_scp dump/raw/dev/wav.scp \
        --km_path exp/teacher/km.npy --output_dir dump/hubert_labels/dev

Features: 13 MFCCs (25 ms / 10 ms, 40 mel bands) + deltas + delta-deltas (39-d), per-utterance mean/variance normalised,
100 Hz subsampled x2 to HuBERT's 50 Hz, and trimmed/padded to the conv extractor's frame count
``floor((N - 400) / 320) + 1``. Writes ``text`` (one cluster id per frame) and ``token_list`` (ids 0..K-1, then ``<unk>``).
An existing ``km_path`` is applied, never refitted (delete it to refit).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torchaudio
from tqdm import tqdm

from espnet_plugin.io.scp_audio import load_entry
from espnet_plugin.io.kaldi_dir import read_scp, write_scp, write_text_atomic


_MFCC = {}


def mfcc_50hz(wav: np.ndarray, fs: int = 16000) -> np.ndarray:
    """(N,) waveform -> (T50, 39) normalised MFCC+deltas at HuBERT's frame count."""
    if fs not in _MFCC:  # 25 ms windows, 10 ms hop, 40 mel bands, 13 cepstra (vectorised, built once)
        _MFCC[fs] = torchaudio.transforms.MFCC(
            sample_rate=fs, n_mfcc=13,
            melkwargs=dict(n_fft=int(0.025 * fs), hop_length=int(0.01 * fs), n_mels=40, center=False),
        )
    x = torch.from_numpy(wav).float()
    m = _MFCC[fs](x).T  # (T100, 13)
    d1 = torchaudio.functional.compute_deltas(m.T[None])[0].T
    d2 = torchaudio.functional.compute_deltas(d1.T[None])[0].T
    f = torch.cat([m, d1, d2], dim=1)
    f = (f - f.mean(0)) / (f.std(0) + 1e-5)
    f = f[::2]
    n = max((wav.shape[0] - 400) // 320 + 1, 1)
    if f.shape[0] < n:
        f = torch.cat([f, f[-1:].expand(n - f.shape[0], -1)], dim=0)
    return f[:n].numpy()


def main(cmd=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--wav_scp", required=True)
    p.add_argument("--km_path", required=True, help="centroids .npy (fitted here when absent)")
    p.add_argument("--output_dir", required=True)
    p.add_argument("--n_clusters", type=int, default=32)
    p.add_argument("--max_fit_frames", type=int, default=200000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(cmd)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    wavs = read_scp(args.wav_scp)
    feats = {k: mfcc_50hz(load_entry(v, 16000, utt_id=k)) for k, v in tqdm(sorted(wavs.items()), desc="mfcc", file=sys.stderr, mininterval=5)}
    km_path = Path(args.km_path)
    if km_path.is_file():
        centroids = np.load(km_path)
        logging.info(f"applying existing k-means {km_path} ({centroids.shape[0]} clusters)")
    else:
        from sklearn.cluster import MiniBatchKMeans

        allf = np.concatenate(list(feats.values()))
        rng = np.random.default_rng(args.seed)
        if allf.shape[0] > args.max_fit_frames:
            allf = allf[rng.choice(allf.shape[0], args.max_fit_frames, replace=False)]
        km = MiniBatchKMeans(n_clusters=args.n_clusters, random_state=args.seed, n_init=3, batch_size=4096).fit(allf)
        centroids = km.cluster_centers_.astype(np.float32)
        km_path.parent.mkdir(parents=True, exist_ok=True)
        np.save(str(km_path) + ".tmp.npy", centroids)
        os.replace(str(km_path) + ".tmp.npy", km_path)
        logging.info(f"fitted {args.n_clusters}-means on {allf.shape[0]} frames -> {km_path}")
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    c = torch.from_numpy(centroids)
    labels = {}
    for k, f in feats.items():
        ids = torch.cdist(torch.from_numpy(f), c).argmin(1).tolist()
        labels[k] = " ".join(map(str, ids))
    write_scp(out / "text", labels)
    # ids 0..K-1 in order (label i -> token id i); ESPnet's converter also needs <unk>
    write_text_atomic(out / "token_list", "".join(f"{i}\n" for i in range(centroids.shape[0])) + "<unk>\n")
    logging.info(f"wrote {len(labels)} label sequences to {out}/text")


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
