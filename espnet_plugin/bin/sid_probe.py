#!/usr/bin/env python3
"""Speaker-identification probe: pooled frozen features + a linear classifier.

    # latents written by the VAE stage (or any kaldiio feats.scp, e.g. the teacher cache)
    python -m espnet_plugin.bin.sid_probe --feats_scp exp/svae_x/latents/train/latents.scp \
        --utt2spk dump/raw/train/utt2spk --out_json exp/probe_x/sid/sid.json
    # Fbank baseline: 80-d log-mel fbank (ESPnet's default frontend, 25 ms / 10 ms) from the audio
    python -m espnet_plugin.bin.sid_probe --wav_scp dump/raw/train/wav.scp --feature fbank ...
    # a VAE without extracted latents: encode on the fly (posterior mean)
    python -m espnet_plugin.bin.sid_probe --wav_scp ... --feature vae --vae_config ... --vae_model_file ...

Accuracy is measured on held-out utterances of the training speakers (deterministic per-speaker
split, see :func:`espnet_plugin.probe.sid.split_per_speaker`). Writes a JSON with ``sid_acc`` (%),
``chance``, split sizes and the settings; stage 21 merges it into the probe's ``metrics.json``.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Dict, Sequence

import numpy as np
import torch

from espnet_plugin.errors import ConfigError


def get_parser() -> argparse.ArgumentParser:
    from espnet2.utils.types import str2bool

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--feats_scp", help="kaldiio scp of (T, D) frames per utterance")
    src.add_argument("--wav_scp", help="audio; features computed with --feature")
    p.add_argument("--feature", choices=["fbank", "vae"], default="fbank", help="with --wav_scp")
    p.add_argument("--vae_config", default=None)
    p.add_argument("--vae_model_file", default=None)
    p.add_argument("--utt2spk", required=True)
    p.add_argument("--out_json", required=True)
    p.add_argument("--heldout", type=float, default=0.2, help="fraction of each speaker's utterances held out")
    p.add_argument("--with_std", type=str2bool, default=True, help="pool mean and std (else mean only)")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--weight_decay", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fs", type=int, default=16000)
    p.add_argument("--device", default="cpu")
    return p


@torch.no_grad()
def wav_features(wav_scp: str, keys: Sequence[str], feature: str, fs: int, device: str,
                 vae_config: str | None = None, vae_model_file: str | None = None) -> Dict[str, np.ndarray]:
    """utt -> (T, D) frames: 80-d log-mel fbank (ESPnet ``DefaultFrontend``) or VAE posterior means."""
    from espnet_plugin.io.scp_audio import load_entry
    from espnet_plugin.io.kaldi_dir import read_scp

    wavs = read_scp(wav_scp)
    if feature == "vae":
        if not vae_config:
            raise ConfigError("--feature vae needs --vae_config")
        from espnet_plugin.vae.loading import load_svae

        vae = load_svae(vae_config, vae_model_file, device=device)
        fs = vae.fs

        def extract(x: torch.Tensor) -> torch.Tensor:
            return vae.encode(x)[0][0]
    else:
        from espnet2.asr.frontend.default import DefaultFrontend

        fb = DefaultFrontend(fs=fs, n_fft=512, win_length=400, hop_length=160, n_mels=80).to(device).eval()

        def extract(x: torch.Tensor) -> torch.Tensor:
            return fb(x, torch.tensor([x.size(1)], device=device))[0][0]

    out = {}
    for k in keys:
        if k not in wavs:
            continue
        x = torch.from_numpy(load_entry(wavs[k], fs, utt_id=k)).to(device)[None]
        out[k] = extract(x).float().cpu().numpy()
    return out


def main(cmd=None) -> dict:
    from espnet_plugin.io.kaldi_dir import read_scp, write_text_atomic
    from espnet_plugin.probe.sid import read_feats_scp, run_sid_probe

    args = get_parser().parse_args(cmd)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    t0 = time.perf_counter()
    utt2spk = read_scp(args.utt2spk)
    if args.feats_scp:
        feats = read_feats_scp(args.feats_scp, keys=list(utt2spk))
        source = args.feats_scp
    else:
        feats = wav_features(args.wav_scp, list(utt2spk), args.feature, args.fs, args.device,
                             args.vae_config, args.vae_model_file)
        source = f"{args.wav_scp} ({args.feature})"
    res = run_sid_probe(feats, utt2spk, heldout=args.heldout, with_std=args.with_std, steps=args.steps,
                        lr=args.lr, weight_decay=args.weight_decay, seed=args.seed)
    res["features"] = source
    res["seconds"] = round(time.perf_counter() - t0, 2)
    out = Path(args.out_json)
    write_text_atomic(out, json.dumps(res, indent=2) + "\n")
    logging.info(f"speaker id: {res['sid_acc']:.1f}% on {res['n_test']} held-out utts of {res['n_speakers']} "
                 f"speakers (chance {res['chance']:.1f}%) -> {out}")
    return res


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
