"""svae.sh's own plumbing, without training anything: --help lists every option, decode dirs are
named after the inference model, and each exp dir gets a resumable run.sh.

svae.sh runs in a scratch recipe dir (links to the template's svae.sh and utils, an empty path.sh,
the template's cmd.sh: the local runner). ``--python`` points at a stand-in that answers the few
entry points stages 7-8 call (config query, ESPnet's launcher, svae_inference) by writing the files
they would write; what is under test is svae.sh and the utils it runs them through.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1] / "egs2" / "TEMPLATE" / "svae1"

FAKE_PYTHON = r"""#!/usr/bin/env bash
# stand-in for "python -m <module> ...": records the call, writes what the module would write
echo "$*" >> fake_python_calls.txt
mod=$2; shift 2
arg() { local want=$1; shift; while [ $# -gt 0 ]; do [ "$1" = "$want" ] && { echo "$2"; return; }; shift; done; }
case "${mod}" in
    espnet_plugin.bin.config_query) echo 0 ;;
    espnet_plugin.bin.merge_config|espnet_plugin.bin.make_margin_configs)   # the config merge runs for real
        exec env PYTHONPATH="@ROOT@${PYTHONPATH:+:${PYTHONPATH}}" "@PYTHON@" -m "${mod}" "$@" ;;
    espnet2.bin.launch)   # the training: config + two checkpoints in --output_dir
        out=$(arg --output_dir "$@"); mkdir -p "${out}"
        echo "generator: {}" > "${out}/config.yaml"
        echo A > "${out}/valid.mrstft_loss.ave.pth"; echo B > "${out}/valid.loss.best.pth" ;;
    espnet_plugin.bin.svae_inference)   # this job's keys -> wav.<job>.scp (wav.scp for one job)
        out=$(arg --output_dir "$@"); keys=$(arg --key_file "$@"); nj=$(arg --num_jobs "$@"); j=$(arg --job_index "$@")
        model=$(arg --model_file "$@")
        suffix=""; [ "${nj}" -gt 1 ] && suffix=".${j}"
        mkdir -p "${out}/wav"
        awk -v d="${out}/wav" -v m="${model}" '{ print $1, d "/" $1 ".wav", m }' "${keys}" > "${out}/wav${suffix}.scp" ;;
    *) echo "fake python: unexpected module ${mod}" >&2; exit 1 ;;
esac
"""


def _option_names() -> list[str]:
    """Every ``name=value`` of svae.sh's option block (from "# General configuration" to help_message)."""
    text = (TEMPLATE / "svae.sh").read_text()
    block = text[text.index("# General configuration"): text.index("help_message=")]
    names = re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)=", block, flags=re.M)
    assert len(names) > 60, names
    return list(dict.fromkeys(names))


def _recipe(tmp_path: Path) -> Path:
    r = tmp_path / "recipe"
    r.mkdir()
    (r / "svae.sh").symlink_to(TEMPLATE / "svae.sh")
    (r / "utils").symlink_to(TEMPLATE / "utils")
    (r / "cmd.sh").write_text((TEMPLATE / "cmd.sh").read_text())
    (r / "path.sh").write_text("# no environment needed by the stand-ins\n")
    (r / "fake_python").write_text(FAKE_PYTHON.replace("@ROOT@", str(TEMPLATE.parents[2]))
                                   .replace("@PYTHON@", sys.executable))
    (r / "fake_python").chmod(0o755)
    (r / "train_x.yaml").write_text("model_conf: {}\n")
    test = r / "dump" / "raw" / "test"
    test.mkdir(parents=True)
    (test / "wav.scp").write_text("".join(f"utt{i} /audio/utt{i}.wav\n" for i in range(5)))
    return r


def _svae(recipe: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = ["./svae.sh", "--python", str(recipe / "fake_python"), "--ngpu", "0", "--inference_nj", "2",
           "--train_set", "train", "--valid_set", "dev", "--test_sets", "test", "--svae_config", "train_x.yaml",
           "--probe_baselines", "", *args]
    return subprocess.run(cmd, cwd=recipe, capture_output=True, text=True, timeout=300)


def test_help_lists_every_option(tmp_path):
    recipe = _recipe(tmp_path)
    p = subprocess.run(["./svae.sh", "--help"], cwd=recipe, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    listed = set(re.findall(r"^\s+--([A-Za-z_0-9]+)\s", p.stderr, flags=re.M))
    missing = [n for n in _option_names() if n not in listed]
    assert not missing, missing
    assert '--inference_model' in p.stderr and 'default="valid.mrstft_loss.ave.pth"' in p.stderr


def test_decode_dirs_per_inference_model_and_exp_run_sh(tmp_path):
    recipe = _recipe(tmp_path)
    p = _svae(recipe, "--stage", "7", "--stop_stage", "8")
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    exp = recipe / "exp" / "svae_x"
    first = exp / "decode_valid.mrstft_loss.ave_test"
    lines = (first / "wav.scp").read_text().splitlines()
    assert [ln.split()[0] for ln in lines] == [f"utt{i}" for i in range(5)]     # two jobs, merged
    assert all(ln.endswith("valid.mrstft_loss.ave.pth") for ln in lines)
    keys = sorted((first / "logs" / "keys").iterdir())
    assert [len(k.read_text().splitlines()) for k in keys] == [3, 2]               # split_scp.pl's parts

    # another inference model decodes into its own dir; the first one stays
    p = _svae(recipe, "--stage", "8", "--stop_stage", "8", "--inference_model", "valid.loss.best.pth")
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    second = exp / "decode_valid.loss.best_test"
    assert all(ln.endswith("valid.loss.best.pth") for ln in (second / "wav.scp").read_text().splitlines())
    assert (first / "wav.scp").read_text() == "\n".join(lines) + "\n"

    # the exp dir's run.sh: the command that trained it, resumable from the recipe dir
    run_sh = exp / "run.sh"
    text = run_sh.read_text()
    assert "--svae_config train_x.yaml" in text and "--stage 7" in text and "--inference_nj 2" in text
    calls_before = (recipe / "fake_python_calls.txt").read_text()
    p = subprocess.run([str(run_sh.relative_to(recipe)), "--stop_stage", "8"], cwd=recipe,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "already trained" in p.stdout and "up to date" in p.stdout
    assert "Stage 7/23" in p.stdout and "Stage 6/23" not in p.stdout
    new_calls = (recipe / "fake_python_calls.txt").read_text()[len(calls_before):]
    assert "espnet2.bin.launch" not in new_calls and "svae_inference" not in new_calls
