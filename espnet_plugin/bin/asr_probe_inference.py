#!/usr/bin/env python3
"""Decode with an ASR probe: batched greedy CTC, or ``espnet2.bin.asr_inference`` (probe frontends registered).

    # greedy CTC, a batch at a time (the recipe's default decode of its CTC-only probes)
    python -m espnet_plugin.bin.asr_probe_inference --greedy_ctc true --batch_size 16 \
        --asr_train_config exp/probe_x/config.yaml --asr_model_file exp/probe_x/valid.loss.ave.pth \
        --data_path_and_name_and_type dump/raw/test/wav.scp,speech,sound --output_dir ... --ngpu 0
    # any other decoding: ESPnet's asr_inference and its options (e.g. --config decode_ctc_beam.yaml)
    python -m espnet_plugin.bin.asr_probe_inference --config conf/probe/decode_ctc_beam.yaml ...

Writes ``<output_dir>/1best_recog/text`` (ESPnet's layout).
"""
from __future__ import annotations

import argparse
import logging
import sys

from espnet_plugin.probe.register import register_probe_frontends


def get_greedy_parser() -> argparse.ArgumentParser:
    """Options of the batched greedy CTC decoding (``--greedy_ctc true``)."""
    from espnet2.utils.types import str2bool

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--greedy_ctc", type=str2bool, default=True)
    p.add_argument("--asr_train_config", required=True)
    p.add_argument("--asr_model_file", required=True)
    p.add_argument("--data_path_and_name_and_type", required=True, action="append",
                   type=lambda s: tuple(s.split(",")), help="path,name,type (ESPnet's data spec)")
    p.add_argument("--key_file", default=None)
    p.add_argument("--output_dir", required=True)
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--ngpu", type=int, default=0)
    p.add_argument("--log_level", default="INFO")
    return p


def get_parser():
    """ESPnet's ASR inference parser (the options of the non-greedy path)."""
    from espnet2.bin.asr_inference import get_parser as _get_parser

    return _get_parser()


def main(cmd=None) -> None:
    """Greedy CTC with ``--greedy_ctc true``, else ``espnet2.bin.asr_inference.main``."""
    register_probe_frontends()
    argv = list(sys.argv[1:] if cmd is None else cmd)
    if "-h" in argv or "--help" in argv:   # both modes' options: greedy first, then ESPnet's
        print(get_greedy_parser().format_help())
        print("Without --greedy_ctc true, ESPnet's asr_inference options:\n")
    if "--greedy_ctc" in argv and argv[argv.index("--greedy_ctc") + 1].lower() == "true":
        from espnet_plugin.probe.greedy import decode_greedy

        args = get_greedy_parser().parse_args(argv)
        logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        decode_greedy(args.asr_train_config, args.asr_model_file, args.data_path_and_name_and_type,
                      args.output_dir, key_file=args.key_file, batch_size=args.batch_size,
                      device="cuda" if args.ngpu > 0 else "cpu")
        return
    from espnet2.bin.asr_inference import main as asr_inference_main

    asr_inference_main(argv)


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
