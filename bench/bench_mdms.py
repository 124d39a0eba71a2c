#!/usr/bin/env python
"""Side-by-side speed and peak memory of the mdms (marginal distance-matrix) loss.

Compares ``espnet_plugin.distill`` ``mdms`` (rows normalised, one matmul: N x N memory) with the
naive form ``cosine_similarity(x[:, None], x[None], dim=-1)`` (materialises N x N x F) at the
paper's shape: B=8, T=82 latent frames (2.05 s at 40 Hz), F=1024, batch scope (N = 656 frames),
m2 = 0.25. Checks that both give the same value (to 1e-5) and prints a small table.

Time: median wall time over ``--repeats`` runs after one warm-up, both forms interleaved in
this process. Peak memory above the inputs: CUDA ``torch.cuda.max_memory_allocated``; on CPU
the process's peak resident set (``VmHWM`` after a reset via ``/proc/self/clear_refs``, or
``ru_maxrss``), each form measured once in a fresh child process so neither sees the other's
freed memory.

    python bench/bench_mdms.py                  # forward + backward (training step)
    python bench/bench_mdms.py --forward-only   # forward only
    python bench/bench_mdms.py --B 2            # smaller
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Callable, Optional

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from espnet_plugin.distill import build_term  # noqa: E402

MiB = 2**20


def naive_mdms(g: torch.Tensor, f: torch.Tensor, m2: float) -> torch.Tensor:
    """The paper-code form: (N, F), (N, F) -> () via N x N x F cosine tensors."""
    cg = F.cosine_similarity(g[:, None], g[None], dim=-1)
    cf = F.cosine_similarity(f[:, None], f[None], dim=-1)
    return F.relu((cg - cf).abs() - m2).mean()


def make_inputs(args: argparse.Namespace, device: torch.device):
    """g (B, T, F) requiring grad (as a projection output would), f (B, T, F), mask all valid.

    Both are low-rank (rank 8) mixtures of one shared frame code plus noise, so their cosine
    matrices spread over [-1, 1] and differ (plain Gaussian vectors in 1024 dims have all
    cosines near 0 and the margin would make the loss exactly 0).
    """
    gen = torch.Generator().manual_seed(0)
    shape = (args.B, args.T, 8)
    code = torch.randn(shape, generator=gen)
    full = (args.B, args.T, args.F)
    g = code @ torch.randn(8, args.F, generator=gen) + 0.3 * torch.randn(full, generator=gen)
    code_f = code + 0.7 * torch.randn(shape, generator=gen)
    f = code_f @ torch.randn(8, args.F, generator=gen) + 0.3 * torch.randn(full, generator=gen)
    g = g.to(device).requires_grad_(True)
    f = f.to(device)
    mask = torch.ones(args.B, args.T, dtype=torch.bool, device=device)
    return g, f, mask


def make_step(impl: str, args: argparse.Namespace) -> Callable:
    """-> step(g, f, mask) returning (loss, grad of g or None)."""
    term = build_term("mdms", m2=args.m2, scope="batch")

    def step(g, f, mask):
        with torch.set_grad_enabled(not args.forward_only):
            if impl == "matmul":
                loss = term(g, f, mask)
            else:
                loss = naive_mdms(g[mask], f[mask], args.m2)
            grad = None if args.forward_only else torch.autograd.grad(loss, g)[0]
        return loss.detach(), grad

    return step


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rss_status() -> dict[str, float]:
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, val = line.split(":", 1)
            if key in ("VmHWM", "VmRSS"):
                out[key] = int(val.split()[0]) * 1024
    return out


def cpu_peak_child(impl: str, args: argparse.Namespace) -> float:
    """Run in a child: peak bytes of one step above the state after building the inputs."""
    g, f, mask = make_inputs(args, torch.device("cpu"))
    step = make_step(impl, args)
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the peak RSS to the current RSS
        base = _rss_status()["VmRSS"]
        step(g, f, mask)
        return _rss_status()["VmHWM"] - base
    except OSError:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        step(g, f, mask)
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base


def peak_memory(impl: str, args: argparse.Namespace, device: torch.device, inputs) -> Optional[float]:
    """Peak bytes of one step (CUDA: allocator stats in-process; CPU: child process)."""
    if device.type == "cuda":
        step = make_step(impl, args)
        _sync(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        out = step(*inputs)
        _sync(device)
        peak = torch.cuda.max_memory_allocated(device) - base
        del out
        return float(peak)
    cmd = [sys.executable, os.path.abspath(__file__), "--_child", impl] + _passthrough(args)
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        print(f"[warn] memory child for {impl} failed: {res.stderr.strip()[-500:]}", file=sys.stderr)
        return None
    return float(json.loads(res.stdout.strip().splitlines()[-1])["peak"])


def _passthrough(args: argparse.Namespace) -> list[str]:
    out = ["--B", str(args.B), "--T", str(args.T), "--F", str(args.F), "--m2", str(args.m2)]
    return out + (["--forward-only"] if args.forward_only else [])


def naive_bytes_estimate(args: argparse.Namespace) -> float:
    """Rough naive peak: ~3 (forward) or ~6 (forward+backward) N x N x F fp32 tensors."""
    n = args.B * args.T
    return (3.5 if args.forward_only else 6.5) * n * n * args.F * 4


def available_bytes(device: torch.device) -> float:
    if device.type == "cuda":
        return float(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024.0
    except OSError:
        pass
    return float("inf")


def time_steps(steps: dict[str, Callable], inputs, device: torch.device, repeats: int) -> dict[str, float]:
    """Median seconds per step, the forms interleaved, one warm-up each."""
    times: dict[str, list[float]] = {k: [] for k in steps}
    for rep in range(repeats + 1):
        for name, step in steps.items():
            _sync(device)
            t0 = time.perf_counter()
            out = step(*inputs)
            _sync(device)
            if rep > 0:
                times[name].append(time.perf_counter() - t0)
            del out
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--B", type=int, default=8)
    p.add_argument("--T", type=int, default=82)
    p.add_argument("--F", type=int, default=1024)
    p.add_argument("--m2", type=float, default=0.25)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--repeats", type=int, default=None, help="timed runs (default 2 on CPU, 10 on CUDA)")
    p.add_argument("--forward-only", action="store_true", help="no backward pass")
    p.add_argument("--_child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args._child:
        print(json.dumps({"peak": cpu_peak_child(args._child, args)}))
        return
    device = torch.device(args.device)
    repeats = args.repeats or (10 if device.type == "cuda" else 2)
    need, avail = naive_bytes_estimate(args), available_bytes(device)
    if not args.forward_only and need > 0.7 * avail:
        print(f"[info] naive backward needs ~{need / 2**30:.1f} GiB, "
              f"{avail / 2**30:.1f} GiB free: forward only")
        args.forward_only = True
        need = naive_bytes_estimate(args)
    if need > 0.7 * avail:
        sys.exit(f"naive form needs ~{need / 2**30:.1f} GiB, only {avail / 2**30:.1f} GiB free; "
                 "use a smaller --B")

    inputs = make_inputs(args, device)
    steps = {impl: make_step(impl, args) for impl in ("matmul", "naive")}
    (v_mm, g_mm), (v_nv, g_nv) = steps["matmul"](*inputs), steps["naive"](*inputs)
    diff = abs(v_mm.item() - v_nv.item())
    grad_diff = None if g_mm is None else (g_mm - g_nv).abs().max().item()
    del g_mm, g_nv
    times = time_steps(steps, inputs, device, repeats)
    peaks = {impl: peak_memory(impl, args, device, inputs) for impl in steps}

    n = args.B * args.T
    mode = "forward" if args.forward_only else "forward+backward"
    print(f"mdms, batch scope: B={args.B} T={args.T} F={args.F} (N={n}), m2={args.m2}, "
          f"device={device.type}, {mode}, median of {repeats}")
    print(f"{'impl':<8} {'value':>12} {'time_ms':>10} {'peak_MiB':>10}")
    for impl, val in (("matmul", v_mm), ("naive", v_nv)):
        pk = "n/a" if peaks[impl] is None else f"{peaks[impl] / MiB:.1f}"
        print(f"{impl:<8} {val.item():>12.7f} {times[impl] * 1e3:>10.2f} {pk:>10}")
    t_ratio = times["naive"] / times["matmul"]
    m_ratio = (
        "n/a" if None in peaks.values() or not peaks["matmul"] else f"{peaks['naive'] / peaks['matmul']:.1f}x"
    )
    print(f"ratio naive/matmul: time {t_ratio:.1f}x, peak memory {m_ratio}")
    gd = "" if grad_diff is None else f", max |grad diff| {grad_diff:.2e}"
    print(f"|value diff| {diff:.2e} (tolerance 1e-5){gd}")
    assert diff <= 1e-5, f"values differ by {diff}"


if __name__ == "__main__":
    main()
