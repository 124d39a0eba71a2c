"""Per-utterance initial noise of the TTS sampler, independent of batching.

Each test utterance gets its own noise seed, derived from the run seed and its utterance id:

    seed_u = int.from_bytes(SHA-256(UTF-8(f"{seed}/{utt_id}"))[:8], "little") mod 2^63

(a stable hash: the same on every machine and Python process, unlike the salted built-in
``hash()``). The noise of an utterance of ``n`` frames is then

    x0_u = randn(n, D) from a CPU ``torch.Generator`` seeded with seed_u,

drawn on the CPU whatever the device, so it does not depend on the batch the utterance is in,
its position there, the padded length of the batch, or the device. One seed for every
utterance would give every test sentence the same noise and correlate their errors.
"""
from __future__ import annotations

import hashlib
from typing import Sequence

import torch


def utterance_seed(seed: int, utt_id: str) -> int:
    """The noise seed of utterance ``utt_id`` in a run seeded with ``seed`` (formula above), in [0, 2^63)."""
    digest = hashlib.sha256(f"{int(seed)}/{utt_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def seeded_noise(
    seeds: Sequence[int], lengths: Sequence[int], max_len: int, dim: int, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Initial noise (B, max_len, dim) on the CPU: row b = ``randn(lengths[b], dim)`` from a
    generator seeded with ``seeds[b]``, zeros after ``lengths[b]``."""
    if len(seeds) != len(lengths):
        raise ValueError(f"{len(seeds)} noise seeds for {len(lengths)} utterances")
    noise = torch.zeros(len(seeds), max_len, dim, dtype=dtype)
    for i, (s, n) in enumerate(zip(seeds, lengths)):
        g = torch.Generator().manual_seed(int(s))
        noise[i, : int(n)] = torch.randn(int(n), dim, generator=g, dtype=dtype)
    return noise
