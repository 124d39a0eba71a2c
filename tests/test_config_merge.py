"""The config merge (espnet_plugin.config_merge + bin/merge_config): the rule, ``--set``, how a spec
resolves, and what each loss override of conf/ gives at every scale.

Before conf/<scale>/train_svae_*.yaml were replaced by base + overrides, merge(base, override) was
checked equal (as parsed YAML, key order included) to each of the 30 files; the pins below keep the
values that make each loss what it is.
"""
from __future__ import annotations

import difflib

import pytest
import yaml

from conftest import FULL_CONF, ROOT
from espnet_plugin import config_merge as cm
from espnet_plugin.bin import make_margin_configs, merge_config
from espnet_plugin.errors import ConfigError

CONF = ROOT / "conf"
SCALES = ("tuning", "cpu", "evidence")
LOSSES = ["vanilla", "tas", "daxis", "mcos", "mdms", "jmas", "jmas_fixed", "jmas_2layer", "semantic", "mel_vocoder"]
ADAPTIVE, FIXED = ("adaptive", 2.5), ("fixed", 1.0)
MDMS, MCOS = ("mdms", {"m2": 0.25, "scope": "batch"}), ("mcos", {"m1": 0.5})
# loss -> (terms as (name, conf), (weighting, w_ssl), projection direction)
TERMS = {
    "vanilla": ([], None, None),
    "tas": ([("tas", None)], ADAPTIVE, "latent_to_teacher"),
    "daxis": ([("daxis", None)], ADAPTIVE, "latent_to_teacher"),
    "mcos": ([MCOS], ADAPTIVE, "latent_to_teacher"),
    "mdms": ([MDMS], ADAPTIVE, "latent_to_teacher"),
    "jmas": ([MDMS, MCOS], ADAPTIVE, "latent_to_teacher"),
    "jmas_fixed": ([MDMS, MCOS], FIXED, "latent_to_teacher"),
    "jmas_2layer": ([MDMS, MCOS], ADAPTIVE, "latent_to_teacher"),
    "semantic": ([("tas", None)], FIXED, "teacher_to_latent"),
    "mel_vocoder": ([], None, None),
}
LOWER_LAYER = {"tuning": 12, "cpu": 1, "evidence": 1}   # jmas_2layer's pairwise layer
# what a loss changes outside distill_conf (everything else is the scale's base)
MEL = {"encoder": "mel", "bottleneck": "deterministic", "model_conf.lambda_kl": 0.0,
       "encoder_conf": {"out_channels": 64, "n_fft": 1024, "hop_length": 400}}
OUTSIDE = {"semantic": {"model_conf.lambda_kl": 0.01, "model_conf.lambda_mel": 15.0},
           "mel_vocoder": MEL}
OUTSIDE_TUNING = {"mel_vocoder": {**MEL, "encoder_conf": {"out_channels": 100, "n_fft": 1024, "hop_length": 400},
                                  "decoder": "vocos", "decoder_conf": {"hop_length": 400, "dim": 512,
                                                                       "intermediate_dim": 1536, "num_layers": 8}}}


def test_merge_rule():
    base = {"a": {"x": 1, "y": [1, 2], "z": {"k": 1}}, "b": 2, "c": {"old": 1}, "keep": "v"}
    over = {"a": {"y": [3], "z": {"j": 2}, "x": None}, "b": None, "c": {"_replace_": True, "new": 2},
            "d": {"e": None, "f": 1}}
    assert cm.merge(base, over) == {"a": {"y": [3], "z": {"k": 1, "j": 2}}, "c": {"new": 2}, "keep": "v",
                                    "d": {"f": 1}}
    assert base["a"] == {"x": 1, "y": [1, 2], "z": {"k": 1}} and "b" in base   # inputs untouched
    assert list(cm.merge({"p": 1, "q": 2}, {"p": 3, "r": 4})) == ["p", "q", "r"]   # base key order kept


def test_set_paths():
    cfg = {"distill_conf": {"terms": [{"name": "mdms", "conf": {"m2": 0.25}}, {"name": "mcos"}]}, "x": 1}
    cm.apply_set(cfg, "distill_conf.terms.mcos.conf.m1=0.75")
    cm.apply_set(cfg, "distill_conf.terms.0.layer=12")
    cm.apply_set(cfg, "model_conf.lambda_kl=1.0e-2")
    cm.apply_set(cfg, "x=null")
    assert cfg == {"distill_conf": {"terms": [{"name": "mdms", "conf": {"m2": 0.25}, "layer": 12},
                                              {"name": "mcos", "conf": {"m1": 0.75}}]},
                   "model_conf": {"lambda_kl": 0.01}}
    with pytest.raises(ConfigError, match=r"no item named 'tas' \(names: \['mdms', 'mcos'\]\)"):
        cm.apply_set(cfg, "distill_conf.terms.tas.conf.m1=1")
    with pytest.raises(ConfigError, match="expected key.sub=value"):
        cm.apply_set(cfg, "distill_conf.w_ssl")


@pytest.mark.parametrize("scale", SCALES)
def test_every_loss_at_every_scale(scale):
    """Each loss is its distill_conf block (and the stated keys) on the scale's base, nothing else."""
    assert cm.losses(CONF, scale) == sorted(LOSSES)
    base = cm.load_yaml(CONF / scale / "base.yaml")
    for loss in LOSSES:
        cfg = yaml.safe_load((FULL_CONF[scale] / f"train_svae_{loss}.yaml").read_text())
        assert cfg == cm.merge_files(cm.resolve(f"{scale}/{loss}", CONF)[0]), loss
        terms, weighting, direction = TERMS[loss]
        d = cfg["distill_conf"]
        assert [(t["name"], t.get("conf")) for t in d["terms"]] == terms, (scale, loss)
        assert (d.get("weighting"), d.get("w_ssl")) == (weighting or (None, None)), (scale, loss)
        assert (d.get("projection") or {}).get("direction") == direction, (scale, loss)
        if loss == "jmas_2layer":
            assert [t.get("layer") for t in d["terms"]] == [LOWER_LAYER[scale], None]
        # outside distill_conf: the base, but for the stated keys
        want = yaml.safe_load(yaml.safe_dump(base))
        want.pop("distill_conf"), cfg.pop("distill_conf")
        for key, value in (OUTSIDE_TUNING if scale == "tuning" else OUTSIDE).get(loss, OUTSIDE.get(loss, {})).items():
            cm.set_path(want, key, None)
            cm.set_path(want, key, value)
        assert cfg == want, (scale, loss)


def test_override_files_hold_only_the_loss():
    """An override holds distill_conf (the semantic baseline also its model_conf weights, the mel
    vocoder its encoder/decoder): a diff of two loss configs is the loss and a few lines."""
    overrides = sorted((CONF / "losses").glob("*.yaml")) + sorted(CONF.glob("*/jmas_2layer.yaml"))
    for p in overrides:
        keys = set(cm.load_yaml(p))
        assert keys == ({"model_conf", "distill_conf"} if p.stem == "semantic" else {"distill_conf"}), p
    a, b = (CONF / "losses" / "tas.yaml").read_text(), (CONF / "losses" / "jmas.yaml").read_text()
    changed = [ln for ln in difflib.unified_diff(a.splitlines(), b.splitlines(), n=0) if ln[:1] in "+-"]
    assert len(changed) <= 8, changed


def test_resolve_specs(tmp_path):
    assert cm.resolve("jmas", CONF) == ([CONF / "tuning" / "base.yaml", CONF / "losses" / "jmas.yaml"],
                                        "tuning/train_svae_jmas")
    assert cm.resolve("cpu/jmas_2layer", CONF)[0] == [CONF / "cpu" / "base.yaml", CONF / "cpu" / "jmas_2layer.yaml"]
    # paths: an override beside a base merges onto it, conf/losses onto the default scale's, a full config as is
    assert cm.resolve(str(CONF / "evidence" / "mel_vocoder.yaml"))[0] == [CONF / "evidence" / "base.yaml",
                                                                          CONF / "evidence" / "mel_vocoder.yaml"]
    assert cm.resolve(str(CONF / "losses" / "tas.yaml"))[0][0] == CONF / "tuning" / "base.yaml"
    full = tmp_path / "train_mine.yaml"
    full.write_text("encoder: dac\n")
    assert cm.resolve(str(full), CONF) == ([full], "train_mine")
    assert cm.resolve(str(CONF / "cpu" / "base.yaml"), CONF) == ([CONF / "cpu" / "base.yaml"], "base")
    with pytest.raises(ConfigError, match=r"no config for 'nope' \(tried .*conf/cpu/nope.yaml.*losses of cpu: daxis"):
        cm.resolve("cpu/nope", CONF)
    with pytest.raises(ConfigError, match="no base .*conf/gpu/base.yaml"):
        cm.resolve("gpu/jmas", CONF)


def test_cli_resolve_writes_once_and_keeps_full_configs(tmp_path, capsys):
    out = tmp_path / "configs"
    merge_config.main(["--resolve", "cpu/jmas", "--out_dir", str(out), "--conf_dir", str(CONF)])
    path = out / "cpu" / "train_svae_jmas.yaml"
    assert capsys.readouterr().out.strip() == str(path)
    assert yaml.safe_load(path.read_text()) == yaml.safe_load((FULL_CONF["cpu"] / "train_svae_jmas.yaml").read_text())
    assert path.read_text().startswith("# written by espnet_plugin.bin.merge_config from ")
    mtime = path.stat().st_mtime_ns
    merge_config.main(["--resolve", "cpu/jmas", "--out_dir", str(out), "--conf_dir", str(CONF)])
    assert path.stat().st_mtime_ns == mtime   # unchanged: not rewritten (the recipe hashes it)
    full = tmp_path / "train_mine.yaml"
    full.write_text("encoder: dac\n")
    merge_config.main(["--resolve", str(full), "--out_dir", str(out)])
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(full)
    # explicit files + --set, to a file
    merge_config.main([str(CONF / "cpu" / "base.yaml"), str(CONF / "losses" / "jmas.yaml"),
                       "--set", "distill_conf.terms.mcos.conf.m1=0.3", "-o", str(tmp_path / "m.yaml")])
    terms = yaml.safe_load((tmp_path / "m.yaml").read_text())["distill_conf"]["terms"]
    assert terms[1] == {"name": "mcos", "conf": {"m1": 0.3}}
    with pytest.raises(SystemExit, match="merge_config: no config for 'nope'"):
        merge_config.main(["--resolve", "nope", "--out_dir", str(out), "--conf_dir", str(CONF)])


def test_margin_sweep_takes_a_spec(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    make_margin_configs.main(["--base", "evidence/jmas", "--grid", "0.25,0.1", "--out_dir", str(tmp_path)])
    (path,) = capsys.readouterr().out.split()
    assert path.endswith("/train_svae_jmas_m1-0.25_m2-0.1.yaml")
    cfg = yaml.safe_load(open(path))
    want = cm.merge_files(cm.resolve("evidence/jmas", CONF)[0])
    cm.apply_set(want, "distill_conf.terms.mcos.conf.m1=0.25")
    cm.apply_set(want, "distill_conf.terms.mdms.conf.m2=0.1")
    assert cfg == want
    make_margin_configs.main(["--margins_of", "evidence/jmas"])
    assert capsys.readouterr().out.strip() == "0.5,0.25"
