#!/usr/bin/env python3
"""Write the JMAS margin-sweep configs: one copy of a base config per (m1, m2) pair.

    python -m espnet_plugin.bin.make_margin_configs --base cpu/jmas \
        --grid "0.25,0.1 0.5,0.25 0.75,0.5" --out_dir exp/margin_configs

``--base`` is a config spec or path, as ``espnet_plugin.bin.merge_config`` resolves it. For each
``m1,m2`` writes ``<out_dir>/train_svae_jmas_m1-<m1>_m2-<m2>.yaml``: the base with the ``m1`` of
every ``mcos`` term and the ``m2`` of every ``mdms`` term replaced, as the merge tool's ``--set`` does
(``distill_conf.terms.mcos.conf.m1=<m1>``; the rows' names carry the margins, which the summary reads
to draw the overall score over the (m1, m2) grid). Prints the paths.

    python -m espnet_plugin.bin.make_margin_configs --margins_of exp/configs/cpu/train_svae_jmas.yaml   # -> 0.5,0.25

prints the (m1, m2) of a config with mcos and mdms terms (nothing for any other config): the
recipe records it with the config's scores, so the base config takes its place in the grid too.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

from espnet_plugin import config_merge as cm
from espnet_plugin.errors import ConfigError


def margin_config(base: dict, m1: float, m2: float) -> dict:
    names = {t["name"] for t in ((base.get("distill_conf") or {}).get("terms") or [])}
    if not {"mcos", "mdms"} <= names:
        raise ConfigError(f"a margin sweep needs mcos and mdms terms; the base has {sorted(names)}")
    cfg = copy.deepcopy(base)
    cm.set_path(cfg, "distill_conf.terms.mcos.conf.m1", m1)
    cm.set_path(cfg, "distill_conf.terms.mdms.conf.m2", m2)
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
        m = margins_of(cm.merge_files(cm.resolve(args.margins_of)[0]))
        print("" if m is None else f"{m[0]:g},{m[1]:g}")
        return
    if not (args.base and args.grid and args.out_dir):
        p.error("--base, --grid and --out_dir are required (or --margins_of CONFIG)")
    files, name = cm.resolve(args.base)
    base = cm.merge_files(files)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(name).name
    for pair in args.grid.split():
        try:
            m1, m2 = (float(x) for x in pair.split(","))
        except ValueError:
            raise ConfigError(f"bad margin pair {pair!r}: expected 'm1,m2'") from None
        path = out / f"{stem}_m1-{m1:g}_m2-{m2:g}.yaml"
        cm.write_if_changed(path, cm.dump(margin_config(base, m1, m2), files))  # unchanged: mtime kept
        print(path)


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
