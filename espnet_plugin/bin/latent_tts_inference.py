#!/usr/bin/env python3
"""Zero-shot TTS with the latent flow-matching model: prompt wav + texts -> wav and latents.

    python -m espnet_plugin.bin.latent_tts_inference --train_config exp/tts_x/config.yaml \\
        --model_file exp/tts_x/valid.loss.best.pth --vae_config exp/svae_x/config.yaml \\
        [--vae_model_file ...] --list test_pairs.tsv --output_dir exp/tts_x/gen \\
        [--nfe 32 --cfg_strength 2.0 --sway -1 --method euler --speed 1.0 --seed 0] \\
        [--batch_size 8] [--device cuda] [--use_ema true]

``--list``: tab-separated ``utt  prompt_wav  prompt_text  target_text`` (see
:func:`espnet_plugin.tts.pairs.read_pair_list`). Synthesis is
:class:`espnet_plugin.tts.synthesizer.LatentTTS`. Per utterance: the prompt is encoded by the
VAE (posterior mean) and normalised; the text is ``prompt_text + " " + target_text``; the total
length follows F5-TTS's rule (:func:`espnet_plugin.tts.duration.estimate_duration`, UTF-8 byte
counts); the ODE runs ``--nfe`` steps (Euler: one batched cond+uncond transformer call per step,
midpoint: two) from initial noise seeded per utterance by ``--seed`` and the utterance id
(:func:`espnet_plugin.tts.seeds.utterance_seed`: independent of ``--batch_size`` and list order);
the generated frames (prompt removed) are de-normalised and decoded by the VAE.

Outputs: ``OUT/wav/<utt>.wav`` (at the VAE's rate), ``OUT/latents.{ark,scp}`` (generated frames
(T_gen, D), de-normalised), ``OUT/durations`` (``utt prompt_frames generated_frames``) and
``OUT/rtf.txt`` (synthesis time / generated audio time, VAE encode+decode included).
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import torch

from espnet_plugin.tts.pairs import read_pair_list
from espnet_plugin.tts.synthesizer import LatentTTS

PathLike = Union[str, Path]


def inference(
    list_file: PathLike,
    output_dir: PathLike,
    train_config: PathLike,
    model_file: Optional[PathLike] = None,
    vae_config: Optional[PathLike] = None,
    vae_model_file: Optional[PathLike] = None,
    vae: Any = None,
    nfe: int = 32,
    cfg_strength: float = 2.0,
    sway: Optional[float] = -1.0,
    method: str = "euler",
    speed: float = 1.0,
    seed: Optional[int] = 0,
    batch_size: int = 1,
    device: str = "cpu",
    use_ema: bool = True,
    skip_bad_utts: bool = False,
) -> dict[str, Any]:
    """Synthesise every line of ``list_file`` into ``output_dir`` (layout in the module docstring).

    ``skip_bad_utts``: a prompt whose audio is bad (DataError) is skipped and listed in
    ``output_dir/bad_utts.tsv`` instead of failing the run.

    Returns:
        ``{"num_utts", "rtf", "seconds", "wav_dir", "latents_scp"}``.
    """
    from espnet_plugin.io.ark import atomic_ark_writer
    from espnet_plugin.io.audio import write_audio
    from espnet_plugin.io.bad_utts import BadUtts
    from espnet_plugin.io.scp_audio import load_entry

    tts = LatentTTS(train_config, model_file, vae, vae_config, vae_model_file, device, use_ema)
    fs = int(tts.vae.fs)
    pairs = read_pair_list(str(list_file))
    list_dir = Path(list_file).parent
    out = Path(output_dir)
    (out / "wav").mkdir(parents=True, exist_ok=True)
    keys = list(pairs)
    t_total, audio_total, dur_lines = 0.0, 0.0, []
    bad = BadUtts(out, skip_bad_utts)
    with atomic_ark_writer(out / "latents.ark", out / "latents.scp") as writer:
        for s in range(0, len(keys), batch_size):
            loaded = {}
            for k in keys[s : s + batch_size]:
                with bad.guard(k):
                    loaded[k] = load_entry(pairs[k][0], fs, utt_id=k, root=list_dir, listed=True)
            batch, wavs = list(loaded), list(loaded.values())
            if not batch:
                continue
            t0 = time.perf_counter()
            res = tts.synthesize(
                wavs, [pairs[k][1] for k in batch], [pairs[k][2] for k in batch],
                nfe=nfe, cfg_strength=cfg_strength, sway=sway, method=method, speed=speed, seed=seed,
                utt_ids=batch,
            )
            if tts.device.type == "cuda":
                torch.cuda.synchronize(tts.device)
            t_total += time.perf_counter() - t0
            for k, (wav, z, n_prompt) in zip(batch, res):
                write_audio(out / "wav" / f"{k}.wav", wav, fs)
                writer[k] = z
                audio_total += len(wav) / fs
                dur_lines.append(f"{k} {n_prompt} {z.shape[0]}\n")
            logging.info(f"{min(s + batch_size, len(keys))}/{len(keys)} utterances")
    (out / "durations").write_text("".join(dur_lines), encoding="utf-8")
    rtf = t_total / max(audio_total, 1e-9)
    (out / "rtf.txt").write_text(f"{rtf:.4f}\n", encoding="utf-8")
    logging.info(f"RTF {rtf:.4f} ({t_total:.1f} s for {audio_total:.1f} s of speech, nfe={nfe}, {method})")
    return {"num_utts": len(keys) - len(bad), "num_bad": len(bad), "rtf": rtf, "seconds": audio_total, "wav_dir": out / "wav",
            "latents_scp": out / "latents.scp"}


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    from espnet2.utils.types import str2bool

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train_config", required=True, help="config.yaml, or a TTS pack (.zip or dir)")
    p.add_argument("--model_file", default=None, help="required unless --train_config is a pack")
    p.add_argument("--vae_config", default=None, help="config.yaml or VAE pack; default: the TTS pack's VAE")
    p.add_argument("--vae_model_file", default=None)
    p.add_argument("--list", required=True, help="tsv: utt prompt_wav prompt_text target_text")
    p.add_argument("--output_dir", required=True)
    p.add_argument("--nfe", type=int, default=32, help="ODE steps (F5's nfe_step; midpoint evaluates twice)")
    p.add_argument("--cfg_strength", type=float, default=2.0)
    p.add_argument("--sway", type=float, default=-1.0, help="sway sampling coefficient (0 = uniform)")
    p.add_argument("--method", default="euler", choices=["euler", "midpoint"])
    p.add_argument("--speed", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0, help="run seed; each utterance's noise seed = hash(seed, utt)")
    p.add_argument("--batch_size", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--use_ema", type=str2bool, default=True)
    p.add_argument("--skip_bad_utts", type=str2bool, default=False,
                   help="a prompt whose audio is bad (DataError) is logged, listed in <output_dir>/bad_utts.tsv "
                        "and skipped; false: fail on it")
    return p


def main(cmd: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """Entry point."""
    from espnet_plugin.pack import is_pack_ref

    p = get_parser()
    a = p.parse_args(cmd)
    if a.model_file is None and not is_pack_ref(a.train_config):
        p.error(f"--model_file is required: --train_config {a.train_config} is not a TTS pack")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    return inference(
        a.list, a.output_dir, a.train_config, a.model_file, a.vae_config, a.vae_model_file,
        nfe=a.nfe, cfg_strength=a.cfg_strength, sway=a.sway, method=a.method, speed=a.speed, seed=a.seed,
        batch_size=a.batch_size, device=a.device, use_ema=a.use_ema, skip_bad_utts=a.skip_bad_utts,
    )


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
