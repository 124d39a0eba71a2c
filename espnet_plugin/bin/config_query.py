#!/usr/bin/env python3
"""Read one value of a YAML config for shell scripts.

    python -m espnet_plugin.bin.config_query exp/configs/tuning/train_svae_jmas.yaml distill_conf.terms --len   # -> 2
    python -m espnet_plugin.bin.config_query exp/configs/tuning/train_svae_jmas.yaml encoder                    # -> dac
"""
import argparse
import sys

import yaml


def main(cmd=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config")
    p.add_argument("key", help="dotted path, e.g. distill_conf.terms")
    p.add_argument("--len", action="store_true", help="print the length of a list/dict value (0 when absent)")
    p.add_argument("--default", default="")
    args = p.parse_args(cmd)
    with open(args.config, encoding="utf-8") as f:
        value = yaml.safe_load(f) or {}
    for part in args.key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if args.len:
        print(len(value) if value else 0)
    elif value is None:
        print(args.default)
    else:
        print(value if not isinstance(value, (list, dict)) else yaml.safe_dump(value, default_flow_style=True).strip())
    sys.stdout.flush()


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
