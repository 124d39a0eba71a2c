"""Tests for espnet_plugin.vae.cqt and espnet_plugin.vae.discriminators (tiny configs, CPU)."""
import inspect
import math

import pytest
import torch

from espnet_plugin.errors import ConfigError, DataError
from espnet_plugin.vae.cqt import ConstantQTransform, cqt_quality, n_bins_below_nyquist
from espnet_plugin.vae.discriminators import (
    MPD_DEFAULTS,
    MPDCQTDiscriminator,
    MPDMRDDiscriminator,
    MultiResolutionSTFTDiscriminator,
    MultiScaleSubbandCQTDiscriminator,
    SubbandCQTDiscriminator,
)

FS = 16000
TINY_MPD = {"channels": 4, "max_downsample_channels": 16}
TINY_CQT = {"hop_lengths": (256, 128), "n_octaves": 3, "bins_per_octaves": (6, 8), "fmin": 500.0,
            "filters": 4, "max_filters": 8, "dilations": (1, 2)}
TINY_MRD = {"fft_sizes": (128, 256), "channels": 4}


def _tone(freq: float, n: int, fs: int = FS) -> torch.Tensor:
    return torch.cos(2 * math.pi * freq * torch.arange(n, dtype=torch.float64) / fs).float()


# ---------------------------------------------------------------- CQT
def test_cqt_sine_peaks_at_its_bin_with_half_amplitude():
    cqt = ConstantQTransform(FS, hop_length=128, fmin=200.0, n_bins=36, bins_per_octave=12,
                             output_format="magnitude")
    for k in (0, 7, 20, 35):
        mag = cqt(_tone(float(cqt.frequencies[k]), 4096)[None])  # (1, n_bins, T)
        mid = mag[0, :, mag.shape[-1] // 2]
        assert int(mid.argmax()) == k
        assert float(mid[k]) == pytest.approx(0.5, abs=5e-3)  # L1-normalised kernels


def test_cqt_matches_direct_sum():
    torch.manual_seed(0)
    fs, hop, fmin, bpo = 8000, 64, 300.0, 6
    cqt = ConstantQTransform(fs, hop, fmin, n_bins=12, bins_per_octave=bpo, output_format="complex")
    x = torch.randn(2, 1000, dtype=torch.float64)
    out = ConstantQTransform(fs, hop, fmin, 12, bpo, output_format="complex").double()(x)
    assert out.shape == (2, cqt.n_bins, 1000 // hop + 1)
    q = cqt_quality(bpo)
    for k in (0, 5, cqt.n_bins - 1):
        f = fmin * 2 ** (k / bpo)
        h = math.ceil(q * fs / f) // 2
        n = torch.arange(-h, h + 1, dtype=torch.float64)
        w = torch.hann_window(2 * h + 1, periodic=False, dtype=torch.float64)
        kern = w * torch.exp(-2j * math.pi * f * n / fs) / w.sum()
        for t in (0, 7, out.shape[-1] - 1):
            idx = t * hop + n.long()
            valid = (idx >= 0) & (idx < x.shape[-1])
            expect = (x[:, idx[valid]] * kern[valid]).sum(-1)
            torch.testing.assert_close(out[:, k, t], expect, atol=1e-6, rtol=1e-5)  # float32 kernels


def test_cqt_output_formats_agree():
    torch.manual_seed(0)
    x = torch.randn(2, 1, 2000)
    kw = dict(fs=FS, hop_length=100, fmin=400.0, n_bins=20, bins_per_octave=8)
    c = ConstantQTransform(output_format="complex", **kw)(x)
    ri = ConstantQTransform(output_format="real_imag", **kw)(x)
    mag = ConstantQTransform(output_format="magnitude", **kw)(x)
    assert c.is_complex() and c.shape == (2, 20, 21) and ri.shape == (2, 2, 20, 21)
    torch.testing.assert_close(ri[:, 0], c.real)
    torch.testing.assert_close(ri[:, 1], c.imag)
    torch.testing.assert_close(mag, c.abs(), atol=1e-5, rtol=1e-5)
    lib = ConstantQTransform(output_format="complex", norm="librosa", **kw)
    torch.testing.assert_close(lib(x).abs(), c.abs() * torch.tensor(lib.bin_lengths).sqrt()[:, None])


@pytest.mark.parametrize("bpo,expected", [(24, 189), (36, 284), (48, 379)])
def test_cqt_16khz_paper_config_drops_bins_above_nyquist(bpo, expected):
    assert n_bins_below_nyquist(FS, 32.7, 8 * bpo, bpo) == expected
    cqt = ConstantQTransform(FS, 256, 32.7, n_bins=8 * bpo, bins_per_octave=bpo, output_format="magnitude")
    assert cqt.n_bins == expected < 8 * bpo
    top = float(cqt.frequencies[-1])
    assert top * (1 + 2 / cqt_quality(bpo)) <= FS / 2
    nyquist = torch.ones(1, 4000)
    nyquist[:, 1::2] = -1.0  # a tone at exactly fs / 2
    mag = cqt(nyquist)[0, :, 8]
    assert torch.isfinite(mag).all() and float(mag.max()) < 0.05  # no kept kernel wraps around
    assert int(cqt(_tone(top, 4000)[None])[0, :, 8].argmax()) == expected - 1


def test_cqt_bad_config_raises():
    with pytest.raises(ConfigError):
        ConstantQTransform(FS, 128, fmin=7900.0, n_bins=12, bins_per_octave=12)  # nothing below Nyquist
    with pytest.raises(ConfigError):
        ConstantQTransform(FS, 128, output_format="power")


# ---------------------------------------------------------------- discriminators
def _check_outputs(outs, n_sub):
    assert isinstance(outs, list) and len(outs) == n_sub
    for sub in outs:
        assert isinstance(sub, list) and len(sub) >= 2
        assert all(isinstance(t, torch.Tensor) and torch.isfinite(t).all() for t in sub)
        logits = sub[-1]
        # logits: one channel (CQT / MRD: (B, 1, ., .)) or flattened (MPD: (B, frames))
        assert logits.dim() == 2 or logits.shape[1] == 1
        assert all(f.shape[1] > 1 for f in sub[:-1] if f.dim() == 4)  # feature maps have channels


@pytest.mark.parametrize(
    "disc,n_sub",
    [
        (lambda: MPDCQTDiscriminator(mpd_conf=TINY_MPD, cqt_conf=TINY_CQT), 5 + 2),
        (lambda: MPDMRDDiscriminator(mpd_conf=TINY_MPD, mrd_conf=TINY_MRD), 5 + 2),
        (lambda: MPDMRDDiscriminator(periods=(2, 3), mpd_conf=TINY_MPD,
                                     mrd_conf={**TINY_MRD, "kind": "multiband"}), 2 + 2),
    ],
)
def test_composite_structure_and_gradient_to_waveform(disc, n_sub):
    torch.manual_seed(0)
    d = disc()
    x = (0.1 * torch.randn(2, 1, 2048)).requires_grad_(True)
    outs = d(x)
    _check_outputs(outs, n_sub)
    sum(sub[-1].mean() for sub in outs).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # every sub-discriminator's logits depend on the waveform
    for sub in d(x):
        (g,) = torch.autograd.grad(sub[-1].sum(), x, retain_graph=True)
        assert g.abs().sum() > 0


def test_cqt_discriminator_16khz_paper_bins_no_nan_and_frame_rate():
    torch.manual_seed(0)
    d = SubbandCQTDiscriminator(fs=FS, hop_length=512, n_octaves=8, bins_per_octave=24,
                                filters=4, max_filters=8, dilations=(1, 2, 4))
    assert d.cqt.hop_length == 256  # BigVGAN's hop at 2 fs -> same frame rate at fs
    assert d.band_edges[-1] == (168, 189) and len(d.band_edges) == 8  # last octave truncated
    x = (0.1 * torch.randn(1, 1, 4000)).requires_grad_(True)
    outs = d(x)
    assert outs[0].shape[2] == 4000 // 256 + 1 and outs[0].shape[3] == 189
    assert outs[-1].shape[:2] == (1, 1) and outs[-1].shape[3] == math.ceil(189 / 8)
    outs[-1].sum().backward()
    assert all(torch.isfinite(t).all() for t in outs) and torch.isfinite(x.grad).all()


def test_default_sizes_are_paper_size():
    # the composites' defaults (the 41M-parameter MPD is ESPnet's and slow to build: checked by signature)
    for cls in (MPDCQTDiscriminator, MPDMRDDiscriminator):
        assert inspect.signature(cls).parameters["periods"].default == (2, 3, 5, 7, 11)
    assert MPD_DEFAULTS["channels"] == 32 and MPD_DEFAULTS["max_downsample_channels"] == 1024
    cqt = MultiScaleSubbandCQTDiscriminator()
    assert [s.cqt.bins_per_octave for s in cqt.discriminators] == [24, 36, 48]
    assert [s.cqt.n_bins for s in cqt.discriminators] == [189, 284, 379]
    assert [s.cqt.hop_length for s in cqt.discriminators] == [256, 128, 128]
    mrd = MultiResolutionSTFTDiscriminator()
    assert [s.n_fft for s in mrd.discriminators] == [1024, 2048, 512]
    assert mrd.discriminators[0].convs[0].out_channels == 64


def test_discriminator_choices_and_config_errors():
    from espnet_plugin.vae.choices import discriminator_choices

    d = discriminator_choices.get_class("mpd_mrd")(mpd_conf=TINY_MPD, mrd_conf=TINY_MRD)
    assert isinstance(d, MPDMRDDiscriminator)
    # the composites keep their parts under the names checkpoints use
    assert {n.split(".")[0] for n, _ in d.named_parameters()} == {"mpd", "mrd"}
    assert set(discriminator_choices.choices()) >= {"mpd_cqt", "mpd_mrd", "cqt", "mrd"}
    with pytest.raises(ValueError, match="msd"):
        discriminator_choices.get_class("msd")
    with pytest.raises(ConfigError):
        MPDCQTDiscriminator(mpd_conf=TINY_MPD, cqt_conf={**TINY_CQT, "n_octaves": (3, 3, 3)})
    with pytest.raises(ConfigError):
        MultiResolutionSTFTDiscriminator(kind="complex")
    with pytest.raises(ConfigError):
        SubbandCQTDiscriminator(hop_length=255, hop_divisor=2)
    with pytest.raises(DataError):
        MultiResolutionSTFTDiscriminator(**TINY_MRD)(torch.zeros(1, 1, 100))  # shorter than n_fft / 2
