"""Multi-process training through ESPnet's DDP path, proven on CPU with the gloo backend."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from conftest import CPU_CONF, svae_train_cmd


def test_two_gloo_ranks_end_with_identical_weights(speech_corpus, fbank_cache, tmp_path):
    out = tmp_path / "exp"
    init = f"file://{tmp_path / 'dist_init'}"
    procs = []
    for rank in range(2):
        cmd = svae_train_cmd(
            CPU_CONF / "train_svae_jmas.yaml", speech_corpus, out, fbank_cache,
            extra=["--max_epoch", "1", "--num_iters_per_epoch", "3", "--batch_size", "4",
                   "--multiprocessing_distributed", "false", "--dist_backend", "gloo",
                   "--dist_world_size", "2", "--dist_rank", str(rank), "--dist_init_method", init],
        )
        log = open(tmp_path / f"rank{rank}.log", "w")
        procs.append(subprocess.Popen([sys.executable, "-m", "espnet_plugin.bin.svae_train", *cmd],
                                      stdout=log, stderr=subprocess.STDOUT))
    for rank, p in enumerate(procs):
        assert p.wait(timeout=600) == 0, (tmp_path / f"rank{rank}.log").read_text()[-4000:]
    # the trainer all-gathers per-tensor fingerprints of every rank's weights at the end
    sync = json.loads((out / "ddp_sync.json").read_text())
    assert sync["world_size"] == 2 and sync["in_sync"], sync
    assert "identical weights" in (tmp_path / "rank0.log").read_text()
    ckpt = torch.load(out / "checkpoint.pth", map_location="cpu", weights_only=False)
    assert [s["step"] for s in ckpt["optimizers"][0]["state"].values()][0] == 3
    # the fingerprints cover the generator EMA (frozen parameters), updated once per generator step
    assert int(ckpt["model"]["generator_ema.n_averaged"]) == 3 + 1  # AveragedModel counts the initial copy


def _run_workers(tmp_path, config: str, train_counts: str, valid_counts: str, *extra: str) -> list[dict]:
    init = f"file://{tmp_path / 'dist_init'}"
    worker = Path(__file__).with_name("ddp_worker.py")
    procs, logs = [], []
    for rank in range(2):
        logs.append(tmp_path / f"worker{rank}.log")
        procs.append(subprocess.Popen(
            [sys.executable, str(worker), str(rank), "2", init, str(tmp_path), str(CPU_CONF / config),
             train_counts, valid_counts, *extra],
            stdout=open(logs[-1], "w"), stderr=subprocess.STDOUT))
    try:
        for p, log in zip(procs, logs):
            assert p.wait(timeout=300) == 0, log.read_text()[-4000:]
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
        pytest.fail("DDP ranks deadlocked:\n" + "\n".join(log.read_text()[-2000:] for log in logs))
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]


def test_unequal_batch_counts_per_rank_do_not_deadlock(tmp_path):
    # rank 0 has 2 training batches and rank 1 has 4; in validation rank 0 has 3 and rank 1 has 1
    ranks = _run_workers(tmp_path, "train_svae_jmas.yaml", "2,4", "3,1")
    # every rank stops at the shortest rank's count (ESPnet's iterator-stop all-reduce) ...
    assert [r["optimizer_steps"] for r in ranks] == [[2, 2], [2, 2]]
    # ... and ends with the same weights
    assert json.loads((tmp_path / "ddp_sync.json").read_text())["in_sync"]
    # the generator EMA: one update per generator step, bit-identical on both ranks
    assert [r["ema_updates"] for r in ranks] == [2, 2] and all(r["ema_differs"] for r in ranks)
    assert ranks[0]["ema_sums"] == ranks[1]["ema_sums"]


def test_nan_loss_on_one_rank_is_skipped_and_counted_on_every_rank(tmp_path):
    # rank 1's second batch holds a NaN: the all-reduced gradient is NaN on both ranks, so both
    # skip that update of both optimizers, and both count it (the stop decision must agree)
    ranks = _run_workers(tmp_path, "train_svae_vanilla.yaml", "3,3", "1,1", "1:2")
    assert [r["optimizer_steps"] for r in ranks] == [[2, 2], [2, 2]]
    assert [r["nonfinite_steps"] for r in ranks] == [1, 1]
    assert json.loads((tmp_path / "ddp_sync.json").read_text())["in_sync"]
    # the skipped step is not folded into the EMA either, on both ranks alike
    assert [r["ema_updates"] for r in ranks] == [2, 2] and ranks[0]["ema_sums"] == ranks[1]["ema_sums"]


def test_skip_discriminator_prob_is_refused_under_ddp():
    from espnet_plugin.train.safe_trainer import check_gan_options

    check_gan_options(SimpleNamespace(skip_discriminator_prob=0.3), distributed=False)
    check_gan_options(SimpleNamespace(skip_discriminator_prob=0.0), distributed=True)
    with pytest.raises(ValueError, match="skip_discriminator_prob"):
        check_gan_options(SimpleNamespace(skip_discriminator_prob=0.3), distributed=True)


def test_data_parallel_is_refused():
    """--ngpu > 1 without DDP (ESPnet's DataParallel) is refused, pointing at DDP."""
    from espnet_plugin.train.safe_trainer import check_gan_options

    check_gan_options(SimpleNamespace(skip_discriminator_prob=0.0, ngpu=1), distributed=False)
    check_gan_options(SimpleNamespace(skip_discriminator_prob=0.0, ngpu=0), distributed=False)
    check_gan_options(SimpleNamespace(skip_discriminator_prob=0.0, ngpu=2), distributed=True)
    with pytest.raises(ValueError, match="--multiprocessing_distributed true"):
        check_gan_options(SimpleNamespace(skip_discriminator_prob=0.0, ngpu=2), distributed=False)


_DRIFT = """
import json, sys, torch
from espnet_plugin.train.safe_trainer import check_ranks_in_sync
rank, init, out, drift = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
torch.distributed.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
torch.manual_seed(0)
model = torch.nn.Linear(4, 3)
with torch.no_grad():
    model.weight[0, 0] += drift * rank
try:
    check_ranks_in_sync(model, out, distributed=True)
    print("IN SYNC")
except RuntimeError as exc:
    print("ERROR", exc)
"""


def _drift_run(tmp_path, drift: float) -> list[str]:
    init = f"file://{tmp_path / f'init{drift}'}"
    procs = [subprocess.Popen([sys.executable, "-c", _DRIFT, str(r), init, str(tmp_path), str(drift)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for r in range(2)]
    return [p.communicate(timeout=120)[0] for p in procs]


def test_in_sync_check_catches_a_single_drifting_weight(tmp_path):
    assert all("IN SYNC" in out for out in _drift_run(tmp_path, 0.0))
    # one weight on one rank off by 1e-6: both ranks raise
    outs = _drift_run(tmp_path, 1e-6)
    assert all("ERROR DDP ranks ended with different weights" in out for out in outs), outs
    assert json.loads((tmp_path / "ddp_sync.json").read_text())["in_sync"] is False


def test_chunk_iterators_are_refused_with_a_clear_error(speech_corpus):
    # ESPnet's chunk iterator splits utterances (not batches) across ranks, so ranks get unequal
    # batch counts; it also fails under numpy >= 2.3. The task crops segments itself and refuses it.
    from espnet2.train.distributed_utils import DistributedOption

    from espnet_plugin.errors import ConfigError
    from espnet_plugin.tasks.speech_vae import SpeechVAETask

    cmd = svae_train_cmd(CPU_CONF / "train_svae_vanilla.yaml", speech_corpus, "unused",
                         extra=["--iterator_type", "chunk", "--chunk_length", "2000"])
    args = SpeechVAETask.get_parser().parse_args(cmd)
    with pytest.raises(ConfigError, match="iterator_type chunk"):
        SpeechVAETask.build_iter_factory(args, DistributedOption(), "train")
