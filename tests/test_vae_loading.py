"""Checked loading of a trained VAE (load_svae), packing (pack_model) and resynthesis (svae_inference)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from conftest import CPU_CONF
from espnet_plugin.errors import ConfigError, DataError

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--encoder_conf", "d_model=4", "--decoder_conf", "dim=32", "--decoder_conf", "intermediate_dim=64",
         "--decoder_conf", "num_layers=1"]


def make_exp(d: Path, config: str = "train_svae_vanilla.yaml", extra=()) -> tuple[Path, torch.nn.Module]:
    """``d/config.yaml`` (the task's config dump) and the random-init generator it builds."""
    from espnet_plugin.tasks.speech_vae import SpeechVAETask

    conf = CPU_CONF / config
    args = SpeechVAETask.get_parser().parse_args(["--config", str(conf), *extra])
    d.mkdir(parents=True, exist_ok=True)
    cfg = d / "config.yaml"
    cfg.write_text(yaml.safe_dump(vars(args), sort_keys=False))
    torch.manual_seed(0)
    return cfg, SpeechVAETask.build_generator(args)


@pytest.fixture(scope="module")
def exp(tmp_path_factory):
    return make_exp(tmp_path_factory.mktemp("svae"), extra=SMALL)


def test_checkpoint_with_an_extra_or_a_missing_key_is_refused_naming_the_file(exp, tmp_path):
    from espnet_plugin.vae.loading import load_svae

    cfg, gen = exp
    state = gen.state_dict()
    extra = tmp_path / "extra.pth"
    torch.save({**state, "decoder.extra.weight": torch.zeros(3)}, extra)
    with pytest.raises(ConfigError, match=r"extra\.pth.*unexpected \['decoder\.extra\.weight'\]"):
        load_svae(cfg, extra)
    missing = tmp_path / "missing.pth"
    torch.save({k: v for k, v in state.items() if k != "decoder.backbone.embed.weight"}, missing)
    with pytest.raises(ConfigError, match=r"missing\.pth.*missing \['decoder\.backbone\.embed\.weight'\]"):
        load_svae(cfg, missing)
    # the same in an ESPnet training checkpoint (generator.* plus the discriminator's keys)
    epoch = tmp_path / "1epoch.pth"
    torch.save({**{f"generator.{k}": v for k, v in state.items()}, "generator.bottleneck.extra": torch.zeros(1),
                "discriminator.w": torch.zeros(1)}, epoch)
    with pytest.raises(ConfigError, match=r"1epoch\.pth.*unexpected \['bottleneck\.extra'\]"):
        load_svae(cfg, epoch)


def test_bigger_models_checkpoint_does_not_load_into_a_smaller_config(exp, tmp_path):
    from espnet_plugin.vae.loading import load_svae

    cfg, _ = exp
    _, big = make_exp(tmp_path / "big", extra=[*SMALL, "--decoder_conf", "num_layers=2"])
    torch.save(big.state_dict(), tmp_path / "big.pth")
    with pytest.raises(ConfigError, match=r"big\.pth.*unexpected \['decoder\.backbone\.convnext\.1\."):
        load_svae(cfg, tmp_path / "big.pth")
    _, wide = make_exp(tmp_path / "wide", extra=[*SMALL, "--decoder_conf", "dim=48"])  # same keys, other shapes
    torch.save(wide.state_dict(), tmp_path / "wide.pth")
    with pytest.raises(ConfigError, match=r"(?s)wide\.pth does not match.*size mismatch for decoder\.backbone\.embed"):
        load_svae(cfg, tmp_path / "wide.pth")


def test_espnet_checkpoint_and_packed_weights_load(exp, tmp_path):
    from espnet_plugin.vae.loading import load_svae

    cfg, gen = exp
    state = gen.state_dict()
    # ESPnet epoch checkpoint: generator.* is taken, the discriminator and the rest are ignored
    torch.save({**{f"generator.{k}": v for k, v in state.items()}, "discriminator.mpd.w": torch.zeros(1),
                "nonfinite_steps": torch.zeros((), dtype=torch.long)}, tmp_path / "1epoch.pth")
    torch.save(state, tmp_path / "model.pth")  # packed: no prefix
    for f in ("1epoch.pth", "model.pth"):
        vae = load_svae(cfg, tmp_path / f)
        assert not vae.training
        for k, v in vae.state_dict().items():
            assert torch.equal(v, state[k]), (f, k)


def test_mel_frontend_buffers_are_rebuilt_from_the_config(tmp_path):
    """The mel encoder's fixed window / filterbank may be absent from a checkpoint; nothing else may."""
    from espnet_plugin.vae.loading import load_svae

    cfg, gen = make_exp(tmp_path, "train_svae_mel_vocoder.yaml", SMALL[2:])
    state = gen.state_dict()
    derived = {"encoder.mel.spectrogram.window", "encoder.mel.mel_scale.fb"}
    assert derived <= set(state)
    torch.save({k: v for k, v in state.items() if k not in derived}, tmp_path / "model.pth")
    vae = load_svae(cfg, tmp_path / "model.pth")
    assert torch.equal(vae.encoder.mel.mel_scale.fb, state["encoder.mel.mel_scale.fb"])


def test_unreadable_or_absent_weights_name_the_file(exp, tmp_path):
    from espnet_plugin.vae.loading import load_svae

    cfg, _ = exp
    (tmp_path / "torn.pth").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError, match=r"torn\.pth"):
        load_svae(cfg, tmp_path / "torn.pth")
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(DataError, match=r"list\.pth is not a state dict"):
        load_svae(cfg, tmp_path / "list.pth")
    with pytest.raises(ConfigError, match=r"nowhere\.pth"):
        load_svae(cfg, tmp_path / "nowhere.pth")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(ConfigError, match=r"empty\.yaml"):
        load_svae(tmp_path / "empty.yaml", tmp_path / "list.pth")


def test_pack_model_round_trip(exp, tmp_path):
    from espnet_plugin.bin import pack_model
    from espnet_plugin.vae.loading import load_svae, sha256_file

    cfg, gen = exp
    d = tmp_path / "exp"
    d.mkdir()
    (d / "config.yaml").write_text(cfg.read_text())
    torch.save({f"generator.{k}": v for k, v in gen.state_dict().items()}, d / "valid.mrstft_loss.best.pth")
    # the scores of this model file (decode_<model tag>_<set>), not those of another checkpoint
    for dec, pesq in (("decode_valid.mrstft_loss.best_test", 1.5), ("decode_other_test", 3.5)):
        (d / dec / "scores").mkdir(parents=True)
        (d / dec / "scores" / "metrics.json").write_text(f'{{"metrics": {{"pesq": {pesq}}}}}')
    out = d / "packed"
    pack_model.main(["--exp_dir", str(d), "--model_file", str(d / "valid.mrstft_loss.best.pth"), "--out_dir", str(out)])
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.yaml", "model.pth", "model.pth.sha256"]
    assert (out / "config.yaml").read_text() == cfg.read_text()
    assert (out / "model.pth.sha256").read_text().split()[0] == sha256_file(out / "model.pth")
    assert "| pesq | 1.5 |" in (out / "README.md").read_text()
    vae = load_svae(out / "config.yaml", out / "model.pth")
    for k, v in gen.state_dict().items():
        assert torch.equal(vae.state_dict()[k], v), k


@pytest.mark.parametrize("write_latents", [True, False])
def test_svae_inference_writes_latents_and_wavs(exp, tmp_path, write_latents):
    import kaldiio

    from espnet_plugin.bin import svae_inference

    cfg, gen = exp
    torch.save(gen.state_dict(), tmp_path / "model.pth")
    rng = np.random.default_rng(0)
    lines = []
    for key, n in (("u1", 1000), ("u2", 1700)):
        sf.write(tmp_path / f"{key}.wav", (0.1 * rng.standard_normal(n)).astype(np.float32), 16000)
        lines.append(f"{key} {tmp_path / f'{key}.wav'}\n")
    (tmp_path / "wav.scp").write_text("".join(lines))
    out = tmp_path / "decode"
    svae_inference.main(["--config", str(cfg), "--model_file", str(tmp_path / "model.pth"), "--wav_scp",
                         str(tmp_path / "wav.scp"), "--output_dir", str(out), "--write_latents", str(write_latents)])
    assert sorted(p.name for p in (out / "wav").glob("*.wav")) == ["u1.wav", "u2.wav"]
    assert (out / "latents.scp").is_file() == write_latents
    if write_latents:
        lat = dict(kaldiio.load_scp(str(out / "latents.scp")))
        assert lat["u1"].shape == (3, 64) and lat["u2"].shape == (5, 64) and lat["u1"].dtype == np.float32


def _decode(cfg: Path, model: Path, tmp_path: Path, out: Path) -> None:
    from espnet_plugin.bin import svae_inference

    svae_inference.main(["--config", str(cfg), "--model_file", str(model), "--wav_scp", str(tmp_path / "wav.scp"),
                         "--output_dir", str(out), "--write_latents", "false"])


def test_svae_inference_rerun_keeps_what_a_killed_run_of_the_same_model_wrote(exp, tmp_path):
    """A killed run (simulated: its record cut mid-line, one wav missing) is picked up where it
    stopped: the wavs it recorded are kept, the rest written, all as a fresh run writes them; another
    model rewrites everything."""
    cfg, gen = exp
    torch.save(gen.state_dict(), tmp_path / "model.pth")
    rng = np.random.default_rng(1)
    lines = []
    for key in ("u1", "u2", "u3"):
        sf.write(tmp_path / f"{key}.wav", (0.1 * rng.standard_normal(1200)).astype(np.float32), 16000)
        lines.append(f"{key} {tmp_path / f'{key}.wav'}\n")
    (tmp_path / "wav.scp").write_text("".join(lines))
    out = tmp_path / "decode"
    _decode(cfg, tmp_path / "model.pth", tmp_path, out)
    fresh = {k: (out / "wav" / f"{k}.wav").read_bytes() for k in ("u1", "u2", "u3")}
    record = (out / "wav" / ".done").read_text().split("\n")
    assert record[1:] == ["u1", "u2", "u3", ""]
    # killed after u1 and u2 were written, while the line of u2 was being recorded
    (out / "wav" / ".done").write_text("\n".join(record[:2]) + "\nu2")
    (out / "wav" / "u3.wav").unlink()
    (out / "wav" / "u2.wav").write_bytes(b"half a wav")
    mtime = (out / "wav" / "u1.wav").stat().st_mtime_ns
    _decode(cfg, tmp_path / "model.pth", tmp_path, out)
    assert (out / "wav" / "u1.wav").stat().st_mtime_ns == mtime                     # kept
    assert {k: (out / "wav" / f"{k}.wav").read_bytes() for k in fresh} == fresh       # u2 (unrecorded) and u3 rewritten
    assert len((out / "wav.scp").read_text().splitlines()) == 3
    # another model: nothing is kept
    with torch.no_grad():
        other = {k: v + 0.01 if v.is_floating_point() else v for k, v in gen.state_dict().items()}
    torch.save(other, tmp_path / "other.pth")
    _decode(cfg, tmp_path / "other.pth", tmp_path, out)
    assert (out / "wav" / "u1.wav").stat().st_mtime_ns != mtime
    assert (out / "wav" / ".done").read_text().split("\n")[0] != record[0]
