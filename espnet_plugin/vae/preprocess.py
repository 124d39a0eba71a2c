"""Per-utterance preprocessing for the speech-VAE task: validate, downmix, crop aligned segments.

Training crops a random ``segment_size``-sample window (the paper: 32768 samples) whose start
is a multiple of ``align`` = lcm(latent hop, teacher hop) samples, and crops the cached teacher
features (one frame per ``teacher_hop`` samples) at the same instant, so audio, latent frames and
teacher frames stay aligned. Validation crops deterministically from the start.

Extra teacher layers (terms that name a ``layer``) are read by utterance from their own cache scp
(``extra_feats``) and cropped at the same frames; they leave as ``teacher_feats_l<layer>``
(:func:`layer_data_name`).
"""

from __future__ import annotations

import math
from typing import Dict, Mapping, Optional, Union

import numpy as np

from espnet2.train.preprocessor import AbsPreprocessor
from espnet_plugin.errors import DataError


def layer_data_name(layer: int) -> str:
    """Batch key of the cached features of teacher layer ``layer`` (a term's config value)."""
    return f"teacher_feats_l{int(layer)}"


class SpeechVAEPreprocessor(AbsPreprocessor):
    """Validate and crop one utterance.

    Args:
        train: random crop (True) or crop from 0 (False).
        segment_size: crop length in samples (0 or None: whole utterance).
        hop_length: latent hop in samples (the crop start is aligned to it).
        teacher_hop: samples per cached teacher frame (None when no cache).
        min_samples: shorter clips raise :class:`DataError` (less than one latent frame cannot train).
        extra_feats: ``{layer: utterance -> (T', F) array}`` (e.g. ``kaldiio.load_scp`` of
            ``feats_l<L>.scp``), or ``{layer: None}`` when that layer is the cache's own
            (``teacher_feats`` is copied); same frame hop as ``teacher_feats``.
    """

    def __init__(
        self,
        train: bool,
        segment_size: Optional[int] = None,
        hop_length: int = 400,
        teacher_hop: Optional[int] = None,
        min_samples: Optional[int] = None,
        extra_feats: Optional[Mapping[int, Optional[Mapping[str, np.ndarray]]]] = None,
    ):
        super().__init__(train)
        self.segment_size = segment_size or None
        self.hop_length = hop_length
        self.teacher_hop = teacher_hop
        self.align = hop_length if not teacher_hop else hop_length * teacher_hop // math.gcd(hop_length, teacher_hop)
        self.min_samples = min_samples if min_samples is not None else hop_length
        self.extra_feats = dict(extra_feats or {})
        if self.segment_size is not None and self.segment_size % hop_length:
            raise DataError(f"segment_size {segment_size} must be a multiple of the hop length {hop_length}")

    def __call__(self, uid: str, data: Dict[str, Union[str, np.ndarray]]) -> Dict[str, np.ndarray]:
        audio = np.asarray(data["audio"])
        if audio.ndim == 2:  # (N, C) from soundfile: downmix
            audio = audio.mean(axis=1)
        audio = audio.astype(np.float32)
        if audio.size == 0:
            raise DataError(f"utterance '{uid}': empty audio")
        if not np.isfinite(audio).all():
            raise DataError(f"utterance '{uid}': audio contains NaN/Inf samples")
        if audio.shape[0] < self.min_samples:
            raise DataError(
                f"utterance '{uid}': {audio.shape[0]} samples is shorter than one latent frame "
                f"({self.min_samples}); filter it in the format stage"
            )
        layers: Dict[str, np.ndarray] = {}
        if data.get("teacher_feats") is not None:
            layers["teacher_feats"] = data["teacher_feats"]
            for layer, table in self.extra_feats.items():
                if table is None:
                    layers[layer_data_name(layer)] = data["teacher_feats"]
                    continue
                try:
                    layers[layer_data_name(layer)] = table[uid]
                except KeyError as exc:
                    raise DataError(f"utterance '{uid}': no cached teacher features of layer {layer}") from exc
        for name, feats in layers.items():
            feats = np.asarray(feats, dtype=np.float32)
            if not np.isfinite(feats).all():
                raise DataError(f"utterance '{uid}': cached teacher features ({name}) contain NaN/Inf")
            layers[name] = feats
        n = audio.shape[0]
        seg = self.segment_size
        if seg is not None and n > seg:
            n_starts = (n - seg) // self.align + 1
            start = (np.random.randint(n_starts) if self.train else 0) * self.align
            audio = audio[start : start + seg]
            if self.teacher_hop:
                f0 = start // self.teacher_hop
                nf = -(-seg // self.teacher_hop)
                layers = {k: v[f0 : f0 + nf] for k, v in layers.items()}
        out = dict(data)
        out["audio"] = audio
        out.update(layers)
        return out
