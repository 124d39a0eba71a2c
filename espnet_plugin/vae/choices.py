"""The speech VAE's parts as ESPnet ``ClassChoices`` (config names -> classes), and the generator builder.

Kept apart from the task module so that loading a trained VAE (inference, probing, TTS, demo) does not
import ESPnet's whole task machinery. Third parties extend each registry through an entry-point group.
"""

from __future__ import annotations

import argparse
import logging
from importlib.metadata import entry_points
from typing import Dict

from espnet2.train.class_choices import ClassChoices
from espnet_plugin.errors import ConfigError
from espnet_plugin.vae.bottleneck import DeterministicBottleneck, GaussianBottleneck
from espnet_plugin.vae.decoders import BigVGANDecoder, VocosDecoder
from espnet_plugin.vae.discriminators import (
    MPDCQTDiscriminator,
    MPDMRDDiscriminator,
    MultiResolutionSTFTDiscriminator,
    MultiScaleSubbandCQTDiscriminator,
)
from espnet_plugin.vae.encoder import DACEncoder, MelEncoder
from espnet_plugin.vae.generator import SpeechVAE


def _with_entry_points(group: str, builtin: Dict[str, type]) -> Dict[str, type]:
    """Built-in classes plus those third parties register under entry-point ``group``."""
    classes = dict(builtin)
    try:
        eps = entry_points(group=group)
    except TypeError:  # pragma: no cover - old importlib.metadata
        eps = entry_points().get(group, [])
    for ep in eps:
        name = ep.name.lower()
        if name in classes:
            logging.warning(f"entry point {ep.value} for '{name}' in {group} ignored: name is built in")
            continue
        classes[name] = ep.load()
    return classes


encoder_choices = ClassChoices(
    "encoder", classes=_with_entry_points("espnet_plugin.encoders", dict(dac=DACEncoder, mel=MelEncoder)), default="dac"
)
bottleneck_choices = ClassChoices(
    "bottleneck",
    classes=_with_entry_points(
        "espnet_plugin.bottlenecks", dict(gaussian=GaussianBottleneck, deterministic=DeterministicBottleneck)
    ),
    default="gaussian",
)
decoder_choices = ClassChoices(
    "decoder",
    classes=_with_entry_points("espnet_plugin.decoders", dict(bigvgan=BigVGANDecoder, vocos=VocosDecoder)),
    default="bigvgan",
)
discriminator_choices = ClassChoices(
    "discriminator",
    classes=_with_entry_points(
        "espnet_plugin.discriminators",
        dict(
            mpd_cqt=MPDCQTDiscriminator,
            mpd_mrd=MPDMRDDiscriminator,
            cqt=MultiScaleSubbandCQTDiscriminator,
            mrd=MultiResolutionSTFTDiscriminator,
        ),
    ),
    default="mpd_cqt",
)


def build_generator(args: argparse.Namespace) -> SpeechVAE:
    """Encoder + bottleneck + decoder from ``args`` (also used to load a trained model)."""
    enc_cls = encoder_choices.get_class(args.encoder)
    bn_cls = bottleneck_choices.get_class(args.bottleneck)
    enc_conf = dict(args.encoder_conf or {})
    latent_dim = args.latent_dim
    if enc_cls is MelEncoder:
        if bn_cls is not DeterministicBottleneck:
            raise ConfigError("encoder 'mel' is a fixed frontend: use bottleneck 'deterministic' (no KL)")
        encoder = enc_cls(**enc_conf)
        latent_dim = encoder.out_channels
    else:
        enc_conf.setdefault("out_channels", bn_cls.in_channels(latent_dim))
        encoder = enc_cls(**enc_conf)
    bottleneck = bn_cls(latent_dim=latent_dim, **(args.bottleneck_conf or {}))
    decoder = decoder_choices.get_class(args.decoder)(latent_dim=latent_dim, **(args.decoder_conf or {}))
    return SpeechVAE(encoder, bottleneck, decoder, fs=args.fs, latent_dim=latent_dim)
