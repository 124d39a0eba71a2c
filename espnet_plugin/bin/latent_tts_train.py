#!/usr/bin/env python3
"""Train the latent flow-matching TTS with ESPnet: ``python -m espnet_plugin.bin.latent_tts_train --config ...``."""
from typing import Optional, Sequence

from espnet_plugin.tasks.latent_tts import LatentTTSTask


def get_parser():
    """ESPnet's argument parser of :class:`LatentTTSTask`."""
    return LatentTTSTask.get_parser()


def main(cmd: Optional[Sequence[str]] = None) -> None:
    """Run ESPnet training (or ``--collect_stats true``) of the latent TTS task."""
    LatentTTSTask.main(cmd=cmd)


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
