"""ESPnet-style packs (zip + meta.yaml) of the VAE, the latent TTS and the ASR probe.

Each model is built tiny here (random weights, saved as training would), packed from a "recipe
dir" with recipe-relative paths, the recipe dir is then *deleted*, and the pack is loaded from
another working dir: the outputs must be bit-identical to the original model's.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_demo_inference import make_tiny_exp, speech_clip  # noqa: E402

from espnet_plugin.errors import ConfigError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FS = 16000


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return sf.read(speech_clip(tmp_path_factory.mktemp("clip") / "speech.wav"), dtype="float32")[0][: FS]


def _recipe(tmp_path, monkeypatch) -> Path:
    """A recipe dir (the cwd while packing) holding exp/svae_tiny."""
    rec = tmp_path / "recipe"
    make_tiny_exp(rec / "exp" / "svae_tiny")
    monkeypatch.chdir(rec)
    return rec


def _elsewhere(tmp_path, monkeypatch, rec: Path, *packs: Path) -> list:
    """Move the packs out, delete the recipe dir, chdir to a fresh dir."""
    out = tmp_path / "shared"
    out.mkdir()
    moved = [Path(shutil.move(str(p), out / p.name)) for p in packs]
    shutil.rmtree(rec)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    return moved


@torch.no_grad()
def _resynth(vae, wav):
    z, _ = vae.encode(torch.from_numpy(wav)[None])
    return z, vae.decode(z)


def test_vae_pack_round_trip_is_bit_identical(tmp_path, monkeypatch, clip):
    from espnet_plugin.bin.pack import pack_svae
    from espnet_plugin.demo.inference import resolve_exp
    from espnet_plugin.hub import load_pretrained_svae
    from espnet_plugin.vae.loading import load_svae

    rec = _recipe(tmp_path, monkeypatch)
    z0, y0 = _resynth(load_svae("exp/svae_tiny/config.yaml", "exp/svae_tiny/model.pth"), clip)
    zp = pack_svae("exp/svae_tiny/config.yaml", "exp/svae_tiny/model.pth", "exp/svae_tiny/svae_tiny.zip")
    with zipfile.ZipFile(zp) as z:
        meta = yaml.safe_load(z.read("meta.yaml"))
        names = set(z.namelist())
    # ESPnet's meta.yaml fields, codec-style keys, recipe-relative names
    assert {"files", "yaml_files", "timestamp", "python", "torch", "espnet"} <= set(meta)
    assert meta["yaml_files"] == {"train_config": "exp/svae_tiny/config.yaml"}
    assert meta["files"] == {"model_file": "exp/svae_tiny/model.pth"}
    assert meta["espnet_plugin"]["kind"] == "svae"
    assert {"exp/svae_tiny/model.pth.sha256"} <= names
    (zp,) = _elsewhere(tmp_path, monkeypatch, rec, zp)
    for vae in (load_pretrained_svae(zp, cache_dir=tmp_path / "cache"),
                load_svae(zp)):  # every --config / vae_config accepts a pack
        z1, y1 = _resynth(vae, clip)
        assert torch.equal(z0, z1) and torch.equal(y0, y1)
    # the unzipped files (a Hugging Face repo's layout) load the same
    with zipfile.ZipFile(zp) as z:
        z.extractall(tmp_path / "hf_snapshot")
    z2, y2 = _resynth(load_pretrained_svae(tmp_path / "hf_snapshot", cache_dir=tmp_path / "cache2"), clip)
    assert torch.equal(z0, z2) and torch.equal(y0, y2)
    # the demo takes the zip wherever it took a packed dir
    spec = resolve_exp(f"tiny={zp}")
    assert spec.name == "tiny" and spec.config.is_file() and spec.model_file.name == "model.pth"
    with pytest.raises(ConfigError, match="svae pack, not a tts"):
        from espnet_plugin.hub import load_pretrained_tts

        load_pretrained_tts(zp, cache_dir=tmp_path / "cache")


def _tiny_tts(d: Path, vae_dir: Path) -> Path:
    """A TTS exp dir like stage 14 leaves it: config (global_mvn stats, token list) + a checkpoint
    whose EMA weights differ from the live ones."""
    from espnet_plugin.tasks.latent_tts import LatentTTSTask
    from espnet_plugin.tts.text import token_list_from_text

    (d / "stats" / "train").mkdir(parents=True)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 64)) * 3 + 1
    np.savez(d / "stats/train/feats_stats.npz", count=np.array(len(x)), sum=x.sum(0), sum_square=(x**2).sum(0))
    (d.parent / "chars.txt").write_text("u0 abcdefghijklmnopqrstuvwxyz .\n")
    token_list_from_text(d.parent / "chars.txt", d.parent / "tokens.txt")
    conf = dict(
        token_list=str(d.parent / "tokens.txt"), token_type="char", normalize="global_mvn",
        normalize_conf=dict(stats_file=f"{d.relative_to(Path.cwd())}/stats/train/feats_stats.npz"),
        dit_conf=dict(dim=32, depth=1, heads=2, dim_head=16, text_dim=16, conv_layers=1, latent_dim=64),
        cfm_conf={}, model_conf=dict(ema_decay=0.9),
        train_data_path_and_name_and_type=[[f"{vae_dir}/latents/train/latents.scp", "feats", "kaldi_ark"]],
    )
    torch.manual_seed(0)
    model = LatentTTSTask.build_model(argparse.Namespace(**conf))
    with torch.no_grad():
        for p in model.ema.module.parameters():
            p.add_(0.1 * torch.randn_like(p))
    (d / "config.yaml").write_text(yaml.safe_dump(conf))
    torch.save(model.state_dict(), d / "valid.loss.ave.pth")
    return d


def test_tts_pack_same_seed_same_latents(tmp_path, monkeypatch, clip):
    from espnet_plugin.bin import pack
    from espnet_plugin.tts.synthesizer import LatentTTS
    from espnet_plugin.demo.inference import TTSDemo

    rec = _recipe(tmp_path, monkeypatch)
    tts_dir = _tiny_tts(rec / "exp" / "tts_tiny", rec / "exp" / "svae_tiny")
    args = dict(nfe=3, cfg_strength=2.0, seed=7)
    ref = LatentTTS("exp/tts_tiny/config.yaml", "exp/tts_tiny/valid.loss.ave.pth",
                    vae_config="exp/svae_tiny/config.yaml").synthesize([clip], ["hello there"], ["hi you"], **args)
    live = LatentTTS("exp/tts_tiny/config.yaml", "exp/tts_tiny/valid.loss.ave.pth", vae_config="exp/svae_tiny/config.yaml",
                     use_ema=False).synthesize([clip], ["hello there"], ["hi you"], **args)
    assert not np.array_equal(ref[0][1], live[0][1])  # the EMA weights matter: the pack must keep them
    zp = pack.main(["tts", "--train_config", "exp/tts_tiny/config.yaml", "--model_file", "exp/tts_tiny/valid.loss.ave.pth",
                    "--vae_train_config", "exp/svae_tiny/config.yaml", "--outpath", "tts_tiny.zip"])
    with zipfile.ZipFile(zp) as z:
        meta = yaml.safe_load(z.read("meta.yaml"))
        cfg = yaml.safe_load(z.read("exp/tts_tiny/config.yaml"))
        names = set(z.namelist())
        state = torch.load(z.open("exp/tts_tiny/model.pth"), weights_only=True)
    assert set(meta["files"]) == {"model_file", "vae_model_file"}
    assert set(meta["yaml_files"]) == {"train_config", "vae_train_config"}
    assert cfg["normalize_conf"]["stats_file"] == "exp/tts_tiny/stats/train/feats_stats.npz" in names
    assert cfg["token_list"] == "exp/tokens.txt" in names  # the token list file, named inside the pack
    assert not any(k.startswith("ema.") for k in state)  # the EMA weights in place of the live ones
    assert str(tmp_path) in str(cfg["train_data_path_and_name_and_type"])  # unpacked things: as ESPnet leaves them
    (zp,) = _elsewhere(tmp_path, monkeypatch, rec, zp)
    tts = LatentTTS.from_pretrained(zp, cache_dir=tmp_path / "cache")  # its VAE comes from the pack
    out = tts.synthesize([clip], ["hello there"], ["hi you"], **args)
    assert np.array_equal(out[0][1], ref[0][1]) and np.array_equal(out[0][0], ref[0][0])
    assert str(tmp_path / "cache") in str(tts.model.normalize.stats_file)  # read from the unpacked pack
    demo = TTSDemo(zp)  # the demo's --tts_exp takes the zip (and its packed VAE)
    assert demo.vae_name == "tts_tiny.zip"


def test_probe_pack_same_ctc_posteriors(tmp_path, monkeypatch, clip):
    from espnet2.tasks.asr import ASRTask
    from espnet2.utils.yaml_no_alias_safe_dump import yaml_no_alias_safe_dump

    from espnet_plugin.bin.pack import pack_probe
    from espnet_plugin.hub import load_pretrained_probe
    from espnet_plugin.probe.register import ProbeASRTask, register_probe_frontends

    rec = _recipe(tmp_path, monkeypatch)
    register_probe_frontends()
    (rec / "tokens.txt").write_text("".join(f"{t}\n" for t in ["<blank>", "<unk>", *"abcde ", "<sos/eos>"]))
    pexp = rec / "exp" / "probe_tiny"
    args = ProbeASRTask.get_parser().parse_args([
        "--config", str(ROOT / "conf/probe/train_probe_cpu.yaml"), "--output_dir", "exp/probe_tiny",
        "--frontend", "svae_latent", "--frontend_conf", "vae_config=exp/svae_tiny/config.yaml",
        "--frontend_conf", "vae_model_file=exp/svae_tiny/model.pth", "--token_type", "char",
        "--token_list", "tokens.txt", "--preencoder_conf", "output_size=16", "--encoder_conf", "hidden_size=16",
        "--encoder_conf", "output_size=16"])
    torch.manual_seed(0)
    model = ProbeASRTask.build_model(args)  # reads the token list into args (as training writes it)
    pexp.mkdir(parents=True)
    (pexp / "config.yaml").write_text(yaml_no_alias_safe_dump(vars(args), indent=4, sort_keys=False))
    torch.save(model.state_dict(), pexp / "valid.loss.ave.pth")
    orig, _ = ASRTask.build_model_from_file("exp/probe_tiny/config.yaml", "exp/probe_tiny/valid.loss.ave.pth")
    wav = torch.from_numpy(clip)[None]
    with torch.no_grad():
        enc, _ = orig.eval().encode(wav, torch.tensor([wav.size(1)]))
        ref = orig.ctc.log_softmax(enc)
    zp = pack_probe("exp/probe_tiny/config.yaml", "exp/probe_tiny/valid.loss.ave.pth", "probe_tiny.zip")
    with zipfile.ZipFile(zp) as z:
        meta = yaml.safe_load(z.read("meta.yaml"))
        cfg = yaml.safe_load(z.read("exp/probe_tiny/config.yaml"))
    assert meta["yaml_files"]["asr_train_config"] == "exp/probe_tiny/config.yaml"  # ESPnet's ASR keys
    assert meta["files"]["asr_model_file"] == "exp/probe_tiny/valid.loss.ave.pth"
    assert cfg["frontend_conf"]["vae_config"] == "exp/svae_tiny/config.yaml"  # the frozen VAE, packed
    assert cfg["frontend_conf"]["vae_model_file"] == "exp/svae_tiny/model.pth"
    (zp,) = _elsewhere(tmp_path, monkeypatch, rec, zp)
    probe = load_pretrained_probe(zp, cache_dir=tmp_path / "cache")
    logp, n = probe.ctc_log_probs(wav)
    assert torch.equal(logp, ref) and int(n[0]) == ref.size(1)
    assert probe.token_list[0] == "<blank>"


def test_offline_hub_tag_gives_a_clear_error(tmp_path, monkeypatch):
    import huggingface_hub.constants

    from espnet_plugin.hub import load_pretrained_svae

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty hub cache
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as e:
        load_pretrained_svae("someone/svae_jmas", cache_dir=tmp_path / "cache")
    msg = str(e.value)
    assert "'someone/svae_jmas'" in msg and "offline" in msg and "--local-dir" in msg and ".zip" in msg
    with pytest.raises(ConfigError, match="no such file or dir, and not a hub tag"):
        load_pretrained_svae("no/such/file.zip")


def test_pack_model_writes_the_zip_beside_the_packed_dir(tmp_path, monkeypatch, clip):
    from espnet_plugin.bin import pack_model
    from espnet_plugin.hub import load_pretrained_svae
    from espnet_plugin.vae.loading import load_svae

    _recipe(tmp_path, monkeypatch)
    pack_model.main(["--exp_dir", "exp/svae_tiny", "--model_file", "exp/svae_tiny/model.pth",
                     "--out_dir", "exp/svae_tiny/packed", "--outpath", "exp/svae_tiny/svae_tiny_model.zip"])
    with zipfile.ZipFile("exp/svae_tiny/svae_tiny_model.zip") as z:
        assert "exp/svae_tiny/packed/README.md" in z.namelist()  # the model card travels with it
    a = _resynth(load_svae("exp/svae_tiny/packed"), clip)[1]  # the old dir format still loads
    b = _resynth(load_pretrained_svae("exp/svae_tiny/svae_tiny_model.zip", cache_dir=tmp_path / "c"), clip)[1]
    assert torch.equal(a, b)
