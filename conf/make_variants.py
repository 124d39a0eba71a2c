#!/usr/bin/env python3
"""Regenerate the loss variants of a base speech-VAE config (descript-audio-codec style).

    python conf/make_variants.py conf/tuning/train_svae_vanilla.yaml   # writes train_svae_<variant>.yaml beside it
    python conf/make_variants.py conf/cpu/train_svae_vanilla.yaml jmas_2layer   # only that variant

Each variant is the base with only its ``distill_conf`` block replaced, so
``diff <base> <variant>`` shows the loss and nothing else (a test checks it).

``jmas_2layer`` is the "two terms on two teacher layers" variant (LOSSES.md item 7): the pairwise
term on a lower layer (``LOWER_LAYER`` of the base's folder; our choice, the paper's layer is not
published), the per-frame term on the teacher's configured layer. The CPU folders use layer 1 of
the 3-layer tiny HuBERT (whose configured layer is -1 = 2); a cached run dumps the lower layer
too (recipe: ``--teacher_extra_layers``).
"""
import sys
from pathlib import Path

BLOCK = "distill_conf:\n    terms: []\n"
PROJ = "    projection: {direction: latent_to_teacher, head: linear}\n"
ADAPTIVE = "    weighting: adaptive\n    w_ssl: 2.5\n"
FIXED = "    weighting: fixed\n    w_ssl: 1.0\n"
MDMS = "    -   {name: mdms, conf: {m2: 0.25, scope: batch}}\n"
MCOS = "    -   {name: mcos, conf: {m1: 0.5}}\n"
LOWER_LAYER = {"tuning": 12, "cpu": 1, "evidence": 1}   # the pairwise term's layer in jmas_2layer
MDMS_LOW = "    -   {name: mdms, layer: LOWER, conf: {m2: 0.25, scope: batch}}\n"
VARIANTS = {
    "tas": "    -   {name: tas}\n" + PROJ + ADAPTIVE,
    "daxis": "    -   {name: daxis}\n" + PROJ + ADAPTIVE,
    "mcos": MCOS + PROJ + ADAPTIVE,
    "mdms": MDMS + PROJ + ADAPTIVE,
    "jmas": MDMS + MCOS + PROJ + ADAPTIVE,
    "jmas_fixed": MDMS + MCOS + PROJ + FIXED,
    "jmas_2layer": MDMS_LOW + MCOS + PROJ + ADAPTIVE,
}


def main(base_path: str, only: str = "") -> None:
    base = Path(base_path)
    lower = str(LOWER_LAYER.get(base.resolve().parent.name, 12))
    text = base.read_text()
    if BLOCK not in text:
        sys.exit(f"{base}: no vanilla block {BLOCK!r}")
    for name, terms in VARIANTS.items():
        if only and name != only:
            continue
        out = base.with_name(f"train_svae_{name}.yaml")
        out.write_text(text.replace(BLOCK, "distill_conf:\n    terms:\n" + terms.replace("LOWER", lower)))
        print(out)


if __name__ == "__main__":
    main(*sys.argv[1:3])
