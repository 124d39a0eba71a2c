"""The JMAS margin sweep writes one config per (m1, m2), differing from the base only in the margins."""

import pytest
import yaml

from conftest import CPU_CONF
from espnet_plugin.bin import make_margin_configs
from espnet_plugin.errors import ConfigError


def test_grid_configs(tmp_path, capsys):
    make_margin_configs.main(["--base", str(CPU_CONF / "train_svae_jmas.yaml"), "--grid", "0.25,0.1 0.75,0.5",
                              "--out_dir", str(tmp_path)])
    paths = capsys.readouterr().out.split()
    assert [p.split("/")[-1] for p in paths] == ["train_svae_jmas_m1-0.25_m2-0.1.yaml", "train_svae_jmas_m1-0.75_m2-0.5.yaml"]
    base = yaml.safe_load((CPU_CONF / "train_svae_jmas.yaml").read_text())
    cfg = yaml.safe_load(open(paths[1]))
    terms = {t["name"]: t["conf"] for t in cfg["distill_conf"]["terms"]}
    assert terms["mcos"]["m1"] == 0.75 and terms["mdms"]["m2"] == 0.5 and terms["mdms"]["scope"] == "batch"
    cfg["distill_conf"] = base["distill_conf"] = None
    assert cfg == base
    # rerun with the same grid: files untouched (stage reruns change nothing)
    mtime = (tmp_path / "train_svae_jmas_m1-0.25_m2-0.1.yaml").stat().st_mtime_ns
    make_margin_configs.main(["--base", str(CPU_CONF / "train_svae_jmas.yaml"), "--grid", "0.25,0.1",
                              "--out_dir", str(tmp_path)])
    assert (tmp_path / "train_svae_jmas_m1-0.25_m2-0.1.yaml").stat().st_mtime_ns == mtime


def test_base_without_both_terms_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="mcos and mdms"):
        make_margin_configs.main(["--base", str(CPU_CONF / "train_svae_tas.yaml"), "--grid", "0.5,0.25",
                                  "--out_dir", str(tmp_path)])
