"""Demo server: gradio_client calls /resynthesize on a live localhost server; pictures; CLI checks."""
from __future__ import annotations

import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_demo_inference import make_tiny_exp, make_tiny_tts, speech_clip  # noqa: E402

FS = 16000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Two tiny models 'a' and 'b' + a tiny TTS on 'b', on a free 127.0.0.1 port (uploads <= 0.2 MB)."""
    from espnet_plugin.demo.app import build_demo, launch
    from espnet_plugin.demo.inference import ModelBank, TTSDemo

    d = tmp_path_factory.mktemp("demo_server")
    bank = ModelBank([f"a={make_tiny_exp(d / 'svae_a', 0)}", f"b={make_tiny_exp(d / 'svae_b', 1)}"])
    tts = TTSDemo(make_tiny_tts(d / "tts_b", d / "svae_b"))
    demo = build_demo(bank, tts, max_seconds=5, metrics=("pesq", "stoi"))
    port = free_port()
    launch(demo, "127.0.0.1", port, share=False, max_upload_mb=0.2, block=False)
    yield demo, f"http://127.0.0.1:{port}/", speech_clip(d / "speech.wav"), d
    demo.close()


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server[1], verbose=False)


def test_binds_localhost_without_share(server):
    demo, url, _, _ = server
    assert demo.server_name == "127.0.0.1" and demo.share is False and demo.share_url is None
    assert demo.max_file_size == int(0.2 * 1024 * 1024)


def test_client_resynthesis_returns_audio_of_input_length(server, client):
    from gradio_client import handle_file

    _, _, clip, _ = server
    out = client.predict(handle_file(str(clip)), ["b"], True, api_name="/resynthesize")
    # input mel, then (audio, mel, latent) for a and for b, then the table
    assert len(out) == 1 + 3 * 2 + 1
    assert Path(out[0]).is_file()
    assert out[1:4] == (None, None, None)  # 'a' not selected
    y, sr = sf.read(out[4])
    assert sr == FS and y.shape == (sf.info(clip).frames,)
    assert Path(out[5]).is_file() and Path(out[6]).is_file()
    table = out[7]
    assert table["headers"][:3] == ["model", "time (s)", "RTF"] and table["data"][0][0] == "b"
    assert len(table["headers"]) == 5  # PESQ and STOI


def test_client_errors_are_clear(server, client, tmp_path):
    from gradio_client import handle_file

    _, _, clip, _ = server
    with pytest.raises(Exception, match="not in the list of choices|not offered"):
        client.predict(handle_file(str(clip)), ["c"], False, api_name="/resynthesize")
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(FS, np.float32), FS)
    with pytest.raises(Exception, match="silent"):
        client.predict(handle_file(str(silent)), ["a"], False, api_name="/resynthesize")
    long = tmp_path / "long.wav"  # 6 s at 8 kHz (96 kB): under the upload limit, over max_seconds
    sf.write(long, np.full(6 * 8000, 0.1, np.float32), 8000, subtype="PCM_16")
    with pytest.raises(Exception, match="limit is 5 s"):
        client.predict(handle_file(str(long)), ["a"], False, api_name="/resynthesize")
    big = tmp_path / "big.wav"  # 0.4 MB > 0.2 MB upload limit
    sf.write(big, np.full(FS * 12, 0.1, np.float32), FS, subtype="PCM_16")
    with pytest.raises(Exception, match="maximum file size"):
        client.predict(handle_file(str(big)), ["a"], False, api_name="/resynthesize")


def test_client_tts(server, client):
    from gradio_client import handle_file

    _, _, clip, _ = server
    wav_path, mel = client.predict(handle_file(str(clip)), "please call stella", "call her", 2, 2.0, 0,
                                   api_name="/tts")
    y, sr = sf.read(wav_path)
    prompt_frames = -(-sf.info(clip).frames // 400)  # ceil(N / hop)
    assert sr == FS and y.shape == (int(prompt_frames / len("please call stella") * len("call her")) * 400,)
    assert Path(mel).is_file()
    with pytest.raises(Exception, match="transcript"):
        client.predict(handle_file(str(clip)), " ", "call her", 2, 2.0, 0, api_name="/tts")


def test_pictures_and_table():
    from espnet_plugin.demo.app import latent_picture, mel_picture, metrics_table
    from espnet_plugin.demo.inference import Resynthesis

    wav = np.sin(2 * np.pi * 500 * np.arange(FS) / FS).astype(np.float32)
    img = mel_picture(wav, "x")
    assert img.shape == (220, 500, 3) and img.dtype == np.uint8 and img.std() > 0
    assert latent_picture(np.zeros((40, 64), np.float32), "z").shape == (220, 500, 3)
    r = Resynthesis("m", wav, np.zeros((40, 64)), seconds=0.5, metrics={"pesq": 3.14159, "stoi": float("nan")})
    headers, rows = metrics_table([r], 2.0, ["pesq", "stoi"])
    assert headers == ["model", "time (s)", "RTF", "PESQ ↑", "STOI ↑"]
    assert rows == [["m", "0.50", "0.250", "3.142", "n/a"]]


def test_cli_refuses_bad_inputs(tmp_path, capsys):
    from espnet_plugin.bin.demo import main

    with pytest.raises(SystemExit) as e:
        main(["--exp", str(tmp_path / "missing")])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["--exp", str(tmp_path), "--metrics", "bogus"])
    assert e.value.code == 2


def _run_stage(tmp_path, stage, stop_stage, demo="false"):
    import subprocess

    script = Path(__file__).resolve().parents[1] / "egs2/TEMPLATE/svae1/stages/demo.sh"
    body = f"""set -euo pipefail
log() {{ echo "LOG $*"; }}; stage_msg() {{ echo "STAGE $1"; }}
stage={stage}; stop_stage={stop_stage}; expdir={tmp_path}/exp; dumpdir={tmp_path}/dump; test_set=test
python=echo; demo={demo}; demo_port=7999; _device=cpu
. {script}
run_demo_stage"""
    return subprocess.run(["bash", "-c", body], capture_output=True, text=True, timeout=30)


def test_stage_23_starts_demo_on_trained_models(tmp_path):
    exp = tmp_path / "exp"
    (exp / "tts_tokens/char").mkdir(parents=True)
    for d in ("svae_a", "svae_b/packed", "svae_stats_16000", "svae_untrained", "tts_a"):
        (exp / d).mkdir(parents=True)
        (exp / d / "config.yaml").write_text("fs: 16000\n")
    for f in ("svae_a/valid.mrstft_loss.ave.pth", "svae_b/packed/model.pth", "svae_b/packed/.done",
              "svae_stats_16000/x.pth", "tts_a/valid.loss.best.pth"):
        (exp / f).write_text("")
    (tmp_path / "dump/raw/test").mkdir(parents=True)
    (tmp_path / "dump/raw/test/wav.scp").write_text("u x.wav\n")
    # a whole run does not end in a server unless asked (--demo true); --stage 23 asks
    unasked = _run_stage(tmp_path, 1, 10000)
    assert unasked.returncode == 0 and "not started" in unasked.stdout and "bin.demo" not in unasked.stdout
    assert "-m espnet_plugin.bin.demo" in _run_stage(tmp_path, 23, 10000).stdout
    res = _run_stage(tmp_path, 1, 10000, demo="true")
    assert res.returncode == 0, res.stderr
    cmd = [line for line in res.stdout.splitlines() if line.startswith("-m espnet_plugin.bin.demo")]
    assert len(cmd) == 1, res.stdout
    args = cmd[0].split()
    exps = [args[i + 1] for i, a in enumerate(args) if a == "--exp"]
    assert exps == [f"{exp}/svae_a", f"{exp}/svae_b/packed"]
    assert args[args.index("--tts_exp") + 1] == f"{exp}/tts_a"
    assert args[args.index("--tts_vae_exp") + 1] == f"{exp}/svae_a"
    assert args[args.index("--host") + 1] == "127.0.0.1" and args[args.index("--port") + 1] == "7999"
    assert args[args.index("--share") + 1] == "false"
    assert args[args.index("--examples") + 1] == f"{tmp_path}/dump/raw/test/wav.scp"
    assert "http://127.0.0.1:7999" in res.stdout
    skipped = _run_stage(tmp_path, 1, 22)
    assert skipped.returncode == 0 and skipped.stdout == ""
    (exp / "svae_a/valid.mrstft_loss.ave.pth").unlink()
    (exp / "svae_b/packed/model.pth").unlink()
    none = _run_stage(tmp_path, 23, 23)
    assert none.returncode != 0 and "no trained VAE" in none.stdout


def _resynthesize_concurrently(client, clip, n: int) -> list:
    """``n`` identical /resynthesize calls at once (threads); each call's outputs or its exception."""
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import handle_file

    def one(_):
        try:
            return client.predict(handle_file(str(clip)), ["a"], False, api_name="/resynthesize")
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def test_concurrent_identical_requests_all_succeed(server):
    """3 rounds of 20 identical requests at once: every output downloads whole, audio of input length.

    Identical requests give identical bytes; files named by content were written again while
    being served (h11 "Too little data for declared Content-Length"). Each request now writes
    its own files under its own directory.
    """
    from gradio_client import Client

    _, url, clip, _ = server
    client = Client(url, verbose=False, httpx_kwargs={"timeout": 120})  # a loaded CI machine is slow, not wrong
    n_in = sf.info(clip).frames
    for _ in range(3):
        outs = _resynthesize_concurrently(client, clip, 20)
        errors = [repr(o) for o in outs if isinstance(o, Exception)]
        assert not errors, errors
        for out in outs:
            y, sr = sf.read(out[1])
            assert sr == FS and abs(y.shape[0] - n_in) < 400  # within one hop of the codec
            assert Path(out[0]).stat().st_size > 0 and Path(out[2]).stat().st_size > 0


def test_outputs_are_per_request_files_under_the_cache_policy(server):
    """Two identical requests get different server files, each in its own dir under gradio's cache."""
    from gradio_client import Client, handle_file

    demo, url, clip, _ = server
    raw = Client(url, verbose=False, download_files=False)
    outs = [raw.predict(handle_file(str(clip)), ["a"], False, api_name="/resynthesize") for _ in range(2)]
    files = [[o[i]["path"] for i in (0, 1, 2, 3)] for o in outs]  # input mel, a: audio, mel, latent
    assert not set(files[0]) & set(files[1])
    assert len({Path(p).parent for p in files[0]}) == 1 and Path(files[0][0]).parent != Path(files[1][0]).parent
    cached = set().union(*demo.temp_file_sets)
    assert all(p in cached for f in files for p in f)  # deleted by gradio's delete_cache schedule
    assert demo.delete_cache is not None
