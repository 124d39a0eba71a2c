#!/usr/bin/env python3
"""Zero-shot TTS with the latent flow-matching model: prompt wav + texts -> wav and latents.

    python -m espnet_plugin.bin.latent_tts_inference --train_config exp/tts_x/config.yaml \\
        --model_file exp/tts_x/valid.loss.best.pth --vae_config exp/svae_x/config.yaml \\
        [--vae_model_file ...] --list test_pairs.tsv --output_dir exp/tts_x/gen \\
        [--nfe 32 --cfg_strength 2.0 --sway -1 --method euler --speed 1.0 --seed 0] \\
        [--batch_size 8] [--device cuda] [--use_ema true]

``--list``: tab-separated ``utt  prompt_wav  prompt_text  target_text`` (see
:func:`espnet_plugin.bin.score_tts.read_pair_list`). Per utterance: the prompt is encoded by the
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

import numpy as np
import torch

from espnet_plugin.errors import ConfigError
from espnet_plugin.tasks.latent_tts import LatentTTSTask
from espnet_plugin.tts.duration import estimate_duration
from espnet_plugin.tts.seeds import utterance_seed
from espnet_plugin.tts.text import CharTokenizer

PathLike = Union[str, Path]


def join_texts(prompt_text: str, target_text: str) -> str:
    """Text conditioning the whole output: prompt + target, one space between (if none there)."""
    sep = "" if (not prompt_text or prompt_text[-1].isspace()) else " "
    return f"{prompt_text}{sep}{target_text}"


class LatentTTS:
    """A loaded TTS model (EMA weights by default) + VAE, ready to synthesise.

    Args:
        train_config, model_file: the TTS's ESPnet ``config.yaml`` and weights; or a TTS pack
            (.zip / dir, :mod:`espnet_plugin.pack`) and None (its VAE is used when ``vae`` and
            ``vae_config`` are not given).
        vae: an object with ``encode(wav (B, N), lengths) -> (z (B, T, D), z_lengths)``,
            ``decode(z (B, T, D)) -> (B, T * hop)``, ``fs``, ``hop_length``, ``latent_dim``;
            if None it is loaded with ``load_svae(vae_config, vae_model_file)``.
        device: "cpu" or "cuda[:N]".
        use_ema: sample with the EMA weights when the checkpoint has them.
    """

    def __init__(
        self,
        train_config: PathLike,
        model_file: Optional[PathLike],
        vae: Any = None,
        vae_config: Optional[PathLike] = None,
        vae_model_file: Optional[PathLike] = None,
        device: str = "cpu",
        use_ema: bool = True,
    ):
        from espnet_plugin.pack import is_pack_ref, resolve_pretrained

        if model_file is None and is_pack_ref(train_config):  # a TTS pack: its files (and VAE)
            files = resolve_pretrained(train_config, kind="tts").files
            train_config, model_file = files["train_config"], files["model_file"]
            if vae is None and vae_config is None:
                vae_config, vae_model_file = files.get("vae_train_config"), files.get("vae_model_file")
        self.model, self.train_args = LatentTTSTask.load_model(train_config, model_file, device=device)
        if vae is None:
            if vae_config is None:
                raise ConfigError("give --vae_config (or a vae object) to encode prompts and decode latents")
            from espnet_plugin.vae.loading import load_svae

            vae = load_svae(vae_config, vae_model_file, device=device)
        self.vae = vae
        self.device = torch.device(device)
        self.cfm = self.model.inference_cfm(use_ema)
        self.tokenizer = CharTokenizer.from_train_args(self.train_args)
        dim = self.cfm.transformer.latent_dim
        if int(vae.latent_dim) != dim:
            raise ConfigError(f"VAE latent_dim {vae.latent_dim} != TTS latent_dim {dim} ({train_config})")

    @classmethod
    def from_pretrained(cls, ref: PathLike, vae: Any = None, device: str = "cpu", use_ema: bool = True,
                        cache_dir: Optional[PathLike] = None) -> "LatentTTS":
        """From a TTS pack (zip, unpacked dir or hub tag; also :func:`espnet_plugin.hub.load_pretrained_tts`).

        Args:
            vae: the VAE (object or reference); default: the one packed with the TTS.
        Raises:
            ConfigError: neither ``vae`` nor a VAE in the pack.
        """
        from espnet_plugin.pack import resolve_pretrained
        from espnet_plugin.vae.loading import vae_of_pack

        p = resolve_pretrained(ref, cache_dir, kind="tts")
        v = vae_of_pack(p, vae, device, cache_dir)
        if v is None:
            raise ConfigError(f"{ref}: the TTS pack holds no VAE; pass vae=<VAE pack, dir or tag>")
        return cls(p.files["train_config"], p.files["model_file"], vae=v, device=device, use_ema=use_ema)

    @torch.no_grad()
    def encode_prompts(self, wavs: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompt waveforms -> normalised latents (B, T, D) and lengths (B,)."""
        n = torch.tensor([len(w) for w in wavs], dtype=torch.long, device=self.device)
        batch = torch.zeros(len(wavs), int(n.max()), device=self.device)
        for i, w in enumerate(wavs):
            batch[i, : len(w)] = torch.as_tensor(w, dtype=torch.float32, device=self.device)
        z, z_len = self.vae.encode(batch, n)
        z_len = z_len.to(self.device).long()
        return self.model.normalize_feats(z.float(), z_len), z_len

    @torch.no_grad()
    def synthesize(
        self,
        prompt_wavs: Sequence[np.ndarray],
        prompt_texts: Sequence[str],
        target_texts: Sequence[str],
        nfe: int = 32,
        cfg_strength: float = 2.0,
        sway: Optional[float] = -1.0,
        method: str = "euler",
        speed: float = 1.0,
        seed: Optional[int] = 0,
        utt_ids: Optional[Sequence[str]] = None,
    ) -> list[tuple[np.ndarray, np.ndarray, int]]:
        """Generate one batch.

        Args:
            prompt_wavs: B mono waveforms (N_b,) at ``vae.fs``.
            prompt_texts, target_texts: B transcripts / texts to speak.
            nfe: ODE steps; cfg_strength, sway, method, speed: see :meth:`CFM.sample`
                and :func:`estimate_duration`.
            seed: the run seed (None: unseeded noise). With ``utt_ids`` each utterance's noise
                seed is ``utterance_seed(seed, utt_id)`` (:mod:`espnet_plugin.tts.seeds`): the
                same for an utterance whatever batch it is in, different between utterances.
                Without ``utt_ids`` (one utterance only, e.g. the demo) ``seed`` itself is used.
            utt_ids: B utterance ids; required when B > 1 and ``seed`` is given.
        Returns:
            B triples (waveform (N_gen,) float32, generated latents (T_gen, D) float32,
            number of prompt frames).
        """
        seeds = None
        if seed is not None:
            if utt_ids is not None:
                if len(utt_ids) != len(prompt_wavs):
                    raise ConfigError(f"{len(utt_ids)} utterance ids for {len(prompt_wavs)} prompts")
                seeds = [utterance_seed(seed, u) for u in utt_ids]
            elif len(prompt_wavs) == 1:
                seeds = [int(seed)]
            else:
                raise ConfigError("seeded synthesis of several utterances needs their utt_ids "
                                  "(each gets its own noise seed)")
        cond, cond_len = self.encode_prompts(prompt_wavs)
        dur = [estimate_duration(int(n), p, t, speed) for n, p, t in zip(cond_len.tolist(), prompt_texts, target_texts)]
        text, _ = self.tokenizer([join_texts(p, t) for p, t in zip(prompt_texts, target_texts)], device=self.device)
        out, lengths = self.cfm.sample(
            cond, text, torch.tensor(dur, device=self.device), cond_lengths=cond_len, steps=nfe,
            cfg_strength=cfg_strength, sway_sampling_coef=sway, method=method, seed=seeds,
        )
        out = self.model.denormalize_feats(out, lengths)
        results = []
        for i in range(out.size(0)):
            z = out[i, int(cond_len[i]) : int(lengths[i])]
            wav = self.vae.decode(z[None])[0]
            results.append((wav.float().cpu().numpy(), z.float().cpu().numpy(), int(cond_len[i])))
        return results


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
) -> dict[str, Any]:
    """Synthesise every line of ``list_file`` into ``output_dir`` (layout in the module docstring).

    Returns:
        ``{"num_utts", "rtf", "seconds", "wav_dir", "latents_scp"}``.
    """
    from espnet_plugin.bin.score_tts import read_pair_list
    from espnet_plugin.io.ark import atomic_ark_writer
    from espnet_plugin.io.audio import write_audio
    from espnet_plugin.io.scp_audio import load_entry

    tts = LatentTTS(train_config, model_file, vae, vae_config, vae_model_file, device, use_ema)
    fs = int(tts.vae.fs)
    pairs = read_pair_list(str(list_file))
    list_dir = Path(list_file).parent
    out = Path(output_dir)
    (out / "wav").mkdir(parents=True, exist_ok=True)
    keys = list(pairs)
    t_total, audio_total, dur_lines = 0.0, 0.0, []
    with atomic_ark_writer(out / "latents.ark", out / "latents.scp") as writer:
        for s in range(0, len(keys), batch_size):
            batch = keys[s : s + batch_size]
            wavs = [load_entry(pairs[k][0], fs, utt_id=k, root=list_dir, listed=True) for k in batch]
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
            logging.info(f"{s + len(batch)}/{len(keys)} utterances")
    (out / "durations").write_text("".join(dur_lines), encoding="utf-8")
    rtf = t_total / max(audio_total, 1e-9)
    (out / "rtf.txt").write_text(f"{rtf:.4f}\n", encoding="utf-8")
    logging.info(f"RTF {rtf:.4f} ({t_total:.1f} s for {audio_total:.1f} s of speech, nfe={nfe}, {method})")
    return {"num_utts": len(keys), "rtf": rtf, "seconds": audio_total, "wav_dir": out / "wav",
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
        batch_size=a.batch_size, device=a.device, use_ema=a.use_ema,
    )


if __name__ == "__main__":
    main()
