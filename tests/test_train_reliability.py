"""Training survives faults: kill -9 + resume, atomic checkpoints, NaN losses skipped and counted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import CPU_CONF, svae_train_cmd
from espnet_plugin.train.safe_trainer import atomic_save, atomic_torch_save

EPOCHS = ["--max_epoch", "2", "--num_iters_per_epoch", "2", "--seed", "7"]


def _train_proc(cmd, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "espnet_plugin.bin.svae_train", *cmd],
        stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True,
    )


def test_kill9_then_resume_matches_uninterrupted(speech_corpus, tmp_path):
    conf = CPU_CONF / "train_svae_vanilla.yaml"
    a, b = tmp_path / "a", tmp_path / "b"
    pa = _train_proc(svae_train_cmd(conf, speech_corpus, a, extra=EPOCHS), tmp_path / "a.log")
    pb = _train_proc(svae_train_cmd(conf, speech_corpus, b, extra=EPOCHS), tmp_path / "b.log")
    # kill -9 run b in the middle of epoch 2 (epoch 1's checkpoint exists)
    deadline = time.time() + 240
    while not (b / "1epoch.pth").exists():
        assert pb.poll() is None, (tmp_path / "b.log").read_text()[-3000:]
        assert time.time() < deadline, "run b never finished its first epoch"
        time.sleep(0.2)
    os.killpg(pb.pid, signal.SIGKILL)
    pb.wait()
    assert not (b / "2epoch.pth").exists()
    # rerun the same stage: resumes from the last checkpoint
    pb2 = _train_proc(svae_train_cmd(conf, speech_corpus, b, extra=EPOCHS + ["--resume", "true"]), tmp_path / "b2.log")
    assert pb2.wait(timeout=300) == 0, (tmp_path / "b2.log").read_text()[-3000:]
    assert pa.wait(timeout=300) == 0, (tmp_path / "a.log").read_text()[-3000:]
    assert "The training was resumed" in (tmp_path / "b2.log").read_text()
    ca = torch.load(a / "checkpoint.pth", map_location="cpu", weights_only=False)
    cb = torch.load(b / "checkpoint.pth", map_location="cpu", weights_only=False)
    # same number of epochs and optimizer steps
    assert ca["reporter"]["epoch"] == cb["reporter"]["epoch"] == 2
    steps = lambda c: [s["step"] for o in c["optimizers"] for s in o["state"].values() if "step" in s][:1]  # noqa: E731
    assert steps(ca) == steps(cb) and steps(ca)[0] == 4
    assert [s["last_epoch"] for s in ca["schedulers"]] == [s["last_epoch"] for s in cb["schedulers"]]
    # deterministic CPU run: identical weights
    for k, v in ca["model"].items():
        assert torch.allclose(v.float(), cb["model"][k].float(), atol=1e-6), k
    assert not list(b.glob("*.tmp"))


def test_atomic_save_never_leaves_half_written_file(tmp_path):
    target = tmp_path / "checkpoint.pth"
    torch.save({"ok": 1}, target)

    class Boom:
        def __reduce__(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_save({"a": torch.zeros(3), "b": Boom()}, target)
    assert torch.load(target, weights_only=True) == {"ok": 1}  # the previous checkpoint is intact
    with atomic_torch_save():
        torch.save({"new": 2}, target)
    assert torch.load(target, weights_only=True) == {"new": 2}
    assert torch.save.__module__ == "torch.serialization"  # restored


def test_nan_loss_is_skipped_and_counted(speech_corpus, tmp_path, monkeypatch):
    """A NaN in one batch's loss: ESPnet skips that update, training goes on, the step is counted."""
    from espnet_plugin.bin import svae_train
    from espnet_plugin.vae import losses

    calls = {"n": 0}
    orig = losses.MultiResolutionSTFTLoss.forward

    def poisoned(self, x_hat, x):
        calls["n"] += 1
        out = orig(self, x_hat, x)
        return out * float("nan") if calls["n"] == 2 else out  # the 2nd generator step only

    monkeypatch.setattr(losses.MultiResolutionSTFTLoss, "forward", poisoned)
    out = tmp_path / "exp"
    svae_train.main(svae_train_cmd(CPU_CONF / "train_svae_vanilla.yaml", speech_corpus, out,
                                   extra=["--max_epoch", "1", "--num_iters_per_epoch", "3"]))
    state = torch.load(out / "1epoch.pth", map_location="cpu", weights_only=True)
    assert int(state["nonfinite_steps"]) == 1
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    ckpt = torch.load(out / "checkpoint.pth", map_location="cpu", weights_only=False)
    step = [s["step"] for s in ckpt["optimizers"][0]["state"].values()][0]
    assert int(step) == 2  # 3 generator turns, the poisoned one skipped


def test_persistent_nan_stops_with_clear_error():
    from espnet_plugin.tasks.speech_vae import SpeechVAETask

    args = SpeechVAETask.get_parser().parse_args(["--config", str(CPU_CONF / "train_svae_vanilla.yaml"),
                                                  "--model_conf", "max_nonfinite_streak=5"])
    model = SpeechVAETask.build_model(args).train()
    nan = torch.tensor(float("nan"))
    for _ in range(9):
        model._track_nonfinite(nan)
    with pytest.raises(FloatingPointError, match="consecutive steps"):
        model._track_nonfinite(nan)
    model.nonfinite_streak.zero_()
    model._track_nonfinite(torch.tensor(1.0))
    assert int(model.nonfinite_streak) == 0 and int(model.nonfinite_steps) == 10
