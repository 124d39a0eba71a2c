"""Tests for espnet_plugin.vae.encoder and espnet_plugin.vae.activations."""
import math

import pytest
import torch
import torchaudio
from torch import nn
from torch.nn.utils import parametrize

from espnet_plugin.errors import DataError
from espnet_plugin.vae.activations import (
    Activation1d,
    DownSample1d,
    Snake,
    SnakeBeta,
    UpSample1d,
    kaiser_sinc_filter1d,
)
from espnet_plugin.vae.encoder import DACEncoder, MelEncoder


def _tiny_dac(**kw):
    return DACEncoder(out_channels=6, d_model=4, strides=(2, 5), **kw)


# ---------------------------------------------------------------- activations
def test_snake_formula_by_hand():
    torch.manual_seed(0)
    act = Snake(3)
    with torch.no_grad():
        act.alpha.copy_(torch.tensor([0.5, 1.0, 2.0]).view(1, 3, 1))
    x = torch.randn(2, 3, 5)
    a = torch.tensor([0.5, 1.0, 2.0]).view(1, 3, 1)
    expected = x + 1.0 / a * torch.sin(a * x) ** 2
    torch.testing.assert_close(act(x), expected)
    # logscale stores log(a): same output with alpha = log(a)
    act_log = Snake(3, logscale=True)
    with torch.no_grad():
        act_log.alpha.copy_(a.log())
    torch.testing.assert_close(act_log(x), expected)


def test_snakebeta_formula_by_hand():
    torch.manual_seed(0)
    x = torch.randn(2, 2, 7)
    a = torch.tensor([0.3, 1.7]).view(1, 2, 1)
    b = torch.tensor([2.0, 0.25]).view(1, 2, 1)
    expected = x + 1.0 / b * torch.sin(a * x) ** 2
    lin = SnakeBeta(2, logscale=False)
    log = SnakeBeta(2, logscale=True)
    with torch.no_grad():
        lin.alpha.copy_(a)
        lin.beta.copy_(b)
        log.alpha.copy_(a.log())
        log.beta.copy_(b.log())
    torch.testing.assert_close(lin(x), expected)
    torch.testing.assert_close(log(x), expected)
    # logscale default init is a = b = 1
    fresh = SnakeBeta(2)
    torch.testing.assert_close(fresh(x), x + torch.sin(x) ** 2)


def test_kaiser_filter_is_unit_gain_and_symmetric():
    taps = kaiser_sinc_filter1d(0.25, 0.3, 12).flatten()
    assert taps.shape == (12,)
    torch.testing.assert_close(taps.sum(), torch.tensor(1.0))
    torch.testing.assert_close(taps, taps.flip(0))


@pytest.mark.parametrize("length", [1, 7, 64])
def test_resampling_and_activation1d_keep_length(length):
    x = torch.randn(2, 3, length)
    assert UpSample1d(2)(x).shape == (2, 3, 2 * length)
    assert DownSample1d(2)(torch.randn(2, 3, 2 * length)).shape == (2, 3, length)
    assert Activation1d(SnakeBeta(3))(x).shape == (2, 3, length)


def test_activation1d_identity_passes_low_frequencies():
    # up x2 then low-pass + down x2 with an identity activation keeps a slow sine (interior samples)
    n = torch.arange(256, dtype=torch.float32)
    x = torch.sin(2 * math.pi * 0.02 * n).view(1, 1, -1)
    y = Activation1d(nn.Identity())(x)
    torch.testing.assert_close(y[..., 20:-20], x[..., 20:-20], atol=2e-2, rtol=0)
    # and removes a tone above the (half-band) cutoff after upsampling
    hi = torch.sin(2 * math.pi * 0.45 * n).view(1, 1, -1)
    up = UpSample1d(2)(hi)  # 0.45 -> 0.225 of the new rate: kept
    assert up[..., 20:-20].abs().max() > 0.5
    down = DownSample1d(2)(torch.sin(2 * math.pi * 0.4 * torch.arange(512.0)).view(1, 1, -1))
    assert down[..., 20:-20].abs().max() < 0.1  # 0.4 > cutoff 0.25: removed before decimation


# ---------------------------------------------------------------- DACEncoder
@pytest.mark.parametrize("n", [1, 9, 10, 23, 40])
def test_dac_encoder_shapes(n):
    enc = _tiny_dac()
    assert enc.hop_length == 10 and enc.out_channels == 6
    h = enc(torch.randn(2, 1, n))
    assert h.shape == (2, 6, math.ceil(n / 10))


def test_dac_encoder_hidden_and_last_layer():
    torch.manual_seed(0)
    enc = _tiny_dac()
    assert type(enc.last_layer) is nn.Conv1d
    assert enc.last_layer.kernel_size == (1,)
    assert not parametrize.is_parametrized(enc.last_layer)
    assert isinstance(enc.last_layer.weight, nn.Parameter) and enc.last_layer.bias is not None
    wav = torch.randn(2, 1, 33)
    h, hidden = enc(wav, return_hidden=True)
    assert [tuple(t.shape) for t in hidden] == [(2, 8, 20), (2, 16, 4), (2, 6, 4)]
    torch.testing.assert_close(h, enc.last_layer(hidden[-1]))
    torch.testing.assert_close(h, enc(wav))
    # the zero padding is applied internally: explicit padding gives the same result
    torch.testing.assert_close(h, enc(torch.nn.functional.pad(wav, (0, 7))))


def test_dac_encoder_rejects_bad_input():
    with pytest.raises(DataError):
        _tiny_dac()(torch.randn(2, 40))


def test_dac_encoder_gradient_reaches_last_layer():
    enc = _tiny_dac(d_latent=5)
    assert enc.last_layer.in_channels == 5
    enc(torch.randn(1, 1, 20)).sum().backward()
    assert enc.last_layer.weight.grad is not None
    assert enc.conv_in.parametrizations.weight.original0.grad is not None


# ---------------------------------------------------------------- MelEncoder
def test_mel_encoder_matches_torchaudio_and_has_no_parameters():
    torch.manual_seed(0)
    enc = MelEncoder(out_channels=20, fs=16000, n_fft=256, hop_length=100, fmin=20.0, fmax=7000.0)
    assert len(list(enc.parameters())) == 0 and enc.last_layer is None and enc.out_channels == 20
    wav = torch.randn(2, 1, 1000)
    ref_tf = torchaudio.transforms.MelSpectrogram(
        sample_rate=16000, n_fft=256, hop_length=100, f_min=20.0, f_max=7000.0, n_mels=20, power=1.0,
        center=True,
    )
    ref = torch.log(torch.clamp(ref_tf(wav[:, 0]), min=1e-5))
    assert ref.shape[-1] == 11
    h = enc(wav)
    assert h.shape == (2, 20, 10)
    torch.testing.assert_close(h, ref[..., :10])


@pytest.mark.parametrize("n", [1, 50, 399, 400, 401, 1700])
def test_mel_encoder_frame_count(n):
    enc = MelEncoder(out_channels=16, n_fft=512, hop_length=400)
    h, hidden = enc(torch.randn(1, 1, n), return_hidden=True)
    assert h.shape == (1, 16, math.ceil(n / 400))
    assert hidden[0] is h and torch.isfinite(h).all()
