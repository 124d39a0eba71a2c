"""The judge registry: the paper's judges (Whisper-large-v3, WavLM-Large SV, UTMOS) next to the
embedded ones, their offline errors, the judge bound to each metric and named in metrics.json, and
which recipe uses which judges."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from espnet_plugin.errors import ConfigError
from espnet_plugin.metrics import judges as J
from espnet_plugin.metrics.registry import JudgeUnavailable, resolve_metrics

ROOT = Path(__file__).resolve().parents[1]
SR = 16000


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No judge weights anywhere: empty HF / torch hub / s3prl caches, no ESPNET_PLUGIN_* paths."""
    for env in ("ESPNET_PLUGIN_WHISPER", "ESPNET_PLUGIN_SV_CHECKPOINT", "ESPNET_PLUGIN_SV_WAVLM_LARGE",
                "ESPNET_PLUGIN_UTMOS_DIR"):
        monkeypatch.delenv(env, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    import s3prl.util.download as dl

    monkeypatch.setattr(dl, "_download_dir", tmp_path / "s3prl")
    J.get_judge.cache_clear()
    yield tmp_path
    J.get_judge.cache_clear()


def test_registry_lists_the_paper_and_the_embedded_judges():
    names = {kind: {j.name for j in J.available_judges(kind)} for kind in J.JUDGE_KINDS}
    assert {"pocketsphinx", "whisper_large_v3"} <= names["asr"]
    assert {"resemblyzer", "wavlm_large_sv"} <= names["sim"]
    assert {"distillmos", "utmos22_strong"} <= names["mos"]
    for kind, name in J.PAPER_JUDGES.items():
        j = J.judge_info(name, kind)
        assert not j.offline and j.provide.startswith("--")  # it says how to provide its weights
    assert all(J.judge_info(n, k).offline for k, n in J.DEFAULT_JUDGES.items())
    with pytest.raises(ConfigError, match="unknown sim judge 'utmos22_strong'"):
        J.judge_info("utmos22_strong", "sim")


@pytest.mark.parametrize("name,kind,option,env", [
    ("whisper_large_v3", "asr", "--whisper_model", "ESPNET_PLUGIN_WHISPER"),
    ("wavlm_large_sv", "sim", "--sv_checkpoint", "ESPNET_PLUGIN_SV_CHECKPOINT"),
    ("utmos22_strong", "mos", "--utmos_dir", "ESPNET_PLUGIN_UTMOS_DIR"),
])
def test_offline_error_names_the_judge_what_it_tried_and_the_option(offline, name, kind, option, env):
    with pytest.raises(JudgeUnavailable) as err:
        J.get_judge(name, kind)
    msg = str(err.value)
    assert msg.startswith(f"judge {name} cannot be loaded offline: tried ")
    assert option in msg and env in msg
    if name == "whisper_large_v3":  # the hub name it looked for, and where
        assert "openai/whisper-large-v3" in msg and str(offline / "hf") in msg
    if name == "utmos22_strong":
        assert str(offline / "torch" / "hub") in msg


def test_wavlm_large_sv_needs_its_upstream_too(offline, monkeypatch):
    ckpt = offline / "wavlm_large_finetune.pth"
    ckpt.write_bytes(b"")
    monkeypatch.setenv("ESPNET_PLUGIN_SV_CHECKPOINT", str(ckpt))
    with pytest.raises(JudgeUnavailable, match=r"judge wavlm_large_sv .*s3prl's cache.*--sv_wavlm_large"):
        J.get_judge("wavlm_large_sv", "sim")
    monkeypatch.setenv("ESPNET_PLUGIN_SV_WAVLM_LARGE", str(offline / "nope.pt"))
    with pytest.raises(JudgeUnavailable, match=r"nope\.pt.*no such file.*ESPNET_PLUGIN_SV_WAVLM_LARGE"):
        J.get_judge("wavlm_large_sv", "sim")


@pytest.fixture
def const_judges(monkeypatch):
    """Two stand-in judges (a constant speaker cosine and MOS) registered for one test."""
    restore = J.JUDGES.snapshot()
    J.add_judge(J.Judge("const_sim", "sim", "test", lambda: lambda a, b: 0.25))
    J.add_judge(J.Judge("const_mos", "mos", "test", lambda: lambda x: 3.5))
    J.get_judge.cache_clear()
    yield
    restore()
    J.get_judge.cache_clear()


def test_resolve_metrics_binds_the_chosen_judge(const_judges):
    x = np.random.default_rng(0).standard_normal(SR).astype(np.float32) * 0.1
    for axis, pair in (("reconstruction", {"ref": x, "hyp": x}), ("generation", {"prompt": x, "hyp": x})):
        ms = {m.name: m for m in resolve_metrics(["spk_sim", "mos"], axis, {"sim": "const_sim", "mos": "const_mos"})}
        assert ms["spk_sim"].judge == "const_sim" and ms["mos"].judge == "const_mos"
        assert ms["spk_sim"].fn(**pair) == 0.25 and ms["mos"].fn(hyp=x) == 3.5
    default = {m.name: m.judge for m in resolve_metrics(["pesq", "spk_sim", "mos"], "reconstruction")}
    assert default == {"pesq": "pesq_wb", "spk_sim": "resemblyzer", "mos": "distillmos"}
    with pytest.raises(ConfigError, match="unknown sim judge"):
        resolve_metrics(["spk_sim"], "reconstruction", {"sim": "const_mos"})


def test_scorer_writes_the_judges_and_stops_on_an_unloadable_one(const_judges, offline, tmp_path):
    from espnet_plugin.bin import score_recon

    x = (0.1 * np.sin(2 * np.pi * 200 * np.arange(SR) / SR)).astype(np.float32)
    (tmp_path / "hyp").mkdir()
    sf.write(tmp_path / "ref.wav", x, SR)
    sf.write(tmp_path / "hyp" / "u1.wav", x, SR)
    (tmp_path / "wav.scp").write_text(f"u1 {tmp_path / 'ref.wav'}\n")
    common = ["--ref_scp", str(tmp_path / "wav.scp"), "--hyp_dir", str(tmp_path / "hyp"), "--tag", "t"]
    rec = score_recon.main(common + ["--out_dir", str(tmp_path / "a"), "--metrics", "mel_distance,spk_sim,mos",
                                     "--sim_judge", "const_sim", "--mos_judge", "const_mos"])
    assert rec["judges"] == {"mel_distance": "log_mel_l1", "spk_sim": "const_sim", "mos": "const_mos"}
    assert rec["metrics"]["spk_sim"] == 0.25 and rec["metrics"]["mos"] == 3.5
    with pytest.raises(JudgeUnavailable, match=r"judge wavlm_large_sv .*--sv_checkpoint"):
        score_recon.main(common + ["--out_dir", str(tmp_path / "b"), "--metrics", "spk_sim",
                                   "--sim_judge", "wavlm_large_sv"])
    assert not (tmp_path / "b" / "metrics.json").exists()
    # a path option reaches the loader (it is what the error then reports)
    with pytest.raises(JudgeUnavailable, match=r"/no/such/SpeechMOS.*no hubconf\.py"):
        score_recon.main(common + ["--out_dir", str(tmp_path / "c"), "--metrics", "mos",
                                   "--mos_judge", "utmos22_strong", "--utmos_dir", "/no/such/SpeechMOS"])


def test_ecapa_head_has_the_unispeech_checkpoint_layout():
    """The SIM-o head's parameter names and shapes are those of wavlm_large_finetune.pth's ECAPA_TDNN_SMALL."""
    from espnet_plugin.metrics.ecapa_tdnn import EcapaTdnnSV

    class Upstream(torch.nn.Module):  # 25 hidden states of width 1024 at 50 Hz, like WavLM-Large
        def forward(self, wavs):
            t = max(len(w) for w in wavs) // 320
            g = torch.Generator().manual_seed(0)
            return {"hidden_states": [torch.randn(len(wavs), t, 1024, generator=g) for _ in range(25)]}

    model = EcapaTdnnSV(Upstream(), n_layers=25).eval()
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    expected = {
        "feature_weight": (25,), "layer1.conv.weight": (512, 1024, 5), "layer1.bn.running_mean": (512,),
        "layer2.Conv1dReluBn1.conv.weight": (512, 512, 1), "layer2.Res2Conv1dReluBn.convs.6.weight": (64, 64, 3),
        "layer3.Res2Conv1dReluBn.bns.6.running_var": (64,), "layer4.SE_Connect.linear1.weight": (128, 512),
        "layer4.SE_Connect.linear2.bias": (512,), "layer4.Conv1dReluBn2.bn.weight": (512,),
        "conv.weight": (1536, 1536, 1), "pooling.linear1.weight": (128, 1536, 1),
        "pooling.linear2.weight": (1536, 128, 1), "bn.running_mean": (3072,), "linear.weight": (256, 3072),
    }
    assert {k: shapes.get(k) for k in expected} == expected
    assert not any(re.search(r"Res2Conv1dReluBn\.convs\.7|shortcut", k) for k in shapes)
    with torch.no_grad():
        e = model([torch.zeros(SR), torch.zeros(SR // 2)])
    assert e.shape == (2, 256) and torch.isfinite(e).all()


def _flags(script: Path) -> str:
    return " ".join(line.split("#")[0] for line in script.read_text().splitlines())


def test_the_paper_recipe_uses_the_paper_judges_and_the_embedded_recipe_its_embedded_ones():
    paper = _flags(ROOT / "egs2" / "libritts" / "svae1" / "run.sh")
    assert "--tts_asr_judge whisper_large_v3" in paper
    assert "--sim_judge wavlm_large_sv" in paper and "--mos_judge utmos22_strong" in paper
    template = (ROOT / "egs2" / "TEMPLATE" / "svae1" / "svae.sh").read_text()
    defaults = dict(re.findall(r"^(sim_judge|mos_judge)=(\S+)", template, re.M))
    assert defaults == {"sim_judge": J.DEFAULT_JUDGES["sim"], "mos_judge": J.DEFAULT_JUDGES["mos"]}
    embedded = _flags(ROOT / "egs2" / "synth" / "svae1" / "run.sh")
    assert "--sim_judge" not in embedded and "--mos_judge" not in embedded  # the template's embedded defaults
    assert "whisper" not in embedded and "--tts_asr_judge probe" in embedded
    # every scorer call of the template passes the chosen judges on
    stages = template + "".join(p.read_text() for p in (ROOT / "egs2" / "TEMPLATE" / "svae1" / "stages").glob("*.sh"))
    calls = re.findall(r"espnet_plugin\.bin\.score_(?:recon|tts) \\\n(?:.*\\\n)*.*", stages)
    assert len(calls) == 4 and all("--sim_judge ${sim_judge} --mos_judge ${mos_judge} ${judge_weights}" in c
                                   for c in calls)
