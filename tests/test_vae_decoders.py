"""Tests for espnet_plugin.vae.decoders (VocosDecoder, BigVGANDecoder) and end-to-end gradients."""
import pytest
import torch
import torch.nn.functional as F

from espnet_plugin.errors import ConfigError
from espnet_plugin.vae.bottleneck import DeterministicBottleneck, GaussianBottleneck
from espnet_plugin.vae.decoders import BigVGANDecoder, VocosDecoder
from espnet_plugin.vae.decoders.vocos import istft_same
from vocos.heads import ISTFTHead
from vocos.models import VocosBackbone
from espnet_plugin.vae.encoder import DACEncoder, MelEncoder


def _tiny_vocos(**kw):
    kw.setdefault("hop_length", 10)
    return VocosDecoder(latent_dim=4, dim=32, intermediate_dim=48, num_layers=2, **kw)


def _tiny_bigvgan(**kw):
    kw.setdefault("upsample_rates", (5, 2))
    kw.setdefault("upsample_kernel_sizes", (10, 4))
    return BigVGANDecoder(
        latent_dim=4,
        upsample_initial_channel=16,
        resblock_kernel_sizes=(3, 5),
        resblock_dilation_sizes=((1, 3), (1, 3)),
        **kw,
    )


# ---------------------------------------------------------------- ISTFT
@pytest.mark.parametrize("n_fft,hop", [(40, 10), (16, 4), (33, 10), (10, 10)])
def test_istft_same_inverts_same_padded_stft(n_fft, hop):
    """Frame a signal with (win-hop)/2 left padding; the overlap-add inverse returns it exactly."""
    torch.manual_seed(0)
    t = 7
    x = torch.randn(2, t * hop, dtype=torch.float64)
    window = torch.hann_window(n_fft, dtype=torch.float64)
    if hop == n_fft:
        window = torch.ones(n_fft, dtype=torch.float64)  # rectangular frames tile the signal
    left = (n_fft - hop) // 2
    xp = F.pad(x, (left, n_fft - hop - left))
    spec = torch.stft(xp, n_fft, hop, window=window, center=False, return_complex=True)
    assert spec.shape[-1] == t
    y = istft_same(spec, hop, window)
    assert y.shape == (2, t * hop)
    torch.testing.assert_close(y, x)


def test_istft_same_matches_vocos_package():
    vocos_ops = pytest.importorskip("vocos.spectral_ops")
    torch.manual_seed(0)
    spec = torch.randn(2, 21, 6, dtype=torch.complex64)
    ref = vocos_ops.ISTFT(n_fft=40, hop_length=10, win_length=40, padding="same")(spec)
    torch.testing.assert_close(istft_same(spec, 10, torch.hann_window(40)), ref, atol=1e-5, rtol=1e-5)
    # why the decoder keeps istft_same: vocos 0.1.0's "same" trim is off by one for odd win - hop
    odd = vocos_ops.ISTFT(n_fft=25, hop_length=10, win_length=25, padding="same")(spec[:, :13])
    assert odd.shape[-1] != 6 * 10 and istft_same(spec[:, :13], 10, torch.hann_window(25)).shape[-1] == 60


# ---------------------------------------------------------------- VocosDecoder
@pytest.mark.parametrize("t", [1, 2, 9])
@pytest.mark.parametrize("n_fft", [None, 25])
def test_vocos_decoder_lengths(t, n_fft):
    dec = _tiny_vocos(n_fft=n_fft)
    assert dec.hop_length == 10 and dec.n_fft == (n_fft or 40)
    wav = dec(torch.randn(2, 4, t))
    assert wav.shape == (2, 1, t * 10) and torch.isfinite(wav).all()


def test_vocos_decoder_structure_and_errors():
    dec = VocosDecoder(latent_dim=4, hop_length=400, dim=32, intermediate_dim=48, num_layers=3)
    assert dec.n_fft == 1600 and dec.head.out.out_features == 1602
    assert isinstance(dec.backbone, VocosBackbone) and isinstance(dec.head, ISTFTHead)  # the vocos package's
    torch.testing.assert_close(dec.backbone.convnext[0].gamma, torch.full((32,), 1 / 3))
    assert _tiny_vocos(layer_scale_init=0.0).backbone.convnext[0].gamma is None
    assert _tiny_vocos(n_fft=25).head.out.out_features == 26  # 13 log-magnitudes + 13 phases
    assert "head.istft.window" not in dec.state_dict()  # a function of n_fft, not a weight
    with pytest.raises(ConfigError):
        VocosDecoder(hop_length=400, n_fft=300)
    with pytest.raises(ConfigError):
        dec(torch.randn(1, 5, 3))


def test_vocos_magnitude_is_exp_clipped():
    """Head output a (log-magnitude) and p (phase): spectrum = min(exp(a), 100) * exp(i p)."""
    dec = _tiny_vocos()  # n_fft 40 -> 21 bins; head outputs 42 = 21 log-magnitudes + 21 phases
    z = torch.randn(1, 4, 5)
    for log_mag, expected_mag in [(10.0, 100.0), (1.0, torch.e)]:
        with torch.no_grad():
            dec.head.out.weight.zero_()
            dec.head.out.bias.fill_(-50.0)  # all bins ~0 ...
            dec.head.out.bias[3] = log_mag  # ... but bin 3
            dec.head.out.bias[21:] = 0.7  # phase of every bin
        spec_ref = torch.zeros(1, 21, 5, dtype=torch.complex64)
        spec_ref[:, 3] = expected_mag * torch.exp(torch.tensor(0.7j))
        torch.testing.assert_close(dec(z)[:, 0], istft_same(spec_ref, 10, dec.head.istft.window), atol=1e-4, rtol=1e-4)


class _LegacyConvNeXt(torch.nn.Module):
    """The decoder's ConvNeXt block before it used the vocos package (key layout of old checkpoints)."""

    def __init__(self, dim, intermediate_dim, layer_scale_init):
        super().__init__()
        nn = torch.nn
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1, self.act, self.pwconv2 = nn.Linear(dim, intermediate_dim), nn.GELU(), nn.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), float(layer_scale_init)))

    def forward(self, x):
        y = self.pwconv2(self.act(self.pwconv1(self.norm(self.dwconv(x).transpose(1, 2)))))
        return x + (self.gamma * y).transpose(1, 2)


class _LegacyVocosDecoder(torch.nn.Module):
    """The old VocosDecoder (own backbone and head), only to write an old-layout checkpoint."""

    def __init__(self, latent_dim, hop_length, dim, intermediate_dim, num_layers, n_fft):
        super().__init__()
        nn = torch.nn
        self.hop_length = hop_length
        self.embed = nn.Conv1d(latent_dim, dim, kernel_size=7, padding=3)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.blocks = nn.ModuleList([_LegacyConvNeXt(dim, intermediate_dim, 1 / num_layers) for _ in range(num_layers)])
        self.final_norm = nn.LayerNorm(dim, eps=1e-6)
        self.out = nn.Linear(dim, 2 * (n_fft // 2 + 1))
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, z):
        x = self.norm(self.embed(z).transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        log_mag, phase = self.out(self.final_norm(x.transpose(1, 2))).transpose(1, 2).chunk(2, dim=1)
        mag = torch.clip(torch.exp(log_mag), max=1e2)
        return istft_same(torch.complex(mag * torch.cos(phase), mag * torch.sin(phase)), self.hop_length,
                          self.window).unsqueeze(1)


@pytest.mark.parametrize("n_fft", [40, 25])
def test_old_layout_checkpoint_loads_and_decodes_identically(n_fft):
    """A state dict of the pre-vocos decoder (embed/norm/blocks/final_norm/out) loads, strictly, into
    the vocos-based one, which then gives the old decoder's output, in a whole model as well."""
    torch.manual_seed(0)
    old = _LegacyVocosDecoder(4, 10, 32, 48, 2, n_fft)
    with torch.no_grad():
        for p in old.parameters():
            p.add_(0.1 * torch.randn_like(p))  # every weight matters (not the zero biases of the init)
    new = _tiny_vocos(n_fft=n_fft)
    new.load_state_dict(old.state_dict())  # strict: every key renamed, none left over
    z = torch.randn(2, 4, 6)
    with torch.no_grad():
        torch.testing.assert_close(new(z), old(z), rtol=1e-6, atol=1e-6)
    # nested (generator.decoder.* / generator_ema.module.decoder.*): the hook sees the prefix
    holder, ref = torch.nn.Module(), _tiny_vocos(n_fft=n_fft)
    holder.decoder = ref
    holder.load_state_dict({f"decoder.{k}": v for k, v in old.state_dict().items()})
    for k, v in new.state_dict().items():
        assert torch.equal(ref.state_dict()[k], v), k
    # a new-layout state dict loads as it is
    again = _tiny_vocos(n_fft=n_fft)
    again.load_state_dict(new.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(again(z), new(z), rtol=0, atol=0)


# ---------------------------------------------------------------- BigVGANDecoder
@pytest.mark.parametrize("t", [1, 3])
def test_bigvgan_lengths_with_odd_kernel_minus_rate(t):
    dec = _tiny_bigvgan()  # 10 - 5 is odd: handled by output_padding
    assert dec.hop_length == 10
    wav = dec(torch.randn(2, 4, t))
    assert wav.shape == (2, 1, 10 * t)
    assert wav.abs().max() <= 1.0


def test_bigvgan_default_rates_hop_400():
    dec = BigVGANDecoder(latent_dim=4, upsample_initial_channel=16, resblock_kernel_sizes=(3,),
                         resblock_dilation_sizes=((1,),))
    assert dec.hop_length == 400
    assert dec(torch.randn(1, 4, 2)).shape == (1, 1, 800)


def test_bigvgan_variants_and_errors():
    dec = _tiny_bigvgan(resblock="2", activation="snake", use_tanh_at_final=True, use_bias_at_final=False)
    wav = dec(torch.randn(1, 4, 2))
    assert wav.shape == (1, 1, 20) and wav.abs().max() < 1.0
    assert dec.conv_post.bias is None
    with pytest.raises(ConfigError):
        _tiny_bigvgan(resblock="3")
    with pytest.raises(ConfigError):
        _tiny_bigvgan(activation="relu")
    with pytest.raises(ConfigError):
        _tiny_bigvgan(upsample_kernel_sizes=(4, 4))


def test_bigvgan_clamp_output():
    dec = _tiny_bigvgan()
    with torch.no_grad():
        dec.conv_post.bias.fill_(5.0)
    assert torch.all(dec(torch.randn(1, 4, 2)) == 1.0)


# ---------------------------------------------------------------- end to end
@pytest.mark.parametrize("decoder", ["vocos", "bigvgan"])
def test_gradients_flow_encoder_bottleneck_decoder(decoder):
    torch.manual_seed(0)
    enc = DACEncoder(out_channels=8, d_model=4, strides=(2, 5))
    bn = GaussianBottleneck(4).train()
    dec = _tiny_vocos() if decoder == "vocos" else _tiny_bigvgan()
    wav = torch.randn(2, 1, 37)
    h = enc(wav)
    z, kl, _ = bn(h)
    out = dec(z)
    assert out.shape == (2, 1, 40)
    loss = (out[..., :37] - wav).abs().mean() + 1e-3 * kl
    loss.backward()
    for module in (enc, dec):
        for name, p in module.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert enc.last_layer.weight.grad.abs().sum() > 0
    assert enc.conv_in.parametrizations.weight.original1.grad.abs().sum() > 0


def test_mel_vocoder_baseline_pipeline():
    enc = MelEncoder(out_channels=4, n_fft=32, hop_length=10)
    bn = DeterministicBottleneck(4)
    dec = _tiny_vocos()
    z, kl, _ = bn(enc(torch.randn(1, 1, 55)))
    out = dec(z)
    assert out.shape == (1, 1, 60) and kl.item() == 0.0
    out.sum().backward()
    assert dec.backbone.embed.weight.grad is not None


# ---------------------------------------------------------------- mixed precision
@pytest.mark.parametrize("encoder", ["dac", "mel"])
@pytest.mark.parametrize("decoder", ["vocos", "bigvgan"])
def test_reconstruction_is_float32_under_autocast(encoder, decoder):
    """Under bf16 autocast the decoders still return float32 waveforms, like the real audio."""
    from espnet_plugin.vae.generator import SpeechVAE

    torch.manual_seed(0)
    if encoder == "dac":
        enc, bn = DACEncoder(out_channels=8, d_model=4, strides=(2, 5)), GaussianBottleneck(4)
    else:
        enc, bn = MelEncoder(out_channels=4, n_fft=32, hop_length=10), DeterministicBottleneck(4)
    vae = SpeechVAE(enc, bn, _tiny_vocos() if decoder == "vocos" else _tiny_bigvgan(), fs=16000, latent_dim=4).eval()
    wav = 0.1 * torch.randn(2, 1, 55)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        wav_hat, z, *_ = vae(wav)
        assert vae.decoder(z).dtype == torch.float32
        assert vae.decode(vae.encode(wav[:, 0])[0]).dtype == torch.float32
    assert wav_hat.dtype == torch.float32 and wav_hat.shape == wav.shape


def test_mel_encoder_runs_in_float32_under_autocast():
    enc = MelEncoder(out_channels=16, n_fft=64, hop_length=16)
    wav = 0.1 * torch.randn(2, 1, 400)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h = enc(wav)
    assert h.dtype == torch.float32
    torch.testing.assert_close(h, enc(wav))  # not computed in bf16
