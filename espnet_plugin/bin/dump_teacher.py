#!/usr/bin/env python3
"""Dump frozen-teacher features once, so that distillation costs almost nothing per step.

    python -m espnet_plugin.bin.dump_teacher --wav_scp dump/raw/train/wav.scp \
        --output_dir dump/teacher/<tag>/train --upstream wavlm_large --layer 23 [--path ckpt] \
        [--extra_layers 12 ...] [--num_jobs N --job_index I [--key_file keys.I.scp]] [--device cuda]
    python -m espnet_plugin.bin.dump_teacher --output_dir ... --merge N     # after N parallel jobs

Writes ``feats.scp`` / ``feats*.ark`` (one (T', F) float32 matrix per utterance, at the teacher's
frame rate) and ``teacher_info.json`` (the teacher's identity: upstream, checkpoint fingerprint,
layer, frame hop, dim). Training refuses a cache whose identity differs from its teacher config.
Each ``--extra_layers`` layer L goes to its own ``feats_l<L>.scp`` / ``feats_l<L>*.ark`` (L resolved,
>= 0) and is listed as ``extra_layers`` in the info; ``feats.scp`` always holds ``--layer``, so a
dump without ``--extra_layers`` is the single-layer cache it always was. One upstream pass per
utterance serves all layers. With ``--skip_bad_utts true`` an utterance with bad audio is left out
and listed in ``bad_utts.tsv`` (``bad_utts.<job>.tsv``, merged into ``bad_utts.tsv`` by ``--merge``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np
import torch
from espnet2.utils.types import str2bool
from tqdm import tqdm

from espnet_plugin.distill.teacher import CACHE_INFO, Teacher, layer_scp_name
from espnet_plugin.errors import DataError
from espnet_plugin.io.ark import atomic_ark_writer, merge_scps
from espnet_plugin.io.bad_utts import BadUtts, bad_utts_name, merge_bad_utts
from espnet_plugin.io.scp_audio import load_entry
from espnet_plugin.io.kaldi_dir import job_keys, read_scp, write_text_atomic


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--wav_scp", help="16 kHz wav.scp (the format stage's output)")
    p.add_argument("--output_dir", required=True)
    p.add_argument("--upstream", default="wavlm_large")
    p.add_argument("--path", default=None, help="local checkpoint for *_local upstreams")
    p.add_argument("--layer", type=int, default=23, help="the cache's own layer (feats.scp)")
    p.add_argument("--extra_layers", type=int, nargs="*", default=[],
                   help="more hidden-state layers, each into feats_l<L>.scp (terms that name a layer)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--num_jobs", type=int, default=1)
    p.add_argument("--job_index", type=int, default=1, help="1-based, as ESPnet's JOB")
    p.add_argument("--key_file", default=None,
                   help="this job's utterances (its utils/split_scp.pl part of the list); default: every "
                        "num_jobs-th of the sorted keys; --num_jobs/--job_index still name the outputs")
    p.add_argument("--merge", type=int, default=0, help="merge N job outputs into feats.scp and write the info")
    p.add_argument("--skip_bad_utts", type=str2bool, default=False,
                   help="an utterance whose audio is bad (DataError) is logged, listed in "
                        "<output_dir>/bad_utts.tsv (bad_utts.<job>.tsv) and left out of the cache; false: fail on it")
    return p


def write_info(teacher: Teacher, out: Path, suffix: str = "") -> None:
    """``<out>/teacher_info.json<suffix>``: the teacher's identity (+ ``fs``), written atomically."""
    info = dict(teacher.identity(), fs=16000)
    write_text_atomic(out / (CACHE_INFO + suffix), json.dumps(info, indent=1, sort_keys=True) + "\n")


def merge_jobs(out: Path, n: int) -> None:
    """``feats.<i>.scp`` and ``teacher_info.json.<i>`` of jobs 1..n -> ``feats.scp`` + ``teacher_info.json``
    (and ``feats_l<L>.<i>.scp`` -> ``feats_l<L>.scp`` for the extra layers the info lists).

    Raises:
        DataError: a job left no output (it failed or is still running), or two jobs used
            different teachers (their info files differ): the cache would mix features.
    """
    infos = [out / f"{CACHE_INFO}.{i}" for i in range(1, n + 1)]
    missing = [str(p) for p in infos if not p.is_file()]
    texts = {p.read_text() for p in infos if p.is_file()}
    if len(texts) > 1:
        raise DataError(f"cannot merge the teacher cache in {out}: the {n} jobs used different teachers "
                        f"({', '.join(p.name for p in infos)} differ)")
    stems = ["feats"] + [layer_scp_name(x)[: -len(".scp")] for x in
                         (json.loads(next(iter(texts))).get("extra_layers") or [] if texts else [])]
    groups = {stem: [out / f"{stem}.{i}.scp" for i in range(1, n + 1)] for stem in stems}
    missing = [str(p) for parts in groups.values() for p in parts if not p.is_file()] + missing
    if missing:
        raise DataError(f"cannot merge the teacher cache in {out}: missing job outputs {missing}")
    for stem, parts in groups.items():
        merge_scps(parts, out / f"{stem}.scp")
    os.replace(infos[0], out / CACHE_INFO)
    for p in [p for parts in groups.values() for p in parts] + infos[1:]:
        p.unlink()
    merge_bad_utts(out, n)  # the jobs' skipped utterances, in one bad_utts.tsv


def main(cmd=None) -> None:
    args = get_parser().parse_args(cmd)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if args.merge:  # no teacher needed: every job recorded its teacher's identity
        merge_jobs(out, args.merge)
        return
    teacher = Teacher(upstream=args.upstream, path=args.path, layer=args.layer,
                      extra_layers=args.extra_layers).to(args.device)
    wavs = read_scp(args.wav_scp)
    keys = job_keys(wavs, args.key_file, args.num_jobs, args.job_index, source=args.wav_scp)
    suffix = "" if args.num_jobs == 1 else f".{args.job_index}"
    root = Path(args.wav_scp).parent
    logging.info(f"teacher {args.upstream} layer {teacher.layer} (+ extra {teacher.extra_layers}) "
                 f"({teacher.feature_dim}-d, hop {teacher.downsample_rate}) on {len(keys)} utts")
    stems = {None: "feats", **{x: layer_scp_name(x)[: -len(".scp")] for x in teacher.extra_layers}}
    # a rerun over an older cache: its identity goes first, so that a kill before write_info never
    # leaves new features labelled with the old teacher (each scp is removed by its writer)
    (out / (CACHE_INFO + suffix)).unlink(missing_ok=True)
    with contextlib.ExitStack() as stack:
        writers = {layer: stack.enter_context(atomic_ark_writer(out / f"{stem}{suffix}.ark", out / f"{stem}{suffix}.scp"))
                   for layer, stem in stems.items()}
        bad = BadUtts(out, args.skip_bad_utts, bad_utts_name(args.num_jobs, args.job_index))
        for key in tqdm(keys, desc=f"teacher features{suffix}", mininterval=5, file=sys.stderr):
            with bad.guard(key):
                wav = load_entry(wavs[key], 16000, utt_id=key, root=root, listed=True)
                wav = torch.from_numpy(wav).to(args.device)
                feats, _ = teacher.features(wav[None], layers=list(writers))
                for layer, writer in writers.items():
                    writer[key] = feats[layer][0].cpu().numpy().astype(np.float32)
    write_info(teacher, out, suffix="" if args.num_jobs == 1 else f".{args.job_index}")


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
