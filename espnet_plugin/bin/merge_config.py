#!/usr/bin/env python3
"""Write the full training config ESPnet receives, from a base and override files.

    python -m espnet_plugin.bin.merge_config conf/cpu/base.yaml conf/losses/jmas.yaml -o train.yaml
    python -m espnet_plugin.bin.merge_config cpu/jmas --set distill_conf.terms.mcos.conf.m1=0.25   # to stdout
    python -m espnet_plugin.bin.merge_config --resolve cpu/jmas --out_dir exp/configs   # prints the path
    python -m espnet_plugin.bin.merge_config --list cpu                                  # the losses of a scale

Positional arguments are files merged in order, or one config spec (``[<scale>/]<loss>``, or a path:
an override beside a ``base.yaml`` merges onto it, any other YAML is a full config). ``--resolve``
writes ``<out_dir>/<scale>/train_svae_<loss>.yaml`` (untouched when unchanged) and prints its path; a full
config without ``--set`` is printed as is. The merge rule (mappings merge, lists replace, ``null``
deletes, ``_replace_: true`` replaces a mapping whole) is in espnet_plugin/config_merge.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from espnet_plugin import config_merge as cm
from espnet_plugin.errors import ConfigError


def main(cmd=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("configs", nargs="*", help="files merged in order, or one config spec")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override one value after merging (repeatable), e.g. distill_conf.terms.mcos.conf.m1=0.25")
    p.add_argument("-o", "--output", help="write here (default: stdout)")
    p.add_argument("--resolve", metavar="SPEC", help="write SPEC's full config into --out_dir, print its path")
    p.add_argument("--out_dir", default="exp/configs", help="where --resolve writes")
    p.add_argument("--conf_dir", default="conf", help="the folder of the scales and conf/losses")
    p.add_argument("--list", metavar="SCALE", help="print the loss names SCALE resolves")
    args = p.parse_args(cmd)
    try:
        _run(p, args)
    except ConfigError as e:
        sys.exit(f"merge_config: {e}")
    sys.stdout.flush()


def _run(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.list:
        print(" ".join(cm.losses(args.conf_dir, args.list)))
    elif args.resolve:
        print(cm.materialize(args.resolve, args.out_dir, args.conf_dir, tuple(args.sets)))
    elif args.configs:
        files = [Path(c) for c in args.configs]
        if len(files) == 1:
            files, _ = cm.resolve(args.configs[0], args.conf_dir)
        cfg = cm.merge_files(files)
        for s in args.sets:
            cm.apply_set(cfg, s)
        text = cm.dump(cfg, files)
        if args.output:
            cm.write_if_changed(args.output, text)
        else:
            sys.stdout.write(text)
    else:
        p.error("give config files, a config spec, --resolve SPEC or --list SCALE")


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
