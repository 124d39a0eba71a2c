"""EMA of the speech VAE's generator (encoder + bottleneck + decoder), as the paper trains it (decay 0.9999).

After the n-th generator optimizer step (n = 0, 1, ... counted by ``generator_ema.num_updates``,
stored as AveragedModel's ``generator_ema.n_averaged = n + 1``)::

    ema <- d_n * ema + (1 - d_n) * theta,        d_n = min(decay, (1 + n) / (10 + n))

(the averaging class is :class:`espnet_plugin.tts.ema.EMA`, a ``torch.optim.swa_utils.AveragedModel``
shared with the latent TTS). The
warm-up ``(1 + n) / (10 + n)`` is below ``decay`` for the first ``(10 * decay - 1) / (1 - decay)``
steps (~90k at 0.9999, ~890 at 0.99, ~1790 at 0.995): there the EMA averages roughly the last 10%
of the steps, so a CPU run of a few hundred steps gets a useful EMA and not its initial weights.
Buffers (STFT windows, filters) are copied, not averaged.

Where it lives and who uses it:

- ``ESPnetSpeechVAEModel.generator_ema`` (``model_conf: {ema_decay: 0.9999}``; None or 0 = off,
  the default, so old configs build the old model): a frozen copy (``requires_grad=False``)
  outside both optimizers, saved in every checkpoint as ``generator_ema.module.*`` and
  ``generator_ema.n_averaged`` (older checkpoints: ``generator_ema.num_updates``, still loaded), so
  ESPnet's ``--resume`` restores it.
- :func:`update_after_each_step`: ``SpeechVAETask.build_optimizers`` hooks the update onto the
  generator optimizer's ``step``: once per generator step, never for the discriminator, not for a
  step ESPnet skips (non-finite gradient norm, AMP overflow). Under DDP every rank steps the same
  all-reduced weights and updates its own copy with the same recursion, so the copies agree.
- The valid pass (eval mode) reconstructs with the EMA generator; :func:`generator_state` makes
  every loader (``load_svae``: resynthesis, latents, probes, TTS, packing, demo) take the EMA weights.
- :func:`fill_missing_ema`: a checkpoint from before the EMA (no ``generator_ema.*``) loads into a
  model with EMA on, the EMA starting from the generator's weights and a fresh warm-up.
"""

from __future__ import annotations

import logging
from typing import Dict, Mapping, Optional, Tuple

import torch
from torch import nn

from espnet_plugin.tts.ema import EMA

LIVE_PREFIX = "generator."
EMA_ROOT = "generator_ema."
EMA_PREFIX = EMA_ROOT + "module."


def build_generator_ema(generator: nn.Module, decay: Optional[float]) -> Optional[EMA]:
    """The EMA copy of ``generator`` (with warm-up), or None when ``decay`` is None or 0 (off)."""
    if not decay:
        return None
    return EMA(generator, float(decay), warmup=True, update_every=1)


def update_after_each_step(optimizer: torch.optim.Optimizer, ema: EMA, live: nn.Module):
    """Fold ``live``'s weights into ``ema`` after every ``optimizer.step()`` that runs.

    Returns the hook handle (``.remove()`` detaches it).
    """
    return optimizer.register_step_post_hook(lambda opt, args, kwargs: ema.update(live))


def fill_missing_ema(state_dict: Dict[str, torch.Tensor], prefix: str, *args) -> None:
    """``load_state_dict`` pre-hook: a checkpoint without ``generator_ema.*`` gets it from ``generator.*``."""
    if any(k.startswith(prefix + EMA_ROOT) for k in state_dict):
        return
    live = prefix + LIVE_PREFIX
    copied = {prefix + EMA_PREFIX + k[len(live):]: v for k, v in state_dict.items() if k.startswith(live)}
    if not copied:
        return  # not a whole-model state: the key check reports what is missing
    logging.warning("the checkpoint has no generator EMA: it starts from the generator's weights")
    state_dict.update(copied)
    state_dict[prefix + EMA_ROOT + "n_averaged"] = torch.ones((), dtype=torch.long)  # the copy alone: n = 0


def generator_state(
    state: Mapping[str, torch.Tensor], use_ema: bool = True
) -> Tuple[Dict[str, torch.Tensor], str]:
    """The generator's weights (keys without prefix) from a checkpoint, and where they came from.

    An ESPnet training checkpoint gives ``generator_ema.module.*`` when it has them and ``use_ema``,
    else ``generator.*``; a packed generator-only state (no prefix) is returned as it is.

    Returns:
        (state, source) with source ``"ema"``, ``"generator"`` or ``"packed"``.
    """
    prefixes = ((EMA_PREFIX, "ema"), (LIVE_PREFIX, "generator")) if use_ema else ((LIVE_PREFIX, "generator"),)
    for pre, source in prefixes:
        if any(k.startswith(pre) for k in state):
            return {k[len(pre):]: v for k, v in state.items() if k.startswith(pre)}, source
    return dict(state), "packed"
