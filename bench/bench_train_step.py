#!/usr/bin/env python3
"""Training-step time and peak memory of the speech VAE: no distillation vs cached vs on-the-fly teacher.

One step = what ESPnet's ``GANTrainer`` does per batch (``generator_first: false``): the
discriminator turn then the generator turn, each ``model(forward_generator=..., **batch)`` ->
``loss.backward()`` -> grad-norm clip (``grad_clip`` of the config) -> optimizer step if the norm
is finite -> ``zero_grad``. Models come from ``SpeechVAETask.build_model`` and optimizers from
``SpeechVAETask.build_optimizers`` (same seed, so the VAEs are identical). Variants:

    none       train_svae_vanilla.yaml (no alignment loss)
    cached     train_svae_jmas.yaml, ``teacher_feats`` (B, T', F) given in the batch (the teacher cache)
    cached_fixed  the same with train_svae_jmas_fixed.yaml (fixed lambda_k = 1): adaptive weighting's
               gradient norm of the reconstruction loss w.r.t. the encoder's last conv needs an extra
               backward pass through the decoder, which this variant leaves out
    onthefly   train_svae_jmas.yaml without ``teacher_feats``: the model runs its frozen teacher

The teacher is an s3prl upstream that needs no download: by default the tiny HuBERT trained by the
synth recipe (egs2/synth/svae1/exp/teacher/hubert_tiny/valid.loss.best.pth, last layer), else
``fbank``; ``--teacher_conf key=value ...`` picks another. (The paper's WavLM-Large teacher would
make "onthefly" far slower; it needs a download.) Batch: ``--batch_size`` clips of
``--segment_size`` samples (default: the config's), random audio. Peak memory: one step after a
warm-up step, in a fresh child process per variant (common.py).

    python bench/bench_train_step.py --quick                       # CPU config, batch 2, 0.5 s clips
    python bench/bench_train_step.py                               # CPU config, its batch shape
    python bench/bench_train_step.py --device cuda --size paper --amp
"""

from __future__ import annotations

import argparse
import atexit
import json
import math
import os
import shutil
import sys
import tempfile
from typing import Any, Dict, List, Tuple

import torch
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

ROOT = common.ROOT
CONF = {"cpu": "cpu", "paper": "tuning"}   # --size -> the conf/<scale>/base.yaml the losses merge onto
HUBERT_TINY = os.path.join(ROOT, "egs2", "synth", "svae1", "exp", "teacher", "hubert_tiny", "valid.loss.best.pth")
VARIANTS = ("none", "cached", "cached_fixed", "onthefly")
CONFIG_OF = {"none": "vanilla", "cached": "jmas", "cached_fixed": "jmas_fixed", "onthefly": "jmas"}


def default_teacher_conf() -> Tuple[Dict[str, Any], str]:
    """-> (teacher_conf, note): the tiny HuBERT checkpoint when present, else s3prl ``fbank``.

    The checkpoint and its config.yaml are copied to a temporary directory first (removed at exit),
    so a recipe rerun that rewrites egs2/synth/svae1/exp meanwhile cannot break the run.
    """
    cfg = os.path.join(os.path.dirname(HUBERT_TINY), "config.yaml")
    try:
        d = tempfile.mkdtemp(prefix="bench_teacher_")
        atexit.register(shutil.rmtree, d, True)
        shutil.copy(cfg, os.path.join(d, "config.yaml"))
        path = shutil.copy(HUBERT_TINY, os.path.join(d, os.path.basename(HUBERT_TINY)))
        return dict(upstream="espnet_hubert_local", path=path, layer=-1), "tiny HuBERT (synth recipe, last layer)"
    except OSError:
        return dict(upstream="fbank", layer=0), f"fbank (no {os.path.relpath(HUBERT_TINY, ROOT)}: a spectral stand-in)"


def parse_kv(items: List[str]) -> Dict[str, Any]:
    """['upstream=x', 'layer=-1'] -> {'upstream': 'x', 'layer': -1} (values read as YAML)."""
    out = {}
    for it in items:
        k, _, v = it.partition("=")
        out[k] = yaml.safe_load(v)
    return out


def teacher_shape(teacher_conf: Dict[str, Any]) -> Tuple[int, int]:
    """(downsample_rate, feature_dim) of the teacher."""
    from espnet_plugin.distill.teacher import Teacher

    t = Teacher(**teacher_conf)
    return t.downsample_rate, t.feature_dim


def build_variant(variant: str, size: str, teacher_conf: Dict[str, Any], teacher_dim: int, device: torch.device):
    """-> (model, [generator optimizer, discriminator optimizer], args) of one variant (seed 0)."""
    from espnet_plugin.tasks.speech_vae import SpeechVAETask

    cfg = common.full_config(f"{CONF[size]}/{CONFIG_OF[variant]}")
    args = SpeechVAETask.get_parser().parse_args(["--config", cfg])
    args.teacher_conf = dict(teacher_conf)
    if variant != "none":
        args.distill_conf = dict(args.distill_conf, teacher_dim=teacher_dim)
    torch.manual_seed(0)
    model = SpeechVAETask.build_model(args).to(device).train()
    return model, SpeechVAETask.build_optimizers(args, model), args


def make_batch(variant: str, batch_size: int, segment: int, hop: int, dim: int, device: torch.device) -> Dict[str, torch.Tensor]:
    """audio (B, N) (+ teacher_feats (B, ceil(N / hop), F) for ``cached*``) with their lengths."""
    g = torch.Generator().manual_seed(0)
    batch = {"audio": 0.1 * torch.randn(batch_size, segment, generator=g),
             "audio_lengths": torch.full((batch_size,), segment, dtype=torch.long)}
    if variant.startswith("cached"):
        t = math.ceil(segment / hop)
        batch["teacher_feats"] = torch.randn(batch_size, t, dim, generator=g)
        batch["teacher_feats_lengths"] = torch.full((batch_size,), t, dtype=torch.long)
    return {k: v.to(device) for k, v in batch.items()}


def train_step(model, optimizers, batch: Dict[str, torch.Tensor], grad_clip: float, amp: bool = False) -> None:
    """One GANTrainer step: discriminator turn, then generator turn (backward, clip, step, zero_grad)."""
    device = batch["audio"].device
    for forward_generator in (False, True):
        with common.amp_context(device, amp):
            out = model(forward_generator=forward_generator, **batch)
        out["loss"].backward()
        opt = optimizers[out["optim_idx"]]
        if grad_clip > 0:
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=grad_clip)
            if torch.isfinite(norm):  # ESPnet checks it on the host too
                opt.step()
        else:
            opt.step()
        for o in optimizers:
            o.zero_grad(set_to_none=True)


def setup(variant: str, a: argparse.Namespace, device: torch.device):
    """-> ``step(amp=False)``: one training step of ``variant`` on its fixed batch (options ``a``)."""
    model, opts, args = build_variant(variant, a.size, a.teacher, a.teacher_dim, device)
    batch = make_batch(variant, a.batch_size, a.segment_size, a.teacher_hop, a.teacher_dim, device)
    return lambda amp=False: train_step(model, opts, batch, args.grad_clip, amp)


def options(cmd=None) -> Tuple[argparse.Namespace, torch.device]:
    """Parse the command line; resolve batch shape (read once from the config) and the teacher."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_args(p, repeats=5)
    p.add_argument("--size", default="cpu", choices=sorted(CONF), help="conf/cpu (tiny) or conf/tuning (paper)")
    p.add_argument("--batch_size", type=int, default=None, help="default: the config's (2 with --quick)")
    p.add_argument("--segment_size", type=int, default=None, help="samples; default the config's (8000 with --quick)")
    p.add_argument("--teacher_conf", nargs="*", default=None, help="key=value ... (default: tiny HuBERT or fbank)")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--_child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--_child_amp", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(cmd)
    device = common.resolve_args(a)
    if a.quick:
        a.batch_size = a.batch_size or 2
        a.segment_size = a.segment_size or 8000
    from espnet_plugin.tasks.speech_vae import load_config

    cfg = load_config(common.full_config(f"{CONF[a.size]}/vanilla"))  # read once: same shape for all
    a.batch_size, a.segment_size = a.batch_size or cfg["batch_size"], a.segment_size or cfg["segment_size"]
    if a.teacher_conf:
        a.teacher, a.teacher_note = parse_kv(a.teacher_conf), "from --teacher_conf"
    else:
        a.teacher, a.teacher_note = default_teacher_conf()
    a.teacher_hop, a.teacher_dim = teacher_shape(a.teacher)
    return a, device


def child_argv(a: argparse.Namespace, variant: str, amp: bool) -> List[str]:
    """Command line of the memory child of ``variant`` (same shapes, teacher, threads)."""
    argv = ["--_child", variant, "--device", a.device, "--size", a.size,
            "--teacher_conf", *[f"{k}={json.dumps(v)}" for k, v in a.teacher.items()]]
    argv += ["--batch_size", str(a.batch_size), "--segment_size", str(a.segment_size)]
    argv += ["--threads", str(a.threads)] if a.threads else []
    return argv + (["--_child_amp"] if amp else [])


def main(cmd=None) -> Dict[str, float]:
    """Time the variants interleaved, measure each one's peak memory in a child; -> {variant: median s}."""
    a, device = options(cmd)
    if a._child:  # fresh process: peak memory of one step after a warm-up step
        step = setup(a._child, a, device)
        step(a._child_amp)
        print(json.dumps({"peak": common.peak_memory(lambda: step(a._child_amp), device)}))
        return {}
    print(common.machine_info(device))
    variants = a.variants.split(",")
    steps = {v: setup(v, a, device) for v in variants}
    fns = {v: (lambda s=s: s(False)) for v, s in steps.items()}
    if a.amp:
        fns.update({f"{v}+amp": (lambda s=s: s(True)) for v, s in steps.items()})
    times = common.interleaved(fns, device, a.repeats, a.warmup)
    med = {k: common.median(v) for k, v in times.items()}
    del steps, fns
    script = os.path.abspath(__file__)
    peaks = {k: (common.run_child(script, child_argv(a, k.split("+")[0], k.endswith("+amp"))) or {}).get("peak")
             for k in med}
    bs, seg = a.batch_size, a.segment_size
    print(f"\nGAN training step (discriminator + generator turn), {a.size} config, batch {bs} x {seg} samples, "
          f"{device.type}; teacher: {a.teacher_note}, {a.teacher['upstream']} layer {a.teacher.get('layer')} "
          f"({a.teacher_dim}-d, hop {a.teacher_hop}); "
          f"median of {a.repeats} interleaved rounds after {a.warmup} warm-up")
    rows = []
    for k, t in med.items():
        base = k.replace(k.split("+")[0], "none")
        rt = f"{t / med[base]:.3f}" if base in med else "n/a"
        pk, pb = peaks.get(k), peaks.get(base)
        rm = f"{pk / pb:.2f}" if pk and pb else "n/a"
        spread = f"{min(times[k]) * 1e3:.0f}-{max(times[k]) * 1e3:.0f}"
        rows.append([k, f"{t * 1e3:.0f}", spread, f"{1 / t:.2f}", rt, common.fmt_mib(pk), rm])
    print(common.table(["variant", "ms per step", "min-max ms", "steps/s", "time / none", "peak MiB", "peak / none"],
                       rows))
    for sfx in ("", "+amp") if a.amp else ("",):
        if f"none{sfx}" in med and f"cached{sfx}" in med:
            r = med[f"cached{sfx}"] / med[f"none{sfx}"] - 1
            print(f"cached/none{sfx}: {r * 100:+.1f} % (target: at most +10 %; "
                  f"{'met' if r <= 0.10 else 'NOT met'} in this run)")
        if f"none{sfx}" in med and f"onthefly{sfx}" in med:
            print(f"onthefly/none{sfx}: {(med[f'onthefly{sfx}'] / med[f'none{sfx}'] - 1) * 100:+.1f} %")
        if f"none{sfx}" in med and f"cached_fixed{sfx}" in med:
            print(f"cached_fixed/none{sfx}: {(med[f'cached_fixed{sfx}'] / med[f'none{sfx}'] - 1) * 100:+.1f} % "
                  "(the same terms without adaptive weighting)")
    return med


if __name__ == "__main__":
    main()
