#!/usr/bin/env python3
"""Train an ASR probe with ESPnet's ASR task, the probe frontends registered first.

    python -m espnet_plugin.bin.asr_probe_train --config conf/probe/train_probe_cpu.yaml \
        --frontend svae_latent --frontend_conf vae_config=exp/svae_x/config.yaml \
        --frontend_conf vae_model_file=exp/svae_x/valid.mrstft_loss.ave.pth --frontend_conf feature=latent \
        --token_type char --token_list ... --train_data_path_and_name_and_type ... --output_dir ...

Every ``espnet2.bin.asr_train`` option works; ``--frontend`` additionally accepts ``svae_latent``.
"""
from espnet_plugin.probe.register import ProbeASRTask, register_probe_frontends


def get_parser():
    """ESPnet's ASR parser with the probe frontends among the ``--frontend`` choices."""
    register_probe_frontends()
    return ProbeASRTask.get_parser()


def main(cmd=None) -> None:
    """Register the probe frontends, then run ESPnet's ASR task (``ASRTask.main``)."""
    register_probe_frontends()
    ProbeASRTask.main(cmd=cmd)


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
