#!/usr/bin/env python3
"""Decode with an ASR probe: ``espnet2.bin.asr_inference`` with the probe frontends registered.

    python -m espnet_plugin.bin.asr_probe_inference --config conf/probe/decode_ctc_greedy.yaml \
        --asr_train_config exp/probe_x/config.yaml --asr_model_file exp/probe_x/valid.loss.ave.pth \
        --data_path_and_name_and_type dump/raw/test/wav.scp,speech,sound --output_dir ... --ngpu 0

Writes ``<output_dir>/1best_recog/text`` (ESPnet's layout).
"""
from espnet_plugin.probe.register import register_probe_frontends


def get_parser():
    """ESPnet's ASR inference parser."""
    from espnet2.bin.asr_inference import get_parser as _get_parser

    return _get_parser()


def main(cmd=None) -> None:
    """Register the probe frontends, then run ``espnet2.bin.asr_inference.main``."""
    register_probe_frontends()
    from espnet2.bin.asr_inference import main as asr_inference_main

    asr_inference_main(cmd)


if __name__ == "__main__":
    main()
