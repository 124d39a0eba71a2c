"""Speaker-identification probe of frozen frame features (latents, fbank, teacher features).

Per utterance, frames ``x (T, D)`` are pooled to ``[mean_t x ; std_t x]`` (2D,) (or the mean only),
features are standardised with the training split's per-dimension mean/std, and a linear
classifier ``W f + b`` is trained with Adam on the full batch (seeded) to minimise the
cross-entropy ``-mean_i log softmax(W f_i + b)[y_i]`` (+ ``weight_decay * ||W||^2`` via Adam's
L2 term). Accuracy ``100 * mean(argmax == y)`` is measured on held-out utterances of the
SAME (training) speakers: each speaker's utterances are split deterministically
(:func:`split_per_speaker`, e.g. 80/20); speakers with a single utterance only train.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from espnet_plugin.errors import DataError
from espnet_plugin.io.kaldi_dir import utt2spk_to_spk2utt


def pool_utterance(x: np.ndarray, with_std: bool = True) -> np.ndarray:
    """``(T, D)`` frames -> ``(2D,)`` ``[mean ; std]`` (population std) or ``(D,)`` mean, float32.

    Raises:
        DataError: not a 2-D array or no frames.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise DataError(f"expected (T, D) frames with T > 0, got shape {x.shape}")
    mean = x.mean(axis=0)
    if not with_std:
        return mean.astype(np.float32)
    return np.concatenate([mean, x.std(axis=0)]).astype(np.float32)


def _rank(key: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def split_per_speaker(
    utt2spk: Mapping[str, str], heldout: float = 0.2, seed: int = 0
) -> Tuple[List[str], List[str]]:
    """Deterministic per-speaker split of utterances into (train, test), both sorted.

    For a speaker with ``n >= 2`` utterances, ``max(1, round(heldout * n))`` of them (at most
    ``n - 1``) go to test, chosen by a seeded hash of the utterance id (independent of dict order);
    a speaker with one utterance contributes it to train only.
    """
    if not 0.0 < heldout < 1.0:
        raise ValueError(f"heldout must be in (0, 1), got {heldout}")
    train, test = [], []
    for spk_utts in utt2spk_to_spk2utt(utt2spk).values():  # speakers sorted
        utts = sorted(spk_utts, key=lambda u: _rank(u, seed))
        n = len(utts)
        k = 0 if n < 2 else min(n - 1, max(1, int(round(heldout * n))))
        test += utts[:k]
        train += utts[k:]
    return sorted(train), sorted(test)


@dataclass
class LinearProbe:
    """A trained linear classifier on standardised features.

    Attributes:
        weight: (C, F); bias: (C,); mean, std: (F,) standardisation of the inputs; classes: labels.
    """

    weight: torch.Tensor
    bias: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    classes: List[str]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, F)`` features -> ``(N, C)`` logits ``((x - mean) / std) W^T + b``."""
        x = (x.to(self.weight) - self.mean) / self.std
        return x @ self.weight.t() + self.bias

    def predict(self, x: torch.Tensor) -> List[str]:
        """``(N, F)`` -> N predicted labels."""
        idx = self.logits(x).argmax(dim=-1).tolist()
        return [self.classes[i] for i in idx]


def train_linear_probe(
    x: torch.Tensor,
    labels: Sequence[str],
    steps: int = 300,
    lr: float = 1e-2,
    weight_decay: float = 1e-4,
    seed: int = 0,
) -> LinearProbe:
    """Fit a linear classifier on ``x (N, F)`` with string ``labels`` (full-batch Adam, seeded).

    Loss: ``CE(W x_std + b, y) `` with Adam's L2 ``weight_decay``; ``x_std = (x - mean) / (std + 1e-5)``
    with the training set's statistics. Returns a :class:`LinearProbe`.
    """
    if x.dim() != 2 or x.size(0) != len(labels) or x.size(0) == 0:
        raise DataError(f"features {tuple(x.shape)} do not match {len(labels)} labels")
    classes = sorted(set(labels))
    index = {c: i for i, c in enumerate(classes)}
    y = torch.tensor([index[c] for c in labels], device=x.device)
    x = x.float()
    mean = x.mean(dim=0)
    std = x.std(dim=0, unbiased=False) + 1e-5
    xs = (x - mean) / std
    gen = torch.Generator().manual_seed(seed)
    bound = 1.0 / math.sqrt(x.size(1))
    w = ((torch.rand(len(classes), x.size(1), generator=gen) * 2 - 1) * bound).to(x.device).requires_grad_(True)
    b = torch.zeros(len(classes), device=x.device, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=lr, weight_decay=weight_decay)
    for _ in range(int(steps)):
        opt.zero_grad()
        loss = F.cross_entropy(xs @ w.t() + b, y)
        loss.backward()
        opt.step()
    return LinearProbe(weight=w.detach(), bias=b.detach(), mean=mean, std=std, classes=classes)


def run_sid_probe(
    feats: Mapping[str, np.ndarray],
    utt2spk: Mapping[str, str],
    heldout: float = 0.2,
    with_std: bool = True,
    steps: int = 300,
    lr: float = 1e-2,
    weight_decay: float = 1e-4,
    seed: int = 0,
) -> Dict[str, object]:
    """Pool, split per speaker, train, and score the held-out utterances.

    Args:
        feats: utterance -> frames ``(T, D)`` (already pooled ``(F,)`` vectors are used as they are).
        utt2spk: utterance -> speaker; utterances without features are an error.

    Returns:
        ``{"sid_acc": % on held-out utts, "chance": 100 / #speakers, "n_train", "n_test",
        "n_speakers", "heldout", "seed", "steps", "per_utt": {utt: 1 if right else 0}}``.

    Raises:
        DataError: an utterance of ``utt2spk`` without features, fewer than 2 speakers, or no
            held-out utterance (every speaker has a single utterance).
    """
    from espnet_plugin.metrics.understanding import speaker_id_accuracy

    missing = [u for u in utt2spk if u not in feats]
    if missing:
        raise DataError(f"no features for {len(missing)} utterance(s) of utt2spk, e.g. {missing[:3]}")
    speakers = sorted(set(utt2spk.values()))
    if len(speakers) < 2:
        raise DataError(f"speaker-id probe needs at least 2 speakers, got {speakers}")
    train, test = split_per_speaker(utt2spk, heldout=heldout, seed=seed)
    if not test:
        raise DataError("speaker-id probe: no held-out utterance (every speaker has one utterance)")

    def pooled(utts: Sequence[str]) -> torch.Tensor:
        rows = [np.asarray(feats[u]) for u in utts]
        rows = [r if r.ndim == 1 else pool_utterance(r, with_std) for r in rows]
        dims = {r.shape for r in rows}
        if len(dims) != 1:
            raise DataError(f"utterance features differ in dimension: {sorted(dims)}")
        return torch.from_numpy(np.stack(rows).astype(np.float32))

    probe = train_linear_probe(pooled(train), [utt2spk[u] for u in train], steps=steps, lr=lr,
                               weight_decay=weight_decay, seed=seed)
    preds = probe.predict(pooled(test))
    acc = speaker_id_accuracy([utt2spk[u] for u in test], preds)
    return {
        "sid_acc": acc,
        "chance": 100.0 / len(speakers),
        "n_train": len(train),
        "n_test": len(test),
        "n_speakers": len(speakers),
        "heldout": heldout,
        "seed": seed,
        "steps": int(steps),
        "per_utt": {u: int(utt2spk[u] == p) for u, p in zip(test, preds)},
    }


def read_feats_scp(scp: str, keys: Optional[Sequence[str]] = None) -> Dict[str, np.ndarray]:
    """Read a kaldiio ``feats.scp``/``latents.scp`` ((T, D) float matrices), optionally a subset."""
    import kaldiio

    try:
        reader = kaldiio.load_scp(scp)
    except OSError as exc:
        raise DataError(f"cannot read {scp}: {exc}") from exc
    wanted = list(reader.keys()) if keys is None else list(keys)
    out = {}
    for k in wanted:
        if k not in reader:
            continue
        try:
            out[k] = np.asarray(reader[k], dtype=np.float32)
        except Exception as exc:  # corrupt ark entry: name it
            raise DataError(f"{scp}: cannot read the features of {k!r}: {exc}") from exc
    return out
