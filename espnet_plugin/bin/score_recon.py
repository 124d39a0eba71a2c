"""Score resynthesised audio against the originals (reconstruction axis).

    python -m espnet_plugin.bin.score_recon --ref_scp data/test/wav.scp \\
        --hyp_dir exp/svae_jmas/decode_test/wav --out_dir exp/svae_jmas/score_test \\
        [--metrics pesq,stoi,mel_distance,spk_sim,mos] [--tag jmas] \\
        [--sim_judge resemblyzer|wavlm_large_sv] [--mos_judge distillmos|utmos22_strong] [--sv_checkpoint ...]

Writes ``OUT/per_utt.tsv`` (one line per utterance, ``nan`` where undefined) and
``OUT/metrics.json`` (``{"axis": "reconstruction", "tag", "metrics": {name: mean}, "n",
"directions", "n_nan", "judges": {name: judge}, ...}``).  Hypotheses are ``HYP_DIR/<utt>.wav``; all audio is read
as 16 kHz mono (resampled/downmixed when needed). ``--skip_bad_utts true``: an utterance with bad
audio is left out and listed in ``OUT/bad_utts.tsv`` (``n_bad`` in metrics.json).
"""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Sequence

from espnet_plugin.errors import DataError
from espnet_plugin.io.bad_utts import BadUtts
from espnet_plugin.metrics.cli import (add_scoring_args, chosen_judges, default_tag, find_missing_hyps, judges_record,
                                      load_wav_16k, record_extras, start, write_per_utt)

logger = logging.getLogger("score_recon")

def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    from espnet_plugin.metrics.reconstruction import DEFAULT_METRICS

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref_scp", required=True, help="wav.scp of the original audio")
    add_scoring_args(p, DEFAULT_METRICS, "hypothesis")
    return p


def main(argv: Sequence[str] | None = None) -> dict:
    """Entry point; returns the metrics.json record."""
    from tqdm import tqdm

    from espnet_plugin.io.kaldi_dir import read_scp
    from espnet_plugin.metrics.registry import (average_scores, resolve_metrics, score_utterance,
                                                write_metrics_json)

    args = get_parser().parse_args(argv)
    names = start(args)
    refs = read_scp(args.ref_scp)  # inputs are checked before the judges are loaded
    hyp_dir = Path(args.hyp_dir)
    missing = find_missing_hyps(refs, hyp_dir, args.ref_scp, args.allow_missing)
    metrics = resolve_metrics(names, "reconstruction", chosen_judges(args))
    root = Path(args.ref_scp).parent
    per_utt: dict[str, dict[str, float]] = {}
    bad = BadUtts(args.out_dir, args.skip_bad_utts)
    for utt, spec in tqdm(refs.items(), desc="score_recon", disable=None):
        if utt in missing:
            continue
        with bad.guard(utt):
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
        n_nan=n_nan, n_missing=len(missing), n_bad=len(bad), ref_scp=os.path.abspath(args.ref_scp),
        hyp_dir=os.path.abspath(args.hyp_dir), per_utt=["per_utt.tsv"], judges=judges_record(metrics),
        **record_extras(args),
    )
    logger.info("%s: %s", out / "metrics.json", rec["metrics"])
    return rec


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
