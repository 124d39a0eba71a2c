"""Gradio layout of the demo: resynthesis side by side (+ a latent TTS tab), pictures, launch.

The back end (models, conversion, validation, metrics) is :mod:`espnet_plugin.demo.inference`;
here its ``DataError``/``ConfigError`` become ``gr.Error`` pop-ups. One output column per
model given on the command line; the columns of unselected models are hidden.

API (``gradio_client``): ``/resynthesize(audio, models, compute_metrics)`` returns the input
mel picture (png path), then per model in command-line order its audio (wav path), mel and
latent pictures (None for unselected models), then the metrics table (``{"headers", "data"}``).
``/tts(prompt, prompt_text, target_text, nfe, cfg_strength, seed)`` returns (wav, mel picture).
"""
from __future__ import annotations

import logging
import math
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

from espnet_plugin.demo.inference import DEMO_METRICS, FS, ModelBank, TTSDemo, run_resynthesis
from espnet_plugin.errors import ConfigError, EspnetPluginError
from espnet_plugin.io.audio import encode_wav, resolve_listed_path

logger = logging.getLogger(__name__)

METRIC_LABELS = {"pesq": "PESQ ↑", "stoi": "STOI ↑", "spk_sim": "speaker sim. ↑", "mos": "MOS est. ↑",
                 "mel_distance": "mel dist. ↓"}
AUDIO_EXTS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".aiff", ".aif", ".au", ".caf")
DELETE_CACHE = (3600, 3600)  # gradio's delete_cache: hourly, the files older than an hour
CSS = """
.model-col {border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px;}
.model-col h3 {margin: 0 0 2px 0;}
.model-col p {margin: 0 0 6px 0; color: var(--body-text-color-subdued); font-size: 0.9em;}
"""


# ---------------------------------------------------------------- examples
def read_examples(source: Optional[Union[str, Path]], n: int = 4) -> list[tuple[str, Path]]:
    """First ``n`` (utterance id, file) pairs of a ``wav.scp`` or an audio dir (sorted).

    ``wav.scp`` lines that are commands (``... |``) or point at missing files are skipped.
    """
    if not source:
        return []
    p = Path(source)
    out: list[tuple[str, Path]] = []
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in AUDIO_EXTS and f.is_file())
        return [(f.stem, f) for f in files[:n]]
    if not p.is_file():
        raise ConfigError(f"--examples {source}: neither a wav.scp nor a directory")
    with open(p, encoding="utf-8") as f:
        for line in f:
            parts = line.strip().split(maxsplit=1)
            if len(parts) != 2 or parts[1].endswith("|"):
                continue
            wav = resolve_listed_path(parts[1], p.parent)
            if wav.is_file():
                out.append((parts[0], wav))
            if len(out) >= n:
                break
    return out


# ---------------------------------------------------------------- pictures
def _render(draw: Callable[[Any], None], width: float = 5.0, height: float = 2.2) -> np.ndarray:
    """Draw on a fresh (thread-safe, pyplot-free) figure -> (H, W, 3) uint8 RGB image."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    canvas = FigureCanvasAgg(fig)
    draw(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def mel_range(mel: np.ndarray) -> tuple[float, float]:
    """Colour range (vmin, vmax) of a log-mel picture: the top 9 natural-log units of ``mel``."""
    top = float(mel.max())
    return top - 9.0, top


def mel_picture(wav: np.ndarray, title: str, vrange: Optional[tuple[float, float]] = None,
                mel: Optional[np.ndarray] = None) -> np.ndarray:
    """Log-mel spectrogram (80 bands, hop 256, the ``mel_distance`` front end) of (N,) 16 kHz audio.

    ``vrange`` = (vmin, vmax) in natural-log units, shared by input and outputs for comparison
    (default: :func:`mel_range` of this clip).  ``mel``: the (80, T) ``log_mel(wav)`` when the
    caller has it already (it is not computed again).
    """
    from espnet_plugin.metrics.reconstruction import log_mel

    m = log_mel(wav) if mel is None else mel  # (80, T)
    vmin, vmax = vrange if vrange else mel_range(m)

    def draw(fig):
        ax = fig.add_subplot()
        im = ax.imshow(m, origin="lower", aspect="auto", cmap="magma", vmin=vmin, vmax=vmax,
                       extent=(0, len(wav) / FS, 0, m.shape[0]), interpolation="nearest")
        ax.set(title=title, xlabel="time (s)", ylabel="mel band")
        fig.colorbar(im, ax=ax, label="log |mel|", pad=0.01)

    return _render(draw)


def latent_picture(z: np.ndarray, title: str, frame_rate: float = 40.0) -> np.ndarray:
    """Latent (T, D) shown as a (D, T) image, symmetric colour range at the 99th percentile |z|."""
    lim = float(np.percentile(np.abs(z), 99)) if z.size else 1.0
    lim = lim if math.isfinite(lim) and lim > 0 else 1.0

    def draw(fig):
        ax = fig.add_subplot()
        im = ax.imshow(z.T, origin="lower", aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim,
                       extent=(0, z.shape[0] / frame_rate, 0, z.shape[1]), interpolation="nearest")
        ax.set(title=title, xlabel="time (s)", ylabel="latent dim")
        fig.colorbar(im, ax=ax, label="z", pad=0.01)

    return _render(draw)


def metrics_table(
    results: Sequence[Any], audio_seconds: float, names: Sequence[str]
) -> tuple[list[str], list[list[str]]]:
    """Headers and rows (model, time, real-time factor, metrics) for the table."""
    headers = ["model", "time (s)", "RTF"] + [METRIC_LABELS.get(n, n) for n in names]
    rows = []
    for r in results:
        vals = [r.metrics.get(n, float("nan")) for n in names]
        rows.append([r.name, f"{r.seconds:.2f}", f"{r.seconds / max(audio_seconds, 1e-9):.3f}"]
                    + ["n/a" if not math.isfinite(v) else f"{v:.3f}" for v in vals])
    return headers, rows


# ---------------------------------------------------------------- per-request output files
def new_request_dir(root: Path, max_age_s: float = DELETE_CACHE[1]) -> Path:
    """A fresh, uniquely named directory (``tempfile.mkdtemp``) under ``root`` for one request's files.

    Identical requests give identical bytes; gradio names the files it writes by their content,
    so two such requests wrote the same file while it was being served (a truncated download).
    Files written here are never shared; as ``root`` lies in gradio's cache, gradio serves them
    without copying and deletes them on the ``delete_cache`` schedule. Directories left empty by
    that schedule and older than ``max_age_s`` are removed here.
    """
    root.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for d in root.iterdir():
        try:
            if d.is_dir() and now - d.stat().st_mtime > max_age_s:
                d.rmdir()  # fails (OSError) unless gradio's schedule has removed its files
        except OSError:
            pass
    return Path(tempfile.mkdtemp(prefix="req-", dir=root))


def _file_stem(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "model"


def save_wav(d: Path, stem: str, wav: np.ndarray, fs: int) -> str:
    """``wav`` (N,) as ``d/<stem>.wav`` (16-bit PCM); returns the path."""
    p = d / f"{_file_stem(stem)}.wav"
    p.write_bytes(encode_wav(wav, fs))
    return str(p)


def save_png(d: Path, stem: str, img: np.ndarray) -> str:
    """(H, W, 3) uint8 picture as ``d/<stem>.png``; returns the path."""
    from PIL import Image

    p = d / f"{_file_stem(stem)}.png"
    Image.fromarray(img).save(p, format="PNG")
    return str(p)


def _user_error(exc: Exception):
    """Our errors -> their message; anything else -> a generic message (details in the log)."""
    import gradio as gr

    if isinstance(exc, (EspnetPluginError, gr.Error)):
        return gr.Error(str(exc))
    logger.exception("demo request failed")
    return gr.Error(f"internal error ({type(exc).__name__}); see the server log")


# ---------------------------------------------------------------- layout
def build_demo(
    bank: ModelBank,
    tts: Optional[TTSDemo] = None,
    examples: Sequence[tuple[str, Path]] = (),
    max_seconds: float = 30.0,
    metrics: Sequence[str] = DEMO_METRICS,
):
    """Build the ``gr.Blocks`` app (not launched). See the module docstring for the API.

    Args:
        bank: the models offered.
        tts: the latent TTS (adds its tab), or None.
        examples: (utterance id, file) example clips, e.g. from :func:`read_examples`.
        max_seconds: longest accepted input clip.
        metrics: reconstruction metrics shown per clip.
    """
    import gradio as gr
    import pandas as pd

    from espnet_plugin.metrics.reconstruction import log_mel

    names = bank.names
    ex = list(examples)
    rates = sorted({float(bank.get(n).fs) / bank.get(n).hop_length for n in names})
    with gr.Blocks(title="Speech VAE demo", analytics_enabled=False, delete_cache=DELETE_CACHE) as demo:
        out_root = Path(demo.GRADIO_CACHE) / "espnet_plugin_demo"
        gr.Markdown(
            "# Speech VAE: hear what each loss does\n"
            f"Speech is encoded to **{' / '.join(f'{r:g}' for r in rates)} Hz latents** and decoded back by "
            "every selected model. "
            f"Upload or record up to **{max_seconds:g} s** (any common format, sample rate and "
            "channel count; converted to 16 kHz mono)."
        )
        with gr.Tab("Resynthesis"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=2, min_width=320):
                    audio_in = gr.Audio(sources=["upload", "microphone"], type="filepath", format=None,
                                        label="Input speech", elem_id="input_audio")
                    models = gr.CheckboxGroup(names, value=names, label="Models", elem_id="models")
                    shown = ", ".join(METRIC_LABELS.get(m, m).rstrip(" ↑↓") for m in metrics) or "none configured"
                    with_metrics = gr.Checkbox(value=bool(metrics), interactive=bool(metrics),
                                               label=f"Compute metrics ({shown})")
                    run = gr.Button("Resynthesise", variant="primary", elem_id="run")
                with gr.Column(scale=3, min_width=320):
                    mel_in = gr.Image(label="Input: mel spectrogram", type="numpy", format="png", show_label=False,
                                      interactive=False, elem_id="input_mel", buttons=["download"])
            if ex:
                gr.Examples([[str(p)] for _, p in ex], inputs=[audio_in], example_labels=[u for u, _ in ex],
                            label="Test-set clips (click one)")
            slots = []
            with gr.Row(equal_height=False):
                for k, n in enumerate(names):
                    with gr.Column(min_width=300, elem_classes=["model-col"], elem_id=f"col_{k}") as col:
                        gr.Markdown(f"### {n}\n{bank.describe(n)}")
                        a = gr.Audio(label=f"{n}: resynthesis", type="filepath", interactive=False,
                                     elem_id=f"out_audio_{k}", buttons=["download"])
                        m = gr.Image(label=f"{n}: mel", format="png", interactive=False, elem_id=f"out_mel_{k}",
                                     buttons=["download"], show_label=False)
                        z = gr.Image(label=f"{n}: latent (D x T)", format="png", interactive=False,
                                     elem_id=f"out_latent_{k}", buttons=["download"], show_label=False)
                    slots.append((col, a, m, z))
            table = gr.Dataframe(value=[["", "", ""] + [""] * len(metrics)],
                                 headers=metrics_table([], 1.0, metrics)[0], label="Per-clip metrics and speed",
                                 interactive=False, elem_id="metrics", wrap=True)

        def resynth(audio, models, compute_metrics):
            try:
                wav, results = run_resynthesis(bank, audio, models, max_seconds,
                                               metrics if compute_metrics else ())
            except Exception as exc:  # noqa: BLE001
                raise _user_error(exc) from exc
            log_mel_in = log_mel(wav)  # once: the input picture and the shared colour range
            lm = mel_range(log_mel_in)
            by_name = {r.name: r for r in results}
            d = new_request_dir(out_root)
            out: list[Any] = [save_png(d, "input_mel", mel_picture(wav, "input", lm, log_mel_in))]
            for k, n in enumerate(names):
                r = by_name.get(n)
                if r is None:
                    out += [gr.Column(visible=False), None, None, None]
                    continue
                out += [gr.Column(visible=True), save_wav(d, f"{n}_resynthesis", r.wav, FS),
                        save_png(d, f"{n}_mel", mel_picture(r.wav, n, lm)),
                        save_png(d, f"{n}_latent", latent_picture(r.latent, f"{n}: latent",
                                                                  FS / bank.get(n).hop_length))]
            headers, rows = metrics_table(results, len(wav) / FS, metrics if compute_metrics else ())
            out.append(pd.DataFrame(rows, columns=headers))
            return out

        outputs = [mel_in] + [c for s in slots for c in s] + [table]
        run.click(resynth, [audio_in, models, with_metrics], outputs, api_name="resynthesize")
        if tts is not None:
            _tts_tab(tts, max_seconds, out_root)
    return demo


def _tts_tab(tts: TTSDemo, max_seconds: float, out_root: Path) -> None:
    """Zero-shot TTS tab: prompt audio + prompt text + target text -> speech (``/tts`` endpoint)."""
    import gradio as gr

    with gr.Tab("Latent TTS"):
        gr.Markdown(f"Flow-matching TTS on the latents of **{tts.vae_name}**: the prompt sets the voice.")
        with gr.Row():
            with gr.Column():
                prompt = gr.Audio(sources=["upload", "microphone"], type="filepath", format=None,
                                  label=f"Voice prompt (≤ {max_seconds:g} s)", elem_id="tts_prompt")
                prompt_text = gr.Textbox(label="Transcript of the prompt", lines=2, max_length=400)
                target_text = gr.Textbox(label="Text to speak", lines=3, max_length=400)
                with gr.Row():
                    nfe = gr.Slider(1, 64, value=16, step=1, label="NFE (ODE steps)")
                    cfg = gr.Slider(0.0, 5.0, value=2.0, step=0.1, label="CFG strength")
                    seed = gr.Number(value=0, precision=0, label="seed")
                go = gr.Button("Synthesise", variant="primary", elem_id="tts_run")
            with gr.Column():
                out = gr.Audio(label="Generated speech", type="filepath", interactive=False, elem_id="tts_out")
                mel = gr.Image(label="Generated: mel spectrogram", format="png", interactive=False,
                               show_label=False, elem_id="tts_mel")

        def synth(prompt, prompt_text, target_text, nfe, cfg_strength, seed):
            try:
                wav = tts.synthesize(prompt, prompt_text, target_text, int(nfe), float(cfg_strength),
                                     int(seed or 0), max_seconds)
            except Exception as exc:  # noqa: BLE001
                raise _user_error(exc) from exc
            d = new_request_dir(out_root)
            return save_wav(d, "tts", wav, tts.fs), save_png(d, "tts_mel", mel_picture(wav, "generated"))

        go.click(synth, [prompt, prompt_text, target_text, nfe, cfg, seed], [out, mel], api_name="tts")


def launch(demo, host: str = "127.0.0.1", port: Optional[int] = 7860, share: bool = False,
           max_upload_mb: float = 20.0, concurrency: int = 2, allowed_paths: Sequence[str] = (),
           block: bool = True):
    """Queue (``concurrency`` requests at once, 32 waiting) and serve; returns gradio's launch result."""
    import gradio as gr

    demo.queue(default_concurrency_limit=concurrency, max_size=32)
    theme = gr.themes.Soft(font=["system-ui", "Helvetica", "Arial", "sans-serif"],
                           font_mono=["ui-monospace", "monospace"])
    return demo.launch(
        server_name=host, server_port=port, share=share, max_file_size=int(max_upload_mb * 1024 * 1024),
        allowed_paths=list(allowed_paths), show_error=False, prevent_thread_lock=not block,
        theme=theme, css=CSS, footer_links=["api", "settings"], quiet=False,
    )
