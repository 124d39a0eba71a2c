"""The recipes' path.sh only activates an environment: never apt-get, pip or a venv build.

Each case sources the real ``egs2/synth/svae1/path.sh`` (a link to the TEMPLATE one) in a bash
subprocess with a fake HOME (so a fake venv cache), an empty PYTHONPATH and a PATH whose
``python3`` cannot import espnet_plugin, then prints its environment.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "egs2" / "synth" / "svae1"


def _source_path_sh(tmp_path: Path, extra_env: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir(exist_ok=True)
    for tool in ("python3", "pip", "apt-get", "sudo"):  # any call would leave a trace
        (fake_bin / tool).write_text(f"#!/bin/sh\necho \"$0 $*\" >> {tmp_path}/calls\nexit 1\n")
        (fake_bin / tool).chmod(0o755)
    env = {"HOME": str(home), "PATH": f"{fake_bin}:/usr/bin:/bin", "PYTHONPATH": ""}
    env.update(extra_env or {})
    script = ". ./path.sh; rc=$?; echo \"RC=${rc}\"; env"
    proc = subprocess.run(["bash", "-c", script], cwd=RECIPE, env=env, capture_output=True, text=True,
                          timeout=60)
    got = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    return int(got.pop("RC")), proc.stderr, got


def _venv(home: Path) -> Path:
    digest = hashlib.sha256((ROOT / "conf" / "requirements.txt").read_bytes()).hexdigest()[:12]
    return home / ".cache" / "espnet_plugin" / f"venv-{digest}"


def _tree(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


def test_no_environment_is_an_error_and_creates_nothing(tmp_path):
    rc, err, env = _source_path_sh(tmp_path)
    assert rc == 1
    assert "local/env.sh" in err and "run_tests.sh" in err and str(_venv(tmp_path / "home")) in err, err
    assert _tree(tmp_path / "home") == []  # no cache dir, no venv, no lock
    calls = (tmp_path / "calls").read_text().splitlines()
    assert all(c.split()[0].endswith("python3") for c in calls), calls  # only the import probe
    assert "VIRTUAL_ENV" not in env


def test_active_virtual_env_is_kept(tmp_path):
    mine = tmp_path / "my_espnet_env"
    rc, err, env = _source_path_sh(tmp_path, {"VIRTUAL_ENV": str(mine)})
    assert rc == 0, err
    assert env["VIRTUAL_ENV"] == str(mine)
    assert env["PYTHONPATH"].split(":")[0] == str(ROOT)  # this clone's code first
    assert env["HF_HUB_OFFLINE"] == "1"
    assert _tree(tmp_path / "home") == []
    assert not (tmp_path / "calls").exists()  # not even the probe: nothing ran


def test_built_venv_is_activated(tmp_path):
    venv = _venv(tmp_path / "home")
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "activate").write_text(f'export VIRTUAL_ENV="{venv}"\nexport PATH="{venv}/bin:$PATH"\n')
    (venv / ".complete").touch()
    before = _tree(tmp_path / "home")
    rc, err, env = _source_path_sh(tmp_path)
    assert rc == 0, err
    assert env["VIRTUAL_ENV"] == str(venv)
    assert env["PATH"].startswith(f"{venv}/bin:")
    assert _tree(tmp_path / "home") == before


def test_half_built_venv_is_not_used(tmp_path):
    venv = _venv(tmp_path / "home")
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "activate").write_text(f'export VIRTUAL_ENV="{venv}"\n')  # no .complete stamp
    rc, err, env = _source_path_sh(tmp_path)
    assert rc == 1 and "VIRTUAL_ENV" not in env, err


def test_env_sh_and_path_sh_share_the_venv_path():
    env_sh = (ROOT / "local" / "env.sh").read_text()
    assert "venv_path.sh" in env_sh and "sha256sum" not in env_sh  # computed in one place
    assert "env.sh" not in "".join(
        line for line in (ROOT / "egs2" / "TEMPLATE" / "svae1" / "path.sh").read_text().splitlines(True)
        if not line.lstrip().startswith("#") and "echo" not in line)
    assert os.path.samefile(RECIPE / "path.sh", ROOT / "egs2" / "TEMPLATE" / "svae1" / "path.sh")
