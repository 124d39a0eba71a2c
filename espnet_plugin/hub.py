"""``from_pretrained`` for the project's models: a packed zip, an unpacked dir or a hub tag -> a model.

    from espnet_plugin.hub import load_pretrained_svae, load_pretrained_tts, load_pretrained_probe
    vae = load_pretrained_svae("exp/svae_jmas/svae_jmas.zip")          # SpeechVAE (eval)
    tts = load_pretrained_tts("owner/tts_jmas")                         # LatentTTS (its VAE from the pack)
    probe = load_pretrained_probe("exp/probe_jmas/probe_jmas.zip")     # ProbeModel
    logp, n = probe.ctc_log_probs(wav, wav_lengths)                    # (B, T, V), (B,)

What a reference may be: see :func:`espnet_plugin.pack.resolve_pretrained` (zips are unpacked once
into ``cache_dir``, default ``$ESPNET_PLUGIN_PACK_CACHE`` or ~/.cache/espnet_plugin/packs; a hub
tag ``owner/name[@revision]`` needs the network, else a :class:`ConfigError` says what to do).
The same classmethods: ``LatentTTS.from_pretrained``; :func:`load_pretrained` picks by the pack's kind.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Tuple, Union

import torch

from espnet_plugin.errors import ConfigError
from espnet_plugin.pack import resolve_pretrained

PathLike = Union[str, Path]


def load_pretrained_svae(ref: PathLike, device: str = "cpu", cache_dir: Optional[PathLike] = None):
    """The speech VAE of a pack (or a legacy packed dir): a :class:`SpeechVAE` in eval mode,
    ``encode(wav (B, N)) -> (z (B, T, D), lengths)``, ``decode(z) -> (B, T * hop)``
    (:func:`espnet_plugin.vae.loading.load_pretrained_svae`)."""
    from espnet_plugin.vae import loading

    return loading.load_pretrained_svae(ref, device, cache_dir)


def load_pretrained_tts(ref: PathLike, vae: Any = None, device: str = "cpu", use_ema: bool = True,
                        cache_dir: Optional[PathLike] = None):
    """A :class:`espnet_plugin.tts.synthesizer.LatentTTS` from a TTS pack.

    Args:
        vae: the VAE (object or reference); default: the one packed with the TTS.
    Raises:
        ConfigError: neither ``vae`` nor a VAE in the pack.
    """
    from espnet_plugin.tts.synthesizer import LatentTTS

    return LatentTTS.from_pretrained(ref, vae, device, use_ema, cache_dir)


class ProbeModel:
    """An ESPnet ASR probe (CTC) + the frozen VAE feeding it when its input is extracted latents.

    ``model``: ESPnet's ``ESPnetASRModel`` (eval); ``args``: its config; ``vae``: None when the
    probe's own frontend reads waveforms (``svae_latent`` holds the VAE's encoder).
    """

    def __init__(self, model: torch.nn.Module, args: Any, vae: Any = None):
        self.model, self.args, self.vae = model, args, vae
        self.token_list = list(args.token_list)

    @torch.no_grad()
    def ctc_log_probs(self, wav: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Waveforms (B, N) at the VAE's rate -> CTC log-posteriors (B, T, V) and lengths (B,)."""
        dev = next(self.model.parameters()).device
        wav = wav.to(dev).float()
        if lengths is None:
            lengths = torch.full((wav.size(0),), wav.size(1), dtype=torch.long, device=dev)
        x, n = wav, lengths.to(dev)
        if getattr(self.model, "frontend", None) is None:
            if self.vae is None:
                raise ConfigError("this probe reads extracted latents and its pack holds no VAE: pass vae=")
            x, n = self.vae.encode(wav, n)
            n = n.to(dev).long()
        enc, enc_len = self.model.encode(x, n)
        return self.model.ctc.log_softmax(enc), enc_len


def load_pretrained_probe(ref: PathLike, vae: Any = None, device: str = "cpu",
                          cache_dir: Optional[PathLike] = None) -> ProbeModel:
    """A :class:`ProbeModel` from a probe pack (the project's frontends registered with ESPnet)."""
    from espnet2.tasks.asr import ASRTask

    from espnet_plugin.probe.register import register_probe_frontends
    from espnet_plugin.vae.loading import vae_of_pack

    register_probe_frontends()
    p = resolve_pretrained(ref, cache_dir, kind="probe")
    model, args = ASRTask.build_model_from_file(p.files["asr_train_config"], p.files["asr_model_file"], device)
    model.eval()
    v = None if getattr(model, "frontend", None) is not None else vae_of_pack(p, vae, device, cache_dir)
    return ProbeModel(model, args, v)


def load_pretrained(ref: PathLike, device: str = "cpu", cache_dir: Optional[PathLike] = None):
    """Whatever the pack holds: a SpeechVAE, a LatentTTS (with its packed VAE) or a ProbeModel."""
    kind = resolve_pretrained(ref, cache_dir).kind
    if kind == "tts":
        return load_pretrained_tts(ref, device=device, cache_dir=cache_dir)
    if kind == "probe":
        return load_pretrained_probe(ref, device=device, cache_dir=cache_dir)
    return load_pretrained_svae(ref, device, cache_dir)
