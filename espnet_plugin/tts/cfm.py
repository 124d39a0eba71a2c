"""Conditional flow matching (F5-TTS): training objective and ODE sampling with CFG.

Training, for normalised target frames x1 (B, T, D) with valid lengths n_b:

    x0 ~ N(0, I),  t ~ U(0, 1),  x_t = (1 - (1 - sigma) t) x0 + t x1,  u = x1 - (1 - sigma) x0
    span_b = a contiguous run of floor(f_b n_b) frames, f_b ~ U(0.7, 1.0), start ~ U over valid starts
    cond   = x1 with the span (and padding) zeroed
    L      = sum_{b, t in span_b, d} (v_theta(x_t, cond, text, t) - u)^2 / (D * sum_b |span_b|)

CFG dropout, drawn independently per utterance: with probability ``audio_drop_prob`` the audio
condition is dropped; with probability ``cond_drop_prob`` audio AND text are dropped (F5-TTS
draws these once per batch; per utterance gives the same marginal rates with less variance).

Sampling integrates dx/dt = v from t = 0 (noise) to 1 on the sway-warped grid
(:func:`espnet_plugin.tts.duration.time_schedule`), with classifier-free guidance

    v = v_cond + w (v_cond - v_uncond),

where both passes are ONE batched call of the transformer (inputs concatenated along the batch,
the second half with audio and text dropped). Euler uses ``steps`` evaluations, midpoint 2*steps.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Union

import torch
from torch import nn

from espnet_plugin.errors import ConfigError
from espnet_plugin.nn.masking import lengths_to_mask
from espnet_plugin.tts.duration import time_schedule
from espnet_plugin.tts.seeds import seeded_noise


def random_span_mask(
    lengths: torch.Tensor,
    max_len: int,
    frac_range: Sequence[float] = (0.7, 1.0),
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """Random contiguous span per utterance, (B, max_len) bool.

    Span length ``max(1, floor(f * n))`` with ``f ~ U(frac_range)``; start
    ``floor(u * (n - span))``, ``u ~ U(0, 1)``; always inside the valid frames.
    """
    b = lengths.size(0)
    lo, hi = float(frac_range[0]), float(frac_range[1])
    r = torch.rand(2, b, generator=generator, device=lengths.device if generator is None else generator.device)
    r = r.to(lengths.device)
    frac = lo + (hi - lo) * r[0]
    span = (frac * lengths).long().clamp(min=1)
    span = torch.minimum(span, lengths)
    start = ((lengths - span).float() * r[1]).long()
    pos = torch.arange(max_len, device=lengths.device)[None]
    return (pos >= start[:, None]) & (pos < (start + span)[:, None])


class CFM(nn.Module):
    """Flow-matching wrapper around a velocity network (e.g. :class:`espnet_plugin.tts.dit.DiT`).

    Args:
        transformer: module called as ``transformer(x, cond, text, time, mask, drop_audio_cond, drop_text)``.
        audio_drop_prob: probability of dropping the audio condition only.
        cond_drop_prob: probability of dropping audio and text together.
        frac_lengths_mask: range of the masked-span fraction of each utterance.
        sigma: minimum noise of the conditional path (0 in F5-TTS).
    """

    def __init__(
        self,
        transformer: nn.Module,
        audio_drop_prob: float = 0.3,
        cond_drop_prob: float = 0.2,
        frac_lengths_mask: Sequence[float] = (0.7, 1.0),
        sigma: float = 0.0,
    ):
        super().__init__()
        lo, hi = frac_lengths_mask
        if not 0.0 < lo <= hi <= 1.0:
            raise ConfigError(f"frac_lengths_mask must satisfy 0 < lo <= hi <= 1, got {frac_lengths_mask}")
        for name, p in (("audio_drop_prob", audio_drop_prob), ("cond_drop_prob", cond_drop_prob)):
            if not 0.0 <= p <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {p}")
        self.transformer = transformer
        self.audio_drop_prob = audio_drop_prob
        self.cond_drop_prob = cond_drop_prob
        self.frac_lengths_mask = (float(lo), float(hi))
        self.sigma = sigma

    def forward(
        self,
        x1: torch.Tensor,
        lengths: torch.Tensor,
        text: torch.Tensor,
        *,
        span_mask: Optional[torch.Tensor] = None,
        time: Optional[torch.Tensor] = None,
        noise: Optional[torch.Tensor] = None,
        drop_audio_cond: Optional[torch.Tensor] = None,
        drop_text: Optional[torch.Tensor] = None,
        generator: Optional[torch.Generator] = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Flow-matching loss (formula in the module docstring).

        Args:
            x1: normalised target frames (B, T, D), zero-padded.
            lengths: valid frames (B,).
            text: ids (B, L), negative = filler/padding.
            span_mask, time, noise, drop_audio_cond, drop_text: optional fixed values of the random
                draws ((B, T) bool, (B,), (B, T, D), (B,) bool, (B,) bool) - for tests and analysis.
            generator: RNG for the draws that are not given (CPU generator or on x1's device).
        Returns:
            scalar loss and detached stats ``{"loss", "span_frac"}``.
        """
        b, t_len, _ = x1.shape
        dev = x1.device
        gdev = generator.device if generator is not None else dev

        def rand(*shape):
            return torch.rand(*shape, generator=generator, device=gdev).to(dev)

        mask = lengths_to_mask(lengths, t_len)
        if span_mask is None:
            span_mask = random_span_mask(lengths, t_len, self.frac_lengths_mask, generator)
        span_mask = span_mask & mask
        if time is None:
            time = rand(b)
        time = time.to(dev, x1.dtype)
        if noise is None:
            noise = torch.randn(x1.shape, generator=generator, device=gdev).to(dev, x1.dtype)
        if drop_audio_cond is None or drop_text is None:
            u = rand(2, b)
            both = u[1] < self.cond_drop_prob
            drop_audio_cond = (u[0] < self.audio_drop_prob) | both if drop_audio_cond is None else drop_audio_cond
            drop_text = both if drop_text is None else drop_text

        tt = time[:, None, None]
        x_t = (1 - (1 - self.sigma) * tt) * noise + tt * x1
        flow = x1 - (1 - self.sigma) * noise
        cond = x1.masked_fill((span_mask | ~mask)[..., None], 0.0)
        pred = self.transformer(x_t, cond, text, time, mask, drop_audio_cond=drop_audio_cond, drop_text=drop_text)
        w = span_mask[..., None].float()  # float32 counts (exact under bf16 autocast)
        err = (pred.float() - flow.float()).pow(2) * w
        n = (w.sum() * x1.size(-1)).clamp(min=1.0)
        loss = err.sum() / n
        stats = {
            "loss": loss.detach(),
            "span_frac": (span_mask.sum() / mask.sum().clamp(min=1)).detach().float(),
        }
        return loss, stats

    def velocity_fn(
        self,
        cond: torch.Tensor,
        text: torch.Tensor,
        mask: Optional[torch.Tensor],
        cfg_strength: float,
    ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """Guided velocity v(x, t) for a fixed condition; one transformer call per evaluation.

        Args:
            cond: (B, T, D) prompt frames, zeros elsewhere; text: (B, L) ids; mask: (B, T) bool
            or None (no padding).
        Returns:
            function (x (B, T, D), t scalar tensor) -> (B, T, D).
        """
        b, t_len, _ = cond.shape
        tr = self.transformer
        if cfg_strength == 0.0:
            flags = torch.zeros(b, dtype=torch.bool, device=cond.device)
            text_emb = tr.embed_text(text, t_len, flags) if hasattr(tr, "embed_text") else None
            extra = {} if text_emb is None else {"text_emb": text_emb}

            def v(x, t):
                return tr(x, cond, text, t.expand(b), mask, drop_audio_cond=flags, drop_text=flags, **extra)

            return v

        flags = torch.cat([torch.zeros(b, dtype=torch.bool), torch.ones(b, dtype=torch.bool)]).to(cond.device)
        cond2, text2 = torch.cat([cond, cond]), torch.cat([text, text])
        mask2 = None if mask is None else torch.cat([mask, mask])
        text_emb = tr.embed_text(text2, t_len, flags) if hasattr(tr, "embed_text") else None
        extra = {} if text_emb is None else {"text_emb": text_emb}

        def v(x, t):
            pred = tr(torch.cat([x, x]), cond2, text2, t.expand(2 * b), mask2, drop_audio_cond=flags, drop_text=flags, **extra)
            v_c, v_u = pred.chunk(2)
            return v_c + cfg_strength * (v_c - v_u)

        return v

    @torch.no_grad()
    def sample(
        self,
        cond: torch.Tensor,
        text: torch.Tensor,
        duration: Union[torch.Tensor, int],
        *,
        cond_lengths: Optional[torch.Tensor] = None,
        steps: int = 32,
        cfg_strength: float = 2.0,
        sway_sampling_coef: Optional[float] = -1.0,
        method: str = "euler",
        seed: Union[int, Sequence[int], None] = None,
        noise: Optional[torch.Tensor] = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Generate frames continuing a prompt.

        Args:
            cond: normalised prompt frames (B, T_prompt, D), zero-padded.
            text: ids (B, L) of prompt text + target text, negative = padding.
            duration: total frames (B,) or int, prompt included (at least prompt + 1).
            cond_lengths: valid prompt frames (B,); default T_prompt for all.
            steps: ODE steps; cfg_strength: guidance w (0 = no unconditional pass);
            sway_sampling_coef: sway s (None/0 = uniform grid); method: "euler" or "midpoint".
            seed: B seeds, one per utterance (for a test set: :func:`espnet_plugin.tts.seeds.utterance_seed`
                of the run seed and each utterance id), or one int used for every utterance; each
                row's noise is drawn on the CPU from its own seed
                (:func:`espnet_plugin.tts.seeds.seeded_noise`), so results do not depend on batch
                composition, order or device. None: unseeded ``torch.randn``.
            noise: explicit initial noise (B, T, D) (overrides ``seed``).
        Returns:
            frames (B, T, D), T = max(duration), the prompt frames copied from ``cond`` and zeros
            after each duration; and the lengths (B,) = duration.
        """
        if method not in ("euler", "midpoint"):
            raise ConfigError(f"ODE method must be 'euler' or 'midpoint', got {method!r}")
        b, t_p, d = cond.shape
        dev = cond.device
        if cond_lengths is None:
            cond_lengths = torch.full((b,), t_p, dtype=torch.long, device=dev)
        cond_lengths = cond_lengths.to(dev).long()
        if not isinstance(duration, torch.Tensor):
            duration = torch.full((b,), int(duration), dtype=torch.long)
        duration = torch.maximum(duration.to(dev).long(), cond_lengths + 1)
        t_len = int(duration.max())
        mask = lengths_to_mask(duration, t_len)
        cond_mask = lengths_to_mask(cond_lengths, t_len)
        cond = cond[:, : min(t_p, t_len)]
        cond = torch.nn.functional.pad(cond, (0, 0, 0, t_len - cond.size(1)))
        cond = cond.masked_fill(~cond_mask[..., None], 0.0)

        if noise is None:
            if seed is None:
                noise = torch.randn(b, t_len, d, device=dev, dtype=cond.dtype)
            else:
                seeds = [int(seed)] * b if isinstance(seed, int) else [int(s) for s in seed]
                noise = seeded_noise(seeds, duration.tolist(), t_len, d, cond.dtype).to(dev)
        x = noise[:, :t_len].to(dev, cond.dtype).masked_fill(~mask[..., None], 0.0)

        # no padding (e.g. a single utterance): mask=None lets SDPA use its fastest kernels
        full = bool((duration == t_len).all())
        v = self.velocity_fn(cond, text, None if full else mask, float(cfg_strength))
        ts = time_schedule(steps, sway_sampling_coef, device=dev, dtype=cond.dtype)
        for i in range(steps):
            t0, dt = ts[i], ts[i + 1] - ts[i]
            if method == "euler":
                x = x + dt * v(x, t0)
            else:
                x_mid = x + 0.5 * dt * v(x, t0)
                x = x + dt * v(x_mid, t0 + 0.5 * dt)
        out = torch.where(cond_mask[..., None], cond, x).masked_fill(~mask[..., None], 0.0)
        return out, duration
