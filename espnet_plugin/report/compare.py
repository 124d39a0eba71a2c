"""Seeds, intervals and paired verdicts of the summary table (built on :mod:`.uncertainty`).

* :func:`group_seeds`: rows ``<name>_seed<k>`` (one VAE config trained with several seeds) become
  one row ``<name>``: per utterance, mean metrics are averaged over the seeds and error counts
  summed, so the row is the seed-averaged system (its failed items: the sum over the seeds); each
  seed's own values stay in ``seed_rows``.
* :func:`intervals`: the 95 % interval of every metric cell and of every axis/overall score.
* :func:`paired_verdicts`: each row against a reference row (vanilla): the paired bootstrap
  difference of every axis score and of the overall score, with a verdict.
"""
from __future__ import annotations

import re
from typing import Mapping, Optional, Sequence

import numpy as np

from espnet_plugin.metrics.overall import AXES, scores_from_references
from espnet_plugin.report.uncertainty import N_BOOT, Column, paired_comparison, percentile_ci, replicate_table

SEED_RE = re.compile(r"^(?P<base>.+)_seed(?P<seed>\d+)$")
SCORE_KEYS = (*AXES, "overall")


def seed_groups(rows: Sequence[str]) -> dict[str, list[str]]:
    """``{base: [seed rows]}`` for rows named ``<base>_seed<k>`` (sorted by seed)."""
    out: dict[str, list[tuple[int, str]]] = {}
    for r in rows:
        m = SEED_RE.match(r)
        if m:
            out.setdefault(m["base"], []).append((int(m["seed"]), r))
    return {b: [r for _, r in sorted(v)] for b, v in out.items()}


def _mean_columns(cols: Sequence[Column]) -> Column:
    utts = tuple(sorted(set().union(*(c.utts for c in cols))))
    al = [c.aligned(utts) for c in cols]
    if al[0].den is None:
        stack = np.stack([c.num for c in al])
        ok = np.isfinite(stack)
        with np.errstate(invalid="ignore"):
            num = np.where(ok.any(0), np.where(ok, stack, 0).sum(0) / np.maximum(ok.sum(0), 1), np.nan)
        return Column(utts, num, n_failed=sum(c.n_failed for c in cols))
    return Column(utts, sum(c.num for c in al), sum(c.den for c in al), al[0].scale,
                  sum(c.n_failed for c in cols))


def group_seeds(values: Mapping[str, Mapping[str, float]], samples: Mapping[str, Mapping[str, Column]],
                extra: Optional[dict] = None) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, Column]], dict[str, list[str]]]:
    """Replace seed rows by their seed-averaged row.

    ``extra`` (per-row fields such as ``margins``), when given, gets an entry for each new row: its
    first seed's. Returns ``(values, samples, groups)``: the new rows' metric values are the statistic of the
    merged per-utterance columns of the seeds that have the metric (stages run for the first seed
    only, like the latent TTS, come from that seed), else the mean of their values.
    """
    groups = seed_groups(list(values))
    vals = {r: dict(v) for r, v in values.items()}
    samp = {r: dict(c) for r, c in samples.items()}
    for base, members in groups.items():
        keys = sorted(set().union(*(values[m] for m in members)))
        row, cols = {}, {}
        for k in keys:
            with_k = [m for m in members if k in values[m]]   # e.g. the latent TTS of the first seed only
            have = [samples.get(m, {}).get(k) for m in with_k]
            if all(c is not None for c in have):
                cols[k] = _mean_columns(have)
                row[k] = float(cols[k].value())
            else:
                xs = np.array([values[m][k] for m in with_k], dtype=float)
                row[k] = float(np.nanmean(xs)) if np.isfinite(xs).any() else float("nan")
        for m in members:
            vals.pop(m, None)
            samp.pop(m, None)
        vals[base], samp[base] = row, cols
        if extra is not None and members[0] in extra:
            extra.setdefault(base, dict(extra[members[0]]))
    return vals, samp, groups


def _replicated_values(values: Mapping[str, Mapping[str, float]],
                       samples: Mapping[str, Mapping[str, Column]], n_boot: int, seed: int
                       ) -> dict[str, dict[str, np.ndarray]]:
    reps = replicate_table(samples, n_boot, seed)
    return {r: {k: reps.get(r, {}).get(k, np.full(n_boot, v, dtype=float)) for k, v in vals.items()}
            for r, vals in values.items()}


def intervals(values: Mapping[str, Mapping[str, float]], samples: Mapping[str, Mapping[str, Column]],
              baselines: Mapping[str, str], refs: Mapping[str, Mapping[str, str]],
              n_boot: int = N_BOOT, seed: int = 0
              ) -> tuple[dict[str, dict[str, tuple[float, float]]], dict[str, dict[str, np.ndarray]]]:
    """Intervals ``{row: {metric key | axis | "overall": (lo, hi)}}`` and the score replicates.

    A metric without per-utterance samples has no interval (it is held at its value in every
    replicate, so the scores' intervals then reflect the other metrics only).
    """
    rep_vals = _replicated_values(values, samples, n_boot, seed)
    rep_scores = scores_from_references(rep_vals, baselines, refs)
    ci: dict[str, dict[str, tuple[float, float]]] = {}
    for r in values:
        ci[r] = {k: percentile_ci(rep_vals[r][k]) for k in samples.get(r, {}) if k in values[r]}
        ci[r].update({a: percentile_ci(rep_scores[r][a]) for a in SCORE_KEYS})
    return ci, rep_scores


def paired_verdicts(scores: Mapping[str, Mapping[str, float]], rep_scores: Mapping[str, Mapping[str, np.ndarray]],
                    reference: str, rows: Optional[Sequence[str]] = None) -> dict[str, dict[str, dict]]:
    """``{row: {axis | "overall": paired_comparison(...)}}`` of every row against ``reference``."""
    if reference not in scores:
        return {}
    out = {}
    for r in rows or list(scores):
        if r == reference or r not in scores:
            continue
        out[r] = {a: paired_comparison(rep_scores[r][a], rep_scores[reference][a],
                                       scores[r][a], scores[reference][a]) for a in SCORE_KEYS}
    return out


def seed_spread(seed_scores: Mapping[str, Mapping[str, float]], groups: Mapping[str, Sequence[str]]
                ) -> dict[str, dict[str, tuple[float, float]]]:
    """``{base: {score: (mean, sd over seeds)}}`` (sd with ddof=1; NaN for a single seed)."""
    out = {}
    for base, members in groups.items():
        out[base] = {}
        for a in SCORE_KEYS:
            xs = np.array([seed_scores[m][a] for m in members if m in seed_scores], dtype=float)
            xs = xs[np.isfinite(xs)]
            out[base][a] = (float(xs.mean()) if xs.size else float("nan"),
                            float(xs.std(ddof=1)) if xs.size > 1 else float("nan"))
    return out


def _f(x: float, nd: int = 1) -> str:
    return "—" if x is None or not np.isfinite(x) else f"{x:.{nd}f}"


def paired_markdown(verdicts: Mapping[str, Mapping[str, dict]], reference: str) -> str:
    """A Markdown section: per row and axis, Δ score vs the reference [95 % interval], verdict."""
    if not verdicts:
        return ""
    lines = ["", f"### Paired comparison with `{reference}` (bootstrap over the same test utterances)", "",
             "| config | " + " | ".join(SCORE_KEYS) + " |", "|---|" + "---|" * len(SCORE_KEYS)]
    for r, per in verdicts.items():
        cells = [f"{_f(v['delta'])} [{_f(v['lo'])}, {_f(v['hi'])}] **{v['verdict']}**" for v in
                 (per[a] for a in SCORE_KEYS)]
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    lines += ["", "Δ = row's score − reference's score (higher is better); *better*/*worse* when the "
              "95 % paired interval excludes 0, else *no significant difference*."]
    return "\n".join(lines) + "\n"


def seeds_markdown(seed_scores: Mapping[str, Mapping[str, float]], groups: Mapping[str, Sequence[str]]) -> str:
    """A Markdown section: every seed's scores and the mean ± sd over seeds per config."""
    if not groups:
        return ""
    spread = seed_spread(seed_scores, groups)
    lines = ["", "### Seeds (each config trained with several seeds; the table above averages them)", "",
             "| config | seed runs | " + " | ".join(SCORE_KEYS) + " |", "|---|---|" + "---|" * len(SCORE_KEYS)]
    for base, members in groups.items():
        per_seed = "; ".join(f"{m}: {_f(seed_scores.get(m, {}).get('overall', float('nan')))}" for m in members)
        cells = [f"{_f(spread[base][a][0])} ± {_f(spread[base][a][1])}" for a in SCORE_KEYS]
        lines.append(f"| {base} | {per_seed} | " + " | ".join(cells) + " |")
    lines += ["", "mean ± sd over seeds of each seed's own scores; the seed runs column shows each one's overall "
              "score (an axis measured on the first seed only, like generation, is shared by the seeds)."]
    return "\n".join(lines) + "\n"


def latent_markdown(shares: Mapping[str, float], groups: Mapping[str, Sequence[str]]) -> str:
    """A Markdown section: the share of each latent's variance that lies within utterances (test set)."""
    if not shares:
        return ""
    rows: dict[str, list[float]] = {}
    for r, v in shares.items():
        base = next((b for b, m in groups.items() if r in m), r)
        rows.setdefault(base, []).append(v)
    lines = ["", "### Latents over time (test set)", "", "| config | variance within utterances / total |", "|---|---:|"]
    for r in sorted(rows):
        vs = rows[r]
        lines.append(f"| {r} | {' / '.join(f'{v:.3f}' for v in vs)} |")
    lines += ["", "0 = a latent constant over each utterance (the decoder repeats one frame); about 1 = frames "
              "vary within an utterance as much as across the corpus (one value per seed)."]
    return "\n".join(lines) + "\n"
