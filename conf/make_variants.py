#!/usr/bin/env python3
"""Regenerate the loss variants of a base speech-VAE config (descript-audio-codec style).

    python conf/make_variants.py conf/tuning/train_svae_vanilla.yaml   # writes train_svae_<variant>.yaml beside it
    python conf/make_variants.py conf/cpu/train_svae_vanilla.yaml jmas_2layer   # only that variant

Each variant is the base with only its ``distill_conf`` block replaced, so
``diff <base> <variant>`` shows the loss and nothing else (a test checks it). One exception,
stated here and checked by the same test: the Semantic-VAE baseline (``semantic``) also changes
two ``model_conf`` weights, KL 1e-3 -> 0.01 and mel loss 0 -> 15 (the paper's baseline setting,
../shared/reference/LOSSES.md), on top of the shared MR-STFT, adversarial and feature-matching losses.

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
# Semantic-VAE: the T-axis cosine with the projection the other way (teacher -> latent, a conv head),
# one fixed weight of 1.0 (1 - cos here, -cos there: the same gradient)
SEMANTIC = "    -   {name: tas}\n    projection: {direction: teacher_to_latent, head: conv}\n" + FIXED
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
    "semantic": SEMANTIC,
    "jmas_2layer": MDMS_LOW + MCOS + PROJ + ADAPTIVE,
}
# model_conf lines a variant changes besides its loss block: {variant: {base line: new line}}
MODEL_CONF = {
    "semantic": {"    lambda_mel: 0.0\n": "    lambda_mel: 15.0              # Semantic-VAE: mel loss x15\n",
                 "    lambda_kl: 0.001\n": "    lambda_kl: 0.01               # Semantic-VAE: KL x0.01\n"},
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
        variant = text.replace(BLOCK, "distill_conf:\n    terms:\n" + terms.replace("LOWER", lower))
        for old, new in MODEL_CONF.get(name, {}).items():
            if old not in variant:
                sys.exit(f"{base}: no line {old!r} for variant {name!r}")
            variant = variant.replace(old, new)
        out.write_text(variant)
        print(out)


if __name__ == "__main__":
    main(*sys.argv[1:3])
