"""ESPnet trainers whose checkpoints survive ``kill -9``.

ESPnet's ``Trainer.run`` writes ``checkpoint.pth``, ``<N>epoch.pth`` and averaged models with plain
``torch.save``: a kill in the middle of a save leaves a truncated file that ``--resume`` then fails
to load. Inside :meth:`run` these trainers route every ``torch.save`` to a path through a temporary
file renamed into place (``os.replace`` is atomic on POSIX), so a file that exists is complete.
Everything else is ESPnet's own code (resume restores model, optimizers, schedulers, AMP scaler and
the reporter; each epoch reseeds with ``seed + epoch``, so a resumed run replays the same batches).
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Any, Iterator

import torch

from espnet2.train.gan_trainer import GANTrainer
from espnet2.train.trainer import Trainer

_lock = threading.Lock()


def atomic_save(obj: Any, f: Any, *args: Any, _save=torch.save, **kwargs: Any) -> None:
    """``torch.save`` that writes ``<f>.tmp`` then renames it to ``f`` (paths only; streams pass through)."""
    if isinstance(f, (str, os.PathLike)):
        tmp = f"{os.fspath(f)}.tmp"
        _save(obj, tmp, *args, **kwargs)
        os.replace(tmp, f)
    else:
        _save(obj, f, *args, **kwargs)


@contextmanager
def atomic_torch_save() -> Iterator[None]:
    """Within the block, ``torch.save`` is :func:`atomic_save`."""
    with _lock:
        orig = torch.save
        torch.save = lambda obj, f, *a, **kw: atomic_save(obj, f, *a, _save=orig, **kw)
    try:
        yield
    finally:
        with _lock:
            torch.save = orig


class SafeTrainer(Trainer):
    """ESPnet's ``Trainer`` with atomic checkpoint writes."""

    @classmethod
    def run(cls, *args, **kwargs):
        with atomic_torch_save():
            return super().run(*args, **kwargs)


class SafeGANTrainer(GANTrainer):
    """ESPnet's ``GANTrainer`` with atomic checkpoint writes."""

    @classmethod
    def run(cls, *args, **kwargs):
        with atomic_torch_save():
            return super().run(*args, **kwargs)
