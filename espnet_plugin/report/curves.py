"""Learning curves: the validation losses ESPnet logs at the end of every epoch, per experiment.

ESPnet's trainer writes one line per epoch to ``<exp>/train.log``::

    ... 12epoch results: [train] loss=1.2, ..., [valid] mrstft_loss=0.93, loss=..., time=..., ...

:func:`read_valid_curve` turns those lines into ``{stat: [(step, value), ...]}`` (steps =
epoch x iterations per epoch when the experiment's ``config.yaml`` has ``num_iters_per_epoch``,
else the epoch number), and :func:`plot_curves` draws one panel per model family (VAE, latent TTS,
ASR probe) with one line per experiment: ``exp/summary/curves.png``.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

logger = logging.getLogger(__name__)

_EPOCH = re.compile(r"(\d+)epoch results: (.*)$")
_SECTION = re.compile(r"\[(\w+)\] (.*?)(?=, \[\w+\] |$)")
# the statistic plotted per experiment prefix (the one its best checkpoint is chosen by)
FAMILIES = {"svae_": ("VAE", "mrstft_loss"), "tts_": ("latent TTS", "loss"), "probe_": ("ASR probe", "cer_ctc")}
_SKIP = {"time", "total_count", "iter_time", "forward_time", "backward_time", "optim_step_time",
         "train_time", "gpu_max_cached_mem_GB"}


def parse_epoch_lines(text: str, section: str = "valid") -> dict[str, list[tuple[int, float]]]:
    """``{stat: [(epoch, value), ...]}`` from the ``Nepoch results:`` lines of a train.log.

    A resumed run logs some epochs twice: the last line of an epoch wins.
    """
    per_epoch: dict[int, dict[str, float]] = {}
    for line in text.splitlines():
        m = _EPOCH.search(line)
        if not m:
            continue
        for name, body in _SECTION.findall(m.group(2)):
            if name != section:
                continue
            vals = {}
            for item in body.split(", "):
                k, sep, v = item.partition("=")
                if sep and k.strip() not in _SKIP:
                    try:
                        vals[k.strip()] = float(v)
                    except ValueError:
                        pass
            per_epoch[int(m.group(1))] = vals
    out: dict[str, list[tuple[int, float]]] = {}
    for ep in sorted(per_epoch):
        for k, v in per_epoch[ep].items():
            out.setdefault(k, []).append((ep, v))
    return out


def _iters_per_epoch(exp: Path) -> Optional[int]:
    cfg = exp / "config.yaml"
    if not cfg.is_file():
        return None
    import yaml

    try:
        n = (yaml.safe_load(cfg.read_text()) or {}).get("num_iters_per_epoch")
    except yaml.YAMLError:
        return None
    return int(n) if n else None


def read_valid_curve(exp: Union[str, Path]) -> tuple[dict[str, list[tuple[int, float]]], str]:
    """Validation curves of one experiment dir and the x unit (``"steps"`` or ``"epochs"``)."""
    exp = Path(exp)
    log = exp / "train.log"
    if not log.is_file():
        return {}, "epochs"
    curves = parse_epoch_lines(log.read_text(encoding="utf-8", errors="replace"))
    n = _iters_per_epoch(exp)
    if n:
        return {k: [(e * n, v) for e, v in pts] for k, pts in curves.items()}, "steps"
    return curves, "epochs"


def collect_curves(exp_dir: Union[str, Path]) -> dict[str, dict[str, tuple[list[tuple[int, float]], str]]]:
    """``{family: {experiment: (points, x unit)}}`` for every ``exp/<prefix>*`` with a train.log."""
    out: dict[str, dict[str, tuple[list[tuple[int, float]], str]]] = {}
    for d in sorted(Path(exp_dir).iterdir() if Path(exp_dir).is_dir() else []):
        for prefix, (family, stat) in FAMILIES.items():
            if d.is_dir() and d.name.startswith(prefix) and not d.name.startswith(prefix + "stats"):
                curves, unit = read_valid_curve(d)
                if curves.get(stat):
                    out.setdefault(f"{family}: valid {stat}", {})[d.name[len(prefix):]] = (curves[stat], unit)
    return out


def plot_curves(curves: Mapping[str, Mapping[str, tuple[Sequence[tuple[int, float]], str]]],
                path: Union[str, Path]) -> Optional[Path]:
    """One panel per family, one line per experiment; returns the path, or None with no curve."""
    if not curves:
        return None
    from espnet_plugin.report.plots import pyplot, save_figure

    plt = pyplot()
    fig, axes = plt.subplots(1, len(curves), figsize=(5.5 * len(curves), 4), squeeze=False)
    for ax, (title, exps) in zip(axes[0], curves.items()):
        unit = "epochs"
        for name, (pts, unit) in sorted(exps.items()):
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=name)
        ax.set_title(title)
        ax.set_xlabel(f"training {unit}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return save_figure(plt, fig, path)
