"""F5-TTS's DiT backbone on continuous latents (or mel frames).

Per frame t of an utterance with T frames:

    h_t  = W_in [x_t ; c_t ; e_t] ,   h <- h + ConvPos(h)            (input embedding)
    e    = ConvNeXtV2^4(Embed(text padded with the filler to T) + sinusoidal_pos)   (text)
    h    <- DiTBlock_l(h, tau) , l = 1..depth                          (AdaLN-zero, RoPE attention)
    v    = W_out(AdaLN_final(h, tau))                                  (W_out zero-initialised)

with ``x`` the noisy latent, ``c`` the masked condition (zeros where dropped / masked), ``tau``
the timestep embedding MLP(sinusoid(1000 t)). A DiT block is

    (s1, b1, g1, s2, b2, g2) = Linear(SiLU(tau))                       (zero-initialised)
    h <- h + g1 * Attn(LN(h) * (1 + s1) + b1)
    h <- h + g2 * FF(LN(h) * (1 + s2) + b2)

Attention uses rotary position embeddings on queries and keys and
``scaled_dot_product_attention`` with a key-padding mask; padded frames are zeroed.
"""
from __future__ import annotations

import math
from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from espnet_plugin.errors import ConfigError
from espnet_plugin.tts.text import pad_text_to_length

Flag = Union[bool, torch.Tensor]


def as_flags(flag: Flag, batch: int, device: torch.device) -> torch.Tensor:
    """A bool or a (B,) bool tensor -> (B,) bool tensor on ``device``."""
    if isinstance(flag, torch.Tensor):
        flag = flag.to(device=device, dtype=torch.bool)
        return flag.expand(batch) if flag.dim() == 0 else flag
    return torch.full((batch,), bool(flag), dtype=torch.bool, device=device)


def sinusoidal_positions(length: int, dim: int, device: torch.device, dtype: torch.dtype, theta: float = 10000.0):
    """Absolute sinusoidal position table (length, dim): ``[cos(p f_i), sin(p f_i)]``, f_i = theta^(-2i/dim)."""
    freqs = theta ** (-torch.arange(0, dim // 2, device=device, dtype=torch.float32) * 2.0 / dim)
    ang = torch.arange(length, device=device, dtype=torch.float32)[:, None] * freqs[None]
    return torch.cat([ang.cos(), ang.sin()], dim=-1).to(dtype)


class TimestepEmbedding(nn.Module):
    """Flow time t (B,) -> (B, dim): MLP(SiLU) of the sinusoid ``[sin(1000 t w), cos(1000 t w)]``."""

    def __init__(self, dim: int, freq_dim: int = 256, scale: float = 1000.0):
        super().__init__()
        self.freq_dim, self.scale = freq_dim, scale
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.freq_dim // 2
        w = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / (half - 1))
        ang = self.scale * t.float()[:, None] * w[None]
        emb = torch.cat([ang.sin(), ang.cos()], dim=-1)
        return self.mlp(emb.to(self.mlp[0].weight.dtype))


class GRN(nn.Module):
    """ConvNeXt-V2 global response norm over time: ``g * (x * N(x)) + b + x``, N = ||x||_t / mean_c ||x||_t."""

    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gx = torch.norm(x, p=2, dim=1, keepdim=True)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * nx) + self.beta + x


class ConvNeXtV2Block(nn.Module):
    """(B, T, C) -> (B, T, C): depthwise conv (k7) -> LN -> Linear up -> GELU -> GRN -> Linear down, residual."""

    def __init__(self, dim: int, intermediate_dim: int, kernel_size: int = 7, dilation: int = 1):
        super().__init__()
        pad = dilation * (kernel_size - 1) // 2
        self.dwconv = nn.Conv1d(dim, dim, kernel_size, padding=pad, groups=dim, dilation=dilation)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.grn = GRN(intermediate_dim)
        self.pwconv2 = nn.Linear(intermediate_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dwconv(x.transpose(1, 2)).transpose(1, 2)
        h = self.pwconv2(self.grn(F.gelu(self.pwconv1(self.norm(h)))))
        return x + h


class TextEmbedding(nn.Module):
    """Text ids (B, L) -> (B, T, text_dim): filler padding to T, embedding, sinusoidal pos, ConvNeXt-V2 blocks.

    Embedding row ``id + 1``; the filler (negative ids, and every id of a dropped text) is row 0.
    With ``mask_padding`` the filler positions are zeroed before and after every block.
    """

    def __init__(self, num_embeds: int, text_dim: int, conv_layers: int = 4, conv_mult: int = 2, mask_padding: bool = True):
        super().__init__()
        self.embed = nn.Embedding(num_embeds + 1, text_dim)
        self.blocks = nn.ModuleList(ConvNeXtV2Block(text_dim, text_dim * conv_mult) for _ in range(conv_layers))
        self.mask_padding = mask_padding
        self.num_embeds = num_embeds

    def forward(self, text: torch.Tensor, seq_len: int, drop_text: Flag = False) -> torch.Tensor:
        idx = pad_text_to_length(text, seq_len) + 1
        drop = as_flags(drop_text, idx.size(0), idx.device)
        idx = idx.masked_fill(drop[:, None], 0)
        h = self.embed(idx)
        h = h + sinusoidal_positions(seq_len, h.size(-1), h.device, h.dtype)[None]
        fill = (idx == 0)[..., None] if self.mask_padding else None
        if fill is not None:
            h = h.masked_fill(fill, 0.0)
        for blk in self.blocks:
            h = blk(h)
            if fill is not None:
                h = h.masked_fill(fill, 0.0)
        return h


class ConvPositionEmbedding(nn.Module):
    """(B, T, C) -> (B, T, C): two grouped convs (kernel 31, 16 groups) with Mish.

    Padded frames are zeroed before each conv and at the output, so the result on valid frames
    does not depend on how much padding follows (batch-composition invariance).
    """

    def __init__(self, dim: int, kernel_size: int = 31, groups: int = 16):
        super().__init__()
        if dim % groups:
            raise ConfigError(f"DiT dim {dim} must be divisible by the conv-position groups {groups}")
        self.conv1 = nn.Conv1d(dim, dim, kernel_size, groups=groups, padding=kernel_size // 2)
        self.conv2 = nn.Conv1d(dim, dim, kernel_size, groups=groups, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        keep = None if mask is None else mask[:, None, :]
        h = x.transpose(1, 2)
        for conv in (self.conv1, self.conv2):
            if keep is not None:  # also between the convs, so padding never leaks (F5 masks in/out only)
                h = h.masked_fill(~keep, 0.0)
            h = F.mish(conv(h))
        if keep is not None:
            h = h.masked_fill(~keep, 0.0)
        return h.transpose(1, 2)


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (rotate-half form) for heads of size ``dim_head``.

    For position p and pair (i, i + d/2): angle p * base^(-2i/d);
    ``rope(x) = x * cos + rotate_half(x) * sin``, rotate_half([a, b]) = [-b, a].
    """

    def __init__(self, dim_head: int, base: float = 10000.0):
        super().__init__()
        if dim_head % 2:
            raise ConfigError(f"rotary embedding needs an even head size, got {dim_head}")
        inv = base ** (-torch.arange(0, dim_head, 2, dtype=torch.float32) / dim_head)
        self.register_buffer("inv_freq", inv, persistent=False)

    def forward(self, length: int, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """(cos, sin), each (length, dim_head)."""
        ang = torch.arange(length, device=device, dtype=torch.float32)[:, None] * self.inv_freq.to(device)[None]
        ang = torch.cat([ang, ang], dim=-1)
        return ang.cos().to(dtype), ang.sin().to(dtype)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x (B, H, T, Dh) rotated by position: ``x * cos + rotate_half(x) * sin``."""
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin


class Attention(nn.Module):
    """Multi-head self-attention with RoPE and a key-padding mask, (B, T, dim) -> (B, T, dim)."""

    def __init__(self, dim: int, heads: int, dim_head: int, dropout: float = 0.0):
        super().__init__()
        self.heads, self.dim_head, self.dropout = heads, dim_head, dropout
        self.to_qkv = nn.Linear(dim, 3 * heads * dim_head)
        self.to_out = nn.Sequential(nn.Linear(heads * dim_head, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor], rope: tuple[torch.Tensor, torch.Tensor]):
        b, t, _ = x.shape
        q, k, v = self.to_qkv(x).view(b, t, 3, self.heads, self.dim_head).permute(2, 0, 3, 1, 4)
        cos, sin = rope[0].to(q.dtype), rope[1].to(q.dtype)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        attn_mask = mask[:, None, None, :] if mask is not None else None
        o = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )
        o = self.to_out(o.transpose(1, 2).reshape(b, t, -1))
        if mask is not None:
            o = o.masked_fill(~mask[..., None], 0.0)
        return o


class DiTBlock(nn.Module):
    """AdaLN-zero transformer block, (B, T, dim) x (B, dim) -> (B, T, dim) (formula in the module docstring)."""

    def __init__(self, dim: int, heads: int, dim_head: int, ff_mult: int = 2, dropout: float = 0.1):
        super().__init__()
        self.modulation = nn.Linear(dim, 6 * dim)
        self.attn_norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(dim, heads, dim_head, dropout)
        self.ff_norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ff = nn.Sequential(
            nn.Linear(dim, dim * ff_mult), nn.GELU(approximate="tanh"), nn.Dropout(dropout), nn.Linear(dim * ff_mult, dim)
        )

    def forward(self, x, t_emb, mask, rope):
        s1, b1, g1, s2, b2, g2 = self.modulation(F.silu(t_emb))[:, None].chunk(6, dim=-1)
        x = x + g1 * self.attn(self.attn_norm(x) * (1 + s1) + b1, mask, rope)
        x = x + g2 * self.ff(self.ff_norm(x) * (1 + s2) + b2)
        return x


class DiT(nn.Module):
    """F5-TTS DiT: predicts the flow velocity (B, T, D) from noisy x, masked condition, text and time.

    Args:
        dim, depth, heads, dim_head, ff_mult, dropout: transformer size (F5 Small: 768, 18, 12, 64, 2, 0.1).
        text_dim, conv_layers, conv_mult: text embedding width and its ConvNeXt-V2 blocks (512, 4, 2).
        text_num_embeds: ESPnet vocabulary size V (embedding has V + 1 rows, row 0 = filler).
        latent_dim: frame dimension D (64 for the VAE latents, 100 for F5's mel).
        text_mask_padding: zero filler positions in the text blocks (F5-TTS v1 behaviour).
        checkpoint_activations: recompute each block in backward (saves GPU memory).
    """

    def __init__(
        self,
        dim: int = 768,
        depth: int = 18,
        heads: int = 12,
        dim_head: int = 64,
        ff_mult: int = 2,
        dropout: float = 0.1,
        text_dim: int = 512,
        text_num_embeds: int = 256,
        conv_layers: int = 4,
        conv_mult: int = 2,
        latent_dim: int = 64,
        text_mask_padding: bool = True,
        checkpoint_activations: bool = False,
    ):
        super().__init__()
        self.latent_dim, self.dim = latent_dim, dim
        self.checkpoint_activations = checkpoint_activations
        self.time_embed = TimestepEmbedding(dim)
        self.text_embed = TextEmbedding(text_num_embeds, text_dim, conv_layers, conv_mult, text_mask_padding)
        self.input_proj = nn.Linear(2 * latent_dim + text_dim, dim)
        self.conv_pos = ConvPositionEmbedding(dim)
        self.rotary = RotaryEmbedding(dim_head)
        self.blocks = nn.ModuleList(DiTBlock(dim, heads, dim_head, ff_mult, dropout) for _ in range(depth))
        self.norm_out = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.modulation_out = nn.Linear(dim, 2 * dim)
        self.proj_out = nn.Linear(dim, latent_dim)
        self._zero_init()

    def _zero_init(self) -> None:
        for lin in [b.modulation for b in self.blocks] + [self.modulation_out, self.proj_out]:
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def embed_text(self, text: torch.Tensor, seq_len: int, drop_text: Flag = False) -> torch.Tensor:
        """Text ids (B, L) -> text features (B, seq_len, text_dim); cacheable across ODE steps."""
        return self.text_embed(text, seq_len, drop_text)

    def forward(
        self,
        x: torch.Tensor,
        cond: torch.Tensor,
        text: torch.Tensor,
        time: torch.Tensor,
        mask: Optional[torch.Tensor] = None,
        drop_audio_cond: Flag = False,
        drop_text: Flag = False,
        text_emb: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Velocity prediction.

        Args:
            x: noisy frames (B, T, D).
            cond: condition frames (B, T, D), zeros where masked.
            text: ids (B, L), negative = filler (padded/truncated to T inside).
            time: flow time (B,) or scalar, in [0, 1].
            mask: (B, T) bool, True on valid frames (None = all valid).
            drop_audio_cond, drop_text: bool or (B,) bool; drop the condition / the text (CFG).
            text_emb: precomputed ``embed_text(text, T, drop_text)`` (then ``text`` is ignored).
        Returns:
            (B, T, D) velocity.
        """
        b, t_len, d = x.shape
        if d != self.latent_dim:
            raise ConfigError(f"DiT built for latent_dim={self.latent_dim} got frames of dim {d}")
        time = time.to(x.device).reshape(-1).expand(b) if isinstance(time, torch.Tensor) else x.new_full((b,), time)
        t_emb = self.time_embed(time).to(x.dtype)
        if text_emb is None:
            text_emb = self.embed_text(text, t_len, drop_text)
        drop_a = as_flags(drop_audio_cond, b, x.device)
        cond = cond.masked_fill(drop_a[:, None, None], 0.0)
        h = self.input_proj(torch.cat([x, cond, text_emb.to(x.dtype)], dim=-1))
        h = h + self.conv_pos(h, mask)
        rope = self.rotary(t_len, x.device, h.dtype)
        for blk in self.blocks:
            if self.checkpoint_activations and self.training:
                h = checkpoint(blk, h, t_emb, mask, rope, use_reentrant=False)
            else:
                h = blk(h, t_emb, mask, rope)
        scale, shift = self.modulation_out(F.silu(t_emb))[:, None].chunk(2, dim=-1)
        h = self.norm_out(h) * (1 + scale) + shift
        return self.proj_out(h)
