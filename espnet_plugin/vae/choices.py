"""The speech VAE's parts as ESPnet ``ClassChoices`` (config names -> classes), and the generator builder.

Kept apart from the task module so that loading a trained VAE (inference, probing, TTS, demo) does not
import ESPnet's whole task machinery. Each slot is one :class:`espnet_plugin.registry.Registry` with
its abstract base (:mod:`espnet_plugin.vae.abs_parts`) and entry-point group:

==============  ===================  =================================
slot            base                 entry-point group
==============  ===================  =================================
encoder         AbsEncoder           ``espnet_plugin.encoders``
bottleneck      AbsBottleneck        ``espnet_plugin.bottlenecks``
decoder         AbsDecoder           ``espnet_plugin.decoders``
discriminator   AbsDiscriminator     ``espnet_plugin.discriminators``
==============  ===================  =================================

A broken third-party entry point is skipped with one warning naming it, unless the config asks for
its name: then :class:`ConfigError` naming it and the cause (the registry's one rule). The
``*_choices`` are ESPnet ``ClassChoices`` (ESPnet's argparse uses them) whose names and classes
are the registry's.

The task's ``--fs`` reaches every part through its ``conf_with_fs`` (the ``mel`` encoder, the CQT
discriminators) unless its ``*_conf`` sets ``fs`` itself.
"""

from __future__ import annotations

import argparse
from typing import Any, Dict, Mapping, Optional, Tuple

from espnet2.train.class_choices import ClassChoices
from espnet_plugin.errors import ConfigError
from espnet_plugin.registry import Registry
from espnet_plugin.vae.abs_parts import AbsBottleneck, AbsDecoder, AbsDiscriminator, AbsEncoder
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

ENCODERS: Registry[type] = Registry("encoder", AbsEncoder, "espnet_plugin.encoders")
BOTTLENECKS: Registry[type] = Registry("bottleneck", AbsBottleneck, "espnet_plugin.bottlenecks")
DECODERS: Registry[type] = Registry("decoder", AbsDecoder, "espnet_plugin.decoders")
DISCRIMINATORS: Registry[type] = Registry("discriminator", AbsDiscriminator, "espnet_plugin.discriminators")

ENCODERS.register("dac", DACEncoder)
ENCODERS.register("mel", MelEncoder)
BOTTLENECKS.register("gaussian", GaussianBottleneck)
BOTTLENECKS.register("deterministic", DeterministicBottleneck)
DECODERS.register("bigvgan", BigVGANDecoder)
DECODERS.register("vocos", VocosDecoder)
DISCRIMINATORS.register("mpd_cqt", MPDCQTDiscriminator)
DISCRIMINATORS.register("mpd_mrd", MPDMRDDiscriminator)
DISCRIMINATORS.register("cqt", MultiScaleSubbandCQTDiscriminator)
DISCRIMINATORS.register("mrd", MultiResolutionSTFTDiscriminator)


class RegistryChoices(ClassChoices):
    """ESPnet ``ClassChoices`` over a :class:`Registry`: ``choices()`` lists its names (third-party ones
    without importing them), ``get_class(name)`` is ``registry.get(name)`` (ConfigError when unknown
    or broken), ``classes`` is every loadable entry."""

    def __init__(self, registry: Registry, default: Optional[str] = None, optional: bool = False) -> None:
        if default is not None and default not in registry.registered():
            raise ConfigError(f"default {registry.name} {default!r} is not built in")
        self.registry = registry
        self.name = registry.name
        self.base_type = registry.base
        self.default = default
        self.optional = optional or default is None

    @property
    def classes(self) -> Mapping[str, type]:  # type: ignore[override]
        return self.registry.entries()

    def choices(self) -> Tuple[Optional[str], ...]:
        names = tuple(self.registry.names())
        return names + (None,) if self.optional else names

    def get_class(self, name: Optional[str]) -> Optional[type]:
        if name is None or (self.optional and name.lower() in ("none", "null", "nil")):
            return None
        return self.registry.get(name)


encoder_choices = RegistryChoices(ENCODERS, default="dac")
bottleneck_choices = RegistryChoices(BOTTLENECKS, default="gaussian")
decoder_choices = RegistryChoices(DECODERS, default="bigvgan")
discriminator_choices = RegistryChoices(DISCRIMINATORS, default="mpd_cqt")


def encoder_kwargs(args: argparse.Namespace) -> Tuple[type, Dict[str, Any]]:
    """The encoder class chosen in ``args`` and the keyword arguments :func:`build_generator` gives it.

    ``encoder_conf`` through the class's ``conf_with_fs(conf, args.fs)``, plus (unless its latent is
    fixed) ``out_channels`` = the bottleneck's input size for ``args.latent_dim``; keys set in
    ``encoder_conf`` win.
    """
    enc_cls = ENCODERS.get(args.encoder)
    conf = enc_cls.conf_with_fs(dict(args.encoder_conf or {}), args.fs)
    if not enc_cls.fixed_latent:
        bn_cls = BOTTLENECKS.get(args.bottleneck)
        conf.setdefault("out_channels", bn_cls.in_channels(args.latent_dim))
    return enc_cls, conf


def encoder_hop_length(args: argparse.Namespace) -> int:
    """Samples per latent frame of the encoder chosen in ``args``, without building the model.

    ``AbsEncoder.hop_length_from_conf(**conf)``: the built-in encoders read it from the config; the
    default (a third-party encoder that does not override it) builds the encoder alone once.
    """
    enc_cls, conf = encoder_kwargs(args)
    return int(enc_cls.hop_length_from_conf(**conf))


def latent_dim_of(args: argparse.Namespace) -> int:
    """The latent size D of the generator ``args`` build, without building it.

    An encoder with a fixed latent (``mel``: the log-mel bins) sets it (its ``out_channels``); every
    other encoder feeds a bottleneck of ``args.latent_dim``.
    """
    enc_cls, conf = encoder_kwargs(args)
    if enc_cls.fixed_latent:
        return int(enc_cls.out_channels_from_conf(**conf))
    return int(args.latent_dim)


def build_generator(args: argparse.Namespace) -> SpeechVAE:
    """Encoder + bottleneck + decoder from ``args`` (also used to load a trained model)."""
    enc_cls, enc_conf = encoder_kwargs(args)
    bn_cls = BOTTLENECKS.get(args.bottleneck)
    latent_dim = latent_dim_of(args)
    if enc_cls.fixed_latent and bn_cls.has_kl:
        raise ConfigError(
            f"encoder {args.encoder!r} is a fixed frontend: use a bottleneck without KL such as "
            f"'deterministic', not {args.bottleneck!r}"
        )
    encoder = enc_cls(**enc_conf)
    bottleneck = bn_cls(latent_dim=latent_dim, **(args.bottleneck_conf or {}))
    decoder = DECODERS.get(args.decoder)(latent_dim=latent_dim, **(args.decoder_conf or {}))
    return SpeechVAE(encoder, bottleneck, decoder, fs=args.fs, latent_dim=latent_dim)


def build_discriminator(args: argparse.Namespace) -> AbsDiscriminator:
    """The discriminator chosen in ``args`` from ``discriminator_conf``.

    The conf goes through the class's ``conf_with_fs(conf, args.fs)``: ``fs`` for ``cqt``, into
    ``cqt_conf`` for ``mpd_cqt``; keys set in the config win.
    """
    disc_cls = DISCRIMINATORS.get(args.discriminator)
    return disc_cls(**disc_cls.conf_with_fs(dict(args.discriminator_conf or {}), args.fs))
