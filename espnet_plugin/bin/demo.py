#!/usr/bin/env python3
"""Gradio demo: listen to resyntheses of several trained speech VAEs side by side.

    python -m espnet_plugin.bin.demo --exp exp/svae_vanilla --exp exp/svae_jmas \\
        [--tts_exp exp/tts_jmas [--tts_vae_exp exp/svae_jmas]] [--examples dump/raw/test/wav.scp] \\
        [--host 127.0.0.1] [--port 7860] [--share false] [--max_seconds 30] [--max_upload_mb 20]

``--exp [NAME=]DIR``: a trained VAE dir (``config.yaml`` + ESPnet ``*.pth``) or a packed one
(``config.yaml`` + ``model.pth`` + ``model.pth.sha256``) or an ESPnet-style pack ``.zip``
(``espnet_plugin.bin.pack``; ``--tts_exp`` takes a TTS pack too); only these models can be selected.
Safe defaults: binds 127.0.0.1, no public link unless ``--share true``, uploads above
``--max_upload_mb`` and clips above ``--max_seconds`` are refused, weights are loaded with
``torch.load(weights_only=True)``, requests are queued (``--concurrency`` at once).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from typing import Optional, Sequence


def get_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    from espnet2.utils.types import str2bool

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp", action="append", required=True, help="[NAME=]DIR of a trained/packed VAE, or [NAME=]PACK.zip (repeat)")
    p.add_argument("--tts_exp", default=None, help="latent TTS exp dir or TTS pack .zip (adds the TTS tab)")
    p.add_argument("--tts_vae_exp", default=None, help="VAE the TTS was trained on (default: from its config)")
    p.add_argument("--examples", default=None, help="wav.scp or audio dir: its first clips become examples")
    p.add_argument("--num_examples", type=int, default=4)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", type=str2bool, default=False, help="create a public gradio.live link")
    p.add_argument("--max_seconds", type=float, default=30.0)
    p.add_argument("--max_upload_mb", type=float, default=20.0)
    p.add_argument("--metrics", default="pesq,stoi,spk_sim,mos",
                   help="comma list of reconstruction metrics ('' = none)")
    p.add_argument("--concurrency", type=int, default=2, help="requests processed at once")
    p.add_argument("--device", default="cpu")
    p.add_argument("--warmup", type=str2bool, default=True,
                   help="load the metric judges in the background at start (the first request is then not slow)")
    return p


def warm_up_judges(metrics: Sequence[str]) -> threading.Thread:
    """Run every metric once on 2 s of synthetic audio in a daemon thread (JIT, weights)."""
    import numpy as np

    from espnet_plugin.demo.inference import FS, clip_metrics

    t = np.arange(2 * FS) / FS
    x = (0.3 * np.sin(2 * np.pi * 150 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    th = threading.Thread(target=clip_metrics, args=(x, 0.9 * x, tuple(metrics)), name="judge-warmup", daemon=True)
    th.start()
    return th


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """Load the models (once), build the app and serve it until interrupted."""
    args = get_parser().parse_args(cmd)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from espnet_plugin.demo.app import build_demo, launch, read_examples
    from espnet_plugin.demo.inference import ModelBank, TTSDemo
    from espnet_plugin.errors import EspnetPluginError
    from espnet_plugin.metrics.registry import get_metric

    try:
        metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
        for m in metrics:
            get_metric(m, axis="reconstruction")
        if args.max_seconds <= 0 or args.max_upload_mb <= 0 or args.concurrency < 1:
            raise ValueError("--max_seconds, --max_upload_mb and --concurrency must be positive")
        bank = ModelBank(args.exp, device=args.device)
        tts = TTSDemo(args.tts_exp, args.tts_vae_exp, args.exp, args.device) if args.tts_exp else None
        examples = read_examples(args.examples, args.num_examples)
    except (EspnetPluginError, ValueError) as e:
        logging.error(str(e))
        sys.exit(2)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        logging.warning(f"binding {args.host}: the demo is reachable from other machines")
    if args.share:
        logging.warning("--share true: a PUBLIC gradio.live link is created; anyone with it can use the demo")
    logging.info(f"models: {', '.join(bank.names)}; {len(examples)} example clips"
                 + (f"; TTS on {tts.vae_name}" if tts else "; no TTS tab (no --tts_exp)"))
    logging.info(f"demo URL: http://{args.host}:{args.port}")
    demo = build_demo(bank, tts, examples, args.max_seconds, metrics)
    if args.warmup and metrics:
        warm_up_judges(metrics)
    launch(demo, args.host, args.port, args.share, args.max_upload_mb, args.concurrency)


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
