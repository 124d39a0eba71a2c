"""espnet_plugin.vae.choices: --fs reaches the parts, the hop without building, broken entry points."""

from __future__ import annotations

import argparse
from importlib.metadata import EntryPoint

import pytest

from espnet_plugin import registry as registry_mod
from espnet_plugin.errors import ConfigError
from espnet_plugin.registry import Registry
from espnet_plugin.vae import choices
from espnet_plugin.vae.abs_parts import AbsEncoder
from espnet_plugin.vae.encoder import DACEncoder, MelEncoder

TINY_MPD = {"channels": 4, "max_downsample_channels": 16}
TINY_CQT = {"hop_lengths": (256,), "n_octaves": 3, "bins_per_octaves": (6,), "fmin": 500.0,
            "filters": 4, "max_filters": 8, "dilations": (1,)}


def _args(**over) -> argparse.Namespace:
    conf = dict(
        fs=16000, latent_dim=4, encoder="mel", encoder_conf=dict(out_channels=4, n_fft=64, hop_length=16),
        bottleneck="deterministic", bottleneck_conf={}, decoder="vocos",
        decoder_conf=dict(hop_length=16, dim=8, intermediate_dim=8, num_layers=1),
        discriminator="mpd_cqt", discriminator_conf=dict(periods=[2], mpd_conf=TINY_MPD, cqt_conf=TINY_CQT),
    )
    conf.update(over)
    return argparse.Namespace(**conf)


def test_fs_reaches_the_mel_encoder_unless_its_conf_sets_it():
    assert choices.build_generator(_args()).encoder.mel.sample_rate == 16000  # unchanged at 16 kHz
    gen = choices.build_generator(_args(fs=24000))
    assert gen.fs == 24000 and gen.encoder.mel.sample_rate == 24000
    assert gen.encoder.mel.mel_scale.f_max == 12000.0  # fmax defaults to fs / 2
    args = _args(fs=24000)
    args.encoder_conf = {**args.encoder_conf, "fs": 22050}
    assert choices.build_generator(args).encoder.mel.sample_rate == 22050  # the config wins
    # DACEncoder takes no fs: nothing is added
    dac = _args(encoder="dac", encoder_conf=dict(d_model=2, strides=[4, 4]), bottleneck="gaussian")
    assert "fs" not in choices.encoder_kwargs(dac)[1]


def test_fs_reaches_the_cqt_discriminator_unless_its_conf_sets_it():
    d = choices.build_discriminator(_args())
    assert d.cqt.discriminators[0].cqt.fs == 16000
    d = choices.build_discriminator(_args(fs=24000))
    assert d.cqt.discriminators[0].cqt.fs == 24000
    args = _args(fs=24000)
    args.discriminator_conf = {**args.discriminator_conf, "cqt_conf": {**TINY_CQT, "fs": 22050}}
    assert choices.build_discriminator(args).cqt.discriminators[0].cqt.fs == 22050
    assert args.discriminator_conf["cqt_conf"]["fs"] == 22050 and "fs" not in TINY_CQT  # no config mutated
    d = choices.build_discriminator(_args(fs=24000, discriminator="cqt", discriminator_conf=TINY_CQT))
    assert d.discriminators[0].cqt.fs == 24000


def test_hop_length_from_conf_without_building():
    assert DACEncoder.hop_length_from_conf() == 400 == DACEncoder().hop_length
    assert DACEncoder.hop_length_from_conf(strides=[2, 3], d_model=4) == 6
    assert MelEncoder.hop_length_from_conf() == 400 == MelEncoder().hop_length
    assert MelEncoder.hop_length_from_conf(hop_length=160, fs=8000) == 160
    with pytest.raises(ConfigError, match="DACEncoder"):
        DACEncoder.hop_length_from_conf(stride=[2])
    assert choices.encoder_hop_length(_args()) == 16


def test_third_party_encoder_without_hop_length_from_conf_is_built_alone(monkeypatch):
    class Plain(DACEncoder):
        hop_length_from_conf = vars(AbsEncoder)["hop_length_from_conf"]  # the base's default: build, ask

    monkeypatch.setattr(choices.ENCODERS, "_entries", {**choices.ENCODERS.registered(), "plain": Plain})
    args = _args(encoder="plain", encoder_conf=dict(d_model=2, strides=[2, 5]), bottleneck="gaussian")
    assert choices.encoder_hop_length(args) == 10


def test_a_broken_entry_point_is_skipped_with_a_warning_naming_it(monkeypatch):
    group = "espnet_plugin.encoders"
    eps = [
        EntryPoint(name="broken", value="no_such_module_for_svae_tests:Encoder", group=group),
        EntryPoint(name="good", value="espnet_plugin.vae.encoder:DACEncoder", group=group),
    ]
    reg = Registry("encoder", AbsEncoder, group)
    reg.register("mel", MelEncoder)
    monkeypatch.setattr(registry_mod.importlib.metadata, "entry_points",
                        lambda group: [e for e in eps if e.group == group])
    with pytest.warns(UserWarning) as caught:
        classes = reg.entries()
    assert classes == {"mel": MelEncoder, "good": DACEncoder}
    text = " ".join(str(w.message) for w in caught)
    assert "'broken = no_such_module_for_svae_tests:Encoder'" in text and group in text
