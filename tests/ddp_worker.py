"""One rank of a 2-process gloo run of ESPnet's GANTrainer epoch loops with per-rank batch lists.

ESPnet's own samplers give every rank the same number of batches, but chunk iterators (and data
sharded per rank) do not: this worker feeds each rank a different number of batches, optionally with
a NaN batch on one rank, runs one training and one validation epoch of ``SafeGANTrainer`` on the
DDP-wrapped speech VAE, and writes what it saw to ``<out>/rank<r>.json``.

    python tests/ddp_worker.py RANK WORLD INIT_METHOD OUT_DIR CONFIG TRAIN_COUNTS VALID_COUNTS [NAN_AT]

``TRAIN_COUNTS``/``VALID_COUNTS`` are comma lists (one count per rank); ``NAN_AT`` is ``rank:iter``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

TINY = [
    "--segment_size", "4000", "--batch_size", "2", "--encoder_conf", "d_model=4",
    "--decoder_conf", "dim=32", "--decoder_conf", "intermediate_dim=64", "--decoder_conf", "num_layers=1",
    "--discriminator_conf", "periods=[2,3]", "--discriminator_conf", "mrd_conf={fft_sizes: [256], channels: 4}",
    "--model_conf", "stft_loss_conf={fft_sizes: [512, 128, 32], perceptual_weighting: true}",
]


TEACHER_DIM = 16


def batches(n: int, seed: int, nan_iter: int | None):
    """``n`` batches of 2 random 0.25 s clips with 50 Hz teacher features (as a cache would give)."""
    g = torch.Generator().manual_seed(seed)
    for i in range(1, n + 1):
        audio = 0.1 * torch.randn(2, 4000, generator=g)
        if i == nan_iter:
            audio[0, 100] = float("nan")
        feats = torch.randn(2, 12, TEACHER_DIM, generator=g)
        yield [f"r{seed}_{i}_a", f"r{seed}_{i}_b"], {
            "audio": audio, "audio_lengths": torch.tensor([4000, 4000]),
            "teacher_feats": feats, "teacher_feats_lengths": torch.tensor([12, 12])}


def main(argv: list[str]) -> None:
    rank, world, init, out, config = int(argv[0]), int(argv[1]), argv[2], Path(argv[3]), argv[4]
    n_train = int(argv[5].split(",")[rank])
    n_valid = int(argv[6].split(",")[rank])
    nan_rank, nan_iter = (int(x) for x in argv[7].split(":")) if len(argv) > 7 else (-1, -1)
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", init_method=init, rank=rank, world_size=world)

    from espnet2.train.distributed_utils import DistributedOption
    from espnet2.train.reporter import Reporter
    from espnet_plugin.tasks.speech_vae import SpeechVAETask
    from espnet_plugin.train.safe_trainer import SafeGANTrainer, check_ranks_in_sync

    args = SpeechVAETask.get_parser().parse_args(
        ["--config", config, "--output_dir", str(out), "--ngpu", "0", *TINY,
         "--distill_conf", f"teacher_dim={TEACHER_DIM}"])
    torch.manual_seed(0)  # same initial weights on every rank (as ESPnet's seed does)
    model = SpeechVAETask.build_model(args)
    ddp = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
    optimizers = SpeechVAETask.build_optimizers(args, model)
    options = SafeGANTrainer.build_options(args)
    dist = DistributedOption(distributed=True, dist_backend="gloo", dist_world_size=world, dist_rank=rank)
    reporter = Reporter()
    reporter.set_epoch(1)
    t0 = time.perf_counter()
    with reporter.observe("train") as sub:
        SafeGANTrainer.train_one_epoch(
            model=ddp, iterator=batches(n_train, rank, nan_iter if rank == nan_rank else None),
            optimizers=optimizers, schedulers=[None, None], scaler=None, reporter=sub,
            summary_writer=None, options=options, distributed_option=dist)
    with reporter.observe("valid") as sub:
        SafeGANTrainer.validate_one_epoch(
            model=ddp, iterator=batches(n_valid, 100 + rank, None), reporter=sub,
            options=options, distributed_option=dist)
    check_ranks_in_sync(model, out, distributed=True)
    steps = [next(iter(o.state.values()), {}).get("step", torch.tensor(0)) for o in optimizers]
    ema = model.generator_ema
    (out / f"rank{rank}.json").write_text(json.dumps({
        "optimizer_steps": [int(s) for s in steps],
        # the generator EMA (if the config has one): update count, per-tensor float64 sums, and
        # whether it differs from the trained weights (it averages, it is not a copy)
        "ema_updates": int(ema.num_updates) if ema is not None else None,
        "ema_sums": [float(p.double().sum()) for p in ema.parameters()] if ema is not None else None,
        "ema_differs": any(not torch.equal(a, b) for a, b in zip(ema.module.parameters(), model.generator.parameters()))
        if ema is not None else None,
        "nonfinite_steps": int(model.nonfinite_steps),
        "seconds": time.perf_counter() - t0,
    }))
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1:])
