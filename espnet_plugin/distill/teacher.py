"""Frozen SSL teachers (any s3prl upstream) and their on-disk feature cache.

A teacher maps 16 kHz audio to hidden states of its configured ``layer`` (``forward``) or of
several layers at once (``features``)::

    wav (B, N), lengths (B,)  ->  feats (B, T', F), feat_lengths (B,)     T' = ceil(N / hop)

Frame alignment (one rule for the cache and the on-the-fly path): teacher frame ``i`` covers
samples ``[i * hop, (i + 1) * hop)``, so ``N`` samples have ``ceil(N / hop)`` frames
(:func:`num_frames`). Upstreams that return another count (some s3prl versions pad WavLM to
``N // hop + 1``) are trimmed, or padded by repeating the last frame, to that count; a crop of
``seg`` samples starting at a multiple of ``hop`` then has exactly the frames that the
preprocessor cuts from a whole-utterance cache (``feats[start // hop : start // hop + ceil(seg / hop)]``).

It is frozen (no parameter requires grad) and stays in eval mode whatever the
trainer does (``train()`` is overridden). On CUDA it runs in half precision
(``half_on_gpu``) and returns float32.

The cache written by ``espnet_plugin.bin.dump_teacher`` is a kaldiio ark/scp keyed
by utterance plus ``teacher_info.json`` recording :meth:`Teacher.identity`; a
training run refuses a cache whose identity differs from its teacher config
(:func:`check_cache_identity`), so a stale cache is never used silently.

Cache layout: ``feats.scp`` holds the configured ``layer`` (as it always did, so single-layer
caches keep working); each extra layer ``L`` (resolved, >= 0) has its own ``feats_l<L>.scp`` /
``feats_l<L>*.ark``, listed in ``teacher_info.json`` as ``extra_layers`` (the key is absent for a
single-layer cache). :func:`cache_layer_scp` maps a layer to its scp.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import torch
from torch import nn

from espnet_plugin.errors import ConfigError

CACHE_INFO = "teacher_info.json"


def num_frames(n_samples: int, hop: int) -> int:
    """Teacher frames of ``n_samples`` samples: ``ceil(n_samples / hop)`` (frame i = samples [i*hop, (i+1)*hop))."""
    return -(-int(n_samples) // int(hop))


def fit_frames(h: torch.Tensor, n: int) -> torch.Tensor:
    """(B, T, F) -> (B, n, F): drop frames past ``n`` or repeat the last frame up to ``n``."""
    if h.size(1) >= n:
        return h[:, :n]
    if h.size(1) == 0:
        raise ConfigError(f"teacher returned no frames for an input of {n} expected frames")
    return torch.cat([h, h[:, -1:].expand(-1, n - h.size(1), -1)], dim=1)


def resolve_layer(layer: int, num_layers: int, who: str = "teacher") -> int:
    """A hidden-state index in ``[-num_layers, num_layers)`` -> ``[0, num_layers)`` (``-1`` = last)."""
    layer = int(layer)
    if not -num_layers <= layer < num_layers:
        raise ConfigError(f"{who} has {num_layers} hidden-state layers; layer={layer} is out of range")
    return layer % num_layers


def layer_scp_name(layer: int) -> str:
    """scp name of an extra cached layer (the configured layer stays in ``feats.scp``)."""
    return f"feats_l{int(layer)}.scp"


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
            ``fbank``/``mfcc`` for unit tests), or a built module with ``S3PRLUpstream``'s
            interface (``num_layers``, ``downsample_rates``, ``hidden_sizes``,
            ``forward(wav (B, N), lens (B,)) -> ([(B, T, F)] per layer, [(B,)] per layer)``).
        path: local checkpoint for ``*_local`` upstreams (s3prl's ``path_or_url``).
        layer: index into s3prl's list of hidden states (0 = CNN/projection output,
            i = after transformer layer i; the paper uses WavLM-Large layer 23).
            ``-1`` = last layer.
        half_on_gpu: run the upstream in fp16 on CUDA.
        extra_layers: further hidden-state indices :meth:`features` may be asked for (they must
            share the configured layer's frame hop and dimension); they are recorded in
            :meth:`identity` and dumped as extra cache layers.
    """

    def __init__(
        self,
        upstream: "str | nn.Module" = "wavlm_large",
        path: Optional[str] = None,
        layer: int = 23,
        half_on_gpu: bool = True,
        extra_layers: Optional[Sequence[int]] = None,
    ):
        super().__init__()
        if isinstance(upstream, nn.Module):  # an already built upstream with S3PRLUpstream's interface
            self.upstream, upstream = upstream, type(upstream).__name__
        else:
            from s3prl.nn import S3PRLUpstream  # heavy import, only when a teacher is built

            try:
                self.upstream = S3PRLUpstream(upstream, path_or_url=path)
            except (AttributeError, KeyError) as e:
                raise ConfigError(f"unknown s3prl upstream '{upstream}': {e}") from e
        n = self.upstream.num_layers
        self.name = upstream
        self.path = path
        self.layer = resolve_layer(layer, n, f"teacher '{upstream}'")
        self.half_on_gpu = half_on_gpu
        self.downsample_rate = int(self.upstream.downsample_rates[self.layer])
        self.feature_dim = int(self.upstream.hidden_sizes[self.layer])
        self.extra_layers: List[int] = sorted(
            {self.resolve(x) for x in (extra_layers or [])} - {self.layer}
        )
        for x in self.extra_layers:
            hop, dim = int(self.upstream.downsample_rates[x]), int(self.upstream.hidden_sizes[x])
            if (hop, dim) != (self.downsample_rate, self.feature_dim):
                raise ConfigError(
                    f"teacher '{upstream}': layer {x} (hop {hop}, dim {dim}) differs from layer {self.layer} "
                    f"(hop {self.downsample_rate}, dim {self.feature_dim}); all aligned layers must match"
                )
        for p in self.upstream.parameters():
            p.requires_grad_(False)
        self._fingerprint = _file_fingerprint(path)
        self.eval()

    def resolve(self, layer: Optional[int]) -> int:
        """A layer as written in a config (``None`` = the configured layer, negative = from the end)."""
        if layer is None:
            return self.layer
        return resolve_layer(layer, int(self.upstream.num_layers), f"teacher '{self.name}'")

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
            **({"extra_layers": list(self.extra_layers)} if self.extra_layers else {}),
        }

    @torch.no_grad()
    def forward(self, wav: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """(B, N) float audio at 16 kHz -> (B, ceil(N / hop), F) float32 features of ``layer``, (B,) lengths."""
        feats, lens = self.features(wav, lengths, [None])
        return feats[None], lens

    @torch.no_grad()
    def features(
        self, wav: torch.Tensor, lengths: Optional[torch.Tensor] = None, layers: Iterable[Optional[int]] = (None,)
    ) -> Tuple[Dict[Optional[int], torch.Tensor], torch.Tensor]:
        """One upstream pass, several layers: ``{layer: (B, ceil(N / hop), F) float32}`` and (B,) lengths.

        ``layers`` are keys as written in a config (``None`` = the configured layer, negative =
        from the end); the returned dict is keyed by them, unchanged. Frames follow the module's
        alignment rule (:func:`num_frames`); ``lengths`` are ``ceil(lengths / hop)``.
        """
        if wav.dim() == 3:
            wav = wav.squeeze(1)
        if lengths is None:
            lengths = torch.full((wav.size(0),), wav.size(1), dtype=torch.long, device=wav.device)
        want = {k: self.resolve(k) for k in layers}
        use_half = self.half_on_gpu and wav.is_cuda
        p0 = next(self.upstream.parameters(), None)
        if use_half and p0 is not None and p0.dtype != torch.float16:
            self.upstream.half()
        x = wav.half() if use_half else wav.float()
        with torch.autocast(device_type=wav.device.type, enabled=False):
            hs, _ = self.upstream(x, lengths)
        n = num_frames(wav.size(1), self.downsample_rate)
        out = {k: fit_frames(hs[r], n).float() for k, r in want.items()}
        lens = torch.div(lengths.long() + self.downsample_rate - 1, self.downsample_rate, rounding_mode="floor")
        return out, lens.clamp(max=n)


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


def cache_layer_scp(cache_dir: str | os.PathLike, layer: Optional[int], info: Dict[str, Any]) -> Optional[Path]:
    """The scp of ``layer`` (config key) in a cache: ``None`` when it is the cache's own layer
    (``feats.scp``, read as ``teacher_feats``), else ``<cache>/feats_l<L>.scp``.

    Raises:
        ConfigError: the cache has no such layer (it names the dump option that adds it).
    """
    if layer is None:
        return None
    r = resolve_layer(layer, int(info.get("num_layers", 0)) or 1 << 30, f"teacher cache {cache_dir}")
    if r == info.get("layer"):
        return None
    if r not in (info.get("extra_layers") or []):
        raise ConfigError(
            f"teacher cache {cache_dir} holds layers {[info.get('layer'), *(info.get('extra_layers') or [])]}, "
            f"not layer {layer}: dump it with dump_teacher --extra_layers {r} (recipe: --teacher_extra_layers {r})"
        )
    return Path(cache_dir) / layer_scp_name(r)


def check_cache_identity(
    cache_dir: str | os.PathLike, teacher_conf: Dict[str, Any], layers: Iterable[Optional[int]] = ()
) -> Dict[str, Any]:
    """Refuse a teacher cache made by another teacher/layer/checkpoint than ``teacher_conf``,
    or lacking one of ``layers`` (config keys of the terms).

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
    for layer in layers:
        cache_layer_scp(cache_dir, layer, info)
    logging.info(f"teacher cache {cache_dir} matches the teacher config ({info['upstream']}, layer {got_layer})")
    return info
