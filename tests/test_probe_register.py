"""Registration of the probe frontend into ESPnet's ASR task, checked in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, sys
import espnet_plugin, espnet_plugin.probe  # importing the package must not register anything
import espnet2.tasks.asr as asr
orig = dict(asr.frontend_choices.classes)
res = {"before": sorted(orig)}
import espnet_plugin.probe.register as reg  # nor importing the registration module
res["after_import"] = sorted(asr.frontend_choices.classes)
res["added"] = reg.register_probe_frontends()
res["added_again"] = reg.register_probe_frontends()
now = asr.frontend_choices.classes
res["after"] = sorted(now)
res["others_unchanged"] = all(now[k] is v for k, v in orig.items())
res["class"] = now["svae_latent"].__module__ + "." + now["svae_latent"].__name__

from espnet_plugin.bin import asr_probe_train
# as `python -m espnet_plugin.bin.asr_probe_train --print_config ...` (ESPnet reads sys.argv there)
sys.argv = ["asr_probe_train", "--print_config", "--frontend", "svae_latent",
            "--frontend_conf", "vae_config=/some/config.yaml", "--frontend_conf", "feature=weighted_layers"]
sys.stdout.write("PRINT_CONFIG_BEGIN\n"); sys.stdout.flush()
try:
    asr_probe_train.main()
except SystemExit as e:
    res["print_config_exit"] = e.code
sys.stdout.flush(); sys.stdout.write("PRINT_CONFIG_END\n")

# the linear pre-encoder's input size is filled from the frontend (ESPnet's fbank frontend: 80)
import argparse
parser = asr_probe_train.get_parser()
args = parser.parse_args(["--preencoder", "linear",
                          "--preencoder_conf", "output_size=8", "--encoder", "rnn", "--encoder_conf", "num_layers=1",
                          "--encoder_conf", "hidden_size=8", "--encoder_conf", "output_size=8",
                          "--decoder", "none", "--model_conf", "ctc_weight=1.0", "--frontend", "default"])
args.token_list = ["<blank>", "<unk>", "a", "<sos/eos>"]
model = asr_probe_train.ProbeASRTask.build_model(args)
res["preencoder_input"] = model.preencoder.linear_out.in_features
res["preencoder_conf"] = args.preencoder_conf

# a name taken by another class is refused
from espnet_plugin.errors import ConfigError
asr.frontend_choices.classes["svae_latent"] = asr.frontend_choices.classes["default"]
try:
    reg.register_probe_frontends()
    res["conflict"] = "accepted"
except ConfigError as e:
    res["conflict"] = str(e)
print("RESULT " + json.dumps(res))
"""


@pytest.fixture(scope="module")
def fresh():
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    assert p.returncode == 0 and lines, p.stderr[-3000:]
    res = json.loads(lines[-1][len("RESULT "):])
    res["print_config"] = p.stdout.split("PRINT_CONFIG_BEGIN")[1].split("PRINT_CONFIG_END")[0]
    return res


def test_import_registers_nothing(fresh):
    assert "svae_latent" not in fresh["before"]
    assert fresh["after_import"] == fresh["before"]


def test_registration_adds_only_our_name(fresh):
    assert fresh["added"] == ["svae_latent", "s3prl_frozen", "blstm"] and fresh["added_again"] == []
    assert sorted(set(fresh["after"]) - set(fresh["before"])) == ["s3prl_frozen", "svae_latent"]
    assert set(fresh["before"]) <= set(fresh["after"]) and fresh["others_unchanged"]
    assert {"default", "s3prl"} <= set(fresh["before"])
    assert fresh["class"] == "espnet_plugin.probe.frontend.SVAELatentFrontend"


def test_launcher_parser_accepts_the_frontend(fresh):
    assert fresh["print_config_exit"] in (0, None)
    text = fresh["print_config"]
    assert "frontend: svae_latent" in text
    assert "vae_config: /some/config.yaml" in text and "feature: weighted_layers" in text


def test_preencoder_input_size_filled_from_frontend(fresh):
    assert fresh["preencoder_input"] == 80
    assert fresh["preencoder_conf"] == {"output_size": 8, "input_size": 80}


def test_conflicting_name_refused(fresh):
    assert "already taken" in fresh["conflict"]
