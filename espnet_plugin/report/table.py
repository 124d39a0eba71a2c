"""Summary table of all configurations: metrics per axis, axis scores, overall score.

Input: the ``metrics.json`` records written by the scoring stages (``axis``, ``tag``,
``metrics``, ``directions``, optional ``margins``, ``n_nan``, ``judges``).  Rows are tags, metric
columns are keyed ``"axis/name"``.  Missing values are ``"—"`` in Markdown and empty cells in CSV,
never 0.  Items a judge could not score count at the metric's worst value
(:mod:`espnet_plugin.metrics.missing`); their number follows the value, ``0.71 [0.65, 0.77]
(3 failed)``, and fills the CSV column ``<metric>_failed``.  When the records name the judge
behind a metric (``"judges": {"<metric>": "<judge>"}``), one line under the table lists them.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

from espnet_plugin.errors import DataError
from espnet_plugin.metrics.registry import AXES, direction_of

logger = logging.getLogger(__name__)

ARROW = {"higher": "↑", "lower": "↓"}
AXIS_ABBR = {"reconstruction": "rec", "understanding": "und", "generation": "gen"}
MISSING_MD = "—"
# preferred column order within an axis; others follow alphabetically
_ORDER = ["pesq", "stoi", "mel_distance", "wer", "cer", "sid_acc", "kws_acc", "spk_sim",
          "spk_sim_wavlm", "mos", "utmos"]


@dataclass
class SummaryTable:
    """Merged metric records.

    Attributes:
        values: ``{row: {"axis/name": value}}`` (NaN for null).
        directions: ``{"axis/name": "higher"|"lower"}``.
        extra: ``{row: {...}}`` per-row fields other than metrics (``margins``, ``sources``).
        failed: ``{row: {"axis/name": n}}`` items the judge could not score (from ``n_nan``;
            :func:`cells_from_samples` replaces them by the per-utterance files' counts).
        judges: ``{"axis/name": {judge name: [rows]}}`` from the records' ``judges`` field.
    """

    values: dict[str, dict[str, float]] = field(default_factory=dict)
    directions: dict[str, str] = field(default_factory=dict)
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: dict[str, dict[str, int]] = field(default_factory=dict)
    judges: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        """Metric keys ordered by axis, then a preferred metric order, then name."""
        keys = {k for vals in self.values.values() for k in vals}

        def sort_key(k: str) -> tuple:
            a, n = k.split("/", 1)
            return (AXES.index(a) if a in AXES else 99,
                    _ORDER.index(n) if n in _ORDER else len(_ORDER), n)

        return sorted(keys, key=sort_key)


def _num(v: Any) -> float:
    if v is None:
        return float("nan")
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def read_metrics_json(path: Union[str, os.PathLike]) -> dict:
    """Read and validate one ``metrics.json``.

    Raises:
        DataError: unreadable JSON, or missing ``axis``/``tag``/``metrics``, or unknown axis.
    """
    p = Path(path)
    try:
        rec = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{p}: cannot read metrics JSON: {exc}") from exc
    for k in ("axis", "tag", "metrics"):
        if k not in rec:
            raise DataError(f"{p}: missing field {k!r} (need axis, tag, metrics)")
    if rec["axis"] not in AXES:
        raise DataError(f"{p}: axis {rec['axis']!r} not in {AXES}")
    if not isinstance(rec["metrics"], dict):
        raise DataError(f"{p}: 'metrics' must be an object {{name: value}}")
    return rec


def merge_records(records: Sequence[tuple[str, dict]]) -> SummaryTable:
    """Merge ``(source_path, record)`` pairs into one :class:`SummaryTable`.

    Two records with the same (tag, axis): the later one in ``records`` wins (logged).
    Directions come from the record, else the registry; a metric with neither is kept in
    the table but cannot enter the scores.
    """
    t = SummaryTable()
    seen: dict[tuple[str, str], str] = {}
    for src, rec in records:
        tag, axis = str(rec["tag"]), rec["axis"]
        if (tag, axis) in seen:
            logger.warning("tag %r axis %s: %s replaces %s", tag, axis, src, seen[(tag, axis)])
            t.values[tag] = {k: v for k, v in t.values[tag].items() if not k.startswith(axis + "/")}
            t.failed[tag] = {k: v for k, v in t.failed.get(tag, {}).items() if not k.startswith(axis + "/")}
        seen[(tag, axis)] = src
        row = t.values.setdefault(tag, {})
        ex = t.extra.setdefault(tag, {"sources": []})
        ex["sources"].append(str(src))
        if "margins" in rec:
            ex["margins"] = rec["margins"]
        dirs = rec.get("directions") or {}
        for name, v in rec["metrics"].items():
            key = f"{axis}/{name}"
            row[key] = _num(v)
            d = dirs.get(name)
            if d is None:
                d = direction_of(key)
                if d is None:
                    logger.warning("%s: metric %r has no direction", src, key)
            if d is not None:
                if key in t.directions and t.directions[key] != d:
                    raise DataError(f"{src}: metric {key!r} direction {d!r} disagrees with "
                                    f"{t.directions[key]!r} in another file")
                t.directions[key] = d
        _merge_failed(t, tag, axis, rec)
        _merge_judges(t, tag, axis, rec)
    return t


def _merge_failed(t: SummaryTable, tag: str, axis: str, rec: dict) -> None:
    """``n_nan`` of the record's metrics that have a worst value (their NaN items are failures)."""
    from espnet_plugin.metrics.missing import worst_value

    n_nan = rec.get("n_nan")
    if not isinstance(n_nan, dict):
        return
    for name, n in n_nan.items():
        if name in rec["metrics"] and worst_value(name) is not None and isinstance(n, (int, float)):
            t.failed.setdefault(tag, {})[f"{axis}/{name}"] = int(n)


def _merge_judges(t: SummaryTable, tag: str, axis: str, rec: dict) -> None:
    """The optional ``"judges": {"<metric>": "<judge name>"}`` of a record (anything else ignored)."""
    judges = rec.get("judges")
    if not isinstance(judges, dict):
        return
    for name, judge in judges.items():
        if name in rec["metrics"] and judge not in (None, ""):
            rows = t.judges.setdefault(f"{axis}/{name}", {}).setdefault(str(judge), [])
            if tag not in rows:
                rows.append(tag)


def cells_from_samples(table: SummaryTable, samples: Mapping[str, Mapping[str, Any]]) -> None:
    """Cells with per-utterance samples take their failed count ``Column.n_failed`` and, for a
    metric with a worst value, their mean (failed items at the worst value: also right for
    ``metrics.json`` files written before that policy, whose means skipped them)."""
    from espnet_plugin.metrics.missing import worst_value

    for row, cols in samples.items():
        for key, col in cols.items():
            if key in table.values.get(row, {}):
                if col.kind == "mean" and worst_value(key) is not None:
                    table.values[row][key] = float(col.value())
                table.failed.setdefault(row, {})[key] = int(col.n_failed)


def read_samples(records: Sequence[tuple[str, dict]]) -> dict[str, dict[str, Any]]:
    """Per-utterance columns of every record: ``{tag: {"axis/name": Column}}``.

    A record lists its per-utterance files in ``per_utt`` (paths relative to the metrics.json);
    a metric found in none of them has no samples (its cell gets no interval). Later records win,
    as in :func:`merge_records`. An unreadable file is logged and skipped.
    """
    from espnet_plugin.report.uncertainty import read_per_utt

    out: dict[str, dict[str, Any]] = {}
    for src, rec in records:
        tag, axis = str(rec["tag"]), rec["axis"]
        row = out.setdefault(tag, {})
        for k in [k for k in row if k.startswith(axis + "/")]:
            del row[k]
        for rel in rec.get("per_utt") or []:
            try:
                cols = read_per_utt(Path(src).parent / rel)
            except DataError as exc:
                logger.warning("%s: no intervals from it: %s", src, exc)
                continue
            for name in rec["metrics"]:
                if name in cols:
                    row[f"{axis}/{name}"] = cols[name]
    return out


def copy_axis(table: SummaryTable, samples: dict, src: str, dst: str, axis: str) -> None:
    """Give row ``dst`` the ``axis`` cells (values, directions and samples) of row ``src``."""
    for k, v in table.values.get(src, {}).items():
        if k.startswith(axis + "/"):
            table.values.setdefault(dst, {})[k] = v
            if k in samples.get(src, {}):
                samples.setdefault(dst, {})[k] = samples[src][k]


def row_order(rows: Sequence[str], baselines: Mapping[str, str],
              sort_key: Optional[Any] = None) -> list[str]:
    """Baselines first (axis order), then the other rows sorted by ``sort_key`` (name)."""
    first = [b for a in AXES if (b := baselines.get(a)) in rows]
    first = list(dict.fromkeys(first))
    rest = sorted((r for r in rows if r not in first), key=sort_key or (lambda r: r))
    return first + rest


def _label(key: str, directions: Mapping[str, str]) -> str:
    a, n = key.split("/", 1)
    arrow = ARROW.get(directions.get(key, ""), "")
    return f"{AXIS_ABBR.get(a, a)}:{n} {arrow}".rstrip()


SCORE_LABELS = {"reconstruction": "score:rec ↑", "understanding": "score:und ↑",
                "generation": "score:gen ↑", "overall": "overall ↑"}


def _fmt_md(v: float, score: bool) -> str:
    if v is None or not math.isfinite(v):
        return MISSING_MD
    if score:
        return f"{v:.1f}"
    return f"{v:.3f}" if abs(v) < 10 else f"{v:.2f}"


def _fmt_md_ci(v: float, score: bool, ci: Optional[tuple[float, float]], failed: Optional[int] = None) -> str:
    """``value [lo, hi] (k failed)``: the interval in the value's format when there is one, the
    failed-item count when it is > 0."""
    txt = _fmt_md(v, score)
    if txt != MISSING_MD and ci is not None and all(math.isfinite(x) for x in ci):
        txt = f"{txt} [{_fmt_md(ci[0], score)}, {_fmt_md(ci[1], score)}]"
    if failed:
        txt = f"{txt} ({failed} failed)"
    return txt


def _fmt_csv(v: float) -> str:
    return "" if v is None or not math.isfinite(v) else f"{v:.6g}"


Cell = Union[str, tuple]   # text, or (value, is_score, (lo, hi) | None, n_failed | None)
CIs = Mapping[str, Mapping[str, tuple[float, float]]]   # {row: {metric key | axis | "overall": (lo, hi)}}


def table_cells(table: SummaryTable, scores: Mapping[str, Mapping[str, float]],
                baselines: Mapping[str, str], rows: Sequence[str], ci: Optional[CIs] = None,
                notes: Optional[Mapping[str, str]] = None) -> tuple[list[str], list[list[Cell]]]:
    """Header and per-row cells: ``str`` for text, ``(value, is_score, interval, n_failed)`` for
    numbers (``n_failed`` None where unknown and for scores).

    ``notes``: an optional text per row (e.g. the number of seeds) shown in a "runs" column.
    """
    cols = table.columns
    ci = ci or {}
    header = ["config", "baseline for"] + (["runs"] if notes else []) + \
        [_label(c, table.directions) for c in cols] + [SCORE_LABELS[a] for a in (*AXES, "overall")]
    body = []
    for r in rows:
        role = ",".join(AXIS_ABBR[a] for a in AXES if baselines.get(a) == r)
        vals = table.values.get(r, {})
        s = scores.get(r, {})
        rci = ci.get(r, {})
        fail = table.failed.get(r, {})
        body.append([r, role] + ([notes.get(r, "")] if notes else []) +
                    [(vals.get(c, float("nan")), False, rci.get(c), fail.get(c) if c in vals else None)
                     for c in cols] +
                    [(s.get(a, float("nan")), True, rci.get(a), None) for a in (*AXES, "overall")])
    return header, body


def to_markdown(table: SummaryTable, scores: Mapping[str, Mapping[str, float]],
                baselines: Mapping[str, str], rows: Sequence[str], ci: Optional[CIs] = None,
                notes: Optional[Mapping[str, str]] = None) -> str:
    """Markdown table (``value [95 % interval]``, missing = "—") followed by a short legend."""
    header, body = table_cells(table, scores, baselines, rows, ci, notes)
    n_text = 3 if notes else 2
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] * n_text + ["---:"] * (len(header) - n_text)) + "|"]
    for cells in body:
        txt = [c if isinstance(c, str) else _fmt_md_ci(*c) for c in cells]
        lines.append("| " + " | ".join(t if t else " " for t in txt) + " |")
    from espnet_plugin.metrics.overall import CONSTRUCTS

    jl = judges_line(table)
    if jl:
        lines += ["", jl]
    legend = ", ".join(f"{a}: `{baselines.get(a)}`" for a in AXES)
    scored = "; ".join(f"{AXIS_ABBR[a]}: " + ", ".join(CONSTRUCTS[a].values()) for a in AXES)
    lines += ["", f"Scores: 100 = the axis baseline ({legend}); geometric mean of the ratios of a "
              f"fixed set of constructs ({scored}; PESQ and MOS on [0, 1] from their floor), "
              "oriented so that > 100 is better; other columns are not scored; overall = geometric "
              "mean of the three axis scores, missing unless all three exist. ↑/↓: higher/lower is "
              f"better; {MISSING_MD} = not measured; (k failed) = k items the judge could not score "
              "(silent output, too little voice), counted at the metric's worst value."]
    if ci:
        lines += ["[lo, hi]: 95 % percentile-bootstrap interval over test utterances (rows resampled "
                  "together); a value without one had no per-utterance scores."]
    return "\n".join(lines) + "\n"


def judges_line(table: SummaryTable) -> str:
    """``Judges: gen:wer = whisper_large_v3, ...`` (a column judged differently across rows names
    the rows of each judge); ``""`` when no record named a judge."""
    parts = []
    for key in [c for c in table.columns if c in table.judges]:
        by = table.judges[key]
        label = _label(key, {})
        if len(by) == 1:
            parts.append(f"{label} = {next(iter(by))}")
        else:
            parts.append(f"{label} = " + " / ".join(f"{j} ({', '.join(rows)})" for j, rows in by.items()))
    return "Judges: " + ", ".join(parts) if parts else ""


def to_csv(table: SummaryTable, scores: Mapping[str, Mapping[str, float]],
           baselines: Mapping[str, str], rows: Sequence[str], ci: Optional[CIs] = None,
           notes: Optional[Mapping[str, str]] = None) -> str:
    """CSV text of the same table (missing = empty cell); every number has ``<col>_lo``/``<col>_hi``,
    every metric column ``<col>_failed`` (failed items; empty where unknown)."""
    header, body = table_cells(table, scores, baselines, rows, ci, notes)
    n_text = 3 if notes else 2
    n_metric = len(table.columns)
    out_header = header[:n_text]
    for i, h in enumerate(header[n_text:]):
        plain = h.rstrip(" ↑↓")
        out_header += [h, f"{plain}_lo", f"{plain}_hi"] + ([f"{plain}_failed"] if i < n_metric else [])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(out_header)
    for cells in body:
        row = list(cells[:n_text])
        for i, (v, _score, iv, failed) in enumerate(cells[n_text:]):
            lo, hi = iv if iv is not None else (float("nan"), float("nan"))
            row += [_fmt_csv(v), _fmt_csv(lo), _fmt_csv(hi)]
            if i < n_metric:
                row.append("" if failed is None else str(int(failed)))
        w.writerow(row)
    return buf.getvalue()


def write_tables(out_dir: Union[str, os.PathLike], table: SummaryTable,
                 scores: Mapping[str, Mapping[str, float]], baselines: Mapping[str, str],
                 rows: Sequence[str], ci: Optional[CIs] = None, notes: Optional[Mapping[str, str]] = None,
                 extra_md: str = "", head_md: str = "") -> tuple[Path, Path]:
    """Write ``out_dir/table.md`` (``head_md``, the table, then ``extra_md`` sections) and ``table.csv``."""
    from espnet_plugin.io.kaldi_dir import write_text_atomic

    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    md, cs = d / "table.md", d / "table.csv"
    write_text_atomic(md, head_md + to_markdown(table, scores, baselines, rows, ci, notes) + extra_md)
    write_text_atomic(cs, to_csv(table, scores, baselines, rows, ci, notes))
    return md, cs
