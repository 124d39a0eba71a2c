#!/usr/bin/env python3
"""Regenerate the loss variants of a base speech-VAE config (descript-audio-codec style).

    python conf/make_variants.py conf/tuning/train_svae_vanilla.yaml   # writes train_svae_<variant>.yaml beside it

Each variant is the base with only its ``distill_conf`` block replaced, so
``diff <base> <variant>`` shows the loss and nothing else (a test checks it).
"""
import sys
from pathlib import Path

BLOCK = "distill_conf:\n    terms: []\n"
PROJ = "    projection: {direction: latent_to_teacher, head: linear}\n"
ADAPTIVE = "    weighting: adaptive\n    w_ssl: 2.5\n"
FIXED = "    weighting: fixed\n    w_ssl: 1.0\n"
MDMS = "    -   {name: mdms, conf: {m2: 0.25, scope: batch}}\n"
MCOS = "    -   {name: mcos, conf: {m1: 0.5}}\n"
VARIANTS = {
    "tas": "    -   {name: tas}\n" + PROJ + ADAPTIVE,
    "daxis": "    -   {name: daxis}\n" + PROJ + ADAPTIVE,
    "mcos": MCOS + PROJ + ADAPTIVE,
    "mdms": MDMS + PROJ + ADAPTIVE,
    "jmas": MDMS + MCOS + PROJ + ADAPTIVE,
    "jmas_fixed": MDMS + MCOS + PROJ + FIXED,
}


def main(base_path: str) -> None:
    base = Path(base_path)
    text = base.read_text()
    if BLOCK not in text:
        sys.exit(f"{base}: no vanilla block {BLOCK!r}")
    for name, terms in VARIANTS.items():
        out = base.with_name(f"train_svae_{name}.yaml")
        out.write_text(text.replace(BLOCK, "distill_conf:\n    terms:\n" + terms))
        print(out)


if __name__ == "__main__":
    main(sys.argv[1])
