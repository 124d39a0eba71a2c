"""ESPnet GAN model of the speech VAE: generator/discriminator turns for ``GANTrainer``.

Generator loss (each weight from config; LOSSES.md, "The paper's VAE and training setting")::

    L_G = w_stft * L_mrstft + w_mel * L_mel + w_adv * L_adv + w_fm * L_fm + w_kl * KL
          + w_ssl * sum_k lambda_k * L_k                                (the Distiller's total)

Discriminator loss: least-squares (``mse``) or ``hinge`` on real vs detached fake.

Reconstruction-only warm-up (``adv_start_step`` > 0, the ``disc_start`` of latent-diffusion
autoencoders): for the first ``adv_start_step`` generator steps the generator loss has no
adversarial and feature-matching terms and the discriminator turn is skipped (it returns a
zero loss that touches no parameter, so no optimizer moves it); after that, plain GAN training.
The step count is a checkpointed buffer (``gen_step``), so a resumed run continues where it was.

Generator EMA (``ema_decay`` > 0; :mod:`espnet_plugin.vae.ema`): ``generator_ema`` is updated after
each generator optimizer step (the task hooks it onto the optimizer) and, in eval mode (ESPnet's
valid pass), reconstructs in place of the trained generator, so the validation losses and the best
checkpoints are those of the EMA weights (the distillation heads are not averaged: the valid
alignment terms are the EMA latents through the trained heads).

Batch keys (ESPnet data loader): ``audio`` (B, N) with ``audio_lengths``, and optionally
``teacher_feats`` (B, T', F) with ``teacher_feats_lengths`` (the cache written by
``espnet_plugin.bin.dump_teacher``). Without cached features and with alignment terms, the
teacher runs on the fly; it is built lazily and kept *outside* the state dict (checkpoints
stay small and the teacher is never trained), moved to the batch's device on first use.
Terms that name a teacher ``layer`` get it from ``teacher_feats_l<layer>`` (cache path, added
by the preprocessor) or from the same on-the-fly teacher pass; the distiller receives
``{None: configured layer, layer: feats, ...}``. Both paths give ``ceil(N / hop)`` teacher
frames for N samples, frame i at samples [i*hop, (i+1)*hop) (``espnet_plugin.distill.teacher``).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import torch
from torch import nn

from espnet2.torch_utils.device_funcs import force_gatherable
from espnet2.train.abs_gan_espnet_model import AbsGANESPnetModel
from espnet_plugin.errors import ConfigError
from espnet_plugin.vae.ema import build_generator_ema, fill_missing_ema
from espnet_plugin.vae.generator import SpeechVAE
from espnet_plugin.vae.losses import (
    DiscriminatorAdversarialLoss,
    FeatureMatchLoss,
    GeneratorAdversarialLoss,
    MelL1Loss,
    MultiResolutionSTFTLoss,
)


class ESPnetSpeechVAEModel(AbsGANESPnetModel):
    """Speech VAE + discriminator + optional distillation, in ESPnet's GAN contract.

    ``forward(forward_generator=bool, audio, audio_lengths, [teacher_feats, teacher_feats_lengths])``
    returns ``dict(loss, stats, weight, optim_idx)`` with optim_idx 0 (generator) or 1 (discriminator).
    """

    def __init__(
        self,
        generator: SpeechVAE,
        discriminator: nn.Module,
        distiller: Optional[nn.Module] = None,
        teacher_conf: Optional[Dict[str, Any]] = None,
        lambda_stft: float = 1.0,
        lambda_mel: float = 0.0,
        lambda_adv: float = 0.1,
        lambda_fm: float = 2.0,
        lambda_kl: float = 1e-3,
        stft_loss_conf: Optional[Dict[str, Any]] = None,
        mel_loss_conf: Optional[Dict[str, Any]] = None,
        adv_loss_type: str = "mse",
        cache_generator_outputs: bool = True,
        max_nonfinite_streak: int = 20,
        adv_start_step: int = 0,
        ema_decay: Optional[float] = None,
    ):
        super().__init__()
        self.generator = generator
        self.discriminator = discriminator
        self.distiller = distiller
        self.teacher_conf = dict(teacher_conf or {})
        self._teacher: List[nn.Module] = []  # not a submodule: frozen, not checkpointed
        self.lambda_stft, self.lambda_mel = lambda_stft, lambda_mel
        self.lambda_adv, self.lambda_fm, self.lambda_kl = lambda_adv, lambda_fm, lambda_kl
        fs = generator.fs
        self.stft_loss = MultiResolutionSTFTLoss(fs=fs, **(stft_loss_conf or {}))
        self.mel_loss = MelL1Loss(fs=fs, **(mel_loss_conf or {})) if lambda_mel > 0 else None
        self.gen_adv_loss = GeneratorAdversarialLoss(average_by_discriminators=False, loss_type=adv_loss_type)
        self.dis_adv_loss = DiscriminatorAdversarialLoss(average_by_discriminators=False, loss_type=adv_loss_type)
        self.fm_loss = FeatureMatchLoss(average_by_layers=False, average_by_discriminators=False)
        self.cache_generator_outputs = cache_generator_outputs
        self._cache = None
        # Non-finite generator losses: ESPnet skips the update (grad_clip > 0 makes it check the
        # gradient norm) and logs it; we count them on device (no per-step host sync) and stop with a
        # clear error when ``max_nonfinite_streak`` consecutive steps failed (checked every 10 steps).
        self.register_buffer("nonfinite_steps", torch.zeros((), dtype=torch.long), persistent=True)
        self.register_buffer("nonfinite_streak", torch.zeros((), dtype=torch.long), persistent=False)
        self.max_nonfinite_streak = max_nonfinite_streak
        self._gen_steps = 0
        self.adv_start_step = int(adv_start_step)
        # generator steps taken (checkpointed: the warm-up survives a resume); _step mirrors it on the
        # host, read once, so the per-step decision needs no device sync
        self.register_buffer("gen_step", torch.zeros((), dtype=torch.long), persistent=True)
        self._step: Optional[int] = None
        self._register_load_state_dict_pre_hook(self._default_gen_step)
        # frozen EMA copy of the generator (None = off), outside the optimizers, checkpointed
        self.generator_ema = build_generator_ema(generator, ema_decay)
        if self.generator_ema is not None:
            self._register_load_state_dict_pre_hook(fill_missing_ema)

    @staticmethod
    def _default_gen_step(state_dict, prefix, *args) -> None:
        """Checkpoints from before the warm-up existed have no ``gen_step``: they count as past it."""
        state_dict.setdefault(prefix + "gen_step", torch.tensor(1 << 62, dtype=torch.long))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._step = None   # re-read the loaded step count on the next forward

    def adversarial_on(self) -> bool:
        """Whether the adversarial terms and the discriminator turn are on (past the warm-up)."""
        if self.adv_start_step <= 0:
            return True
        if self._step is None:
            self._step = int(self.gen_step)
        return self._step >= self.adv_start_step

    @property
    def codec(self) -> "ESPnetSpeechVAEModel":
        """ESPnet's GANTrainer clears ``model.codec._cache`` when it skips a discriminator step."""
        return self

    # ------------------------------------------------------------------ teacher
    @property
    def teacher(self) -> Optional[nn.Module]:
        return self._teacher[0] if self._teacher else None

    def get_teacher(self, device: torch.device) -> nn.Module:
        """Build (once) the on-the-fly teacher from ``teacher_conf`` and move it to ``device``."""
        if not self._teacher:
            from espnet_plugin.distill.teacher import Teacher

            conf = dict(self.teacher_conf)
            extra = [x for x in self.teacher_layers() if x is not None] + list(conf.pop("extra_layers", None) or [])
            self._teacher.append(Teacher(**conf, extra_layers=extra))
        t = self._teacher[0]
        if getattr(t, "_device", None) != device:
            t.to(device)
            t._device = device
        return t

    def teacher_layers(self) -> List[Optional[int]]:
        """Teacher layers the distiller reads (config keys; None = the configured layer)."""
        return list(self.distiller.required_layers) if self.distiller is not None else []

    def teacher_targets(self, audio, audio_lengths, teacher_feats, extra: Dict[str, Any]):
        """Teacher features for the distiller: a tensor (one layer) or ``{layer: (B, T', F)}``.

        Cached features come from the batch (``teacher_feats``, ``teacher_feats_l<layer>``);
        without them the teacher runs on ``audio`` once for all the layers.
        """
        from espnet_plugin.vae.preprocess import layer_data_name

        layers = self.teacher_layers()
        if teacher_feats is None:
            feats, _ = self.get_teacher(audio.device).features(audio, audio_lengths, layers)
        else:
            feats = {None: teacher_feats}
            for layer in layers:
                if layer is not None:
                    name = layer_data_name(layer)
                    if extra.get(name) is None:
                        raise ConfigError(
                            f"a term reads teacher layer {layer}, but the batch has no '{name}' "
                            "(give the cache directory's feats.scp as teacher_feats; dump the layer "
                            f"with dump_teacher --extra_layers)"
                        )
                    feats[layer] = extra[name]
        return feats[None] if layers == [None] else feats

    def adaptive_params(self) -> List[nn.Parameter]:
        """theta of LOSSES.md item 5: weight and bias of the encoder's ``last_layer`` (AbsEncoder)."""
        last = self.generator.encoder.last_layer
        if last is None:
            return []
        return [p for p in (last.weight, last.bias) if p is not None]

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        audio: torch.Tensor,
        audio_lengths: Optional[torch.Tensor] = None,
        teacher_feats: Optional[torch.Tensor] = None,
        teacher_feats_lengths: Optional[torch.Tensor] = None,
        forward_generator: bool = True,
        **kwargs,
    ) -> Dict[str, Any]:
        if forward_generator:
            return self._forward_generator(audio, audio_lengths, teacher_feats, kwargs)
        return self._forward_discriminator(audio, audio_lengths)

    def _use_cache(self) -> bool:
        """Reuse the generator output of the discriminator turn in the generator turn.

        Not under DDP: its forward broadcasts buffers in place (STFT windows, ...) between the two
        turns, which invalidates the cached graph; there the discriminator turn runs the generator
        without a graph and the generator turn recomputes it.
        """
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        return self.training and self.cache_generator_outputs and not distributed

    def eval_generator(self) -> SpeechVAE:
        """The generator that evaluates: the EMA copy when there is one, else the trained one."""
        return self.generator if self.generator_ema is None else self.generator_ema.module

    def _reconstruct(self, audio: torch.Tensor, audio_lengths: Optional[torch.Tensor], need_grad: bool = True):
        if self._cache is not None and self._use_cache():
            out, self._cache = self._cache, None
            return out
        generator = self.generator if self.training else self.eval_generator()
        if need_grad or self._use_cache():
            out = generator(audio.unsqueeze(1), audio_lengths)
        else:
            with torch.no_grad():
                out = generator(audio.unsqueeze(1), audio_lengths)
        if self._use_cache():
            self._cache = out
        return out

    def _forward_generator(self, audio, audio_lengths, teacher_feats, extra=None) -> Dict[str, Any]:
        wav_hat, z, mask, kl, _ = self._reconstruct(audio, audio_lengths)
        wav = audio.unsqueeze(1)

        stft = self.stft_loss(wav_hat, wav)
        loss = self.lambda_stft * stft
        stats: Dict[str, torch.Tensor] = {"mrstft_loss": stft.detach(), "kl_loss": kl.detach()}
        if self.mel_loss is not None:
            mel = self.mel_loss(wav_hat, wav)
            loss = loss + self.lambda_mel * mel
            stats["mel_loss"] = mel.detach()
        if self.lambda_kl > 0:
            loss = loss + self.lambda_kl * kl

        if (self.lambda_adv > 0 or self.lambda_fm > 0) and self.adversarial_on():
            p_hat = self.discriminator(wav_hat)
            adv = self.gen_adv_loss(p_hat)
            with torch.no_grad():
                p = self.discriminator(wav)
            fm = self.fm_loss(p_hat, p)
            loss = loss + self.lambda_adv * adv + self.lambda_fm * fm
            stats.update(adv_loss=adv.detach(), fm_loss=fm.detach())

        if self.distiller is not None:
            targets = self.teacher_targets(audio, audio_lengths, teacher_feats, extra or {})
            ref = stft if torch.is_grad_enabled() else None
            d_loss, d_stats = self.distiller(
                z.transpose(1, 2), targets, mask, ref_loss=ref, adaptive_params=self.adaptive_params()
            )
            loss = loss + d_loss
            stats.update(d_stats)

        if self.training:
            self._track_nonfinite(loss)
            self.gen_step += 1
            if self._step is not None:
                self._step += 1
        stats["generator_loss"] = loss.detach()
        stats["nonfinite_steps"] = self.nonfinite_steps.detach().float()
        return self._gatherable(loss, stats, audio, optim_idx=0)

    def _forward_discriminator(self, audio, audio_lengths) -> Dict[str, Any]:
        if not self.adversarial_on():   # warm-up: nothing to learn, nothing computed
            self._cache = None   # a generator output cached by the other turn is not used
            zero = torch.zeros((), device=audio.device, requires_grad=True)
            stats = {"discriminator_loss": zero.detach()}
            return self._gatherable(zero, stats, audio, optim_idx=1)
        wav_hat = self._reconstruct(audio, audio_lengths, need_grad=False)[0]
        wav = audio.unsqueeze(1)
        p_hat = self.discriminator(wav_hat.detach())
        p = self.discriminator(wav)
        real_loss, fake_loss = self.dis_adv_loss(p_hat, p)
        loss = real_loss + fake_loss
        stats = {
            "discriminator_loss": loss.detach(),
            "real_loss": real_loss.detach(),
            "fake_loss": fake_loss.detach(),
        }
        return self._gatherable(loss, stats, audio, optim_idx=1)

    def _track_nonfinite(self, loss: torch.Tensor) -> None:
        bad = (~torch.isfinite(loss.detach())).long()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            # A NaN on one rank reaches every rank through the gradient all-reduce, and every rank
            # skips that update: count it everywhere so the counters and the stop decision agree
            # (a stop raised on one rank only would leave the others waiting in a collective).
            torch.distributed.all_reduce(bad, torch.distributed.ReduceOp.MAX)
        self.nonfinite_steps += bad
        self.nonfinite_streak.mul_(bad).add_(bad)  # (streak + 1) if bad else 0
        self._gen_steps += 1
        if self._gen_steps % 10 == 0 and int(self.nonfinite_streak) >= self.max_nonfinite_streak:
            raise FloatingPointError(
                f"the generator loss was NaN/Inf in {int(self.nonfinite_streak)} consecutive steps "
                f"({int(self.nonfinite_steps)} in total): stopping. Check the data (a corrupt clip?), "
                "lower the learning rate, or disable --use_amp."
            )

    @staticmethod
    def _gatherable(loss, stats, audio: torch.Tensor, optim_idx: int) -> Dict[str, Any]:
        """ESPnet's contract: 1-dim loss/stats/weight so (Distributed)DataParallel can gather them."""
        loss, stats, weight = force_gatherable((loss, stats, audio.size(0)), loss.device)
        return {"loss": loss, "stats": stats, "weight": weight, "optim_idx": optim_idx}

    def collect_feats(self, audio: torch.Tensor, audio_lengths: Optional[torch.Tensor] = None, **kwargs) -> Dict[str, torch.Tensor]:
        """For ESPnet's collect-stats stage (shape files); no normalisation statistics are needed."""
        return {}

    def generator_parameters(self):
        """Parameters of the generator optimizer: VAE + distillation projection heads."""
        params = list(self.generator.parameters())
        if self.distiller is not None:
            params += list(self.distiller.parameters())
        return params
