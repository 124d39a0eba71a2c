"""Score zero-shot TTS outputs (generation axis): WER/CER by an ASR judge, SIM, MOS.

    python -m espnet_plugin.bin.score_tts --list test_pairs.tsv --hyp_dir exp/tts_jmas/gen/wav \\
        --out_dir exp/tts_jmas/score_test [--ref_text data/test/text] \\
        [--asr_judge pocketsphinx|whisper_large_v3] [--metrics wer,cer,spk_sim,mos] [--tag jmas] \\
        [--sim_judge resemblyzer|wavlm_large_sv] [--mos_judge distillmos|utmos22_strong] [--whisper_model ...]

``--list``: tab-separated ``utt  prompt_wav  prompt_text  target_text`` (an optional first
line starting with ``utt<TAB>`` is a header; relative wav paths are resolved against the
working directory, then the list's directory).  Outputs are ``HYP_DIR/<utt>.wav``.
``--ref_text`` (Kaldi ``utt words``) overrides the list's target text.

Writes ``OUT/per_utt.tsv`` (per-utterance WER/CER, SIM, MOS and the judge's transcript),
``OUT/asr_hyp.txt`` and ``OUT/metrics.json`` (axis ``generation``).  WER/CER are corpus
level (see :mod:`espnet_plugin.metrics.generation`). ``metrics.json`` names the judge behind each
value (``"judges"``). A chosen judge (``--asr_judge``, ``--sim_judge``, ``--mos_judge``) whose weights
are not available locally is an error naming it and the option that provides them.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
from pathlib import Path
from typing import Sequence

from espnet_plugin.errors import ConfigError, DataError
from espnet_plugin.io.bad_utts import BadUtts
from espnet_plugin.metrics.cli import add_scoring_args
from espnet_plugin.tts.pairs import read_pair_list

logger = logging.getLogger("score_tts")


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    from espnet_plugin.metrics.generation import DEFAULT_METRICS

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--list", required=True, help="tsv: utt prompt_wav prompt_text target_text")
    p.add_argument("--ref_text", default=None, help="Kaldi text of the targets (overrides the list)")
    p.add_argument("--asr_judge", default="pocketsphinx",
                   help="pocketsphinx | whisper_large_v3 | probe (wer/cer from --probe_hyp_text: the "
                        "outputs decoded beforehand by an in-domain ASR probe)")
    p.add_argument("--probe_hyp_text", default=None,
                   help="Kaldi text of the outputs decoded by an in-domain ASR judge (the Fbank probe): "
                        "the wer/cer of --asr_judge probe, else extra columns wer_probe / cer_probe")
    add_scoring_args(p, DEFAULT_METRICS, "output")
    return p


def main(argv: Sequence[str] | None = None) -> dict:
    """Entry point; returns the metrics.json record."""
    from tqdm import tqdm

    from espnet_plugin.metrics.cli import (chosen_judges, default_tag, find_missing_hyps, judges_record, load_wav_16k,
                                          record_extras, start, write_per_utt)
    from espnet_plugin.io.kaldi_dir import read_text
    from espnet_plugin.metrics import judges
    from espnet_plugin.metrics.generation import error_count_columns
    from espnet_plugin.metrics.registry import average_scores, resolve_metrics, score_utterance, write_metrics_json

    args = get_parser().parse_args(argv)
    names = start(args)
    # inputs are read and checked before the judges are loaded
    pairs = read_pair_list(args.list)
    targets = {u: t for u, (_, _, t) in pairs.items()}
    if args.ref_text:
        ref_text = read_text(args.ref_text)
        lack = [u for u in pairs if u not in ref_text]
        if lack:
            raise DataError(f"{args.ref_text}: no text for {len(lack)} utterances (first: {lack[:3]})")
        targets = {u: ref_text[u] for u in pairs}
    hyp_dir = Path(args.hyp_dir)
    missing = find_missing_hyps(pairs, hyp_dir, args.list, args.allow_missing)
    judge_is_probe = args.asr_judge == "probe"
    if judge_is_probe and not args.probe_hyp_text:
        raise ConfigError("--asr_judge probe needs --probe_hyp_text (the probe's decodes of the outputs)")
    probe_names = [n for n in ("wer_probe", "cer_probe") if n in names]
    names = [n for n in names if n not in probe_names]
    probe_hyp: dict[str, str] = {}
    probe_scored: list[str] = []
    if args.probe_hyp_text:  # the in-domain judge's transcripts, decoded by ESPnet beforehand
        probe_names = [] if judge_is_probe else (probe_names or ["wer_probe", "cer_probe"])
        probe_hyp = read_text(args.probe_hyp_text, allow_empty=True)
        to_score = [u for u in pairs if u not in missing]
        probe_scored = [u for u in to_score if u in probe_hyp]
        if not probe_scored:
            raise DataError(f"{args.probe_hyp_text}: no hypothesis for any scored utterance")
        if len(probe_scored) < len(to_score):
            logger.warning("%s: %d of %d scored utterances have no probe hypothesis: scored as empty "
                           "(all deletions)", args.probe_hyp_text, len(to_score) - len(probe_scored),
                           len(to_score))
    elif probe_names:
        logger.warning("%s SKIPPED: they need the probe's decoded transcripts (--probe_hyp_text), "
                       "which were not given", probe_names)
        probe_names = []
    asr_name = "pocketsphinx" if judge_is_probe else args.asr_judge  # probe: transcripts made beforehand
    if not judge_is_probe and args.asr_judge not in [j.name for j in judges.available_judges("asr")]:
        raise ConfigError(f"--asr_judge {args.asr_judge!r}: unknown; known: "
                          f"{[j.name for j in judges.available_judges('asr')] + ['probe']}")
    metrics = resolve_metrics(names, "generation", {**chosen_judges(args), "asr": asr_name})
    if judge_is_probe:
        metrics = [dataclasses.replace(m, judge="probe") if m.judge_kind == "asr" else m for m in metrics]
    corpus = [m for m in metrics if m.aggregate == "corpus"]
    asr = None
    if corpus and judge_is_probe:
        asr = lambda _wav, _utt: probe_hyp.get(_utt, "")  # noqa: E731 (decoded beforehand)
    elif corpus:  # a chosen judge that cannot load is an error (JudgeUnavailable says how to provide it)
        _judge = judges.get_asr_judge(args.asr_judge)
        asr = lambda wav, _utt: _judge(wav)  # noqa: E731
    root = Path(args.list).parent
    per_utt: dict[str, dict[str, object]] = {}
    refs, hyps = [], []
    bad = BadUtts(args.out_dir, args.skip_bad_utts)
    for utt, (prompt_wav, _, _) in tqdm(pairs.items(), desc="score_tts", disable=None):
        if utt in missing:
            continue
        with bad.guard(utt):  # a bad clip is skipped before its texts join the corpus-level WER
            hyp = load_wav_16k(str(hyp_dir / f"{utt}.wav"), utt)
            prompt = load_wav_16k(prompt_wav, utt, root)
        if utt in bad:
            continue
        row: dict[str, object] = dict(score_utterance(metrics, prompt=prompt, hyp=hyp))
        if asr is not None:
            text = asr(hyp, utt)
            refs.append(targets[utt])
            hyps.append(text)
            counts = error_count_columns({utt: targets[utt]}, {utt: text})[utt]
            # the per-utterance rates from the same counts (one alignment per utterance and unit)
            row.update({m: 100.0 * counts[f"{m}.err"] / counts[f"{m}.len"] if counts[f"{m}.len"] else float("nan")
                        for m in ("wer", "cer")}, asr_hyp=text)
            row.update(counts)
        if probe_names:
            row.update(error_count_columns({utt: targets[utt]}, probe_hyp, ("wer_probe", "cer_probe"))[utt])
        per_utt[utt] = row
    means, n_nan = average_scores([{k: v for k, v in r.items() if isinstance(v, float)}
                                   for r in per_utt.values()])
    for m in corpus:
        means[m.name] = float(m.resolve()(refs=refs, hyps=hyps))
    if probe_names:
        probe_metrics = resolve_metrics(probe_names, "generation")
        for m in probe_metrics:
            scored = [u for u in pairs if u not in missing and u not in bad]
            means[m.name] = float(m.resolve()(refs=[targets[u] for u in scored],
                                              hyps=[probe_hyp.get(u, "") for u in scored]))
        metrics = metrics + probe_metrics
    out = Path(args.out_dir)
    cols = [m.name for m in metrics]
    cols += [f"{m.name}.{c}" for m in metrics if m.aggregate == "corpus" for c in ("err", "len")]
    cols += ["asr_hyp"] if asr is not None else []
    write_per_utt(out / "per_utt.tsv", per_utt, cols)
    if asr is not None:
        with open(out / "asr_hyp.txt", "w", encoding="utf-8") as f:
            for utt, r in per_utt.items():
                f.write(f"{utt} {r['asr_hyp']}\n")
    rec = write_metrics_json(
        out / "metrics.json", axis="generation", tag=args.tag or default_tag(args.out_dir),
        metrics={m.name: means.get(m.name, float("nan")) for m in metrics}, n=len(per_utt),
        n_nan={m.name: n_nan.get(m.name, 0) for m in metrics if m.aggregate == "mean"},
        n_missing=len(missing), n_bad=len(bad), asr_judge=args.asr_judge if asr is not None else None,
        per_utt=["per_utt.tsv"], judges=judges_record(metrics),
        list=os.path.abspath(args.list), hyp_dir=os.path.abspath(args.hyp_dir),
        **record_extras(args),
    )
    logger.info("%s: %s", out / "metrics.json", rec["metrics"])
    return rec


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
