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


# ---------------------------------------------------------------- Kaldi-compatible options and utils
def test_hyphenated_kaldi_options_and_max_jobs_run(work):
    # Kaldi's spelling (--max-jobs-run, --num-threads) as well as ours; one job at a time with --max-jobs-run 1
    job = 'echo "start JOB" >> order.txt; sleep 0.3; echo "end JOB" >> order.txt'
    p = _run("utils/run.pl", "--max-jobs-run", "1", "--num-threads", "2", "--mem", "1G", "--gpu", "0",
             "JOB=1:3", "logs/m.JOB.log", "bash", "-c", job)
    assert p.returncode == 0, p.stderr
    lines = (work / "order.txt").read_text().split("\n")[:-1]
    assert [ln.split()[0] for ln in lines] == ["start", "end"] * 3, lines   # never two jobs at once
    assert "threads=2" in (work / "logs" / "m.1.log").read_text()
    p = _run("utils/slurm.pl", "--max-jobs-run", "2", "--num-threads", "3", "--mem", "2G", "JOB=1:3", "logs/s.JOB.log", "true")
    assert p.returncode == 0, p.stderr
    opts = (work / "sbatch_calls.txt").read_text().split()
    assert {"--array=1-3%2", "--cpus-per-task=3", "--mem=2G"} <= set(opts), opts


def test_slurm_reads_a_kaldi_config(work):
    (work / "slurm.conf").write_text(
        "# Kaldi format\n"
        "command sbatch --export=PATH --partition=site   # the submit command\n"
        "option mem=* --mem-per-cpu $0\n"
        "option mem=0\n"
        "option num_threads=* --cpus-per-task $0\n"
        "default gpu=0\n"
        "option gpu=0\n"
        "option gpu=* -p gpu --gres=gpu:$0\n")
    p = _run("utils/slurm.pl", "--config", "slurm.conf", "--gpu", "2", "--mem", "4G", "--num-threads", "8",
             "logs/c.log", "true")
    assert p.returncode == 0, p.stderr
    call = (work / "sbatch_calls.txt").read_text().splitlines()[-1]
    for frag in ("--export=PATH --partition=site", "--mem-per-cpu 4G", "--cpus-per-task 8", "-p gpu --gres=gpu:2"):
        assert frag in call, call
    p = _run("utils/slurm.pl", "--config", "slurm.conf", "--mem", "0", "logs/c.log", "true")   # exact value: nothing
    call = (work / "sbatch_calls.txt").read_text().splitlines()[-1]
    assert p.returncode == 0 and "--mem" not in call and "gpu" not in call, call
    p = _run("utils/slurm.pl", "--config", "slurm.conf", "--time", "1:00:00", "logs/c.log", "true")
    assert p.returncode != 0 and "--time" in p.stderr and "slurm.conf" in p.stderr
    # conf/slurm.conf is read without --config, as Kaldi's slurm.pl does
    (work / "conf").mkdir()
    (work / "conf" / "slurm.conf").write_text((work / "slurm.conf").read_text())
    assert _run("utils/slurm.pl", "--mem", "3G", "logs/c.log", "true").returncode == 0
    assert "--mem-per-cpu 3G" in (work / "sbatch_calls.txt").read_text().splitlines()[-1]


def test_parse_options_kaldi_style(work):
    (work / "opts.conf").write_text("beam=7\nlm_weight=0.1\n")
    script = work / "s.sh"
    script.write_text('num_jobs=1\nbeam=2\nlm_weight=0\nuse_gpu=false\nconfig=\n'
                      '. utils/parse_options.sh\necho "$num_jobs $beam $lm_weight $use_gpu [$*]"\n')
    p = _run("bash", str(script), "--config", "opts.conf", "--num-jobs", "4", "--lm_weight", "0.3",
             "--use-gpu", "true", "pos1")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "4 7 0.3 true [pos1]"   # the command line wins over the config file
    p = _run("bash", str(script), "--use-gpu", "yes")
    assert p.returncode != 0 and "true or false" in p.stderr
    p = _run("bash", str(script), "--num-job", "4")
    assert p.returncode != 0 and "invalid option --num_job" in p.stderr


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_split_scp(work):
    src = work / "in.scp"
    src.write_text("".join(f"u{i:02d} /a/u{i:02d}.wav\n" for i in range(10)))
    p = _run("utils/split_scp.pl", str(src), "o1", "o2", "o3")
    assert p.returncode == 0, p.stderr
    parts = [_lines(work / f"o{j}") for j in (1, 2, 3)]
    assert [len(x) for x in parts] == [4, 3, 3] and sum(parts, []) == _lines(src)   # contiguous, in order
    for j in range(3):   # -j N k (0-based) and --one-based print one part
        assert _run("utils/split_scp.pl", "-j", "3", str(j), str(src)).stdout.splitlines() == parts[j]
        assert _run("utils/split_scp.pl", "--one-based", "-j", "3", str(j + 1), str(src)).stdout.splitlines() == parts[j]
    (work / "u2s").write_text("".join(f"u{i:02d} s{i // 4}\n" for i in range(10)))   # speakers of 4, 4, 2
    assert _run("utils/split_scp.pl", "--utt2spk=u2s", str(src), "o1", "o2").returncode == 0
    assert [len(_lines(work / f"o{j}")) for j in (1, 2)] == [4, 6] or [len(_lines(work / f"o{j}")) for j in (1, 2)] == [8, 2]
    p = _run("utils/split_scp.pl", str(src), *[f"x{j}" for j in range(11)])
    assert p.returncode != 0 and "in.scp" in p.stderr


def _data_dir(d: Path, n: int = 4) -> Path:
    d.mkdir(parents=True)
    utts = [f"spkA-{i}" for i in range(n // 2)] + [f"spkB-{i}" for i in range(n - n // 2)]
    (d / "wav.scp").write_text("".join(f"{u} /w/{u}.wav\n" for u in utts))
    (d / "text").write_text("".join(f"{u} HELLO {u}\n" for u in utts))
    (d / "utt2spk").write_text("".join(f"{u} {u.split('-')[0]}\n" for u in utts))
    (d / "spk2utt").write_text("spkA " + " ".join(utts[: n // 2]) + "\nspkB " + " ".join(utts[n // 2:]) + "\n")
    return d


def test_validate_and_fix_data_dir(work):
    d = _data_dir(work / "data" / "x")
    p = _run("utils/validate_data_dir.sh", "--no-feats", "--non-print", str(d))
    assert p.returncode == 0, p.stderr
    assert _run("utils/validate_data_dir.sh", str(d)).returncode != 0            # no feats.scp
    # an utterance missing from text, and wav.scp out of order
    (d / "text").write_text("".join(ln + "\n" for ln in _lines(d / "text") if not ln.startswith("spkB-1 ")))
    (d / "wav.scp").write_text("".join(ln + "\n" for ln in reversed(_lines(d / "wav.scp"))))
    p = _run("utils/validate_data_dir.sh", "--no-feats", str(d))
    assert p.returncode != 0 and "spkB-1" in p.stderr and "wav.scp is not sorted" in p.stderr
    p = _run("utils/fix_data_dir.sh", str(d))
    assert p.returncode == 0, p.stderr
    assert _run("utils/validate_data_dir.sh", "--no-feats", str(d)).returncode == 0
    assert [ln.split()[0] for ln in _lines(d / "wav.scp")] == ["spkA-0", "spkA-1", "spkB-0"]
    assert _lines(d / "spk2utt") == ["spkA spkA-0 spkA-1", "spkB spkB-0"]


# ---------------------------------------------------------------- $ESPNET_ROOT: ESPnet's own utils
TEMPLATE = UTILS.parent
# A stage-like job: options, validate the data dir, split its list, one job per part, merge
STAGE_JOB = r"""#!/usr/bin/env bash
set -euo pipefail
nj=2
. utils/parse_options.sh
utils/validate_data_dir.sh --no-feats --non-print data/x
mkdir -p out/keys
utils/split_scp.pl data/x/wav.scp $(for j in $(seq ${nj}); do echo out/keys/wav.${j}.scp; done)
utils/run.pl --max-jobs-run 2 JOB=1:${nj} out/logs/job.JOB.log bash -c 'sed "s/ .*/ done/" out/keys/wav.JOB.scp > out/res.JOB'
cat out/res.* 2>/dev/null | sort > out/result || true
"""
# Each stand-in records "<name> <args>" and does nothing else
FAKE_TOOL = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "${ESPNET_ROOT}/calls.txt"
"""


def test_espnet_root_switches_the_recipe_utils(tmp_path, monkeypatch):
    espnet = tmp_path / "espnet"
    asr1 = espnet / "egs2" / "TEMPLATE" / "asr1"
    for d in ("utils", "steps", "scripts", "pyscripts"):
        (asr1 / d).mkdir(parents=True)
    for name in ("run.pl", "split_scp.pl", "validate_data_dir.sh"):
        (asr1 / "utils" / name).write_text(FAKE_TOOL)
        (asr1 / "utils" / name).chmod(0o755)
    (asr1 / "utils" / "parse_options.sh").write_text('echo "parse_options.sh $*" >> "${ESPNET_ROOT}/calls.txt"\n')
    recipe = tmp_path / "recipe"
    recipe.mkdir()
    (recipe / "svae.sh").symlink_to(TEMPLATE / "svae.sh")
    (recipe / "utils").symlink_to(UTILS)
    (recipe / "job.sh").write_text(STAGE_JOB)
    _data_dir(recipe / "data" / "x", 5)
    monkeypatch.chdir(recipe)
    link = str(TEMPLATE / "link_utils.sh")

    monkeypatch.setenv("ESPNET_ROOT", str(espnet))
    assert _run(link).returncode == 0
    for d in ("utils", "steps", "scripts", "pyscripts"):
        assert (recipe / d).resolve() == asr1 / d, d
    p = _run("bash", "job.sh", "--nj", "2")
    assert p.returncode == 0, p.stderr
    calls = _lines(espnet / "calls.txt")
    assert calls[0] == "parse_options.sh --nj 2"
    assert calls[1] == "validate_data_dir.sh --no-feats --non-print data/x"
    assert calls[2] == "split_scp.pl data/x/wav.scp out/keys/wav.1.scp out/keys/wav.2.scp"
    assert calls[3].startswith("run.pl --max-jobs-run 2 JOB=1:2 out/logs/job.JOB.log bash -c")
    assert (recipe / "out" / "result").read_text() == ""      # ESPnet's (stand-in) tools did the work

    monkeypatch.delenv("ESPNET_ROOT")
    assert _run(link).returncode == 0
    assert (recipe / "utils").resolve() == UTILS
    assert not any((recipe / d).exists() or (recipe / d).is_symlink() for d in ("steps", "scripts", "pyscripts"))
    p = _run("bash", "job.sh", "--nj", "2")
    assert p.returncode == 0, p.stderr
    utts = [ln.split()[0] for ln in _lines(recipe / "data" / "x" / "wav.scp")]
    assert _lines(recipe / "out" / "result") == [f"{u} done" for u in utts]
    assert len(_lines(recipe / "out" / "keys" / "wav.1.scp")) == 3
    # a real directory is never replaced by a link
    (recipe / "utils").unlink()
    (recipe / "utils").mkdir()
    monkeypatch.setenv("ESPNET_ROOT", str(espnet))
    p = _run(link)
    assert p.returncode != 0 and "real directory" in p.stderr
