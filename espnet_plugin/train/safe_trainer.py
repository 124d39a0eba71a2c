"""ESPnet trainers whose checkpoints survive ``kill -9``.

ESPnet's ``Trainer.run`` writes ``checkpoint.pth``, ``<N>epoch.pth`` and averaged models with plain
``torch.save``: a kill in the middle of a save leaves a truncated file that ``--resume`` then fails
to load. Inside :meth:`run` these trainers route every ``torch.save`` to a path through a temporary
file renamed into place (``os.replace`` is atomic on POSIX), so a file that exists is complete.
Everything else is ESPnet's own code (resume restores model, optimizers, schedulers, AMP scaler and
the reporter; each epoch reseeds with ``seed + epoch``, so a resumed run replays the same batches).

``checkpoint.pth`` is the commit point of an epoch, but ESPnet writes ``<N>epoch.pth``, the
``latest.pth`` / ``*.best.pth`` links and prunes old epochs *after* it: a kill in between left a
resumed run without ``<N>epoch.pth`` (the n-best average then failed or skipped it) and with stale
links. On ``--resume`` :func:`finish_epoch_files` first redoes that bookkeeping from the checkpoint,
so a run killed anywhere and resumed ends with the files of an uninterrupted one (tests/test_kill_resume.py).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from contextlib import contextmanager
from pathlib import Path
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


def check_ranks_in_sync(model: torch.nn.Module, output_dir, distributed: bool) -> None:
    """After DDP training, verify every rank holds the same weights (cheap fingerprint all-gather).

    Writes ``<output_dir>/ddp_sync.json`` on rank 0 (per-rank fingerprints) and raises if they differ.
    ``model.parameters()`` includes frozen ones, e.g. the speech VAE's generator EMA copy.
    """
    if not distributed or not torch.distributed.is_initialized():
        return
    params = [p.detach() for p in model.parameters()]
    # one float64 sum per tensor: equal weights give bit-identical fingerprints
    fp = torch.stack([p.double().sum() for p in params] + [p.double().abs().sum() for p in params])
    gathered = [torch.empty_like(fp) for _ in range(torch.distributed.get_world_size())]
    torch.distributed.all_gather(gathered, fp)
    in_sync = all(torch.equal(gathered[0], g) for g in gathered[1:])
    if torch.distributed.get_rank() == 0:
        out = Path(output_dir) / "ddp_sync.json"
        out.write_text(json.dumps({"in_sync": in_sync, "world_size": len(gathered),
                                   "fingerprints": [float(g.sum()) for g in gathered]}))
    if not in_sync:
        raise RuntimeError("DDP ranks ended with different weights")
    logging.info(f"DDP: the {len(gathered)} ranks hold identical weights")


def check_gan_options(options: Any, distributed: bool) -> None:
    """Refuse GANTrainer options that are unsafe, before any step is taken.

    ESPnet's ``--skip_discriminator_prob`` draws the skip decision on each rank separately (the
    broadcast value is discarded, and it is a CUDA tensor, which gloo rejects): ranks then disagree
    on whether the discriminator turn runs, their collectives no longer pair up and training hangs.

    ``--ngpu > 1`` without distributed training makes ESPnet wrap the model in
    ``torch.nn.DataParallel``, whose per-step replicas drop the model's Python state (the generator
    step count, the generator-output cache of the discriminator turn): use DDP instead.

    Args:
        options: ESPnet's ``TrainerOptions`` (``ngpu``, ``skip_discriminator_prob``).
        distributed: whether ESPnet runs distributed (DDP) training.
    """
    if distributed and getattr(options, "skip_discriminator_prob", 0.0) > 0.0:
        raise ValueError(
            "--skip_discriminator_prob > 0 is not safe with multi-process (DDP) training in ESPnet's "
            "GANTrainer: each rank decides alone, so the ranks deadlock. Use 0 or a single process."
        )
    ngpu = int(getattr(options, "ngpu", 0) or 0)
    if not distributed and ngpu > 1:
        raise ValueError(
            f"--ngpu {ngpu} without distributed training runs torch DataParallel, which loses the model's "
            "per-step state (generator step count, generator-output cache) on its replicas. Use "
            "--multiprocessing_distributed true (one DDP process per GPU), or --ngpu 1."
        )


def finish_epoch_files(output_dir: Path, options: Any) -> None:
    """Redo ESPnet's end-of-epoch file steps (5 and 6 of ``Trainer.run``) for the epoch in ``checkpoint.pth``.

    Writes ``<N>epoch.pth`` (the checkpoint's model state) if missing, points ``latest.pth`` and the
    ``<phase>.<key>.best.pth`` links at their epochs, deletes epoch files outside the n-best (as
    ESPnet does, epochs < N), the n-best average due at N if any, and leftover ``*.tmp`` files of
    killed atomic writes. Idempotent: after a clean epoch end it changes nothing.
    """
    from espnet2.main_funcs.average_nbest_models import average_nbest_models
    from espnet2.train.reporter import Reporter

    output_dir = Path(output_dir)
    for tmp in output_dir.glob("*.tmp"):
        tmp.unlink()
    ckpt = output_dir / "checkpoint.pth"
    if not ckpt.exists():
        return
    states = torch.load(ckpt, map_location="cpu", weights_only=False, mmap=True)
    reporter = Reporter()
    reporter.load_state_dict(states["reporter"])
    n = reporter.get_epoch()
    if n < 1:
        return

    def link(name: str, epoch: int) -> None:
        p = output_dir / name
        if p.is_symlink() and os.readlink(p) == f"{epoch}epoch.pth":
            return
        if p.is_symlink() or p.exists():
            p.unlink()
        p.symlink_to(f"{epoch}epoch.pth")

    if not (output_dir / f"{n}epoch.pth").exists():
        logging.info(f"resume: writing {n}epoch.pth from checkpoint.pth (killed before it was written)")
        atomic_save(states["model"], output_dir / f"{n}epoch.pth")
    link("latest.pth", n)
    criteria = [c for c in options.best_model_criterion if reporter.has(c[0], c[1])]
    for phase, k, mode in criteria:
        best = reporter.get_best_epoch(phase, k, mode)
        if (output_dir / f"{best}epoch.pth").exists():
            link(f"{phase}.{k}.best.pth", best)
    keep = options.keep_nbest_models
    keep = [keep] if isinstance(keep, int) else (list(keep) or [1])
    nbests = set().union(*[set(reporter.sort_epochs(ph, k, m)[: max(keep)]) for ph, k, m in criteria])
    interval = getattr(options, "nbest_averaging_interval", 0)
    if interval > 0 and n % interval == 0:
        with atomic_torch_save():
            average_nbest_models(reporter=reporter, output_dir=output_dir,
                                 best_model_criterion=options.best_model_criterion, nbest=keep,
                                 suffix=f"till{n}epoch")
    for e in range(1, n):
        p = output_dir / f"{e}epoch.pth"
        if p.exists() and e not in nbests:
            p.unlink()


def _run(parent, cls, kwargs):
    options = kwargs["trainer_options"]
    if issubclass(cls, GANTrainer):
        check_gan_options(options, kwargs["distributed_option"].distributed)
    dist = kwargs["distributed_option"]
    if options.resume and (not dist.distributed or dist.dist_rank == 0):
        finish_epoch_files(options.output_dir, options)
    with atomic_torch_save():
        result = super(parent, cls).run(**kwargs)
    model = kwargs["model"]
    check_ranks_in_sync(model, kwargs["trainer_options"].output_dir, kwargs["distributed_option"].distributed)
    return result


class SafeTrainer(Trainer):
    """ESPnet's ``Trainer`` with atomic checkpoint writes and a DDP in-sync check at the end."""

    @classmethod
    def run(cls, **kwargs):
        return _run(SafeTrainer, cls, kwargs)


class SafeGANTrainer(GANTrainer):
    """ESPnet's ``GANTrainer`` with atomic checkpoint writes and a DDP in-sync check at the end."""

    @classmethod
    def run(cls, **kwargs):
        return _run(SafeGANTrainer, cls, kwargs)
