"""Kill -9 many times in a row, rerun, and get what an uninterrupted run gets (tests/killharness.py).

Per trainer: one kill at each named point (inside a checkpoint write, between ``checkpoint.pth``
and ``<N>epoch.pth``, in a validation pass, between the generator and discriminator turns), then
kills at seeded-random times uniform over the uninterrupted run's wall time: 10 kills, one rerun.
On CPU the resumed run is bit-exact: same files, same weights, optimizer and scheduler states,
same step counts and logged losses. Batch jobs (teacher dump, latent ark): the rerun's outputs are
identical, and after every kill what is on disk is either absent or complete.
"""

from __future__ import annotations

import os
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch
import yaml

from conftest import CPU_CONF, svae_train_cmd
from killharness import Zygote, kill_resume_sequence

SVAE, TTS, DUMP = "espnet_plugin.bin.svae_train", "espnet_plugin.bin.latent_tts_train", "espnet_plugin.bin.dump_teacher"
# files that legitimately differ between two runs (paths, wall-clock times, plots)
VOLATILE = {"config.yaml", "train.log"}
VOLATILE_DIRS = {"images", "tensorboard", "att_ws"}


@pytest.fixture(scope="module")
def zygote(tmp_path_factory):
    z = Zygote([SVAE, TTS, DUMP], tmp_path_factory.mktemp("zygote") / "zygote.log")
    yield z
    z.close()


def _files(d: Path) -> dict:
    out = {}
    for p in sorted(d.rglob("*")):
        rel = p.relative_to(d)
        if rel.parts[0] in VOLATILE_DIRS or p.name in VOLATILE or p.name.endswith(".log"):
            continue
        if p.is_symlink():
            out[str(rel)] = "-> " + os.readlink(p)
        elif p.is_file():
            out[str(rel)] = p
    return out


def _assert_same(a, b, where: str) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{where}: keys {set(a) ^ set(b)}"
        for k in a:
            if "time" in str(k) or str(k) in ("gpu_max_cached_mem_GB", "rss"):
                continue  # wall-clock / memory figures of the reporter
            _assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b or (a != a and b != b), f"{where}: {a!r} != {b!r}"


def assert_same_experiment(ref: Path, got: Path) -> None:
    """Same file set, same symlinks, every ``.pth`` equal tensor by tensor (checkpoint: optimizers,
    schedulers, reporter stats but wall-clock times), other files byte-equal."""
    fa, fb = _files(ref), _files(got)
    assert set(fa) == set(fb), f"files differ: only in reference {set(fa) - set(fb)}, only in resumed {set(fb) - set(fa)}"
    for rel, pa in fa.items():
        pb = fb[rel]
        if isinstance(pa, str):
            assert pa == pb, rel
        elif rel.endswith(".pth"):
            _assert_same(torch.load(pa, map_location="cpu", weights_only=False),
                         torch.load(pb, map_location="cpu", weights_only=False), rel)
        else:
            assert pa.read_bytes() == pb.read_bytes(), rel


def _steps(ckpt: Path) -> list:
    c = torch.load(ckpt, map_location="cpu", weights_only=False)
    return [int(s["step"]) for o in c["optimizers"] for s in list(o["state"].values())[:1]]


def _no_partial_checkpoint(out: Path):
    def check(_i: int) -> None:
        if (out / "checkpoint.pth").exists():  # a checkpoint that exists loads (atomic writes)
            torch.load(out / "checkpoint.pth", map_location="cpu", weights_only=False)
    return check


# ---------------------------------------------------------------- the speech VAE (GANTrainer)
SVAE_EXTRA = ["--max_epoch", "2", "--num_iters_per_epoch", "1", "--seed", "7"]


def test_svae_trainer_killed_10_times_resumes_bit_exact(zygote, speech_corpus, tmp_path):
    conf = CPU_CONF / "train_svae_vanilla.yaml"
    ref, got = tmp_path / "ref", tmp_path / "got"
    wall = zygote.run(SVAE, svae_train_cmd(conf, speech_corpus, ref, extra=SVAE_EXTRA), tmp_path / "ref.log")
    argv = svae_train_cmd(conf, speech_corpus, got, extra=SVAE_EXTRA + ["--resume", "true"])
    traps = [
        {"target": "os:replace", "arg_endswith": "checkpoint.pth", "nth": 1},  # epoch 1's checkpoint written, not renamed
        {"target": "os:replace", "arg_endswith": "1epoch.pth", "nth": 1},      # checkpoint.pth in place, 1epoch.pth not yet
        {"target": "espnet2.train.gan_trainer:GANTrainer.validate_one_epoch", "nth": 1},  # epoch 2's validation
        {"target": "espnet_plugin.vae.espnet_model:ESPnetSpeechVAEModel._forward_discriminator", "nth": 1},
    ]
    events = kill_resume_sequence(zygote, SVAE, argv, tmp_path / "got.log", wall=wall, seed=17,
                                  n_time_kills=6, traps=traps, after_kill=_no_partial_checkpoint(got))
    assert len(events) == 10
    assert_same_experiment(ref, got)
    assert _steps(ref / "checkpoint.pth") == _steps(got / "checkpoint.pth") == [2, 2]  # generator, discriminator
    assert torch.load(got / "checkpoint.pth", weights_only=False)["reporter"]["epoch"] == 2


# ---------------------------------------------------------------- the latent TTS (Trainer + EMA in forward)
TTS_CONF = dict(
    dit_conf=dict(dim=32, depth=2, heads=2, dim_head=16, text_dim=16, conv_layers=1, latent_dim=8, dropout=0.0),
    cfm_conf=dict(audio_drop_prob=0.3, cond_drop_prob=0.2), model_conf=dict(ema_decay=0.99),
    token_type="char", best_model_criterion=[["valid", "loss", "min"]], keep_nbest_models=1, num_att_plot=0,
    optim="adamw", optim_conf=dict(lr=1e-3), batch_type="sorted", batch_size=2, ngpu=0, num_workers=0, seed=3,
)


def _tts_data(d: Path) -> list:
    from espnet_plugin.tts.text import token_list_from_text

    rng = np.random.default_rng(0)
    with kaldiio.WriteHelper(f"ark,scp:{d}/feats.ark,{d}/feats.scp") as w, open(d / "text", "w") as ft:
        for i in range(6):
            w[f"u{i}"] = (rng.standard_normal((int(rng.integers(30, 60)), 8)) * 2 + 1).astype(np.float32)
            ft.write(f"u{i} " + "".join(rng.choice(list("abcde "), 12)).strip() + "\n")
    token_list_from_text(d / "text", d / "tokens.txt")
    (d / "conf.yaml").write_text(yaml.safe_dump(dict(TTS_CONF, token_list=str(d / "tokens.txt"))))
    data = []
    for split in ("train", "valid"):
        data += [f"--{split}_data_path_and_name_and_type", f"{d}/feats.scp,feats,kaldi_ark",
                 f"--{split}_data_path_and_name_and_type", f"{d}/text,text,text"]
    return data


def test_latent_tts_trainer_killed_10_times_resumes_bit_exact(zygote, tmp_path):
    data = _tts_data(tmp_path)
    zygote.run(TTS, ["--config", tmp_path / "conf.yaml", "--collect_stats", "true",
                     "--output_dir", tmp_path / "stats", *data], tmp_path / "stats.log")

    def argv(out: Path) -> list:
        return ["--config", tmp_path / "conf.yaml", "--output_dir", out, "--max_epoch", "3",
                "--num_iters_per_epoch", "2", "--resume", "true",
                "--normalize", "global_mvn", "--normalize_conf", f"stats_file={tmp_path}/stats/train/feats_stats.npz",
                "--train_shape_file", f"{tmp_path}/stats/train/feats_shape",
                "--valid_shape_file", f"{tmp_path}/stats/valid/feats_shape", *data]

    ref, got = tmp_path / "ref", tmp_path / "got"
    wall = zygote.run(TTS, argv(ref), tmp_path / "ref.log")
    traps = [
        {"target": "os:replace", "arg_endswith": "checkpoint.pth", "nth": 1},
        {"target": "os:replace", "arg_endswith": "1epoch.pth", "nth": 1},
        {"target": "espnet2.train.trainer:Trainer.validate_one_epoch", "nth": 1},
        {"target": "espnet_plugin.tts.ema:EMA.update", "nth": 2},  # mid-epoch, inside a training step
    ]
    events = kill_resume_sequence(zygote, TTS, argv(got), tmp_path / "got.log", wall=wall, seed=23,
                                  n_time_kills=6, traps=traps, after_kill=_no_partial_checkpoint(got))
    assert len(events) == 10
    assert_same_experiment(ref, got)
    assert _steps(ref / "checkpoint.pth") == _steps(got / "checkpoint.pth") == [6]
    state = torch.load(got / "3epoch.pth", map_location="cpu", weights_only=True)
    assert int(state["ema.n_averaged"]) > 1  # the EMA state went through the resumes too


# ---------------------------------------------------------------- batch jobs writing arks
def _read_scp(d: Path, name: str) -> dict:
    return {k: np.asarray(v) for k, v in kaldiio.load_scp(str(d / name)).items()}


def _scp_absent_or_complete(out: Path, names, keys):
    def check(_i: int) -> None:
        for name in names:
            if (out / name).exists():
                feats = _read_scp(out, name)  # every listed entry must load (no truncated ark behind it)
                assert set(feats) == keys, f"{name} lists {len(feats)} of {len(keys)} utterances"
    return check


def test_teacher_dump_killed_and_rerun_writes_identical_cache(zygote, speech_corpus, tmp_path):
    ref, got = tmp_path / "ref", tmp_path / "got"

    def argv(out):
        return ["--wav_scp", speech_corpus / "wav.scp", "--output_dir", out, "--upstream", "fbank",
                "--layer", "0", "--device", "cpu"]

    wall = zygote.run(DUMP, argv(ref), tmp_path / "ref.log")
    zygote.run(DUMP, argv(got), tmp_path / "got.log")  # a complete cache, then reruns killed over it
    keys = set(_read_scp(ref, "feats.scp"))
    traps = [{"target": "kaldiio.highlevel:save_ark", "nth": 4}]  # rewriting the ark: the 4th utterance
    kill_resume_sequence(zygote, DUMP, argv(got), tmp_path / "got.log", wall=wall, seed=5, n_time_kills=3,
                         traps=traps, after_kill=_scp_absent_or_complete(got, ["feats.scp"], keys))
    assert (ref / "teacher_info.json").read_text() == (got / "teacher_info.json").read_text()
    a, b = _read_scp(ref, "feats.scp"), _read_scp(got, "feats.scp")
    assert set(a) == set(b) == keys and all(np.array_equal(a[k], b[k]) for k in keys)
    assert not list(got.glob("*.tmp"))
