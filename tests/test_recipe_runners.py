"""The recipe's job runners (egs2/TEMPLATE/svae1/utils/run.sh and slurm.sh) and ESPnet's launcher on them.

There is no Slurm here: a stand-in ``sbatch`` on PATH records its options and runs the generated
batch script once per array index (as ``sbatch --wait`` would), and a stand-in ``srun`` prints the
command it was given. What is under test is our scripts and how ESPnet's launcher drives them.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

UTILS = Path(__file__).resolve().parents[1] / "egs2" / "TEMPLATE" / "svae1" / "utils"

FAKE_SBATCH = r"""#!/usr/bin/env bash
# records the options, then runs the script once per array index; fails if one task failed
echo "$@" >> "${FAKE_SLURM_LOG}"
script="${@: -1}"; range=1-1
for a in "$@"; do case "$a" in --array=*) range="${a#--array=}" ;; esac; done
rc=0
for ((i = ${range%-*}; i <= ${range#*-}; i++)); do SLURM_ARRAY_TASK_ID=$i bash "${script}" || rc=1; done
exit $rc
"""
FAKE_SRUN = """#!/usr/bin/env bash
echo "SRUN $*"
"""


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A recipe-like cwd (utils/ -> the template's) with stand-in sbatch/srun first on PATH."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name, text in (("sbatch", FAKE_SBATCH), ("srun", FAKE_SRUN)):
        (bindir / name).write_text(text)
        (bindir / name).chmod(0o755)
    (tmp_path / "utils").symlink_to(UTILS)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM_LOG", str(tmp_path / "sbatch_calls.txt"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("runner", ["run.pl", "slurm.pl"])
def test_job_arrays_substitute_the_index_and_keep_quotes(work, runner):
    p = _run(f"utils/{runner}", "JOB=1:3", "logs/j.JOB.log", "echo", "job JOB of 'three' {x}")
    assert p.returncode == 0, p.stderr
    for j in (1, 2, 3):
        text = (work / "logs" / f"j.{j}.log").read_text()
        assert f"\njob {j} of 'three' {{x}}\n" in text  # the command's output line
        assert "code 0" in text


@pytest.mark.parametrize("runner", ["run.pl", "slurm.pl"])
def test_a_failing_job_fails_the_runner(work, runner):
    p = _run(f"utils/{runner}", "JOB=1:2", "logs/f.JOB.log", "bash", "-c", "exit $((JOB - 1))")
    assert p.returncode != 0
    assert "code 1" in (work / "logs" / "f.2.log").read_text()
    assert "code 0" in (work / "logs" / "f.1.log").read_text()


@pytest.mark.parametrize("caller_devices", [None, "0"])
def test_local_jobs_without_gpu_see_no_gpu(work, monkeypatch, caller_devices):
    # --gpu 0 (the default) hides every GPU, whether or not the caller set CUDA_VISIBLE_DEVICES
    if caller_devices is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", caller_devices)
    cases = [([], "[]"), (["--gpu", "0"], "[]"), (["--gpu", "1"], f"[{caller_devices or 'unset'}]")]
    for opts, seen in cases:
        p = _run("utils/run.pl", *opts, "logs/c.log", "bash", "-c", 'echo "[${CUDA_VISIBLE_DEVICES-unset}]"')
        assert p.returncode == 0, p.stderr
        assert f"\n{seen}\n" in (work / "logs" / "c.log").read_text(), (opts, seen)


def test_slurm_options(work):
    p = _run("utils/slurm.pl", "--gpu", "2", "--mem", "8G", "--num_threads", "4", "--num_nodes", "3",
             "logs/t.log", "true")
    assert p.returncode == 0, p.stderr
    opts = (work / "sbatch_calls.txt").read_text().split()
    for o in ("--wait", "--gres=gpu:2", "--mem=8G", "--cpus-per-task=4", "--nodes=3", "--ntasks-per-node=1"):
        assert o in opts, opts
    p = _run("utils/slurm.pl", "--bogus", "1", "logs/t.log", "true")
    assert p.returncode != 0 and "unknown option --bogus" in p.stderr


def test_espnet_launcher_runs_multi_node_training_through_srun(work):
    # espnet2.bin.launch picks srun for a runner named slurm.pl: N nodes, one task per node
    p = _run(sys.executable, "-m", "espnet2.bin.launch", "--cmd", "utils/slurm.pl --name exp/train.log",
             "--log", "exp/train.log", "--ngpu", "4", "--num_nodes", "2", "--init_file_prefix", "exp/.dist_init_",
             "--multiprocessing_distributed", "true", "--", "echo", "TRAIN")
    assert p.returncode == 0, p.stderr[-2000:]
    opts = (work / "sbatch_calls.txt").read_text().split()
    assert {"--nodes=2", "--ntasks-per-node=1", "--gres=gpu:4"} <= set(opts), opts
    log = (work / "exp" / "train.log").read_text()
    assert "SRUN --export=ALL echo TRAIN" in log
    assert "--dist_launcher slurm" in log and "--dist_init_method file://" in log


def test_espnet_launcher_refuses_multi_node_on_the_local_runner(work):
    p = _run(sys.executable, "-m", "espnet2.bin.launch", "--cmd", "utils/run.pl", "--log", "exp/train.log",
             "--ngpu", "1", "--num_nodes", "2", "--", "echo", "TRAIN")
    assert p.returncode != 0 and "run.pl doesn't support submitting to the other nodes" in p.stderr
