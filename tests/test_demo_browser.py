"""Real browser: headless Debian chromium (playwright) drives the demo started by its CLI.

Uploads a clip, runs the resynthesis, finds the output audio (fetched: right length) and the
spectrograms, clicks a test-set example; the screenshot is kept in tests/artifacts/. Bad uploads
(not audio, 0.1 s, silent, too long) each show their message in the page, and a good clip
still works afterwards.
"""
from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_demo_inference import make_tiny_exp, speech_clip  # noqa: E402
from test_demo_server import free_port  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no /usr/bin/chromium (apt-get install chromium)")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``python -m espnet_plugin.bin.demo`` with two tiny models and a 2-entry wav.scp of examples."""
    d = tmp_path_factory.mktemp("demo_browser")
    exps = [make_tiny_exp(d / "svae_vanilla", 0), make_tiny_exp(d / "svae_jmas", 1)]
    clips = [speech_clip(d / "utt0.wav", "The birch canoe slid on the smooth planks."),
             speech_clip(d / "utt1.wav", "Glue the sheet to the dark blue background.")]
    (d / "wav.scp").write_text("".join(f"{c.stem} {c}\n" for c in clips))
    port = free_port()
    cmd = [sys.executable, "-m", "espnet_plugin.bin.demo", "--port", str(port), "--examples", str(d / "wav.scp"),
           "--metrics", "pesq,stoi", "--max_seconds", "10"] + [a for e in exps for a in ("--exp", str(e))]
    log = open(d / "server.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, GRADIO_ANALYTICS_ENABLED="False"))
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 300  # a loaded 2-core CI machine imports torch + gradio slowly
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"demo did not start: {(d / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
    yield url, clips
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


@contextmanager
def _demo_page(url: str):
    """The demo's page in chromium, loaded (its Run button there); the browser closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.wait_for_selector("#run")
            yield page
        finally:
            browser.close()


def _upload(page, clip: Path) -> None:
    page.locator("#input_audio input[type=file]").set_input_files(str(clip))
    page.wait_for_selector("#input_audio [data-testid^=waveform]", timeout=30000)


def _first_output(page, clip: Path) -> str:
    """The first model's resynthesis link, after checking it holds the whole clip at 16 kHz."""
    href = page.locator("#out_audio_0 a[download]").get_attribute("href")
    wav, sr = sf.read(io.BytesIO(page.request.get(href).body()))
    assert sr == 16000 and wav.shape == (sf.info(clip).frames,)
    return href


def test_upload_resynthesise_and_screenshot(served):
    url, clips = served
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with _demo_page(url) as page:
        assert page.locator("#models label").all_inner_texts() == ["svae_vanilla", "svae_jmas"]
        _upload(page, clips[0])
        page.click("#run")
        for k in (0, 1):
            page.wait_for_selector(f"#out_mel_{k} img", timeout=90000)
            page.wait_for_selector(f"#out_latent_{k} img", timeout=30000)
        page.wait_for_selector("#input_mel img")
        href = _first_output(page, clips[0])
        for k in (0, 1):
            w = page.locator(f"#out_mel_{k} img").evaluate("img => img.complete ? img.naturalWidth : 0")
            assert w > 100
        table = page.locator("#metrics").inner_text()
        assert "svae_vanilla" in table and "svae_jmas" in table and "PESQ" in table
        page.screenshot(path=str(ARTIFACTS / "demo_resynthesis.png"), full_page=True)

        # a test-set example is one click away; deselecting a model hides its column
        page.get_by_text("utt1", exact=True).click()
        page.locator("#models label", has_text="svae_jmas").click()
        page.click("#run")
        page.wait_for_selector("#col_1", state="hidden", timeout=90000)
        page.wait_for_function("document.querySelector('#metrics').innerText.indexOf('svae_jmas') < 0")
        assert page.locator("#out_audio_0 a[download]").get_attribute("href") != href



def _bad_uploads(d: Path) -> list[tuple[Path, str]]:
    """(file, words of the message the page must show) for bad uploads; ``--max_seconds 10``."""
    t = np.arange(16000) / 16000
    tone = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    (d / "notes.txt").write_text("meeting notes, not audio\n")  # refused by the page itself
    (d / "notes.wav").write_text("meeting notes named .wav\n")  # reaches the server
    sf.write(d / "short.wav", tone[:1600], 16000, subtype="PCM_16")  # 0.1 s
    sf.write(d / "silent.wav", np.zeros(16000, np.float32), 16000, subtype="PCM_16")
    sf.write(d / "long.wav", np.tile(tone, 12), 16000, subtype="PCM_16")
    return [(d / "notes.txt", "Invalid file type"), (d / "notes.wav", "'notes.wav' is not audio"),
            (d / "short.wav", "too short (0.1 s): give at least 0.25 s"),
            (d / "silent.wav", "the clip is silent"), (d / "long.wav", "'long.wav' is 12.0 s long: the limit is 10 s")]


def test_bad_uploads_show_a_message_and_the_server_keeps_serving(served, tmp_path):
    url, clips = served
    with _demo_page(url) as page:
        for path, words in _bad_uploads(tmp_path):
            page.locator("#input_audio input[type=file]").set_input_files(str(path))
            page.wait_for_timeout(500)  # the page's own type check (a toast) or the loaded clip
            if path.suffix != ".txt":
                page.click("#run")
            toast = page.get_by_test_id("toast-body").filter(has_text=words)
            toast.first.wait_for(timeout=60000)  # the message, readable, in the page
            assert "internal error" not in page.get_by_test_id("toast-body").first.inner_text()
            for close in page.get_by_test_id("toast-close").all():
                close.click()
            clear = page.locator("#input_audio button[aria-label='Clear']")
            if clear.count():
                clear.first.click()
        assert page.locator("#out_mel_0 img").count() == 0  # no bad upload produced an output
        # a good clip after the bad ones: the server still answers, with the whole clip
        _upload(page, clips[1])
        page.click("#run")
        page.wait_for_selector("#out_mel_0 img", timeout=90000)
        _first_output(page, clips[1])
