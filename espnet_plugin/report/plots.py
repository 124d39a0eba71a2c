"""Figures: axis scores per configuration (paper Fig. 1) and the JMAS margin sweep (Fig. 4).

Matplotlib with the non-interactive Agg backend (works headless).
"""
from __future__ import annotations

import logging
import math
import os
import re
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

from espnet_plugin.metrics.registry import AXES

logger = logging.getLogger(__name__)

_MARGIN_RE = re.compile(r"m1[-=_]?(?P<m1>\d+(?:[.p]\d+)?)_m2[-=_]?(?P<m2>\d+(?:[.p]\d+)?)")


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend (pictures are written, never shown)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def parse_margins(row: str, margins: Any = None) -> Optional[tuple[float, float]]:
    """(m1, m2) of a margin-sweep row, or None.

    Taken from a ``margins`` field (``{"m1": .5, "m2": .25}`` or ``[.5, .25]``) when given,
    else from the row name: ``jmas_m1-0.5_m2-0.25`` (also ``m1-0p5``, ``m1=0.5``).
    """
    if margins is not None:
        try:
            if isinstance(margins, Mapping):
                return float(margins["m1"]), float(margins["m2"])
            m1, m2 = margins
            return float(m1), float(m2)
        except (KeyError, TypeError, ValueError):
            logger.warning("row %r: cannot read margins field %r", row, margins)
    m = _MARGIN_RE.search(row)
    if m is None:
        return None
    return float(m["m1"].replace("p", ".")), float(m["m2"].replace("p", "."))


def save_figure(plt: Any, fig: Any, path: Union[str, os.PathLike]) -> Path:
    """Lay out, write ``path`` (parents created, 120 dpi) and close ``fig``; returns the path."""
    fig.tight_layout()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=120)
    plt.close(fig)
    return p


def _finite(v: Optional[float]) -> bool:
    return v is not None and math.isfinite(v)


def plot_axes(scores: Mapping[str, Mapping[str, float]], rows: Sequence[str],
              path: Union[str, os.PathLike], title: str = "Axis scores (100 = baseline)") -> Path:
    """Grouped bars: the three axis scores and the overall score of each row.

    Missing scores get no bar and an "n/a" mark; a dashed line marks 100 (baseline level).
    """
    plt = pyplot()
    import numpy as np

    keys = [*AXES, "overall"]
    colors = ["#4C72B0", "#55A868", "#C44E52", "#333333"]
    n = len(rows)
    x = np.arange(n)
    w = 0.8 / len(keys)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * n + 2), 4.2))
    top = 100.0
    for i, (k, c) in enumerate(zip(keys, colors)):
        vals = [scores.get(r, {}).get(k, float("nan")) for r in rows]
        xs = x - 0.4 + w * (i + 0.5)
        ok = [j for j, v in enumerate(vals) if _finite(v)]
        ax.bar(xs[ok], [vals[j] for j in ok], w, label=k, color=c,
               hatch="//" if k == "overall" else None, alpha=0.9)
        for j, v in enumerate(vals):
            if _finite(v):
                top = max(top, v)
                ax.text(xs[j], v, f"{v:.0f}", ha="center", va="bottom", fontsize=6)
            else:
                ax.text(xs[j], 1.0, "n/a", ha="center", va="bottom", fontsize=6, rotation=90)
    ax.axhline(100.0, ls="--", lw=1, color="gray")
    ax.set_xticks(x)
    ax.set_xticklabels(rows, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("score")
    ax.set_ylim(0, top * 1.15)
    ax.set_title(title)
    ax.legend(fontsize=8, ncol=4, loc="upper left")
    return save_figure(plt, fig, path)


MARGIN_KEYS = ("reconstruction", "understanding", "generation", "overall")


def plot_margins(scores: Mapping[str, Mapping[str, float]],
                 margins: Mapping[str, tuple[float, float]],
                 path: Union[str, os.PathLike],
                 keys: Sequence[str] = MARGIN_KEYS) -> Optional[Path]:
    """One heatmap per score in ``keys`` of ``scores[row][key]`` over the (m1, m2) grid, values annotated
    (the paper's Fig. 4 panels); a cell without a value is grey with "—".

    Args:
        margins: ``{row: (m1, m2)}`` for the sweep rows (see :func:`parse_margins`).
    Returns:
        The path, or None (nothing written) when there are no sweep rows.
    """
    if not margins:
        return None
    plt = pyplot()
    import numpy as np

    m1s = sorted({m[0] for m in margins.values()})
    m2s = sorted({m[1] for m in margins.values()})
    cells: dict = {}
    for row, (m1, m2) in margins.items():
        if (m1, m2) in cells:
            logger.warning("two sweep rows at m1=%g m2=%g; keeping the first", m1, m2)
            continue
        cells[(m1, m2)] = row
    fig, axes = plt.subplots(1, len(keys), figsize=((1.2 * len(m2s) + 2.6) * len(keys), 1.0 * len(m1s) + 2.0),
                             squeeze=False)
    cmap = plt.get_cmap("viridis").copy()
    cmap.set_bad("#dddddd")
    for ax, key in zip(axes[0], keys):
        grid = np.full((len(m1s), len(m2s)), np.nan)
        for (m1, m2), row in cells.items():
            v = scores.get(row, {}).get(key, float("nan"))
            grid[m1s.index(m1), m2s.index(m2)] = v if _finite(v) else np.nan
        im = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, origin="lower", aspect="auto")
        for i in range(len(m1s)):
            for j in range(len(m2s)):
                v = grid[i, j]
                dark = not math.isnan(v) and float(im.norm(v)) < 0.6  # viridis is dark at the bottom
                ax.text(j, i, "—" if math.isnan(v) else f"{v:.1f}", ha="center", va="center",
                        fontsize=9, color="white" if dark else "black")
        ax.set_xticks(range(len(m2s)))
        ax.set_xticklabels([f"{v:g}" for v in m2s])
        ax.set_yticks(range(len(m1s)))
        ax.set_yticklabels([f"{v:g}" for v in m1s])
        ax.set_xlabel("m2 (distance-matrix margin)")
        ax.set_ylabel("m1 (cosine margin)")
        ax.set_title(f"{key} score")
        if np.isfinite(grid).any():
            fig.colorbar(im, ax=ax)
    fig.suptitle("JMAS margin sweep")
    fig.tight_layout()
    return save_figure(plt, fig, path)
