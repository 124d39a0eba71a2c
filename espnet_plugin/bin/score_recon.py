"""Score resynthesised audio against the originals (reconstruction axis).

    python -m espnet_plugin.bin.score_recon --ref_scp data/test/wav.scp \\
        --hyp_dir exp/svae_jmas/decode_test/wav --out_dir exp/svae_jmas/score_test \\
        [--metrics pesq,stoi,mel_distance,spk_sim,mos] [--tag jmas]

Writes ``OUT/per_utt.tsv`` (one line per utterance, ``nan`` where undefined) and
``OUT/metrics.json`` (``{"axis": "reconstruction", "tag", "metrics": {name: mean}, "n",
"directions", "n_nan", ...}``).  Hypotheses are ``HYP_DIR/<utt>.wav``; all audio is read
as 16 kHz mono (resampled/downmixed when needed).
"""
from __future__ import annotations

import argparse
import logging
import math
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from espnet_plugin.errors import DataError

logger = logging.getLogger("score_recon")

SR = 16000
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

    Raises:
        DataError: unreadable, missing or NaN audio (naming the utterance).
    """
    from espnet_plugin.io.audio import load_audio, resample

    p = Path(spec)
    if root is not None and not p.is_absolute() and not p.exists():
        p = root / p
    if p.is_file():
        return load_audio(p, SR, utt_id=utt, allow_silence=True)
    try:
        import kaldiio

        rate, data = kaldiio.load_mat(spec)
    except Exception as exc:
        raise DataError(f"utterance {utt!r}: cannot read audio {spec!r}: {exc}") from exc
    x = np.asarray(data)
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / 32768.0
    if x.ndim == 2:
        x = x.mean(axis=1)
    return resample(x.astype(np.float32), int(rate), SR)


def write_per_utt(path: Path, rows: Mapping[str, Mapping[str, object]], columns: Sequence[str]) -> None:
    """Tab-separated ``utt col1 col2 ...`` with floats as ``%.6g`` (``nan`` when undefined)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\t".join(["utt", *columns]) + "\n")
        for utt, r in rows.items():
            cells = []
            for c in columns:
                v = r.get(c, float("nan"))
                if isinstance(v, float):
                    cells.append("nan" if not math.isfinite(v) else f"{v:.6g}")
                else:
                    cells.append(str(v).replace("\t", " "))
            f.write("\t".join([utt, *cells]) + "\n")


def parse_margins(s: str | None) -> dict | None:
    """``"0.5,0.25"`` -> ``{"m1": 0.5, "m2": 0.25}``; None passes through."""
    if not s:
        return None
    try:
        m1, m2 = (float(v) for v in s.split(","))
    except ValueError as exc:
        from espnet_plugin.errors import ConfigError

        raise ConfigError(f"--margins {s!r}: expected 'm1,m2' numbers") from exc
    return {"m1": m1, "m2": m2}


def set_threads(n: int) -> None:
    """``torch.set_num_threads(n)`` when ``n > 0`` (0: leave torch's default)."""
    if n > 0:
        import torch

        torch.set_num_threads(n)


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    from espnet_plugin.metrics.reconstruction import DEFAULT_METRICS

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref_scp", required=True, help="wav.scp of the original audio")
    p.add_argument("--hyp_dir", required=True, help="directory with <utt>.wav resyntheses")
    p.add_argument("--out_dir", required=True)
    p.add_argument("--metrics", default=",".join(DEFAULT_METRICS),
                   help="comma-separated reconstruction metrics (online ones: utmos, spk_sim_wavlm)")
    p.add_argument("--tag", default=None, help="row name in the summary (default: from out_dir)")
    p.add_argument("--margins", default=None, help="'m1,m2' recorded for margin-sweep plots")
    p.add_argument("--allow_missing", action="store_true",
                   help="score the utterances that have a hypothesis instead of failing")
    p.add_argument("--num_threads", type=int, default=1,
                   help="torch threads for the judge models (small models: 1 is fastest on a "
                        "shared CPU; 0 keeps torch's default)")
    p.add_argument("--log_level", default="INFO")
    return p


def main(argv: Sequence[str] | None = None) -> dict:
    """Entry point; returns the metrics.json record."""
    from tqdm import tqdm

    from espnet_plugin.io.kaldi_dir import read_scp
    from espnet_plugin.metrics.registry import (average_scores, resolve_metrics, score_utterance,
                                                write_metrics_json)

    args = get_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    set_threads(args.num_threads)
    names = [m.strip() for m in args.metrics.split(",") if m.strip()]
    metrics = resolve_metrics(names, "reconstruction")
    refs = read_scp(args.ref_scp)
    hyp_dir = Path(args.hyp_dir)
    missing = [u for u in refs if not (hyp_dir / f"{u}.wav").is_file()]
    if missing and (not args.allow_missing or len(missing) == len(refs)):
        raise DataError(f"{hyp_dir}: no <utt>.wav for {len(missing)} of {len(refs)} utterances "
                        f"of {args.ref_scp} (first: {missing[:3]}); --allow_missing to skip them")
    if missing:
        logger.warning("%d utterances have no hypothesis and are skipped", len(missing))
    root = Path(args.ref_scp).parent
    per_utt: dict[str, dict[str, float]] = {}
    for utt, spec in tqdm(refs.items(), desc="score_recon", disable=None):
        if utt in missing:
            continue
        ref = load_wav_16k(spec, utt, root)
        hyp = load_wav_16k(str(hyp_dir / f"{utt}.wav"), utt)
        try:
            per_utt[utt] = score_utterance(metrics, ref=ref, hyp=hyp)
        except ValueError as exc:
            raise DataError(f"utterance {utt!r}: {exc}") from exc
    means, n_nan = average_scores(list(per_utt.values()))
    for k, c in n_nan.items():
        if c:
            logger.warning("%s undefined (NaN) for %d of %d utterances", k, c, len(per_utt))
    out = Path(args.out_dir)
    write_per_utt(out / "per_utt.tsv", per_utt, [m.name for m in metrics])
    rec = write_metrics_json(
        out / "metrics.json", axis="reconstruction", tag=args.tag or default_tag(args.out_dir),
        metrics={m.name: means.get(m.name, float("nan")) for m in metrics}, n=len(per_utt),
        n_nan=n_nan, n_missing=len(missing), ref_scp=os.path.abspath(args.ref_scp),
        hyp_dir=os.path.abspath(args.hyp_dir),
        **({"margins": parse_margins(args.margins)} if args.margins else {}),
    )
    logger.info("%s: %s", out / "metrics.json", rec["metrics"])
    return rec


if __name__ == "__main__":
    main()
