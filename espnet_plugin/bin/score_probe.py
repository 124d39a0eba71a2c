#!/usr/bin/env python3
"""Score ASR-probe decodes (WER, CER) and merge the speaker-id result into one metrics.json.

    python -m espnet_plugin.bin.score_probe --ref_text dump/raw/test/text \
        --hyp ctc_greedy=exp/probe_x/decode_test_ctc_greedy/text \
        --hyp ctc_beam=exp/probe_x/decode_test_ctc_beam/text \
        --sid_json exp/probe_x/sid/sid.json --tag x --out_dir exp/probe_x/scores

Writes ``<out_dir>/metrics.json`` (:func:`espnet_plugin.metrics.registry.write_metrics_json`,
axis ``understanding``): ``metrics = {wer, cer, sid_acc}`` (%; WER/CER of the ``--primary`` decode,
by default the first ``--hyp``), ``decodes = {name: {wer, cer}}`` for every decode, ``sid`` (the
speaker-id JSON), and ``<out_dir>/<name>.tsv`` (utt, reference, hypothesis) per decode.
A reference utterance missing from a decode counts as an empty hypothesis (all deletions).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path
from typing import Dict, Tuple

from espnet_plugin.errors import ConfigError, DataError


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref_text", required=True, help="Kaldi text: utt transcript")
    p.add_argument("--hyp", action="append", required=True, metavar="NAME=TEXT", help="a decode (repeatable)")
    p.add_argument("--primary", default=None, help="decode reported as wer/cer (default: the first --hyp)")
    p.add_argument("--sid_json", default=None, help="output of espnet_plugin.bin.sid_probe (optional)")
    p.add_argument("--tag", required=True)
    p.add_argument("--out_dir", required=True)
    return p


def read_hyps(path: str) -> Dict[str, str]:
    """ESPnet ``1best_recog/text``: ``utt tokens...``; an utterance decoded to nothing may have no text."""
    from espnet_plugin.io.kaldi_dir import read_text

    return read_text(path, allow_empty=True)


def score_decode(refs: Dict[str, str], hyps: Dict[str, str]) -> Tuple[float, float, int, int]:
    """Corpus WER and CER (%) of ``hyps`` vs ``refs`` over the reference utterances.

    Returns ``(wer, cer, n_utts, n_missing)``.
    """
    from espnet_plugin.metrics.understanding import probe_cer, probe_wer

    keys = sorted(refs)
    missing = [k for k in keys if k not in hyps]
    r = [refs[k] for k in keys]
    h = [hyps.get(k, "") for k in keys]
    return probe_wer(r, h), probe_cer(r, h), len(keys), len(missing)


def main(cmd=None) -> dict:
    from espnet_plugin.io.kaldi_dir import read_text
    from espnet_plugin.metrics.registry import get_metric, write_metrics_json

    args = get_parser().parse_args(cmd)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    refs = read_text(args.ref_text)
    if not refs:
        raise DataError(f"{args.ref_text}: no reference transcripts")
    scores: Dict[str, Dict[str, float]] = {}  # decode -> {"wer", "cer"} (%; nan when undefined)
    hyp_by_decode: Dict[str, Dict[str, str]] = {}
    n_missing: Dict[str, int] = {}
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for spec in args.hyp:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--hyp must be NAME=PATH, got {spec!r}")
        if not Path(path).is_file():
            raise DataError(f"decode {name!r}: {path} not found (run the decoding stage)")
        hyps = read_hyps(path)
        hyp_by_decode[name] = hyps
        wer, cer, n, miss = score_decode(refs, hyps)
        scores[name] = {"wer": wer, "cer": cer}
        n_missing[name] = miss
        if miss:
            logging.warning(f"{path}: {miss} of {n} reference utterances have no hypothesis (scored as empty)")
        (out / f"{name}.tsv").write_text(
            "".join(f"{k}\t{refs[k]}\t{hyps.get(k, '')}\n" for k in sorted(refs)), encoding="utf-8"
        )
        logging.info(f"{args.tag} {name}: WER {wer:.2f}%  CER {cer:.2f}%  ({n} utts)")
    primary = args.primary or args.hyp[0].partition("=")[0]
    if primary not in scores:
        raise ConfigError(f"--primary {primary!r} is not one of the decodes {sorted(scores)}")
    sid = None
    sid_acc = math.nan
    if args.sid_json:
        if Path(args.sid_json).is_file():
            sid = json.loads(Path(args.sid_json).read_text())
            sid_acc = float(sid["sid_acc"])
        else:
            logging.warning(f"{args.sid_json} not found: sid_acc left empty")
    metrics = {"wer": scores[primary]["wer"], "cer": scores[primary]["cer"], "sid_acc": sid_acc}
    # per-utterance error counts of the primary decode (the summary's bootstrap resamples them)
    from espnet_plugin.metrics.cli import write_per_utt
    from espnet_plugin.metrics.generation import error_count_columns

    counts = error_count_columns(refs, hyp_by_decode[primary])
    write_per_utt(out / "per_utt.tsv", counts, ["wer.err", "wer.len", "cer.err", "cer.len"])
    per_utt = ["per_utt.tsv"]
    if sid and sid.get("per_utt"):   # held-out utterances of the training speakers: 100 = right
        write_per_utt(out / "sid_per_utt.tsv", {u: {"sid_acc": 100.0 * float(ok)} for u, ok in sid["per_utt"].items()},
                      ["sid_acc"])
        per_utt.append("sid_per_utt.tsv")
    # JSON has no NaN: write_metrics_json nulls non-finite metrics; the per-decode scores here
    decodes = {name: {k: (v if math.isfinite(v) else None) for k, v in sc.items()} for name, sc in scores.items()}
    rec = write_metrics_json(
        out / "metrics.json", axis="understanding", tag=args.tag, metrics=metrics, n=len(refs),
        primary_decode=primary, decodes=decodes, n_missing=n_missing, sid=sid,
        ref_text=str(args.ref_text), per_utt=per_utt,
        judges={k: get_metric(k, "understanding").judge for k in metrics},
    )
    return rec


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
