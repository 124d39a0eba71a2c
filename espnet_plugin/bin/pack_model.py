#!/usr/bin/env python3
"""Pack a trained speech VAE for sharing: config + generator weights + checksum + model card.

    python -m espnet_plugin.bin.pack_model --exp_dir exp/svae_jmas --model_file exp/svae_jmas/valid.mrstft_loss.ave.pth \
        --out_dir exp/svae_jmas/packed [--outpath exp/svae_jmas/svae_jmas.zip]

Writes ``config.yaml`` (the training config), ``model.pth`` (generator weights only: the
discriminator and the distillation projection head are training-time parts and are dropped),
``model.pth.sha256`` (verified by :func:`espnet_plugin.vae.loading.load_svae`) and ``README.md``
(a model card: architecture, latent rate and size, alignment terms, teacher, data, metrics when scored).
``--outpath X.zip`` also writes the ESPnet-style pack (``meta.yaml``, :mod:`espnet_plugin.pack`) of
those weights with the model card, loadable by :func:`espnet_plugin.hub.load_pretrained_svae`.
"""

from __future__ import annotations

import argparse
import glob
import json
import logging
import tempfile
from pathlib import Path

from espnet_plugin.io.kaldi_dir import write_text_atomic
from espnet_plugin.train.safe_trainer import atomic_save
from espnet_plugin.vae.loading import load_svae, load_svae_with_config, sha256_file


def model_card(cfg: dict, vae, metrics: dict | None, train_set: str, recipe: str) -> str:
    terms = (cfg.get("distill_conf") or {}).get("terms") or []
    teacher = cfg.get("teacher_conf") or {}
    n_params = sum(p.numel() for p in vae.parameters())
    lines = [
        f"# Speech VAE `{Path(cfg.get('output_dir') or 'model').name}`",
        "",
        "Packed by `espnet_plugin.bin.pack_model`. Load with:",
        "",
        "```python",
        "from espnet_plugin.vae.loading import load_svae",
        "vae = load_svae('config.yaml', 'model.pth')   # verifies model.pth.sha256",
        "z, n = vae.encode(wav)      # (B, N) 16 kHz -> (B, T, D) posterior mean",
        "wav_hat = vae.decode(z)     # (B, T * hop)",
        "```",
        "",
        "| field | value |",
        "|---|---|",
        f"| encoder / bottleneck / decoder | {cfg.get('encoder')} / {cfg.get('bottleneck')} / {cfg.get('decoder')} |",
        f"| sampling rate, hop, latent rate | {vae.fs} Hz, {vae.hop_length}, {vae.frame_rate:g} Hz |",
        f"| latent dim | {vae.latent_dim} |",
        f"| generator parameters | {n_params / 1e6:.2f} M |",
        f"| alignment terms | {', '.join(t['name'] + str(t.get('conf', '')) for t in terms) or 'none (vanilla)'} |",
        f"| weighting, w_ssl | {(cfg.get('distill_conf') or {}).get('weighting', '-')}, {(cfg.get('distill_conf') or {}).get('w_ssl', '-')} |",
        f"| teacher | {teacher.get('upstream')} layer {teacher.get('layer')} |" if terms else "| teacher | not used |",
        f"| training data | {train_set} ({recipe}) |",
    ]
    if metrics:
        lines += ["", "## Reconstruction (test set)", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4g} |" for k, v in metrics.items() if isinstance(v, (int, float))]
    return "\n".join(lines) + "\n"


def main(cmd=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp_dir", required=True)
    p.add_argument("--model_file", required=True)
    p.add_argument("--out_dir", required=True)
    p.add_argument("--outpath", default=None, help="also write an ESPnet-style pack (.zip, meta.yaml; "
                   "espnet_plugin.bin.pack svae) holding the model card")
    p.add_argument("--train_set", default="")
    p.add_argument("--recipe", default="")
    args = p.parse_args(cmd)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    exp, out = Path(args.exp_dir), Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vae, cfg = load_svae_with_config(exp / "config.yaml", args.model_file)
    # every file is written to a temporary name and renamed: an interrupted run leaves no partial file
    write_text_atomic(out / "config.yaml", (exp / "config.yaml").read_text(encoding="utf-8"))
    atomic_save(vae.state_dict(), out / "model.pth")
    write_text_atomic(out / "model.pth.sha256", f"{sha256_file(out / 'model.pth')}  model.pth\n")
    # the scores of this very model file: its decode dirs are decode_<model tag>_<set> (svae.sh, stage 8)
    model_tag = Path(args.model_file).name.removesuffix(".pth")
    scores = next(iter(sorted(exp.glob(f"decode_{glob.escape(model_tag)}_*/scores/metrics.json"))), None)
    metrics = json.loads(scores.read_text()).get("metrics") if scores is not None else None
    write_text_atomic(out / "README.md", model_card(cfg, vae, metrics, args.train_set, args.recipe))
    load_svae(out / "config.yaml", out / "model.pth")  # round trip + checksum
    if args.outpath:
        from espnet_plugin.bin.pack import pack_svae
        from espnet_plugin.hub import load_pretrained_svae

        pack_svae(exp / "config.yaml", out / "model.pth", args.outpath, options=[out / "README.md"])
        with tempfile.TemporaryDirectory() as tmp:
            load_pretrained_svae(args.outpath, cache_dir=tmp)  # round trip from a fresh unpack
        logging.info(f"packed {args.outpath} (ESPnet-style zip with meta.yaml)")
    logging.info(f"packed {out}: config.yaml, model.pth ({(out / 'model.pth').stat().st_size / 1e6:.1f} MB), model.pth.sha256, README.md")


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
