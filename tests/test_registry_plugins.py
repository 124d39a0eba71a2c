"""A new encoder, loss term, judge and probe frontend = one class (or object) + one entry point.

A throw-away third-party package is written into ``tmp_path``: its code, a ``pyproject.toml`` that
declares the entry points, and the ``*.dist-info/entry_points.txt`` that installing it would write
(generated from that pyproject, so no pip install); a fresh Python with ``tmp_path`` on
``sys.path`` then uses each part by name through the package's ordinary entry points (the VAE
task's builder, ``build_term``, ``resolve_metrics``, ESPnet's ASR ``frontend_choices``), and checks
the registry's one failure rule on a broken entry point. Plus unit tests of
:class:`espnet_plugin.registry.Registry` itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tomllib
import warnings
from pathlib import Path

import pytest
from torch import nn

from espnet_plugin.errors import ConfigError
from espnet_plugin.registry import Registry
from espnet_plugin.vae.abs_parts import AbsEncoder
from espnet_plugin.vae.encoder import DACEncoder

ROOT = Path(__file__).resolve().parents[1]
PKG = "svae_tp_plugin"

PLUGIN_CODE = '''
import torch
from espnet2.asr.frontend.abs_frontend import AbsFrontend
from espnet_plugin.distill.abs_term import AbsDistillTerm
from espnet_plugin.metrics.judge_base import Judge
from espnet_plugin.vae.abs_parts import AbsEncoder


class FrameMeanEncoder(AbsEncoder):
    """wav (B, 1, N) -> (B, out_channels, ceil(N / hop)): frame means through a 1x1 conv."""

    def __init__(self, out_channels=8, hop_length=16):
        super().__init__()
        self.hop_length, self.out_channels = hop_length, out_channels
        self.last_layer = torch.nn.Conv1d(1, out_channels, 1)

    def forward(self, wav, return_hidden=False):
        n = -(-wav.shape[-1] // self.hop_length)
        x = torch.nn.functional.pad(wav, (0, n * self.hop_length - wav.shape[-1]))
        h = self.last_layer(x.reshape(x.shape[0], 1, n, self.hop_length).mean(-1))
        return (h, [h]) if return_hidden else h


class L1Term(AbsDistillTerm):
    def forward(self, g, f, mask=None):
        m = mask.unsqueeze(-1).float()
        return ((g - f).abs() * m).sum() / (m.sum() * g.shape[-1])


CONST_MOS = Judge("const_mos_tp", "mos", "a constant (test)", lambda: (lambda wav: 3.25), offline=True)


class RmsFrontend(AbsFrontend):
    def __init__(self, hop=160):
        super().__init__()
        self.hop = hop

    def output_size(self):
        return 1

    def forward(self, input, input_lengths):
        n = input.shape[1] // self.hop
        x = input[:, : n * self.hop].reshape(input.shape[0], n, self.hop)
        return x.pow(2).mean(-1, keepdim=True).sqrt(), input_lengths // self.hop


class NotAnEncoder(torch.nn.Module):
    pass
'''

PYPROJECT = f'''
[project]
name = "{PKG}"
version = "0.1"

[project.entry-points."espnet_plugin.encoders"]
framemean = "{PKG}:FrameMeanEncoder"
broken_enc = "{PKG}_no_such_module:Encoder"
not_an_encoder = "{PKG}:NotAnEncoder"

[project.entry-points."espnet_plugin.distill_losses"]
l1_tp = "{PKG}:L1Term"

[project.entry-points."espnet_plugin.judges"]
const_mos_tp = "{PKG}:CONST_MOS"

[project.entry-points."espnet_plugin.probe_frontends"]
rms_tp = "{PKG}:RmsFrontend"
'''

SCRIPT = r'''
import argparse, json, sys, warnings
import numpy as np
import torch

res = {}
from espnet_plugin.vae import choices
from espnet_plugin.errors import ConfigError

# encoder: selectable by name, built by the task's builder; its last layer feeds adaptive weighting
res["encoder_choices"] = list(choices.encoder_choices.choices())
args = argparse.Namespace(fs=16000, latent_dim=4, encoder="framemean", encoder_conf={"hop_length": 16},
                          bottleneck="gaussian", bottleneck_conf={}, decoder="vocos",
                          decoder_conf=dict(hop_length=16, dim=8, intermediate_dim=8, num_layers=1))
gen = choices.build_generator(args)
res["encoder_type"] = type(gen.encoder).__module__
res["hop"] = choices.encoder_hop_length(args)
res["enc_out_channels"] = gen.encoder.out_channels
wav_hat = gen(torch.randn(2, 1, 160) * 0.1)
res["encoder_last_layer"] = gen.encoder.last_layer.weight.shape[0]

# broken entry points: listing warns once and skips them; asking for one by name is a ConfigError
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    classes = choices.encoder_choices.classes
    classes = choices.encoder_choices.classes
res["listed"] = sorted(classes)
res["warnings"] = [str(w.message) for w in caught]
for name in ("broken_enc", "not_an_encoder"):
    try:
        choices.ENCODERS.get(name)
        res[name] = "accepted"
    except ConfigError as e:
        res[name] = str(e)

# distillation term
from espnet_plugin.distill import build_term
g, f = torch.ones(1, 3, 2), torch.zeros(1, 3, 2)
res["term"] = float(build_term("l1_tp")(g, f, torch.tensor([[True, True, False]])))

# judge: selectable as --mos_judge, behind the ``mos`` column
from espnet_plugin.metrics import judges
from espnet_plugin.metrics.registry import resolve_metrics
m = resolve_metrics(["mos"], "generation", {"mos": "const_mos_tp"})[0]
res["judge"] = [m.judge, m.fn(hyp=np.zeros(1600, np.float32))]
res["mos_judges"] = [j.name for j in judges.available_judges("mos")]

# probe frontend: offered to ESPnet's ASR task
from espnet_plugin.probe.register import register_probe_frontends
import espnet2.tasks.asr as asr
res["probe_added"] = register_probe_frontends()
fe = asr.frontend_choices.get_class("rms_tp")(hop=160)
feats, n = fe(torch.ones(2, 480), torch.tensor([480, 320]))
res["probe_feats"] = [list(feats.shape), n.tolist()]
print("RESULT " + json.dumps(res))
'''


def _install(tmp_path: Path) -> None:
    """The package's code, its pyproject, and the dist-info an installer would write from it."""
    (tmp_path / f"{PKG}.py").write_text(PLUGIN_CODE)
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    project = tomllib.loads(PYPROJECT)["project"]
    dist = tmp_path / f"{PKG}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {PKG}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n"
        for group, eps in project["entry-points"].items()
    ))


@pytest.fixture(scope="module")
def plugin_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("site")
    _install(tmp_path)
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    p = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=600)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    assert p.returncode == 0 and lines, p.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def test_third_party_encoder_is_one_class_plus_one_entry_point(plugin_run):
    r = plugin_run
    assert {"dac", "mel", "framemean", "broken_enc"} <= set(r["encoder_choices"])
    assert r["encoder_type"] == PKG and r["hop"] == 16 and r["enc_out_channels"] == 8  # 2 * latent_dim
    assert r["encoder_last_layer"] == 8


def test_a_broken_entry_point_warns_once_when_listing_and_fails_when_requested(plugin_run):
    r = plugin_run
    assert "framemean" in r["listed"] and "broken_enc" not in r["listed"] and "not_an_encoder" not in r["listed"]
    broken = [w for w in r["warnings"] if "broken_enc" in w]
    assert len(broken) == 1 and f"{PKG}_no_such_module:Encoder" in broken[0] and "espnet_plugin.encoders" in broken[0]
    assert f"{PKG}_no_such_module:Encoder" in r["broken_enc"] and "ModuleNotFoundError" in r["broken_enc"]
    assert "not a subclass of espnet_plugin.vae.abs_parts.AbsEncoder" in r["not_an_encoder"]


def test_third_party_term_judge_and_probe_frontend(plugin_run):
    r = plugin_run
    assert r["term"] == pytest.approx(1.0)
    assert r["judge"] == ["const_mos_tp", 3.25] and "const_mos_tp" in r["mos_judges"]
    assert "rms_tp" in r["probe_added"] and r["probe_feats"] == [[2, 3, 1], [3, 2]]


# ------------------------------------------------------------------ the Registry itself
def test_registry_checks_the_base_and_lists_known_names():
    reg = Registry("encoder", AbsEncoder, None)
    reg.register("dac", DACEncoder)
    with pytest.raises(ConfigError, match="not a subclass of .*AbsEncoder"):
        reg.register("lin", nn.Linear)
    with pytest.raises(ConfigError, match=r"unknown encoder 'nope'; known: dac"):
        reg.get("nope")
    assert reg.get("DAC") is DACEncoder and reg.names() == ["dac"] and "dac" in reg

    @reg.register("dac2")
    class Dac2(DACEncoder):
        pass

    assert reg.names() == ["dac", "dac2"]
    with pytest.raises(ConfigError, match="already registered"):
        reg.register("dac2", DACEncoder)
    reg.register("dac2", DACEncoder, override=True)
    assert reg.get("dac2") is DACEncoder


def test_registry_built_in_wins_over_an_entry_point_of_the_same_name(tmp_path, monkeypatch):
    dist = tmp_path / "clash-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: clash\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[espnet_plugin.test_clash]\ndac = no_such_mod:X\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry("encoder", AbsEncoder, "espnet_plugin.test_clash")
    reg.register("dac", DACEncoder)
    with pytest.warns(UserWarning, match="built in"):
        assert reg.get("dac") is DACEncoder
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert reg.get("dac") is DACEncoder  # warned once
