"""svae.sh's config resolution: --svae_configs names ([<scale>/]<loss>) become the merged full
configs ESPnet trains with, paths to full configs pass as they are, an unknown name stops the run.
Stage 7 only, through the stand-in python of test_recipe_svae_sh (the merge tool itself runs)."""
from __future__ import annotations

import yaml

from test_recipe_svae_sh import TEMPLATE, _recipe, _svae

from espnet_plugin import config_merge as cm

CONF = TEMPLATE.parents[2] / "conf"


def _trained_configs(recipe) -> dict[str, str]:
    """{exp dir: --config} of every training the stand-in launcher was asked for."""
    out = {}
    for line in (recipe / "fake_python_calls.txt").read_text().splitlines():
        if "espnet2.bin.launch" in line:
            words = line.split()
            out[words[words.index("--output_dir") + 1]] = words[words.index("--config") + 1]
    return out


def test_names_resolve_to_merged_configs(tmp_path):
    recipe = _recipe(tmp_path)
    (recipe / "conf").symlink_to(CONF)
    p = _svae(recipe, "--svae_config", "", "--stage", "7", "--stop_stage", "7",
              "--svae_configs", "cpu/jmas vanilla conf/evidence/mel_vocoder.yaml train_x.yaml",
              "--margin_base", "cpu/jmas", "--margin_grid", "0.25,0.1")
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    got = _trained_configs(recipe)
    assert got == {"exp/svae_jmas": "exp/configs/cpu/train_svae_jmas.yaml",
                   "exp/svae_vanilla": "exp/configs/tuning/train_svae_vanilla.yaml",
                   "exp/svae_mel_vocoder": "exp/configs/evidence/train_svae_mel_vocoder.yaml",
                   "exp/svae_x": "train_x.yaml",   # a full config: as is
                   "exp/svae_jmas_m1-0.25_m2-0.1": "exp/margin_configs/train_svae_jmas_m1-0.25_m2-0.1.yaml"}
    for spec, path in [("cpu/jmas", "exp/configs/cpu/train_svae_jmas.yaml"),
                       ("tuning/vanilla", "exp/configs/tuning/train_svae_vanilla.yaml"),
                       ("evidence/mel_vocoder", "exp/configs/evidence/train_svae_mel_vocoder.yaml")]:
        assert yaml.safe_load((recipe / path).read_text()) == cm.merge_files(cm.resolve(spec, CONF)[0]), spec
    margins = yaml.safe_load((recipe / "exp/margin_configs/train_svae_jmas_m1-0.25_m2-0.1.yaml").read_text())
    assert [t["conf"] for t in margins["distill_conf"]["terms"]] == [{"m2": 0.1, "scope": "batch"}, {"m1": 0.25}]


def test_unknown_name_stops_the_run(tmp_path):
    recipe = _recipe(tmp_path)
    (recipe / "conf").symlink_to(CONF)
    p = _svae(recipe, "--svae_config", "", "--stage", "7", "--stop_stage", "7", "--svae_configs", "vanilla jmsa")
    assert p.returncode != 0
    assert "no config for 'jmsa'" in p.stdout + p.stderr
    assert "espnet2.bin.launch" not in (recipe / "fake_python_calls.txt").read_text()
