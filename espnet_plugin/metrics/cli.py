"""Shared pieces of the scoring entry points (``bin/score_recon.py``, ``bin/score_tts.py``).

Their common options (hypothesis dir, output dir, metric list, tag, margins, threads), the audio
reader both judges use (any wav.scp value as 16 kHz mono), the check for missing hypotheses and
the ``per_utt.tsv`` writer.
"""
from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path
from typing import Iterable, List, Mapping, Sequence

import numpy as np

from espnet_plugin.errors import ConfigError, DataError

SR = 16000
logger = logging.getLogger(__name__)
_TAG_PREFIXES = ("svae_", "tts_", "probe_")


def default_tag(out_dir: str) -> str:
    """Tag from the experiment dir: ``exp/svae_jmas/score_test`` -> ``jmas``.

    The parent of ``out_dir`` with a ``svae_``/``tts_``/``probe_`` prefix removed, so the
    three axes of one configuration share a tag.
    """
    name = Path(out_dir).resolve().parent.name
    for p in _TAG_PREFIXES:
        if name.startswith(p):
            return name[len(p):]
    return name


def load_wav_16k(spec: str, utt: str, root: Path | None = None) -> np.ndarray:
    """Read one wav.scp value (a file path, or a Kaldi ``ark:offset``/pipe) as (N,) float32 16 kHz.

    Kaldi/pipe audio: integer PCM is scaled by its own full scale (8-bit unsigned is centred on
    128), channels are averaged.  Silence is accepted (the metrics mark it NaN).

    Raises:
        DataError: unreadable, missing, empty or NaN/Inf audio (naming the utterance).
    """
    from espnet_plugin.io.scp_audio import load_entry

    return load_entry(spec, SR, utt_id=utt, root=root, listed=True, allow_silence=True)


def find_missing_hyps(utts: Iterable[str], hyp_dir: Path, source: str, allow_missing: bool) -> set[str]:
    """The utterances of ``source`` (a wav.scp or pair list) that have no ``hyp_dir/<utt>.wav``.

    Logs a warning when some are missing and ``allow_missing`` (they are then skipped).

    Raises:
        DataError: some are missing and not ``allow_missing``, or all of them are missing.
    """
    utts = list(utts)
    missing = [u for u in utts if not (hyp_dir / f"{u}.wav").is_file()]
    if missing and (not allow_missing or len(missing) == len(utts)):
        raise DataError(f"{hyp_dir}: no <utt>.wav for {len(missing)} of {len(utts)} utterances "
                        f"of {source} (first: {missing[:3]}); --allow_missing to skip them")
    if missing:
        logger.warning("%d utterances have no hypothesis and are skipped", len(missing))
    return set(missing)


def write_per_utt(path: Path, rows: Mapping[str, Mapping[str, object]], columns: Sequence[str]) -> None:
    """Tab-separated ``utt col1 col2 ...`` with floats as ``%.6g`` (``nan`` when undefined), atomically."""
    from espnet_plugin.io.kaldi_dir import write_text_atomic

    lines = ["\t".join(["utt", *columns])]
    for utt, r in rows.items():
        cells = []
        for c in columns:
            v = r.get(c, float("nan"))
            if isinstance(v, float):
                cells.append("nan" if not math.isfinite(v) else f"{v:.6g}")
            else:
                cells.append(str(v).replace("\t", " "))
        lines.append("\t".join([utt, *cells]))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, "\n".join(lines) + "\n")


def parse_margins(s: str | None) -> dict | None:
    """``"0.5,0.25"`` -> ``{"m1": 0.5, "m2": 0.25}``; None passes through."""
    if not s:
        return None
    try:
        m1, m2 = (float(v) for v in s.split(","))
    except ValueError as exc:
        raise ConfigError(f"--margins {s!r}: expected 'm1,m2' numbers") from exc
    return {"m1": m1, "m2": m2}


def set_threads(n: int) -> None:
    """``torch.set_num_threads(n)`` when ``n > 0`` (0: leave torch's default)."""
    if n > 0:
        import torch

        torch.set_num_threads(n)


def add_scoring_args(p: argparse.ArgumentParser, default_metrics: Sequence[str], what: str) -> None:
    """The options every scorer has: ``--hyp_dir --out_dir --metrics --tag --margins
    --allow_missing --skip_bad_utts --num_threads --log_level`` (``what``: "hypothesis" or "output")."""
    p.add_argument("--hyp_dir", required=True, help=f"directory with <utt>.wav {what}s")
    p.add_argument("--out_dir", required=True)
    p.add_argument("--metrics", default=",".join(default_metrics),
                   help="comma-separated metrics (opt-in online ones: utmos, spk_sim_wavlm)")
    from espnet_plugin.metrics.judges import DEFAULT_JUDGES, available_judges
    from espnet_plugin.metrics.paper_judges import PATH_OPTIONS

    for kind, what in (("sim", "spk_sim"), ("mos", "mos")):
        p.add_argument(f"--{kind}_judge", default=DEFAULT_JUDGES[kind],
                       choices=[j.name for j in available_judges(kind)], help=f"the judge behind {what}")
    for opt, env in PATH_OPTIONS.items():
        p.add_argument(f"--{opt}", default=None, help=f"judge weights (sets {env}; see metrics/paper_judges.py)")
    p.add_argument("--tag", default=None, help="row name in the summary (default: from out_dir)")
    p.add_argument("--margins", default=None, help="'m1,m2' recorded for margin-sweep plots")
    p.add_argument("--allow_missing", action="store_true",
                   help=f"score the utterances that have a {what} instead of failing")
    from espnet2.utils.types import str2bool

    p.add_argument("--skip_bad_utts", type=str2bool, default=False,
                   help="true: an utterance whose audio is bad (DataError) is logged, listed in "
                        "<out_dir>/bad_utts.tsv and left out of the scores; false: fail on it")
    p.add_argument("--num_threads", type=int, default=1,
                   help="torch threads for the judge models (small models: 1 is fastest on a "
                        "shared CPU; 0 keeps torch's default)")
    p.add_argument("--log_level", default="INFO")


def start(args: argparse.Namespace) -> List[str]:
    """Set up logging and threads for a scorer; returns the requested metric names."""
    import os

    from espnet_plugin.metrics.paper_judges import PATH_OPTIONS

    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    set_threads(args.num_threads)
    for opt, env in PATH_OPTIONS.items():  # the judges' loaders read these
        if getattr(args, opt, None):
            os.environ[env] = getattr(args, opt)
    return [m.strip() for m in args.metrics.split(",") if m.strip()]


def chosen_judges(args: argparse.Namespace) -> dict:
    """``{judge_kind: name}`` of the scorer's options (``--sim_judge``, ``--mos_judge``, ``--asr_judge``)."""
    return {k: getattr(args, f"{k}_judge") for k in ("asr", "sim", "mos") if getattr(args, f"{k}_judge", None)}


def judges_record(metrics: Sequence, **more: str) -> dict:
    """``{metric name: judge name}`` for ``metrics.json`` (every metric with a known judge, plus ``more``)."""
    rec = {m.name: m.judge for m in metrics if m.judge}
    rec.update(more)
    return rec


def record_extras(args: argparse.Namespace) -> dict:
    """``{"margins": {...}}`` when ``--margins`` was given (for the margin-sweep plots), else ``{}``."""
    return {"margins": parse_margins(args.margins)} if args.margins else {}
