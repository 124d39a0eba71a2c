"""SVAELatentFrontend: frozen VAE -> 40 Hz features for ESPnet's ASR task."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

from conftest import CPU_CONF
from espnet_plugin.errors import ConfigError
from espnet_plugin.probe.frontend import SVAELatentFrontend, pool_to_rate

ROOT = Path(__file__).resolve().parents[1]
SMALL_DECODER = ["--decoder_conf", "dim=32", "--decoder_conf", "intermediate_dim=64", "--decoder_conf", "num_layers=1"]


def make_vae(out: Path, config: str = "train_svae_vanilla.yaml", extra=()) -> tuple[Path, Path]:
    """config.yaml (the task's own dump) + generator weights of a small random-init VAE."""
    from espnet_plugin.tasks.speech_vae import SpeechVAETask

    conf = CPU_CONF / config
    args = SpeechVAETask.get_parser().parse_args(["--config", str(conf), *SMALL_DECODER, *extra])
    torch.manual_seed(0)
    gen = SpeechVAETask.build_generator(args)
    out.mkdir(parents=True, exist_ok=True)
    cfg = out / "config.yaml"
    cfg.write_text(yaml.safe_dump({k: v for k, v in vars(args).items()}, sort_keys=False))
    model = out / "model.pth"
    torch.save({f"generator.{k}": v for k, v in gen.state_dict().items()}, model)
    return cfg, model


@pytest.fixture(scope="module")
def dac_vae(tmp_path_factory):
    return make_vae(tmp_path_factory.mktemp("vae_dac"), extra=["--encoder_conf", "d_model=4"])


@pytest.fixture(scope="module")
def mel_vae(tmp_path_factory):
    return make_vae(tmp_path_factory.mktemp("vae_mel"), config="train_svae_mel_vocoder.yaml")


def _wavs(lengths, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(len(lengths), max(lengths))
    for i, n in enumerate(lengths):
        x[i, :n] = 0.1 * torch.randn(n, generator=g)
    return x, torch.tensor(lengths)


def test_pool_to_rate_by_hand():
    h = torch.tensor([[[1.0, 2.0, 3.0, 4.0, 5.0, 9.0]]])
    assert torch.allclose(pool_to_rate(h, 3), torch.tensor([[[1.5, 3.5, 7.0]]]))
    assert pool_to_rate(h, 6) is h
    with pytest.raises(ConfigError):
        pool_to_rate(h, 4)


def test_latent_rate_shape_and_padding(dac_vae):
    fe = SVAELatentFrontend(vae_config=str(dac_vae[0]), vae_model_file=str(dac_vae[1]))
    assert fe.output_size() == 64 and fe.hop_length == 400
    lengths = [16000, 12345, 401, 400]
    x, xl = _wavs(lengths)
    y, yl = fe(x, xl)
    want = [math.ceil(n / 400) for n in lengths]  # 40 frames per second
    assert yl.tolist() == want == [40, 31, 2, 1]
    assert y.shape == (4, 40, 64)
    for i, t in enumerate(want):
        assert torch.all(y[i, t:] == 0)
        assert y[i, :t].abs().sum() > 0


def test_latent_is_posterior_mean_of_the_loaded_vae(dac_vae):
    from espnet_plugin.vae.loading import load_svae

    fe = SVAELatentFrontend(vae_config=str(dac_vae[0]), vae_model_file=str(dac_vae[1]))
    vae = load_svae(dac_vae[0], dac_vae[1])
    x, xl = _wavs([8000], seed=3)
    z, zl = vae.encode(x, xl, sample=False)
    h = vae.encoder(x.unsqueeze(1))
    mu = h.chunk(2, dim=1)[0].transpose(1, 2)  # Gaussian bottleneck: first half = mean
    y, yl = fe(x, xl)
    assert torch.allclose(y, z, atol=1e-6) and torch.allclose(y, mu, atol=1e-6)
    assert yl.tolist() == zl.tolist() == [20]


def test_frozen_no_grad_and_eval_after_train(dac_vae):
    fe = SVAELatentFrontend(vae_config=str(dac_vae[0]), vae_model_file=str(dac_vae[1]), feature="weighted_layers",
                            layer_dim=16)
    fe.train()  # what ESPnet's trainer does every epoch
    assert fe.training and fe.proj.training
    assert not fe.encoder.training and not fe.bottleneck.training
    assert all(not m.training for m in fe.encoder.modules())
    frozen = list(fe.encoder.parameters()) + list(fe.bottleneck.parameters())
    assert frozen and all(not p.requires_grad for p in frozen)
    trainable = {n for n, p in fe.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("proj.", "layer_weights")) for n in trainable)
    x, xl = _wavs([6000, 4000])
    y, _ = fe(x, xl)
    y.pow(2).sum().backward()
    assert all(p.grad is None for p in frozen)
    assert fe.layer_weights.grad is not None and fe.layer_weights.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in fe.proj.parameters())
    # training mode never samples: posterior mean, deterministic
    y2, _ = fe(x, xl)
    assert torch.equal(y.detach(), y2.detach())


def test_latent_mode_has_nothing_to_train(dac_vae):
    fe = SVAELatentFrontend(vae_config=str(dac_vae[0]), vae_model_file=str(dac_vae[1]))
    fe.train()
    assert not any(p.requires_grad for p in fe.parameters())
    x, xl = _wavs([4000])
    y, _ = fe(x, xl)
    assert not y.requires_grad


def test_weighted_layers_by_hand(dac_vae):
    fe = SVAELatentFrontend(vae_config=str(dac_vae[0]), vae_model_file=str(dac_vae[1]), feature="weighted_layers",
                            layer_dim=8).eval()
    x, xl = _wavs([8000])
    h, hidden = fe.encoder(x.unsqueeze(1), return_hidden=True)
    mu = h.chunk(2, dim=1)[0]
    layers = list(hidden) + [mu]
    assert len(fe.proj) == len(layers) == 4 + 1 + 1  # 4 blocks, k3 conv, posterior mean
    assert fe.output_size() == 8
    with torch.no_grad():
        fe.layer_weights.copy_(torch.tensor([0.0, 1.0, 0.0, 2.0, 0.0, -1.0]))
        w = torch.softmax(fe.layer_weights, 0)
        want = 0
        for i, (hl, proj) in enumerate(zip(layers, fe.proj)):
            k = hl.size(-1) // 20
            pooled = hl.reshape(1, hl.size(1), 20, k).mean(-1).transpose(1, 2)  # (1, T, C)
            want = want + w[i] * proj(F.layer_norm(pooled, pooled.shape[-1:]))
        y, yl = fe(x, xl)
    assert yl.tolist() == [20]
    assert torch.allclose(y, want, atol=1e-5)


def test_mel_encoder_gives_log_mel(mel_vae):
    from espnet_plugin.vae.loading import load_svae

    fe = SVAELatentFrontend(vae_config=str(mel_vae[0]), vae_model_file=str(mel_vae[1]))
    vae = load_svae(mel_vae[0], mel_vae[1])
    x, xl = _wavs([7000])
    y, yl = fe(x, xl)
    logmel = vae.encoder(x.unsqueeze(1)).transpose(1, 2)
    assert fe.output_size() == 64 and y.shape == (1, 18, 64) and yl.tolist() == [18]
    assert torch.allclose(y, logmel, atol=1e-6)
    assert list(fe.parameters()) == []  # nothing learned, nothing to freeze


def test_output_size_from_conf_equals_the_built_frontend(dac_vae, mel_vae, monkeypatch):
    """The pre-encoder size is read from the configs; it is what the built frontend reports."""
    import argparse

    import espnet2.tasks.asr as asr

    from espnet_plugin.probe import register

    cases = [(dac_vae, {}), (dac_vae, {"feature": "weighted_layers", "layer_dim": 8}),
             (dac_vae, {"feature": "weighted_layers", "layer_dim": 16}), (mel_vae, {})]
    want = []
    for (cfg, model), kw in cases:
        conf = dict(vae_config=str(cfg), vae_model_file=str(model), **kw)
        want.append(SVAELatentFrontend(**conf).output_size())
        assert SVAELatentFrontend.output_size_from_conf(**conf) == want[-1]
    assert want == [64, 8, 16, 64]

    # ProbeASRTask's size lookup loads no VAE
    def no_load(*a, **k):
        raise AssertionError("the VAE was loaded to read the frontend size")

    monkeypatch.setattr("espnet_plugin.vae.loading.load_svae", no_load)
    monkeypatch.setitem(asr.frontend_choices.classes, "svae_latent", SVAELatentFrontend)
    for ((cfg, model), kw), size in zip(cases, want):
        args = argparse.Namespace(input_size=None, frontend="svae_latent",
                                  frontend_conf=dict(vae_config=str(cfg), vae_model_file=str(model), **kw))
        assert register.frontend_output_size(args) == size
    with pytest.raises(ConfigError, match="layer_dim"):
        SVAELatentFrontend.output_size_from_conf(vae_config=str(dac_vae[0]), feature="weighted_layers", layer_dim=0)
    with pytest.raises(ConfigError, match="feature"):
        SVAELatentFrontend.output_size_from_conf(vae_config=str(dac_vae[0]), feature="mfcc")
    with pytest.raises(ConfigError, match="vae_config"):
        SVAELatentFrontend.output_size_from_conf()


def test_bad_config(dac_vae, tmp_path):
    with pytest.raises(ConfigError, match="feature"):
        SVAELatentFrontend(vae_config=str(dac_vae[0]), vae_model_file=str(dac_vae[1]), feature="mfcc")
    with pytest.raises(ConfigError, match="fs=8000"):
        SVAELatentFrontend(vae_config=str(dac_vae[0]), vae_model_file=str(dac_vae[1]), fs="8k")
    with pytest.raises(ConfigError, match="not found"):
        SVAELatentFrontend(vae_config=str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="vae_config"):
        SVAELatentFrontend()
