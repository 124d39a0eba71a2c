#!/usr/bin/env python3
"""Resynthesise a wav.scp with a trained speech VAE and write its latents.

    python -m espnet_plugin.bin.svae_inference --config exp/svae_x/config.yaml \
        [--model_file exp/svae_x/valid....pth] --wav_scp dump/raw/test/wav.scp \
        --output_dir exp/svae_x/decode_test [--wav_scp ... --output_dir ...] [--write_wav true] [--write_latents true] \
        [--num_jobs N --job_index I [--key_file keys.I.scp ...]] [--device cuda]

Outputs: ``<output_dir>/wav/<utt>.wav`` (16-bit PCM at the model's rate), ``latents.ark/scp``
(one (T, D) float32 posterior-mean matrix per utterance, T = ceil(N / hop)) and ``wav.scp``
listing the resyntheses. Each utterance is encoded whole (no cropping). With ``--skip_bad_utts true``
an utterance with bad audio is left out of all of them and listed in ``bad_utts.tsv``.

Resuming (wavs only, ``--write_latents false``): each job records the utterances it has written in
``wav/.done[.<job>]`` under a first line naming the model (SHA-256 of the weights and the config); a
rerun after a kill keeps the wavs that such a record of the same model lists and writes the others.
Wavs of another model are always rewritten. (Latent arks are rewritten whole.)
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from espnet2.utils.types import str2bool
from espnet_plugin.io.ark import atomic_ark_writer
from espnet_plugin.io.audio import write_audio
from espnet_plugin.io.bad_utts import BadUtts, bad_utts_name
from espnet_plugin.io.scp_audio import load_entry
from espnet_plugin.io.kaldi_dir import job_keys, read_scp, write_scp
from espnet_plugin.pack import resolve_model_file, sha256_file
from espnet_plugin.vae.loading import load_svae


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True)
    p.add_argument("--model_file", default=None)
    p.add_argument("--wav_scp", required=True, action="append", help="repeat with --output_dir for several sets")
    p.add_argument("--output_dir", required=True, action="append")
    p.add_argument("--write_wav", type=str2bool, default=True)
    p.add_argument("--write_latents", type=str2bool, default=True)
    p.add_argument("--device", default="cpu")
    p.add_argument("--num_jobs", type=int, default=1)
    p.add_argument("--job_index", type=int, default=1)
    p.add_argument("--key_file", action="append", default=None,
                   help="one per --wav_scp: this job's utterances (its utils/split_scp.pl part); default: every "
                        "num_jobs-th of the sorted keys; --num_jobs/--job_index still name the outputs")
    p.add_argument("--skip_bad_utts", type=str2bool, default=False,
                   help="an utterance whose audio is bad (DataError) is logged, listed in "
                        "<output_dir>/bad_utts.tsv (bad_utts.<job>.tsv) and skipped; false: fail on it")
    return p


def model_stamp(config: str, model_file: str | None) -> str:
    """What the wavs are made from: ``"<sha256 of the weights> <sha256 of the config>"``."""
    model = model_file or resolve_model_file(Path(config).parent)
    return f"{sha256_file(model)} {sha256_file(config)}"


def written_before(wav_dir: Path, stamp: str) -> set[str]:
    """Utterances listed by any ``.done*`` record of the model ``stamp`` whose wav exists (complete
    lines only: a line cut by a kill is not trusted)."""
    done: set[str] = set()
    for rec in wav_dir.glob(".done*"):
        lines = rec.read_text(encoding="utf-8").split("\n")[:-1]   # the part after the last newline: cut
        if lines and lines[0] == stamp:
            done.update(k for k in lines[1:] if (wav_dir / f"{k}.wav").is_file())
    return done


def run_set(vae, wav_scp: str, out: Path, args, key_file: str | None = None, stamp: str = "") -> None:
    """Resynthesise / encode one wav.scp (this job's share of it) into ``out``; with ``stamp`` (wavs
    only) the wavs a killed run of the same model wrote are kept (module docstring)."""
    (out / "wav").mkdir(parents=True, exist_ok=True)
    wavs = read_scp(wav_scp)
    keys = job_keys(wavs, key_file, args.num_jobs, args.job_index, source=wav_scp)
    suffix = "" if args.num_jobs == 1 else f".{args.job_index}"
    kept = written_before(out / "wav", stamp) & set(keys) if stamp else set()
    record = open(out / "wav" / f".done{suffix}", "w", encoding="utf-8") if stamp else None
    if record is not None:
        record.write(stamp + "\n" + "".join(f"{k}\n" for k in sorted(kept)))
        record.flush()
    if kept:
        logging.info(f"{out}: {len(kept)} of {len(keys)} resyntheses of this model kept from an earlier run")
    written, total_audio, t0 = {}, 0.0, time.perf_counter()
    bad = BadUtts(out, args.skip_bad_utts, bad_utts_name(args.num_jobs, args.job_index))
    latents = (
        atomic_ark_writer(out / f"latents{suffix}.ark", out / f"latents{suffix}.scp")
        if args.write_latents
        else contextlib.nullcontext()
    )
    with latents as writer:  # None without --write_latents
        for key in tqdm(keys, desc=f"{out.name}", mininterval=5, file=sys.stderr):
            if key in kept:
                written[key] = str((out / "wav" / f"{key}.wav").resolve())
                continue
            with bad.guard(key):
                wav = load_entry(wavs[key], vae.fs, utt_id=key)
                x = torch.from_numpy(wav).to(args.device)[None]
                z, _ = vae.encode(x)
                if writer is not None:
                    writer[key] = z[0].float().cpu().numpy()  # (T, D) float32
                if args.write_wav:
                    y = vae.decode(z)[0, : wav.shape[0]].float().cpu().numpy()
                    path = out / "wav" / f"{key}.wav"
                    write_audio(path, y, vae.fs)
                    written[key] = str(path.resolve())
                    if record is not None:
                        record.write(key + "\n")
                        record.flush()
                total_audio += wav.shape[0] / vae.fs
    if record is not None:
        record.close()
    if args.write_wav:
        write_scp(out / f"wav{suffix}.scp", written)
    el = time.perf_counter() - t0
    logging.info(f"{out}: {len(keys) - len(bad)} utts ({len(bad)} bad ones skipped), {total_audio:.1f} s of audio in {el:.1f} s (RTF {el / max(total_audio, 1e-9):.3f})")


def main(cmd=None) -> None:
    args = get_parser().parse_args(cmd)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if len(args.wav_scp) != len(args.output_dir):
        raise SystemExit("give one --output_dir per --wav_scp")
    if args.key_file is not None and len(args.key_file) != len(args.wav_scp):
        raise SystemExit("give one --key_file per --wav_scp (or none)")
    vae = load_svae(args.config, args.model_file, device=args.device)
    key_files = args.key_file or [None] * len(args.wav_scp)
    stamp = model_stamp(args.config, args.model_file) if args.write_wav and not args.write_latents else ""
    for wav_scp, out, key_file in zip(args.wav_scp, args.output_dir, key_files):
        run_set(vae, wav_scp, Path(out), args, key_file, stamp)


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
