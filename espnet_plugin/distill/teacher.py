"""Frozen SSL teachers (any s3prl upstream) and their on-disk feature cache.

A teacher maps 16 kHz audio to one layer of hidden states::

    wav (B, N), lengths (B,)  ->  feats (B, T', F), feat_lengths (B,)     T' ~ N / downsample_rate

It is frozen (no parameter requires grad) and stays in eval mode whatever the
trainer does (``train()`` is overridden). On CUDA it runs in half precision
(``half_on_gpu``) and returns float32.

The cache written by ``espnet_plugin.bin.dump_teacher`` is a kaldiio ark/scp keyed
by utterance plus ``teacher_info.json`` recording :meth:`Teacher.identity`; a
training run refuses a cache whose identity differs from its teacher config
(:func:`check_cache_identity`), so a stale cache is never used silently.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch
from torch import nn

from espnet_plugin.errors import ConfigError

CACHE_INFO = "teacher_info.json"


def _file_fingerprint(path: Optional[str]) -> Optional[str]:
    """sha256 of the first and last MiB + size of a checkpoint (cheap identity)."""
    if not path:
        return None
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"teacher checkpoint not found: {path}")
    h = hashlib.sha256()
    size = p.stat().st_size
    with open(p, "rb") as fh:
        h.update(fh.read(1 << 20))
        if size > (1 << 20):
            fh.seek(max(size - (1 << 20), 0))
            h.update(fh.read(1 << 20))
    h.update(str(size).encode())
    return h.hexdigest()[:16]


class Teacher(nn.Module):
    """A frozen s3prl upstream returning one hidden-state layer.

    Args:
        upstream: s3prl upstream name (``wavlm_large``, ``hubert_base``, ``wavlm_local``,
            ``espnet_hubert_local`` for a checkpoint trained by ESPnet's HuBERT task,
            ``fbank``/``mfcc`` for unit tests).
        path: local checkpoint for ``*_local`` upstreams (s3prl's ``path_or_url``).
        layer: index into s3prl's list of hidden states (0 = CNN/projection output,
            i = after transformer layer i; the paper uses WavLM-Large layer 23).
            ``-1`` = last layer.
        half_on_gpu: run the upstream in fp16 on CUDA.
    """

    def __init__(
        self,
        upstream: str = "wavlm_large",
        path: Optional[str] = None,
        layer: int = 23,
        half_on_gpu: bool = True,
    ):
        super().__init__()
        from s3prl.nn import S3PRLUpstream  # heavy import, only when a teacher is built

        try:
            self.upstream = S3PRLUpstream(upstream, path_or_url=path)
        except (AttributeError, KeyError) as e:
            raise ConfigError(f"unknown s3prl upstream '{upstream}': {e}") from e
        n = self.upstream.num_layers
        if not -n <= layer < n:
            raise ConfigError(f"teacher '{upstream}' has {n} hidden-state layers; layer={layer} is out of range")
        self.name = upstream
        self.path = path
        self.layer = layer % n
        self.half_on_gpu = half_on_gpu
        self.downsample_rate = int(self.upstream.downsample_rates[self.layer])
        self.feature_dim = int(self.upstream.hidden_sizes[self.layer])
        for p in self.upstream.parameters():
            p.requires_grad_(False)
        self._fingerprint = _file_fingerprint(path)
        self.eval()

    def train(self, mode: bool = True) -> "Teacher":
        """Always stays in eval mode (dropout off, no layer drop): the teacher is frozen."""
        return super().train(False)

    def identity(self) -> Dict[str, Any]:
        """What makes two teachers' features interchangeable (recorded beside a cache)."""
        return {
            "upstream": self.name,
            "checkpoint_fingerprint": self._fingerprint,
            "layer": self.layer,
            "num_layers": int(self.upstream.num_layers),
            "downsample_rate": self.downsample_rate,
            "feature_dim": self.feature_dim,
        }

    @torch.no_grad()
    def forward(self, wav: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """(B, N) float audio at 16 kHz -> (B, T', F) float32 features, (B,) lengths."""
        if wav.dim() == 3:
            wav = wav.squeeze(1)
        if lengths is None:
            lengths = torch.full((wav.size(0),), wav.size(1), dtype=torch.long, device=wav.device)
        use_half = self.half_on_gpu and wav.is_cuda
        p0 = next(self.upstream.parameters(), None)
        if use_half and p0 is not None and p0.dtype != torch.float16:
            self.upstream.half()
        x = wav.half() if use_half else wav.float()
        with torch.autocast(device_type=wav.device.type, enabled=False):
            hs, hl = self.upstream(x, lengths)
        return hs[self.layer].float(), hl[self.layer]


def read_cache_info(cache_dir: str | os.PathLike) -> Dict[str, Any]:
    """Read ``teacher_info.json`` of a cache directory."""
    p = Path(cache_dir) / CACHE_INFO
    if not p.is_file():
        raise ConfigError(f"teacher cache {cache_dir} has no {CACHE_INFO}: rerun the teacher-dump stage")
    return json.loads(p.read_text())


def teacher_conf_identity(conf: Dict[str, Any]) -> Dict[str, Any]:
    """Identity of a teacher config *without* loading the upstream (for cache checks)."""
    return {
        "upstream": conf.get("upstream", "wavlm_large"),
        "checkpoint_fingerprint": _file_fingerprint(conf.get("path")),
        "layer": conf.get("layer", 23),
    }


def check_cache_identity(cache_dir: str | os.PathLike, teacher_conf: Dict[str, Any]) -> Dict[str, Any]:
    """Refuse a teacher cache made by another teacher/layer/checkpoint than ``teacher_conf``.

    Returns the cache info on success; raises :class:`ConfigError` naming the differences.
    """
    info = read_cache_info(cache_dir)
    want = teacher_conf_identity(teacher_conf)
    got_layer = info.get("layer")
    diffs = []
    for k in ("upstream", "checkpoint_fingerprint"):
        if info.get(k) != want[k]:
            diffs.append(f"{k}: cache={info.get(k)!r} config={want[k]!r}")
    # layer -1 in config matches the resolved last layer recorded in the cache
    if want["layer"] != got_layer and not (want["layer"] < 0 and info.get("num_layers", 0) + want["layer"] == got_layer):
        diffs.append(f"layer: cache={got_layer!r} config={want['layer']!r}")
    if diffs:
        raise ConfigError(
            f"stale teacher cache {cache_dir}: it was made by another teacher ({'; '.join(diffs)}). "
            "Rerun the teacher-dump stage or point --teacher_cache to a matching cache."
        )
    logging.info(f"teacher cache {cache_dir} matches the teacher config ({info['upstream']}, layer {got_layer})")
    return info
