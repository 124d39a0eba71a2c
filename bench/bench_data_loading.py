#!/usr/bin/env python3
"""Data-loading throughput of ESPnet's pipeline for the VAE task vs what a training step consumes.

A temporary corpus of ``--num_utts`` two-second clips (windows of espeak-ng speech, or a synthetic
signal without espeak-ng) is written as wav.scp + utt2num_samples, with an s3prl ``fbank`` teacher
cache made by ``python -m espnet_plugin.bin.dump_teacher --upstream fbank --layer 0``. Batches come
from ``SpeechVAETask.build_iter_factory`` (ESPnetDataset + SpeechVAEPreprocessor's aligned
crops + CommonCollateFn, batch sampler of conf/cpu/train_svae_jmas.yaml, or conf/tuning with ``--size paper``),
exactly what the trainer iterates, with ``num_workers`` 0 and 2. One timed loading round = one
epoch of ``num_utts / batch_size`` batches from a fresh ``build_iter`` (worker start-up included,
as at each ESPnet epoch; "steady" excludes the first batch). Interleaved with it: the training step
of bench_train_step.py's ``none`` variant (the vanilla config of the same size) on a batch from this loader.

Printed: loading batches/s per ``num_workers``, training steps/s, and their ratio (> 1: the loader
supplies batches faster than one process consumes them). With ``num_workers 0`` loading runs in the
training process, so its share of each step is also printed. Loading is measured on the host only
(no copy to the device).

    python bench/bench_data_loading.py --quick     # 16 clips, 2 rounds
    python bench/bench_data_loading.py             # 64 clips, 5 rounds
    python bench/bench_data_loading.py --device cuda --size paper --segment_size 32000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from bench_resynthesis import speech  # noqa: E402
from bench_train_step import CONF, build_variant, train_step  # noqa: E402


def make_corpus(d: str, num_utts: int, seconds: float = 2.0, fs: int = 16000) -> str:
    """Write ``num_utts`` clips + wav.scp + utt2num_samples under ``d``; -> the fbank cache dir."""
    from espnet_plugin.io.audio import write_audio

    src = speech(max(10.0, seconds * 2), fs)
    rng = np.random.default_rng(0)
    n = int(seconds * fs)
    os.makedirs(os.path.join(d, "wav"), exist_ok=True)
    scp, shapes = [], []
    for i in range(num_utts):
        utt = f"utt{i:04d}"
        start = int(rng.integers(0, len(src) - n))
        wav = src[start:start + n] * float(rng.uniform(0.5, 1.0))
        path = os.path.join(d, "wav", f"{utt}.wav")
        write_audio(path, wav.astype(np.float32), fs)
        scp.append(f"{utt} {path}\n")
        shapes.append(f"{utt} {n}\n")
    with open(os.path.join(d, "wav.scp"), "w") as fh:
        fh.writelines(scp)
    with open(os.path.join(d, "utt2num_samples"), "w") as fh:
        fh.writelines(shapes)
    cache = os.path.join(d, "teacher_fbank")
    subprocess.run([sys.executable, "-m", "espnet_plugin.bin.dump_teacher", "--wav_scp", os.path.join(d, "wav.scp"),
                    "--output_dir", cache, "--upstream", "fbank", "--layer", "0", "--device", "cpu"],
                   check=True, capture_output=True)
    return cache


def task_args(d: str, cache: str, num_workers: int, n_batches: int, a: argparse.Namespace) -> argparse.Namespace:
    """The task's args (``a.size``'s jmas config) for training on the corpus in ``d`` with its teacher cache."""
    from espnet_plugin.tasks.speech_vae import SpeechVAETask

    extra = ["--segment_size", str(a.segment_size)] if a.segment_size else []
    return SpeechVAETask.get_parser().parse_args(extra + [
        "--config", common.full_config(f"{CONF[a.size]}/jmas"), "--output_dir", os.path.join(d, "exp"),
        "--train_data_path_and_name_and_type", f"{d}/wav.scp,audio,sound",
        "--train_data_path_and_name_and_type", f"{cache}/feats.scp,teacher_feats,kaldi_ark",
        "--train_shape_file", f"{d}/utt2num_samples",
        "--valid_data_path_and_name_and_type", f"{d}/wav.scp,audio,sound",
        "--valid_shape_file", f"{d}/utt2num_samples",
        "--teacher_conf", "upstream=fbank", "--teacher_conf", "layer=0",
        "--num_workers", str(num_workers), "--num_iters_per_epoch", str(n_batches),
    ])


def main(cmd=None) -> Dict[str, float]:
    """Build the corpus and loaders, time loading and the step interleaved; -> rates (batches/s, steps/s)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_args(p, repeats=5)
    p.add_argument("--num_utts", type=int, default=None, help="clips in the corpus (default 64; 16 with --quick)")
    p.add_argument("--workers", default="0,2", help="comma list of num_workers")
    p.add_argument("--size", default="cpu", choices=sorted(CONF), help="configs of the loader and the step")
    p.add_argument("--segment_size", type=int, default=None, help="crop in samples (default: the config's)")
    a = p.parse_args(cmd)
    device = common.resolve_args(a)
    num_utts = a.num_utts or (16 if a.quick else 64)
    print(common.machine_info(device))

    from espnet2.train.distributed_utils import DistributedOption
    from espnet_plugin.tasks.speech_vae import SpeechVAETask

    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        cache = make_corpus(d, num_utts)
        print(f"corpus: {num_utts} x 2 s clips + fbank teacher cache in {time.perf_counter() - t0:.1f} s")
        workers = [int(w) for w in a.workers.split(",")]
        probe = task_args(d, cache, 0, 1, a)
        n_batches = max(1, num_utts // probe.batch_size)
        factories = {w: SpeechVAETask.build_iter_factory(task_args(d, cache, w, n_batches, a), DistributedOption(), "train")
                     for w in workers}
        first: Dict[int, List[float]] = {w: [] for w in workers}
        epoch = [1]

        def load(w: int):
            def run() -> int:
                epoch[0] += 1
                t0, n = time.perf_counter(), 0
                for _, batch in factories[w].build_iter(epoch[0]):
                    n += 1
                    if n == 1:
                        first[w].append(time.perf_counter() - t0)
                assert n == n_batches, (n, n_batches)
                return n
            return run

        _, sample = next(iter(factories[workers[0]].build_iter(1)))
        shapes = {k: tuple(v.shape) for k, v in sample.items()}
        batch = {k: v.to(device) for k, v in sample.items() if k.startswith("audio")}
        model, opts, targs = build_variant("none", a.size, dict(upstream="fbank", layer=0), 240, device)
        fns = {f"load nw={w}": load(w) for w in workers}
        fns["train step (none)"] = lambda: train_step(model, opts, batch, targs.grad_clip, a.amp)
        for w in workers:
            first[w].clear()
        times = common.interleaved(fns, device, a.repeats, a.warmup)

    step = common.median(times["train step (none)"])
    print(f"\nbatch: {shapes}; {n_batches} batches per epoch; {device.type} training step, {a.size} config"
          f"{' (bf16 autocast)' if a.amp else ''}; median of {a.repeats} interleaved rounds after {a.warmup} warm-up")
    rows, out = [], {"train_steps_per_s": 1 / step}
    for w in workers:
        ep = common.median(times[f"load nw={w}"])
        f1 = common.median(first[w][a.warmup:])
        steady = f"{(n_batches - 1) / max(ep - f1, 1e-9):.2f}" if n_batches > 1 else "n/a"
        bps = n_batches / ep
        out[f"batches_per_s_nw{w}"] = bps
        rows.append([f"num_workers={w}", f"{ep * 1e3:.0f}", f"{f1 * 1e3:.0f}", f"{bps:.2f}", steady,
                     f"{bps * step:.1f}x"])
    rows.append(["train step (none)", "", "", "", "", f"{1 / step:.2f} steps/s ({step * 1e3:.0f} ms)"])
    print(common.table(["loader", "ms per epoch", "first batch ms", "batches/s", "steady batches/s",
                        "loading / training rate"], rows))
    if 0 in workers:
        lt = common.median(times["load nw=0"]) / n_batches
        print(f"num_workers=0: loading is {lt / (lt + step) * 100:.1f} % of (load + step) time per batch")
    return out


if __name__ == "__main__":
    main()
