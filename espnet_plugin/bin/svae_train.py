#!/usr/bin/env python3
"""Train the speech VAE with ESPnet: ``python -m espnet_plugin.bin.svae_train --config ...``."""
from espnet_plugin.tasks.speech_vae import SpeechVAETask


def get_parser():
    return SpeechVAETask.get_parser()


def main(cmd=None):
    SpeechVAETask.main(cmd=cmd)


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
