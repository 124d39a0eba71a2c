"""ECAPA-TDNN speaker-verification head on WavLM-Large hidden states: the SIM-o judge.

The architecture of UniSpeech's speaker-verification model (``ECAPA_TDNN_SMALL``, feat_dim 1024,
channels 512, embedding 256), the one F5-TTS's evaluation loads from ``wavlm_large_finetune.pth``.
Written from its published structure; the module names equal the checkpoint's keys
(``layer1.conv``, ``layer2.Res2Conv1dReluBn.convs.0``, ``pooling.linear1``, ``feature_weight`` ...),
so its ``state_dict()["model"]`` loads as is.

    x (B, N) 16 kHz -> WavLM hidden states (L+1, B, T, 1024) -> softmax(feature_weight)-weighted sum
    -> InstanceNorm -> Conv1dReluBn(k5) -> 3 x SE-Res2Block (dilation 2, 3, 4) -> cat -> Conv1d(1536)
    -> ReLU -> attentive statistics pooling (3072) -> BatchNorm -> Linear -> e (B, 256)

SIM-o = cos(e(prompt), e(output)).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Conv1dReluBn(nn.Module):
    """``BN(ReLU(Conv1d(x)))``: (B, C_in, T) -> (B, C_out, T')."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int = 1, padding: int = 0, dilation: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, kernel_size, 1, padding, dilation)
        self.bn = nn.BatchNorm1d(c_out)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(F.relu(self.conv(x)))


class Res2Conv1dReluBn(nn.Module):
    """Res2Net block: ``scale`` channel groups, group i (i < scale-1) gets ``BN(ReLU(conv(x_i + y_{i-1})))``,
    the last group passes through; (B, C, T) -> (B, C, T)."""

    def __init__(self, channels: int, kernel_size: int, padding: int, dilation: int, scale: int) -> None:
        super().__init__()
        if channels % scale:
            raise ValueError(f"channels {channels} not divisible by scale {scale}")
        self.width, self.nums = channels // scale, scale - 1
        self.convs = nn.ModuleList(nn.Conv1d(self.width, self.width, kernel_size, 1, padding, dilation)
                                   for _ in range(self.nums))
        self.bns = nn.ModuleList(nn.BatchNorm1d(self.width) for _ in range(self.nums))

    def forward(self, x: Tensor) -> Tensor:
        parts = torch.split(x, self.width, 1)
        out, y = [], None
        for i in range(self.nums):
            y = parts[i] if y is None else y + parts[i]
            y = self.bns[i](F.relu(self.convs[i](y)))
            out.append(y)
        out.append(parts[self.nums])
        return torch.cat(out, dim=1)


class SEConnect(nn.Module):
    """Squeeze-excitation over time: ``x * sigmoid(W2 relu(W1 mean_t x))``."""

    def __init__(self, channels: int, bottleneck: int = 128) -> None:
        super().__init__()
        self.linear1 = nn.Linear(channels, bottleneck)
        self.linear2 = nn.Linear(bottleneck, channels)

    def forward(self, x: Tensor) -> Tensor:
        s = torch.sigmoid(self.linear2(F.relu(self.linear1(x.mean(dim=2)))))
        return x * s.unsqueeze(2)


class SERes2Block(nn.Module):
    """1x1 conv -> Res2 conv (dilated) -> 1x1 conv -> SE, plus the residual."""

    def __init__(self, channels: int, dilation: int, scale: int = 8) -> None:
        super().__init__()
        self.Conv1dReluBn1 = Conv1dReluBn(channels, channels)
        self.Res2Conv1dReluBn = Res2Conv1dReluBn(channels, 3, dilation, dilation, scale)
        self.Conv1dReluBn2 = Conv1dReluBn(channels, channels)
        self.SE_Connect = SEConnect(channels)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.SE_Connect(self.Conv1dReluBn2(self.Res2Conv1dReluBn(self.Conv1dReluBn1(x))))


class AttentiveStatsPool(nn.Module):
    """``a = softmax_t(V tanh(W x))``; returns ``[sum_t a x, sqrt(sum_t a x^2 - mean^2)]`` (B, 2C)."""

    def __init__(self, channels: int, attention: int = 128) -> None:
        super().__init__()
        self.linear1 = nn.Conv1d(channels, attention, 1)
        self.linear2 = nn.Conv1d(attention, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        a = torch.softmax(self.linear2(torch.tanh(self.linear1(x))), dim=2)
        mean = (a * x).sum(dim=2)
        std = ((a * x * x).sum(dim=2) - mean ** 2).clamp(min=1e-9).sqrt()
        return torch.cat([mean, std], dim=1)


class EcapaTdnnSV(nn.Module):
    """Speaker embedding of a waveform from the hidden states of an s3prl upstream.

    Args:
        feature_extract: an s3prl upstream (``UpstreamExpert``; WavLM-Large) called on a list of
            (N,) waveforms, returning ``{"hidden_states": [(B, T, feat_dim)] * n_layers}``.
        n_layers: how many hidden states it returns (25 for WavLM-Large).
        feat_dim: their width (1024). channels: TDNN width (512). emb_dim: embedding size (256).
    """

    def __init__(self, feature_extract: nn.Module, n_layers: int, feat_dim: int = 1024, channels: int = 512,
                 emb_dim: int = 256) -> None:
        super().__init__()
        self.feature_extract = feature_extract
        self.feature_weight = nn.Parameter(torch.zeros(n_layers))
        self.instance_norm = nn.InstanceNorm1d(feat_dim)
        self.layer1 = Conv1dReluBn(feat_dim, channels, kernel_size=5, padding=2)
        self.layer2 = SERes2Block(channels, dilation=2)
        self.layer3 = SERes2Block(channels, dilation=3)
        self.layer4 = SERes2Block(channels, dilation=4)
        self.conv = nn.Conv1d(3 * channels, 1536, 1)
        self.pooling = AttentiveStatsPool(1536)
        self.bn = nn.BatchNorm1d(2 * 1536)
        self.linear = nn.Linear(2 * 1536, emb_dim)

    def features(self, wavs: Sequence[Tensor]) -> Tensor:
        """Softmax-weighted sum of the upstream's hidden states, instance-normalised: (B, feat_dim, T)."""
        with torch.no_grad():
            hs = self.feature_extract(list(wavs))["hidden_states"]
        h = torch.stack(list(hs), dim=0)  # (L, B, T, F)
        if h.shape[0] != self.feature_weight.numel():
            raise ValueError(f"upstream gave {h.shape[0]} hidden states, the head expects "
                             f"{self.feature_weight.numel()}")
        w = torch.softmax(self.feature_weight, dim=-1).view(-1, 1, 1, 1)
        x = (w * h).sum(dim=0).transpose(1, 2) + 1e-6
        return self.instance_norm(x)

    def forward(self, wavs: Sequence[Tensor]) -> Tensor:
        """Embeddings (B, emb_dim) of a list of (N,) 16 kHz waveforms."""
        x = self.features(wavs)
        o1 = self.layer1(x)
        o2 = self.layer2(o1)
        o3 = self.layer3(o2)
        o4 = self.layer4(o3)
        out = F.relu(self.conv(torch.cat([o2, o3, o4], dim=1)))
        return self.linear(self.bn(self.pooling(out)))


__all__ = ["EcapaTdnnSV"]
