"""Tests for espnet_plugin.vae.losses: each loss against a hand computation on tiny tensors."""
import math

import librosa
import pytest
import torch

from espnet_plugin.errors import ConfigError, DataError
from espnet_plugin.vae.losses import (
    DiscriminatorAdversarialLoss,
    FeatureMatchLoss,
    GeneratorAdversarialLoss,
    MelL1Loss,
    MultiResolutionSTFTLoss,
    MultiScaleMelL1Loss,
    a_weighting,
)

FS = 16000


def _tone(freq: float, n: int, amp: float = 1.0) -> torch.Tensor:
    return amp * torch.sin(2 * math.pi * freq * torch.arange(n) / FS)


def _pair(seed: int = 0, n: int = 1024):
    g = torch.Generator().manual_seed(seed)
    x = 0.3 * torch.randn(2, 1, n, generator=g)
    return x + 0.05 * torch.randn(2, 1, n, generator=g), x


# ---------------------------------------------------------------- MR-STFT
def test_a_weighting_reference_values():
    db = 20 * torch.log10(a_weighting(torch.tensor([100.0, 1000.0, 10000.0], dtype=torch.float64)))
    torch.testing.assert_close(db, torch.tensor([-19.1, 0.0, -2.5], dtype=torch.float64), atol=0.06, rtol=0)
    assert float(a_weighting(torch.tensor([0.0]))) == 0.0


def test_mrstft_matches_hand_computation_without_weighting():
    x_hat, x = _pair()
    loss = MultiResolutionSTFTLoss(fft_sizes=(64, 32), perceptual_weighting=False, w_sc=1.0,
                                   w_log_mag=0.5, w_lin_mag=2.0, eps=1e-8)
    expect = 0.0
    for n_fft in (64, 32):
        def mag(y):
            s = torch.stft(y.reshape(-1, y.shape[-1]), n_fft, n_fft // 4, n_fft, torch.hann_window(n_fft),
                           center=True, pad_mode="reflect", return_complex=True)
            return torch.clamp(s.abs() ** 2, min=1e-8).sqrt()
        m_hat, m = mag(x_hat), mag(x)
        sc = torch.sqrt(((m - m_hat) ** 2).sum()) / torch.sqrt((m**2).sum())
        logm = (torch.log(m) - torch.log(m_hat)).abs().mean()
        lin = (m - m_hat).abs().mean()
        expect += (sc + 0.5 * logm + 2.0 * lin) / 2
    out = loss(x_hat, x)
    assert out.dim() == 0
    torch.testing.assert_close(out, expect, rtol=1e-5, atol=1e-6)
    assert float(loss(x, x)) == 0.0


def test_mrstft_perceptual_weighting_on_off_differ_and_weight_low_freqs_less():
    n = 4096
    x = _tone(1000.0, n, 0.5)[None, None]
    err_low = x + _tone(60.0, n, 0.2)[None, None]  # A-weighting: about -26 dB at 60 Hz
    err_mid = x + _tone(2000.0, n, 0.2)[None, None]  # about +1 dB
    on = MultiResolutionSTFTLoss(fft_sizes=(1024, 256), perceptual_weighting=True, w_log_mag=0.0)
    off = MultiResolutionSTFTLoss(fft_sizes=(1024, 256), perceptual_weighting=False, w_log_mag=0.0)
    assert not torch.isclose(on(err_low, x), off(err_low, x))
    # weighted: a 60 Hz error counts far less than a 2 kHz error of the same size
    assert float(on(err_low, x)) < 0.3 * float(on(err_mid, x))
    assert float(off(err_low, x)) > 0.5 * float(off(err_mid, x))
    assert float(on(x, x)) == 0.0


def test_mrstft_gradients_flow_and_paper_defaults():
    x_hat, x = _pair(n=2048)
    x_hat.requires_grad_(True)
    loss = MultiResolutionSTFTLoss()  # paper: 2048 ... 32, hop n/4, perceptual weighting
    assert loss.fft_sizes == [2048, 1024, 512, 256, 128, 64, 32] and loss.hops[0] == 512
    out = loss(x_hat, x)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(x_hat.grad).all() and x_hat.grad.abs().sum() > 0
    short = torch.zeros(1, 1, 300)  # shorter than n_fft / 2: constant padding, no crash
    assert torch.isfinite(loss(short + 0.1, short))


def test_mrstft_errors():
    with pytest.raises(DataError):
        MultiResolutionSTFTLoss(fft_sizes=(32,))(torch.zeros(1, 1, 100), torch.zeros(1, 1, 99))
    with pytest.raises(ConfigError):
        MultiResolutionSTFTLoss(fft_sizes=(32,), win_ratio=2.0)


# ---------------------------------------------------------------- mel
def test_mel_l1_matches_hand_computation():
    x_hat, x = _pair(n=2000)
    loss = MelL1Loss(fs=FS, n_fft=256, hop_length=64, n_mels=20)

    def logmel(y):
        s = torch.stft(y.squeeze(1), 256, 64, 256, torch.hann_window(256), center=True,
                       pad_mode="reflect", return_complex=True)
        amp = torch.clamp(s.abs() ** 2, min=1e-10).sqrt()  # (B, F, T)
        fb = torch.as_tensor(librosa.filters.mel(sr=FS, n_fft=256, n_mels=20, fmin=0, fmax=FS / 2))
        return torch.log(torch.clamp(fb.float() @ amp, min=1e-10))

    expect = (logmel(x_hat) - logmel(x)).abs().mean()
    torch.testing.assert_close(loss(x_hat, x), expect, rtol=1e-4, atol=1e-5)
    assert float(loss(x, x)) == 0.0


def test_multiscale_mel_is_mean_of_scales():
    x_hat, x = _pair(n=2000)
    ms = MultiScaleMelL1Loss(fs=FS, n_ffts=(64, 256), n_mels=(10, 20))
    single = [MelL1Loss(FS, 64, 16, None, 10), MelL1Loss(FS, 256, 64, None, 20)]
    torch.testing.assert_close(ms(x_hat, x), sum(m(x_hat, x) for m in single) / 2)
    with pytest.raises(ConfigError):
        MultiScaleMelL1Loss(n_ffts=(64,), n_mels=(10, 20))


# ---------------------------------------------------------------- adversarial / feature matching
D_FAKE = [[torch.tensor([9.0]), torch.tensor([0.5, -1.0])], [torch.tensor([[2.0, 0.0]])]]
D_REAL = [[torch.tensor([7.0]), torch.tensor([1.5, 0.0])], [torch.tensor([[-0.5, 1.0]])]]


def test_generator_adversarial_lsgan_and_hinge():
    # lsgan: mean((1 - D)^2) per discriminator: ((0.25 + 4) / 2, (1 + 1) / 2) = (2.125, 1.0)
    assert float(GeneratorAdversarialLoss(False, "mse")(D_FAKE)) == pytest.approx(3.125)
    assert float(GeneratorAdversarialLoss(True, "mse")(D_FAKE)) == pytest.approx(3.125 / 2)
    # hinge: -mean(D): (0.25, -1.0)
    assert float(GeneratorAdversarialLoss(False, "hinge")(D_FAKE)) == pytest.approx(-0.75)


def test_discriminator_adversarial_lsgan_and_hinge():
    real, fake = DiscriminatorAdversarialLoss(False, "mse")(D_FAKE, D_REAL)
    # real: mean((1 - D)^2): (0.25 + 1) / 2 + (2.25 + 0) / 2 = 1.75; fake: mean(D^2): 0.625 + 2.0
    assert float(real) == pytest.approx(1.75) and float(fake) == pytest.approx(2.625)
    real, fake = DiscriminatorAdversarialLoss(False, "hinge")(D_FAKE, D_REAL)
    # real: mean(relu(1 - D)): (0 + 1) / 2 + (1.5 + 0) / 2 = 1.25
    # fake: mean(relu(1 + D)): (1.5 + 0) / 2 + (3 + 1) / 2 = 2.75
    assert float(real) == pytest.approx(1.25) and float(fake) == pytest.approx(2.75)
    real_avg, _ = DiscriminatorAdversarialLoss(True, "hinge")(D_FAKE, D_REAL)
    assert float(real_avg) == pytest.approx(1.25 / 2)


def test_feature_matching_l1_mean():
    fh = [[torch.tensor([1.0, 2.0]), torch.tensor([0.0]), torch.tensor([5.0])],
          [torch.tensor([[3.0, 3.0]]), torch.tensor([9.0])]]
    fr = [[torch.tensor([1.0, 0.0]), torch.tensor([4.0]), torch.tensor([-5.0])],
          [torch.tensor([[0.0, 1.0]]), torch.tensor([0.0])]]
    # layer L1 means (logits excluded): disc 1: (1.0, 4.0); disc 2: (2.5,)
    assert float(FeatureMatchLoss(False, False)(fh, fr)) == pytest.approx(7.5)  # BigVGAN sum
    assert float(FeatureMatchLoss(True, False)(fh, fr)) == pytest.approx(2.5 + 2.5)
    assert float(FeatureMatchLoss(True, True)(fh, fr)) == pytest.approx(5.0 / 2)
    assert float(FeatureMatchLoss(False, False, include_final_outputs=True)(fh, fr)) == pytest.approx(26.5)
    same = FeatureMatchLoss()(fr, fr)
    assert float(same) == 0.0
