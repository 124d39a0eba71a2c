"""A micro run of every recipe stage (1-22) on a handful of synthetic utterances, through run.sh.

Then: rerunning finished stages changes nothing, and ``--stage`` resumes in the middle.
This is the embedded recipe (egs2/synth/svae1) with tiny sizes passed as options; it takes a few
minutes on 2 CPU cores.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import background

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "egs2" / "synth" / "svae1"

TINY_TEACHER = """\
encoder: torchaudio_hubert
model: torchaudio
num_classes: 8
encoder_conf:
    extractor_mode: group_norm
    extractor_conv_layer_config: [[16, 10, 5], [16, 3, 2], [16, 3, 2], [16, 3, 2], [16, 3, 2], [16, 2, 2], [16, 2, 2]]
    encoder_embed_dim: 32
    encoder_projection_dropout: 0.0
    encoder_pos_conv_kernel: 16
    encoder_pos_conv_groups: 4
    encoder_num_layers: 2
    encoder_num_heads: 2
    encoder_attention_dropout: 0.0
    encoder_ff_interm_features: 64
    encoder_dropout: 0.0
    encoder_layer_drop: 0.0
    final_dim: 16
    mask_prob: 0.65
    mask_length: 5
frontend: null
input_size: 1
normalize: null
token_type: word
optim: adam
optim_conf: {lr: 0.001}
batch_type: unsorted
batch_size: 4
max_epoch: 1
num_iters_per_epoch: 3
num_workers: 0
best_model_criterion: [[valid, loss, min]]
keep_nbest_models: 1
"""


def _make_recipe(tmp: Path, recipe: Path = RECIPE) -> Path:
    """A recipe dir like ``recipe`` (absolute links to the template, utils, conf and local)."""
    r = tmp / "svae1"
    r.mkdir()
    for name in ("svae.sh", "utils", "conf"):
        (r / name).symlink_to((recipe / name).resolve())
    for name in ("run.sh", "cmd.sh", "db.sh"):
        shutil.copy(recipe / name, r / name)
    (r / "path.sh").write_text(f". {ROOT}/local/env.sh\nexport LC_ALL=C.UTF-8\n")
    (r / "local").symlink_to((recipe / "local").resolve())
    (tmp / "teacher.yaml").write_text(TINY_TEACHER)
    return r


def _run(recipe: Path, *args: str, log: Path) -> str:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    with open(log, "w") as f:
        p = subprocess.run(["./run.sh", *args], cwd=recipe, stdout=f, stderr=subprocess.STDOUT, env=env, timeout=900)
    text = log.read_text()
    assert p.returncode == 0, text[-6000:]
    # the probe baselines and each (config, seed) run side by side, each logging to exp/logs/<job>.log
    return text + "".join(p.read_text() for p in sorted((recipe / "exp" / "logs").glob("*.log")))


def _snapshot(recipe: Path) -> dict[str, float]:
    """mtime of every product (logs and tensorboard events excluded)."""
    out = {}
    for top in ("data", "dump", "exp"):
        for p in (recipe / top).rglob("*"):
            if p.is_file() and not p.name.endswith(".log") and "tensorboard" not in p.parts:
                out[str(p.relative_to(recipe))] = p.stat().st_mtime_ns
    return out


def _micro_run(tmp_path_factory, nice: int) -> background.BackgroundRun:
    tmp = tmp_path_factory.mktemp("recipe")
    recipe = _make_recipe(tmp)
    opts = [
        "--local_data_opts", "--num_utts 36 --num_voices 6 --num_test_speakers 2 --dev_utts_per_speaker 1",
        "--teacher_config", str(tmp / "teacher.yaml"), "--teacher_clusters", "8",
        "--svae_configs", "cpu/jmas", "--svae_seeds", "1 2",
        "--svae_args", "--max_epoch 1 --num_iters_per_epoch 2 --batch_size 2 --segment_size 4000",
        "--tts_config", "conf/tts/train_f5_tiny_cpu.yaml", "--tts_args", "--max_epoch 1 --batch_size 4",
        "--tts_max_pairs", "2", "--tts_inference_args", "--nfe 4",
        "--probe_config", "conf/probe/train_probe_cpu.yaml", "--probe_args", "--max_epoch 1",
        "--probe_baselines", "fbank teacher judge", "--probe_judge", "judge", "--judge_args", "--max_epoch 1",
        "--eval_max_utts", "3", "--metrics", "pesq,stoi,mel_distance",
        "--stop_stage", "22",
    ]
    return background.BackgroundRun(recipe, opts, tmp / "first.log", nice=nice, tmp=tmp)


def start_in_background(request) -> None:
    """Called by conftest at the session's start: the first run goes on while other tests run."""
    background.RUNS["micro"] = _micro_run(request.getfixturevalue("tmp_path_factory"), background.NICE)


@pytest.fixture(scope="module")
def micro(tmp_path_factory):
    run = background.take("micro") or _micro_run(tmp_path_factory, nice=0)
    first = run.finish()
    return run.recipe, run.args, first, run.info["tmp"]


def test_every_stage_runs_and_summarises(micro):
    recipe, _, log, _ = micro
    for n in range(1, 23):
        assert f"Stage {n}/23" in log, f"stage {n} did not run"
    assert "Successfully finished" in log
    data = recipe / "data"
    assert {"train", "dev", "test"} <= {p.name for p in data.iterdir() if p.is_dir()}
    # speaker-disjoint test split
    spk = lambda s: {ln.split()[1] for ln in (data / s / "utt2spk").read_text().splitlines()}  # noqa: E731
    assert not spk("test") & spk("train")
    for tag in ("jmas_seed1", "jmas_seed2"):
        exp = recipe / "exp" / f"svae_{tag}"
        assert (exp / "config.yaml").is_file() and (exp / "packed" / "model.pth.sha256").is_file()
        assert (exp / "decode_valid.mrstft_loss.ave_test" / "scores" / "metrics.json").is_file()
        assert (exp / "latents" / "train" / "latents.scp").is_file()
        assert "seed: " + tag[-1] in (exp / "config.yaml").read_text()
    # the teacher probe and the judge (Fbank + SpecAugment, its own config) beside the Fbank probe
    assert (recipe / "exp" / "probe_teacher_hubert_tiny" / "scores" / "metrics.json").is_file()
    judge_cfg = (recipe / "exp" / "probe_judge" / "config.yaml").read_text()
    assert "specaug: specaug" in judge_cfg and "max_epoch: 1" in judge_cfg
    # the latent TTS of the first seed only; its speech judged by the judge probe
    gen = recipe / "exp" / "tts_jmas_seed1" / "gen_test" / "scores" / "metrics.json"
    assert gen.is_file() and '"asr_judge": "probe"' in gen.read_text()
    assert not (recipe / "exp" / "tts_jmas_seed2").exists()
    # the two side-by-side jobs logged apart
    assert {"probe_fbank.log", "jmas_seed1.log", "jmas_seed2.log"} <= {p.name for p in (recipe / "exp" / "logs").iterdir()}
    summary = recipe / "exp" / "summary"
    for f in ("table.md", "table.csv", "axes.png", "curves.png", "stats.json"):
        assert (summary / f).is_file(), f
    table = (summary / "table.md").read_text()
    assert "SMOKE RUN" in table.splitlines()[0]
    main_table = table.split("\n\n")[1]     # after the smoke-run line; sections follow
    rows = [ln.split("|")[1].strip() for ln in main_table.splitlines() if ln.startswith("| ")]
    assert rows[1:3] == ["ground_truth", "fbank"] and "jmas" in rows    # seeds averaged into one row
    assert rows.count("jmas") == 1 and "judge" in rows and "teacher_hubert_tiny" in rows
    gt = next(ln for ln in table.splitlines() if ln.startswith("| ground_truth"))
    assert "1.000 [1.000, 1.000]" in gt     # STOI of the audio against itself, with its interval
    jm = next(ln for ln in table.splitlines() if ln.startswith("| jmas"))
    assert "2 seeds" in jm and jm.count("[") >= 5
    assert "### Latents over time" in table and "### Paired comparison" not in table   # no vanilla row here


def test_rerun_changes_nothing(micro):
    recipe, opts, _, tmp = micro
    before = _snapshot(recipe)
    # the default stop stage: everything, and the run ends (the demo server is not started unasked)
    log = _run(recipe, *opts[:-2], log=tmp / "rerun.log")
    assert "Stage 23 (Gradio demo) not started" in log and "Successfully finished" in log
    after = _snapshot(recipe)
    changed = [k for k in before if after.get(k) != before[k]]
    # the summary is recomputed from the (unchanged) metrics files each time; everything else is kept
    changed = [k for k in changed if not k.startswith("exp/summary")]
    assert not changed, changed[:10]
    assert set(after) - set(before) <= {k for k in after if k.startswith("exp/summary")}
    assert "up to date" in log


def test_stage_resumes_in_the_middle(micro):
    recipe, opts, _, tmp = micro
    # a lost product of stage 9 is recomputed by --stage 9 --stop_stage 9 alone
    scores = recipe / "exp" / "svae_jmas_seed1" / "decode_valid.mrstft_loss.ave_test" / "scores"
    shutil.rmtree(scores)
    log = _run(recipe, *opts[:-2], "--stage", "9", "--stop_stage", "9", log=tmp / "resume.log")
    assert "Stage 9/23" in log and "Stage 8/23" not in log and "Stage 10/23" not in log
    assert (scores / "metrics.json").is_file()


def _wav_hashes(dec: Path) -> dict[str, str]:
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((dec / "wav").glob("*.wav"))}


def test_a_killed_stage_reruns_to_the_same_outputs(micro):
    """kill -9 of stage 8 (resynthesis writing its wavs) mid-way; rerunning ./run.sh gives the same files."""
    import time

    recipe, opts, _, tmp = micro
    dec = recipe / "exp" / "svae_jmas_seed1" / "decode_valid.mrstft_loss.ave_test"
    before, scp = _wav_hashes(dec), (dec / "wav.scp").read_text()
    assert before
    shutil.rmtree(dec)
    stage8 = [*opts[:-2], "--stage", "8", "--stop_stage", "8"]
    run = background.BackgroundRun(recipe, stage8, tmp / "killed.log", nice=0)
    deadline = time.monotonic() + 180
    while run.proc.poll() is None and time.monotonic() < deadline and not (dec / "logs").is_dir():
        time.sleep(0.1)      # the stage has begun: its job lists are written, the inference is starting
    until = time.monotonic() + 1.0     # then kill at the first wav written, or within a second
    while run.proc.poll() is None and time.monotonic() < until and not list(dec.glob("wav/*.wav")):
        time.sleep(0.01)
    assert run.proc.poll() is None, "stage 8 ended before it could be killed"
    run.kill()
    assert not (dec / ".done").exists()
    log = _run(recipe, *stage8, log=tmp / "after_kill.log")
    assert "Stage 8/23" in log and "Successfully finished" in log
    assert _wav_hashes(dec) == before and (dec / "wav.scp").read_text() == scp
