"""Multi-process training through ESPnet's DDP path, proven on CPU with the gloo backend."""

from __future__ import annotations

import json
import subprocess
import sys

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
