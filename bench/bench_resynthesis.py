#!/usr/bin/env python3
"""Resynthesis speed (encode + decode) of the speech VAE per decoder vs the ``vocos`` mel vocoder.

Variants (random weights; speed does not depend on training):

    vae-cpu-vocos      cpu/vanilla as is        (tiny DAC encoder + Vocos decoder)
    vae-cpu-bigvgan    the same with a tiny BigVGAN decoder (upsample_initial_channel 64)
    vae-paper-vocos    tuning/vanilla with the decoder of
                       conf/tuning/mel_vocoder.yaml (Vocos, dim 512, 1536, 8 layers)
    vae-paper-bigvgan  tuning/vanilla as is (BigVGAN, 512 channels)
    vocos-mel-24k      the ``vocos`` package's mel vocoder from its published 24 kHz config:
                       MelSpectrogramFeatures(24000, n_fft 1024, hop 256, 100 mels) +
                       VocosBackbone(100, dim 512, 1536, 8 layers) + ISTFTHead(512, 1024, 256)

All run on the same speech (``--seconds`` of espeak-ng sentences, or a synthetic harmonic signal
without espeak-ng): the VAEs at 16 kHz (40 latent frames/s), Vocos on the same audio resampled to
its native 24 kHz (93.75 mel frames/s). Timed: VAE ``encode`` + ``decode``; Vocos mel extraction +
vocoding (what ``Vocos.forward`` does), each also split into "analysis" (VAE encode / mel extraction)
and "synthesis" (VAE decode / Vocos backbone + iSTFT head). RTF = seconds of compute / seconds of
audio; "ms per s audio" is the same per second of audio. Runs are interleaved (common.py), batch 1, ``torch.inference_mode``.

    python bench/bench_resynthesis.py --quick                # 2 s of audio, 2 rounds
    python bench/bench_resynthesis.py --seconds 10           # CPU, full
    python bench/bench_resynthesis.py --device cuda --amp    # + bfloat16 autocast rows
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

ROOT = common.ROOT
CPU_CFG = common.full_config("cpu/vanilla")
PAPER_CFG = common.full_config("tuning/vanilla")
MEL_VOCODER_CFG = common.full_config("tuning/mel_vocoder")
TINY_BIGVGAN = dict(
    upsample_rates=[5, 5, 4, 4], upsample_kernel_sizes=[10, 10, 8, 8], upsample_initial_channel=64,
    resblock="1", resblock_kernel_sizes=[3, 7, 11], resblock_dilation_sizes=[[1, 3, 5]] * 3,
    activation="snakebeta",
)
SENTENCES = [
    "the quick brown fox jumps over the lazy dog",
    "seven small birds sang in the green garden",
    "please open the window before the rain starts",
    "she found an old map under the wooden table",
]


def speech(seconds: float, fs: int = 16000) -> np.ndarray:
    """(N,) float32 speech at ``fs``: espeak-ng sentences tiled to ``seconds`` (harmonic fallback)."""
    n = int(round(seconds * fs))
    parts: List[np.ndarray] = []
    if shutil.which("espeak-ng"):
        from espnet_plugin.io.audio import load_audio

        with tempfile.TemporaryDirectory() as d:
            for i, s in enumerate(SENTENCES):
                p = os.path.join(d, f"{i}.wav")
                subprocess.run(["espeak-ng", "-v", "en-us", "-w", p, s], check=True, capture_output=True)
                parts.append(load_audio(p, fs))
    else:
        t = np.arange(fs * 2) / fs
        parts.append(0.3 * sum(np.sin(2 * np.pi * 120 * k * t) / k for k in range(1, 8)) * (0.6 + 0.4 * np.sin(8 * np.pi * t)))
    wav = np.concatenate(parts)
    wav = np.tile(wav, int(np.ceil(n / len(wav))))[:n]
    return wav.astype(np.float32)


def build_vae(size: str, decoder: str) -> torch.nn.Module:
    """The VAE generator of ``size`` (cpu|paper) with ``decoder`` (vocos|bigvgan), random weights."""
    from espnet_plugin.tasks.speech_vae import SpeechVAETask, load_config

    args = SpeechVAETask.get_parser().parse_args(["--config", CPU_CFG if size == "cpu" else PAPER_CFG])
    if size == "cpu" and decoder == "bigvgan":
        args.decoder, args.decoder_conf = "bigvgan", dict(TINY_BIGVGAN)
    elif size == "paper" and decoder == "vocos":
        mel = load_config(MEL_VOCODER_CFG)
        args.decoder, args.decoder_conf = mel["decoder"], dict(mel["decoder_conf"])
    assert args.decoder == decoder, (args.decoder, decoder)
    return SpeechVAETask.build_generator(args).eval()


def build_vocos_mel() -> torch.nn.Module:
    """``vocos`` 0.1.0 mel vocoder with the published 24 kHz hyper-parameters, random weights."""
    from vocos import Vocos
    from vocos.feature_extractors import MelSpectrogramFeatures
    from vocos.heads import ISTFTHead
    from vocos.models import VocosBackbone

    return Vocos(
        feature_extractor=MelSpectrogramFeatures(sample_rate=24000, n_fft=1024, hop_length=256, n_mels=100),
        backbone=VocosBackbone(input_channels=100, dim=512, intermediate_dim=1536, num_layers=8),
        head=ISTFTHead(dim=512, n_fft=1024, hop_length=256),
    ).eval()


def main(cmd=None) -> Dict[str, float]:
    """Time every variant interleaved and print the table; -> {variant: median seconds per run}."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_args(p, repeats=5)
    p.add_argument("--seconds", type=float, default=None, help="audio length (default 10; 2 with --quick)")
    p.add_argument("--sizes", default="cpu,paper", help="comma list of VAE sizes: cpu, paper")
    p.add_argument("--decoders", default="vocos,bigvgan", help="comma list: vocos, bigvgan")
    args = p.parse_args(cmd)
    device = common.resolve_args(args)
    seconds = args.seconds or (2.0 if args.quick else 10.0)
    print(common.machine_info(device))

    import torchaudio

    wav16 = torch.from_numpy(speech(seconds))[None].to(device)
    wav24 = torchaudio.functional.resample(wav16.cpu(), 16000, 24000).to(device)
    models: Dict[str, torch.nn.Module] = {}
    for size in args.sizes.split(","):
        for dec in args.decoders.split(","):
            models[f"vae-{size}-{dec}"] = build_vae(size, dec).to(device)
    models["vocos-mel-24k"] = build_vocos_mel().to(device)
    info = {name: (sum(q.numel() for q in m.parameters()) / 1e6,
                   93.75 if name.startswith("vocos") else 40.0) for name, m in models.items()}

    analysis: Dict[str, List[float]] = {}  # seconds of encode / mel extraction inside each timed run

    def job(name: str, m: torch.nn.Module, amp: bool) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            with torch.inference_mode(), common.amp_context(device, amp):
                t0 = time.perf_counter()
                if name.startswith("vocos"):
                    feats = m.feature_extractor(wav24)
                else:
                    feats = m.encode(wav16)[0]
                common.sync(device)
                analysis.setdefault(name, []).append(time.perf_counter() - t0)
                if not name.startswith("vocos"):
                    return m.decode(feats)
                x = m.backbone(feats)  # = Vocos.decode, with the iSTFT head in float32 (as our decoder)
                with torch.autocast(device.type, enabled=False):
                    return m.head(x.float())
        return run

    fns = {name: job(name, m, False) for name, m in models.items()}
    if args.amp:
        fns.update({f"{name}+amp": job(name, m, True) for name, m in models.items()})
    for name, fn in fns.items():  # shape check (outside timing): about the input length
        n_in = (wav24 if name.startswith("vocos") else wav16).shape[-1]
        n_out = fn().shape[-1]
        assert abs(n_out - n_in) <= 1024, f"{name}: {n_out} samples out for {n_in} in"
    analysis.clear()
    times = common.interleaved(fns, device, args.repeats, args.warmup)
    med = {k: common.median(v) for k, v in times.items()}
    enc = {k: common.median(v[args.warmup:]) for k, v in analysis.items()}
    syn = {k: common.median([t - a for t, a in zip(times[k], analysis[k][args.warmup:])]) for k in times}

    rows = []
    for name, t in med.items():
        params, rate = info[name.replace("+amp", "")]
        ref = med["vocos-mel-24k" + ("+amp" if name.endswith("+amp") else "")]
        spread = f"{min(times[name]) * 1e3:.0f}-{max(times[name]) * 1e3:.0f}"
        rows.append([name, f"{params:.2f}", f"{rate:g}", f"{t * 1e3:.0f}", spread, f"{enc[name] * 1e3:.0f}",
                     f"{syn[name] * 1e3:.0f}", f"{t / seconds:.4f}", f"{t / seconds * 1e3:.1f}", f"{ref / t:.2f}x"])
    print(f"\nresynthesis of {seconds:g} s of speech (VAE 16 kHz, Vocos 24 kHz), batch 1, {device.type}, "
          f"median of {args.repeats} interleaved rounds after {args.warmup} warm-up")
    print(common.table(["variant", "params M", "frames/s", "ms per run", "min-max ms", "analysis ms",
                        "synthesis ms", "RTF", "ms per s audio", "speed vs vocos-mel-24k"], rows))
    for sfx in ("", "+amp") if args.amp else ("",):
        ref = "vocos-mel-24k" + sfx
        for size in args.sizes.split(","):
            name = f"vae-{size}-vocos{sfx}"
            if name in med:
                verdict = "faster" if med[name] < med[ref] else "NOT faster"
                print(f"{name} vs {ref}: resynthesis {med[ref] / med[name]:.2f}x ({verdict}; target: faster), "
                      f"synthesis only (decode vs backbone + head) {syn[ref] / syn[name]:.2f}x")
    return med


if __name__ == "__main__":
    main()
