#!/usr/bin/env python3
"""Write the JMAS margin-sweep configs: one copy of a base config per (m1, m2) pair.

    python -m espnet_plugin.bin.make_margin_configs --base conf/cpu/train_svae_jmas.yaml \
        --grid "0.25,0.1 0.5,0.25 0.75,0.5" --out_dir exp/margin_configs

For each ``m1,m2`` writes ``<out_dir>/train_svae_jmas_m1-<m1>_m2-<m2>.yaml``: the base with the ``m1`` of
every ``mcos`` term and the ``m2`` of every ``mdms`` term replaced (the rows' names carry the margins,
which the summary reads to draw the overall score over the (m1, m2) grid). Prints the paths.
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


def main(cmd=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True)
    p.add_argument("--grid", required=True, help='space-separated "m1,m2" pairs')
    p.add_argument("--out_dir", required=True)
    args = p.parse_args(cmd)
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
    main()
