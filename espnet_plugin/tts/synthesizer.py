"""The loaded latent TTS: a flow-matching model (EMA weights) + the VAE its latents come from.

``LatentTTS(train_config, model_file, vae=...)`` or ``LatentTTS.from_pretrained(pack)``;
``synthesize(prompt_wavs, prompt_texts, target_texts)`` -> per utterance (wav (N_gen,),
generated latents (T_gen, D), prompt frames). Per utterance: the prompt is encoded by the VAE
(posterior mean) and normalised; the text is ``join_texts(prompt_text, target_text)``; the total
length follows F5-TTS's rule (:func:`espnet_plugin.tts.duration.estimate_duration`); the ODE
starts from noise seeded by :func:`espnet_plugin.tts.seeds.utterance_seed`; the generated frames
(prompt removed) are de-normalised and decoded by the VAE.

Used by ``espnet_plugin.bin.latent_tts_inference`` (batch synthesis of a pair list), the demo and
:mod:`espnet_plugin.hub`.
"""
from __future__ import annotations

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
