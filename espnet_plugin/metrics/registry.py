"""One registry of evaluation metrics: name, axis, direction, inputs and the function.

A metric is identified by ``(axis, name)``; the same short name may exist on two axes
(``spk_sim`` compares reference vs resynthesis for reconstruction and prompt vs output for
generation).  ``get_metric("pesq")`` works when the name is unique, ``get_metric("wer",
axis="generation")`` or ``get_metric("generation/wer")`` otherwise.

Inputs (``needs``) name the keyword arguments ``fn`` takes:

* ``ref``/``hyp``/``prompt``: (N,) float32 16 kHz waveforms of one utterance;
* ``refs``/``hyps`` (``aggregate="corpus"``): lists of strings for the whole test set.

``aggregate="mean"`` metrics are computed per utterance and averaged; NaN marks an item the judge
could not score (e.g. PESQ on silence): it is counted and enters the mean as the metric's worst
value (the missing-value policy, :mod:`espnet_plugin.metrics.missing`);
``aggregate="corpus"`` metrics get all utterances at once (WER: total errors / total words).

Online metrics (UTMOS, WavLM speaker similarity, ...) have no ``fn`` but a ``loader`` that
builds it from locally available weights; when the loader raises :class:`JudgeUnavailable`
the metric is skipped with one log message (it is never reported as 0).

Judge-backed metrics (``judge_kind`` ``"sim"``, ``"mos"`` or ``"asr"``: ``spk_sim``, ``mos``, ``wer``)
measure through a model that the scorer chooses (``--sim_judge`` ...; :mod:`.judges`);
:func:`resolve_metrics` binds the chosen judge, and ``Metric.judge`` names it for ``metrics.json``.
A chosen judge that cannot be loaded is an error, never a skipped column.
"""
from __future__ import annotations

import json
import logging
import math
import os
import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, Optional, Sequence, Union

import numpy as np

from espnet_plugin.errors import ConfigError, JudgeUnavailable  # noqa: F401 (JudgeUnavailable: re-exported)
from espnet_plugin.registry import Registry

logger = logging.getLogger(__name__)

AXES = ("reconstruction", "understanding", "generation")
DIRECTIONS = ("higher", "lower")


@dataclass
class Metric:
    """A registered metric.

    Attributes:
        name: short name (``pesq``, ``wer`` ...), unique within its axis.
        direction: ``"higher"`` or ``"lower"`` is better.
        fn: the function; keyword arguments named by ``needs``; returns a float (NaN when
            undefined for this input). ``None`` for online metrics until loaded.
        axis: ``"reconstruction"``, ``"understanding"`` or ``"generation"``.
        needs: names of the inputs ``fn`` takes (see the module docstring).
        aggregate: ``"mean"`` (per utterance, then the mean of :func:`average_scores`) or ``"corpus"``.
        loader: for online metrics, a zero-argument callable returning ``fn`` or raising
            :class:`JudgeUnavailable`.
        description: one line for tables and ``--help``.
        unit: display unit (``"%"``, ``"dB"``, ``""``).
        judge_kind: ``"asr"``, ``"sim"`` or ``"mos"`` when a chosen judge model measures it (``fn``
            then takes that judge's function as keyword ``judge``; corpus metrics get transcripts).
        judge: name of the judge (or algorithm) behind the value, written to ``metrics.json``.
    """

    name: str
    direction: Literal["higher", "lower"]
    fn: Optional[Callable[..., float]]
    axis: Literal["reconstruction", "understanding", "generation"]
    needs: tuple[str, ...] = ()
    aggregate: Literal["mean", "corpus"] = "mean"
    loader: Optional[Callable[[], Callable[..., float]]] = None
    description: str = ""
    unit: str = ""
    judge_kind: Optional[str] = None
    judge: str = ""
    _skip_reason: Optional[str] = field(default=None, repr=False)

    @property
    def key(self) -> str:
        """Qualified key ``"<axis>/<name>"`` used in tables and :func:`compute_scores`."""
        return f"{self.axis}/{self.name}"

    @property
    def online(self) -> bool:
        """True when the function comes from a loader (weights that may be unavailable)."""
        return self.loader is not None

    def resolve(self) -> Optional[Callable[..., float]]:
        """Return the metric function, loading it once for online metrics.

        Returns ``None`` (after logging the reason once per process) when the loader
        raises :class:`JudgeUnavailable`; the caller then skips the metric.
        """
        if self.fn is not None:
            return self.fn
        if self.loader is None:
            raise ConfigError(f"metric {self.key!r} has neither a function nor a loader")
        if self._skip_reason is not None:
            return None
        try:
            self.fn = self.loader()
        except JudgeUnavailable as exc:
            self._skip_reason = str(exc)
            logger.warning("metric %s SKIPPED: %s", self.key, exc)
            return None
        return self.fn


#: every metric, keyed ``"axis/name"``; third parties add a :class:`Metric` object under the
#: entry-point group ``espnet_plugin.metrics`` (entry-point name = its ``"axis/name"`` key)
METRICS: Registry[Metric] = Registry("metric", Metric, "espnet_plugin.metrics", instances=True)


def _all() -> dict[tuple[str, str], Metric]:
    """``{(axis, name): metric}`` of every metric, built-in and third-party."""
    return {(m.axis, m.name): m for m in METRICS.entries().values()}


def _check(name: str, direction: str, axis: str, aggregate: str) -> None:
    if not name or "/" in name or any(c.isspace() for c in name):
        raise ConfigError(f"bad metric name {name!r}: non-empty, no '/' or white space")
    if direction not in DIRECTIONS:
        raise ConfigError(f"metric {name!r}: direction {direction!r} not in {DIRECTIONS}")
    if axis not in AXES:
        raise ConfigError(f"metric {name!r}: axis {axis!r} not in {AXES}")
    if aggregate not in ("mean", "corpus"):
        raise ConfigError(f"metric {name!r}: aggregate {aggregate!r} not in ('mean', 'corpus')")


def add_metric(metric: Metric, *, overwrite: bool = False) -> Metric:
    """Register a :class:`Metric` object (for online metrics, which have a loader, no fn).

    Raises:
        ConfigError: bad name/direction/axis, or ``(axis, name)`` taken and not ``overwrite``.
    """
    _check(metric.name, metric.direction, metric.axis, metric.aggregate)
    if metric.key in METRICS.registered() and not overwrite:
        raise ConfigError(f"metric {metric.key!r} is already registered")
    return METRICS.register(metric.key, metric, override=overwrite)


def register_metric(
    name: str,
    *,
    direction: Literal["higher", "lower"],
    axis: Literal["reconstruction", "understanding", "generation"],
    needs: tuple[str, ...] = ("ref", "hyp"),
    aggregate: Literal["mean", "corpus"] = "mean",
    description: str = "",
    unit: str = "",
    judge_kind: Optional[str] = None,
    judge: str = "",
    overwrite: bool = False,
) -> Callable[[Callable[..., float]], Callable[..., float]]:
    """Decorator registering ``fn`` as metric ``name`` on ``axis``; returns ``fn`` unchanged.

    Example::

        @register_metric("stoi", direction="higher", axis="reconstruction")
        def stoi(ref, hyp): ...
    """
    _check(name, direction, axis, aggregate)

    def deco(fn: Callable[..., float]) -> Callable[..., float]:
        add_metric(
            Metric(name=name, direction=direction, fn=fn, axis=axis, needs=tuple(needs),
                   aggregate=aggregate, description=description or (fn.__doc__ or "").strip()
                   .split("\n")[0], unit=unit, judge_kind=judge_kind, judge=judge),
            overwrite=overwrite,
        )
        return fn

    return deco


def get_metric(name: str, axis: Optional[str] = None) -> Metric:
    """Look a metric up by ``name`` (optionally ``"axis/name"``) and optional ``axis``.

    Raises:
        ConfigError: unknown name, or a name registered on several axes without ``axis``.
    """
    if "/" in name:
        axis, name = name.split("/", 1)
    if axis is not None:
        if f"{axis}/{name}" in METRICS:
            return METRICS.get(f"{axis}/{name}")  # a broken third-party entry point: ConfigError naming it
        raise ConfigError(
            f"unknown metric {name!r} on axis {axis!r}; known: "
            f"{sorted(n for a, n in _all() if a == axis)}"
        )
    registry = _all()
    hits = [m for (a, n), m in registry.items() if n == name]
    if not hits:
        raise ConfigError(f"unknown metric {name!r}; known: {sorted({n for _, n in registry})}")
    if len(hits) > 1:
        raise ConfigError(
            f"metric {name!r} exists on several axes {sorted(m.axis for m in hits)}: "
            "pass axis= or use 'axis/name'"
        )
    return hits[0]


def available_metrics(axis: Optional[str] = None) -> list[Metric]:
    """All registered metrics (of one ``axis`` when given), sorted by (axis, name)."""
    if axis is not None and axis not in AXES:
        raise ConfigError(f"axis {axis!r} not in {AXES}")
    return [m for (a, _), m in sorted(_all().items()) if axis is None or a == axis]


def direction_of(key: str) -> Optional[str]:
    """Direction of a metric given as ``"axis/name"`` (or a unique name); None if unknown."""
    try:
        return get_metric(key).direction
    except ConfigError:
        return None


# ------------------------------------------------------------------ evaluation helpers
def resolve_metrics(names: Sequence[str], axis: str, judges: Optional[Mapping[str, str]] = None) -> list[Metric]:
    """Registry entries for ``names`` on ``axis``, dropping (with one log line each) online
    metrics whose weights cannot be loaded.

    Args:
        judges: ``{judge_kind: judge name}`` for the judge-backed metrics (``{"sim": "wavlm_large_sv"}``);
            a kind not given gets :data:`judges.DEFAULT_JUDGES` (the embedded judges). A judge-backed
            metric comes back as a copy with ``fn`` bound to the judge and ``judge`` set to its name.
    Raises:
        ConfigError: an unknown metric or judge name.
        JudgeUnavailable: a chosen judge cannot be loaded (the message names it and how to provide it).
    """
    from espnet_plugin.metrics import judges as J

    chosen = {**J.DEFAULT_JUDGES, **{k: v for k, v in (judges or {}).items() if v}}
    out = []
    for n in names:
        m = get_metric(n, axis=axis)
        if m.judge_kind is not None:
            name = chosen[m.judge_kind]
            J.judge_info(name, m.judge_kind)
            if m.aggregate == "corpus":  # its transcripts are made by the caller with that judge
                out.append(dataclasses.replace(m, judge=name))
            else:
                fn = functools.partial(m.fn, judge=J.get_judge(name, m.judge_kind))
                out.append(dataclasses.replace(m, fn=fn, judge=name))
        elif m.resolve() is not None:
            out.append(m)
    return out


def add_online_judges(axis: str, pair: tuple, align: Optional[Callable] = None) -> None:
    """Register the opt-in columns of ``axis`` with a fixed online judge: ``utmos`` (utmos22_strong on
    ``hyp``) and ``spk_sim_wavlm`` (wavlm_base_plus_sv cosine of the two inputs named by ``pair``,
    e.g. ``("ref", "hyp")``, first passed through ``align(a, b) -> (a, b)`` when given). Without local
    weights these columns are skipped (they are extras; a judge chosen with ``--mos_judge`` /
    ``--sim_judge`` is not: it fails with the loader's message)."""
    from espnet_plugin.metrics import judges as J

    def utmos_loader():
        f = J.get_judge("utmos22_strong", "mos")
        return lambda hyp: f(hyp)

    def wavlm_loader():
        f = J.load_wavlm_sv()
        first, second = pair
        return lambda **kw: f(*(align(kw[first], kw[second]) if align else (kw[first], kw[second])))

    add_metric(Metric("utmos", "higher", None, axis, ("hyp",), loader=utmos_loader, judge="utmos22_strong",
                      description="UTMOS22 strong MOS estimate (online weights)"))
    add_metric(Metric("spk_sim_wavlm", "higher", None, axis, tuple(pair), loader=wavlm_loader,
                      judge="wavlm_base_plus_sv", description="WavLM x-vector cosine (online weights)"))


ON_ERROR = ("raise", "nan")


def score_utterance(metrics: Sequence[Metric], *, on_error: str = "raise", **inputs: Any) -> dict[str, float]:
    """Run the per-utterance (``aggregate="mean"``) metrics on one utterance.

    Args:
        metrics: resolved metrics (see :func:`resolve_metrics`); corpus metrics are ignored.
        on_error: a metric whose loading or computation raises: ``"raise"`` (default) passes the
            exception on; ``"nan"`` logs it (WARNING) and scores that metric NaN, so that one
            failing judge does not lose the others (the demo).
        inputs: the utterance's inputs, e.g. ``ref=(N,) array, hyp=(M,) array``.
    Returns:
        ``{name: value}``, NaN where the metric is undefined for this utterance (or failed, with
        ``on_error="nan"``); online metrics whose weights are unavailable are left out.
    Raises:
        ConfigError: a metric needs an input that was not given, or a bad ``on_error``.
    """
    if on_error not in ON_ERROR:
        raise ConfigError(f"on_error={on_error!r}: choose one of {ON_ERROR}")
    out: dict[str, float] = {}
    for m in metrics:
        if m.aggregate != "mean":
            continue
        missing = [k for k in m.needs if k not in inputs]
        if missing:
            raise ConfigError(f"metric {m.key!r} needs inputs {missing} that were not given")
        try:
            fn = m.resolve()
            if fn is not None:
                out[m.name] = float(fn(**{k: inputs[k] for k in m.needs}))
        except Exception as exc:  # noqa: BLE001 - on_error="nan" turns any failure into NaN
            if on_error == "raise":
                raise
            logger.warning("metric %s failed: %s", m.key, exc)
            out[m.name] = float("nan")
    return out


def average_scores(rows: Sequence[Mapping[str, float]]) -> tuple[dict[str, float], dict[str, int]]:
    """Mean of per-utterance scores under the missing-value policy (:mod:`.missing`).

    A metric with a worst value ``W`` (PESQ, STOI, SIM, MOS, mel distance): an utterance where it
    is NaN (the judge could not score it) or absent counts as ``W``, so
    ``mean = (sum_ok x + n_nan * W) / n``. Any other metric: the mean over the utterances where it
    is finite (NaN if none).

    Returns:
        ``(means, n_nan)``: ``n_nan[name]`` = how many utterances had it undefined (the failed
        items of a metric with a worst value).
    """
    from espnet_plugin.metrics.missing import fill_failed

    names: list[str] = []
    for r in rows:
        names += [k for k in r if k not in names]
    means, n_nan = {}, {}
    for k in names:
        v = np.array([r.get(k, float("nan")) for r in rows], dtype=np.float64)
        n_nan[k] = int((~np.isfinite(v)).sum())
        v, _ = fill_failed(v, k)
        ok = np.isfinite(v)
        means[k] = float(v[ok].mean()) if ok.any() else float("nan")
    return means, n_nan


def _json_num(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _json_default(o: Any) -> Any:
    """JSON fallback: numpy scalars/arrays to Python numbers (non-finite -> null), else str."""
    if hasattr(o, "tolist"):
        v = o.tolist()
        return _json_num(v) if isinstance(v, float) else v
    return str(o)


def write_metrics_json(
    path: Union[str, os.PathLike],
    *,
    axis: str,
    tag: str,
    metrics: Mapping[str, float],
    n: int,
    directions: Optional[Mapping[str, str]] = None,
    **extra: Any,
) -> dict:
    """Write the ``metrics.json`` every scoring stage produces (read by ``summarize``).

    Schema: ``{"axis", "tag", "metrics": {name: mean or null}, "n", "directions": {name:
    "higher"|"lower"}, ...extra}`` (e.g. ``n_nan``, ``asr_judge``, ``margins``, and ``judges``:
    ``{name: judge}``, the model or algorithm behind each value, for the tables).  Non-finite
    values are written as ``null`` (JSON has no NaN).  Directions default to the registry's.

    Raises:
        ConfigError: bad axis, or a metric with no known direction.
    """
    if axis not in AXES:
        raise ConfigError(f"axis {axis!r} not in {AXES}")
    dirs = dict(directions or {})
    for k in metrics:
        if k not in dirs:
            d = direction_of(f"{axis}/{k}")
            if d is None:
                raise ConfigError(f"{path}: no direction for metric {k!r}: pass directions=")
            dirs[k] = d
    rec = {"axis": axis, "tag": tag, "metrics": {k: _json_num(float(v)) for k, v in metrics.items()},
           "n": int(n), "directions": dirs}
    rec.update({k: v for k, v in extra.items()})
    from espnet_plugin.io.kaldi_dir import write_text_atomic

    write_text_atomic(path, json.dumps(rec, indent=2, default=_json_default) + "\n")
    return rec
