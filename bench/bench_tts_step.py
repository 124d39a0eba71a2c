#!/usr/bin/env python3
"""Speed of the F5-style TTS on 40 Hz VAE latents vs on F5's mel frames, side by side.

The same DiT (F5-TTS Small by default) is timed on the frames of ``--seconds`` of speech:

    latent: 40 frames/s,    D = 64   (16 kHz, hop 400)
    mel:    93.75 frames/s, D = 100  (24 kHz, hop 256; F5-TTS's original features)

One ODE step = one batched conditional + unconditional transformer call (batch 2B).
``RTF = nfe * step_time / seconds``: the transformer only (text embedding cached, no vocoder /
VAE decoder). At batch 1 a GPU is bound by kernel-launch overhead (about 700 small kernels per
step for F5 Small), so the frame-rate advantage shows on CPU and at larger batches (``--batch 8``). ``--full_sample`` also times a whole ``CFM.sample`` (its RTF then includes the
text embedding and the ODE bookkeeping). Only torch and ``espnet_plugin.tts`` are imported.

    python bench/bench_tts_step.py                       # CPU, and CUDA when available
    python bench/bench_tts_step.py --devices cuda --dtype bfloat16 --full_sample --json out.json
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from contextlib import nullcontext

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from espnet_plugin.tts.cfm import CFM  # noqa: E402
from espnet_plugin.tts.dit import DiT  # noqa: E402

SIZES = {
    "small": dict(dim=768, depth=18, heads=12, dim_head=64, ff_mult=2, text_dim=512, conv_layers=4),
    "base": dict(dim=1024, depth=22, heads=16, dim_head=64, ff_mult=2, text_dim=512, conv_layers=4),
    "tiny": dict(dim=128, depth=4, heads=4, dim_head=32, ff_mult=2, text_dim=64, conv_layers=2),
}
REPRS = {"latent": (40.0, 64), "mel": (24000 / 256, 100)}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(fn, device: torch.device, warmup: int, repeats: int) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``fn`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    sync(device)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        out.append(time.perf_counter() - t0)
    return out


def bench_one(size: str, rep: str, device: torch.device, args) -> dict:
    """Time one ODE step (and optionally a full sample) for one representation on one device."""
    rate, d = REPRS[rep]
    t_len = math.ceil(args.seconds * rate)
    torch.manual_seed(0)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    dit = DiT(**SIZES[size], latent_dim=d, text_num_embeds=256, dropout=0.0).to(device).eval()
    cfm = CFM(dit)
    b = args.batch
    n_text = int(args.seconds * 15)  # ~15 characters per second of speech
    g = torch.Generator().manual_seed(0)
    text = torch.randint(0, 256, (b, n_text), generator=g).to(device)
    cond = torch.randn(b, t_len // 3, d, generator=g).to(device)
    mask = torch.ones(b, t_len, dtype=torch.bool, device=device)
    c = torch.nn.functional.pad(cond, (0, 0, 0, t_len - cond.size(1)))
    x = torch.randn(b, t_len, d, generator=g).to(device)
    amp = (
        torch.autocast(device.type, dtype=getattr(torch, args.dtype))
        if args.dtype != "float32" else nullcontext()
    )
    with torch.inference_mode(), amp:
        v = cfm.velocity_fn(c, text, mask if args.with_mask else None, cfg_strength=2.0)
        t = torch.tensor(0.5, device=device)
        warm = args.warmup if args.warmup is not None else (1 if device.type == "cpu" else 10)
        reps = args.repeats if args.repeats is not None else (2 if device.type == "cpu" else 30)
        step = statistics.median(time_calls(lambda: v(x, t), device, warm, reps))
        res = dict(device=str(device), repr=rep, frames=t_len, dim=d, batch=b, step_ms=step * 1e3,
                   rtf=args.nfe * step / (args.seconds * b))
        if args.full_sample:
            full = statistics.median(time_calls(
                lambda: cfm.sample(cond, text, t_len, steps=args.nfe, seed=0), device, 1, max(1, reps // 5)))
            res["rtf_full"] = full / (args.seconds * b)
    if device.type == "cuda":
        res["peak_mem_gb"] = torch.cuda.max_memory_allocated(device) / 2**30
    return res


def main(cmd=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="small", choices=sorted(SIZES))
    p.add_argument("--devices", default=None, help="comma list (default: cpu, plus cuda when available)")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--nfe", type=int, default=32)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--warmup", type=int, default=None)
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--full_sample", action="store_true")
    p.add_argument("--with_mask", action="store_true",
                   help="pass an all-valid padding mask (as in a padded batch); default None, as sample() "
                        "does when the batch has no padding")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(cmd)
    devices = args.devices.split(",") if args.devices else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    results = []
    print(f"DiT {args.size}, {args.seconds:g} s of speech, NFE {args.nfe}, CFG batched, batch {args.batch}, "
          f"{'mask' if args.with_mask else 'no mask'}, {args.dtype}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    for dev in devices:
        device = torch.device(dev)
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        rows = {rep: bench_one(args.size, rep, device, args) for rep in REPRS}
        results += list(rows.values())
        lat, mel = rows["latent"], rows["mel"]
        print(f"\n[{name}]")
        print(f"{'':22s}{'latent 40 Hz D=64':>20s}{'mel 93.75 Hz D=100':>20s}{'mel / latent':>14s}")
        print(f"{'frames':22s}{lat['frames']:>20d}{mel['frames']:>20d}{mel['frames'] / lat['frames']:>14.2f}")
        print(f"{'ms per ODE step':22s}{lat['step_ms']:>20.2f}{mel['step_ms']:>20.2f}{mel['step_ms'] / lat['step_ms']:>14.2f}")
        print(f"{'RTF (transformer)':22s}{lat['rtf']:>20.4f}{mel['rtf']:>20.4f}{mel['rtf'] / lat['rtf']:>14.2f}")
        if args.full_sample:
            print(f"{'RTF (full sample)':22s}{lat['rtf_full']:>20.4f}{mel['rtf_full']:>20.4f}"
                  f"{mel['rtf_full'] / lat['rtf_full']:>14.2f}")
        if "peak_mem_gb" in lat:
            print(f"{'peak GPU memory (GB)':22s}{lat['peak_mem_gb']:>20.2f}{mel['peak_mem_gb']:>20.2f}"
                  f"{mel['peak_mem_gb'] / lat['peak_mem_gb']:>14.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(args=vars(args), results=results), f, indent=2)
    return results


if __name__ == "__main__":
    main()
