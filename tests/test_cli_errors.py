"""Entry points end through espnet_plugin.cli.run_main: the project's own errors are one
``error: <message>`` line on stderr with exit status 2; a traceback only with --debug /
ESPNET_PLUGIN_DEBUG=1, and unexpected exceptions keep Python's traceback (status 1).

Each case runs ``python -m espnet_plugin.bin.X`` as a subprocess with a bad input. The cheap
entry points are parametrized; the ESPnet-heavy ones (svae_train, latent_tts_train,
asr_probe_train: ConfigError raised while ESPnet's Task.main builds the model) run once each.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from espnet_plugin.cli import one_line, run_main
from espnet_plugin.errors import ConfigError, DataError
from espnet_plugin.io.kaldi_dir import write_data_dir

ROOT = Path(__file__).resolve().parents[1]


def _run(module: str, args: list[str], debug_env: bool = False, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "ESPNET_PLUGIN_DEBUG"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    if debug_env:
        env["ESPNET_PLUGIN_DEBUG"] = "1"
    return subprocess.run([sys.executable, "-m", f"espnet_plugin.bin.{module}", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _assert_one_line(res: subprocess.CompletedProcess, *names: str, traceback: bool = False) -> str:
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error: ")]
    assert res.returncode == 2, res.stderr[-3000:]
    assert len(errors) == 1, res.stderr[-3000:]
    for name in names:
        assert name in errors[0], errors[0]
    assert ("Traceback" in res.stderr) == traceback, res.stderr[-3000:]
    return errors[0]


def _truncated_corpus(tmp: Path) -> Path:
    """A Kaldi dir whose utterance 'spk1-cut' is a 2 s wav cut after 60 bytes."""
    x = (0.5 * np.sin(np.arange(32000) / 5.0)).astype(np.float32)
    sf.write(str(tmp / "ok.wav"), x, 16000, subtype="PCM_16")
    (tmp / "cut.wav").write_bytes((tmp / "ok.wav").read_bytes()[:60])
    wav = {"spk1-cut": str(tmp / "cut.wav"), "spk1-ok": str(tmp / "ok.wav")}
    write_data_dir(tmp / "in", wav, {u: "A B" for u in wav}, {u: "spk1" for u in wav})
    return tmp / "in"


def _cases(tmp: Path) -> dict[str, tuple[str, list[str], list[str]]]:
    """name -> (module, bad arguments, what the error line must name)."""
    (tmp / "empty_dir").mkdir()
    (tmp / "ref.txt").write_text("u1 A B\n")
    return {
        "format_data": ("format_data", ["--in_dir", str(_truncated_corpus(tmp)), "--out_dir", str(tmp / "out"),
                                        "--nj", "1", "--no_progress"],
                        ["spk1-cut", "cut.wav", "truncated", "32000", "8"]),
        "filter_data": ("filter_data", ["--in_dir", str(tmp / "empty_dir"), "--out_dir", str(tmp / "f")],
                        ["empty_dir/utt2num_samples"]),
        "feat_dim": ("feat_dim", [str(tmp / "missing.scp")], ["missing.scp"]),
        "latent_stats": ("latent_stats", ["--scp", str(tmp / "missing.scp"), "--out_json", str(tmp / "s.json")],
                         ["missing.scp"]),
        "score_probe": ("score_probe", ["--ref_text", str(tmp / "ref.txt"), "--hyp", f"dec={tmp / 'no_hyp'}",
                                        "--tag", "t", "--out_dir", str(tmp / "sp")], ["no_hyp", "dec"]),
    }


CHEAP = ["format_data", "filter_data", "feat_dim", "latent_stats", "score_probe"]


@pytest.mark.parametrize("name", CHEAP)
def test_cheap_entry_points_print_one_error_line_and_exit_2(tmp_path, name):
    module, args, names = _cases(tmp_path)[name]
    _assert_one_line(_run(module, args), *names)
    line = _assert_one_line(_run(module, args + ["--debug"]), *names, traceback=True)  # stripped before argparse
    assert "espnet_plugin.errors" in _run(module, args, debug_env=True).stderr  # the env var works too
    assert line.startswith("error: ")


def test_svae_train_config_error_in_build_model(tmp_path):
    from conftest import FULL_CONF

    res = _run("svae_train", ["--config", str(FULL_CONF["tuning"] / "train_svae_mcos.yaml"),
                              "--output_dir", str(tmp_path / "exp")])
    _assert_one_line(res, "distill_conf.teacher_dim")


def test_latent_tts_train_config_error_with_debug(tmp_path):
    """--debug is removed before ESPnet's parser (which does not know it) and shows the traceback."""
    res = _run("latent_tts_train", ["--token_list", str(tmp_path / "no_tokens.txt"), "--output_dir",
                                    str(tmp_path / "exp"), "--debug"])
    _assert_one_line(res, "no_tokens.txt", traceback=True)
    assert "build_model" in res.stderr


def test_asr_probe_train_config_error_in_the_frontend(tmp_path):
    (tmp_path / "tokens.txt").write_text("<blank>\n<unk>\na\nb\n<sos/eos>\n")
    res = _run("asr_probe_train", ["--token_list", str(tmp_path / "tokens.txt"), "--frontend", "svae_latent",
                                   "--output_dir", str(tmp_path / "exp")])
    _assert_one_line(res, "svae_latent", "vae_config")


# --- run_main in-process -----------------------------------------------------------------------

def test_run_main_statuses_and_argv(capsys, monkeypatch):
    monkeypatch.delenv("ESPNET_PLUGIN_DEBUG", raising=False)
    seen = []

    def main(argv):
        seen.append(argv)
        if "--fail" in argv:
            raise DataError("utterance 'u1' (/d/u1.wav): truncated\nsecond line")
        if "--bug" in argv:
            raise KeyError("not ours")
        return {"a": 1} if "--dict" in argv else (3 if "--three" in argv else None)

    assert run_main(main, ["--dict"]) == 0 and run_main(main, []) == 0 and run_main(main, ["--three"]) == 3
    assert run_main(main, ["--fail", "--debug", "x"]) == 2
    assert seen[-1] == ["--fail", "x"]
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1] == (
        "error: utterance 'u1' (/d/u1.wav): truncated | second line")
    assert run_main(main, ["--fail"]) == 2
    assert capsys.readouterr().err == "error: utterance 'u1' (/d/u1.wav): truncated | second line\n"
    with pytest.raises(KeyError):  # a bug keeps its traceback (Python: status 1)
        run_main(main, ["--bug"])


def test_one_line_of_an_error_reraised_by_a_dataloader_worker():
    msg = ("Caught DataError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
           '  File "x.py", line 1, in f\nespnet_plugin.errors.DataError: utterance \'u9\' (a.wav): truncated WAV')
    assert one_line(DataError(msg)) == "utterance 'u9' (a.wav): truncated WAV (in DataLoader worker process 0)"
    assert one_line(ConfigError("a\n\n  b ")) == "a | b"
