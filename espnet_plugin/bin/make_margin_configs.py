#!/usr/bin/env python3
"""Write the JMAS margin-sweep configs: one copy of a base config per (m1, m2) pair.

    python -m espnet_plugin.bin.make_margin_configs --base conf/cpu/train_svae_jmas.yaml \
        --grid "0.25,0.1 0.5,0.25 0.75,0.5" --out_dir exp/margin_configs

For each ``m1,m2`` writes ``<out_dir>/train_svae_jmas_m1-<m1>_m2-<m2>.yaml``: the base with the ``m1`` of
every ``mcos`` term and the ``m2`` of every ``mdms`` term replaced (the rows' names carry the margins,
which the summary reads to draw the overall score over the (m1, m2) grid). Prints the paths.

    python -m espnet_plugin.bin.make_margin_configs --margins_of conf/cpu/train_svae_jmas.yaml   # -> 0.5,0.25

prints the (m1, m2) of a config with mcos and mdms terms (nothing for any other config): the
recipe records it with the config's scores, so the base config takes its place in the grid too.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import yaml

from espnet_plugin.errors import ConfigError
from espnet_plugin.io.kaldi_dir import write_text_atomic


def margin_config(base: dict, m1: float, m2: float) -> dict:
    cfg = copy.deepcopy(base)
    terms = (cfg.get("distill_conf") or {}).get("terms") or []
    names = {t["name"] for t in terms}
    if not {"mcos", "mdms"} <= names:
        raise ConfigError(f"a margin sweep needs mcos and mdms terms; the base has {sorted(names)}")
    for t in terms:
        if t["name"] == "mcos":
            t.setdefault("conf", {})["m1"] = m1
        elif t["name"] == "mdms":
            t.setdefault("conf", {})["m2"] = m2
    return cfg


def margins_of(cfg: dict) -> tuple[float, float] | None:
    """(m1 of the mcos term, m2 of the mdms term), None unless the config has both terms."""
    terms = {t["name"]: t.get("conf") or {} for t in ((cfg.get("distill_conf") or {}).get("terms") or [])}
    if not {"mcos", "mdms"} <= set(terms):
        return None
    m1, m2 = terms["mcos"].get("m1"), terms["mdms"].get("m2")
    if m1 is None or m2 is None:   # the terms' own defaults (building them imports torch: only then)
        from espnet_plugin.distill import build_term

        m1 = build_term("mcos", **terms["mcos"]).m1 if m1 is None else m1
        m2 = build_term("mdms", **terms["mdms"]).m2 if m2 is None else m2
    return float(m1), float(m2)


def main(cmd=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", help="the JMAS config the sweep starts from")
    p.add_argument("--grid", help='space-separated "m1,m2" pairs')
    p.add_argument("--out_dir")
    p.add_argument("--margins_of", metavar="CONFIG", help="print 'm1,m2' of CONFIG (empty without mcos+mdms)")
    args = p.parse_args(cmd)
    if args.margins_of:
        m = margins_of(yaml.safe_load(Path(args.margins_of).read_text()) or {})
        print("" if m is None else f"{m[0]:g},{m[1]:g}")
        return
    if not (args.base and args.grid and args.out_dir):
        p.error("--base, --grid and --out_dir are required (or --margins_of CONFIG)")
    base = yaml.safe_load(Path(args.base).read_text())
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(args.base).stem
    for pair in args.grid.split():
        try:
            m1, m2 = (float(x) for x in pair.split(","))
        except ValueError:
            raise ConfigError(f"bad margin pair {pair!r}: expected 'm1,m2'") from None
        path = out / f"{stem}_m1-{m1:g}_m2-{m2:g}.yaml"
        text = yaml.safe_dump(margin_config(base, m1, m2), sort_keys=False)
        if not path.is_file() or path.read_text() != text:  # unchanged files keep their mtime
            write_text_atomic(path, text)
        print(path)


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
