"""The speech VAE's parts as ESPnet ``ClassChoices`` (config names -> classes), and the generator builder.

Kept apart from the task module so that loading a trained VAE (inference, probing, TTS, demo) does not
import ESPnet's whole task machinery. Third parties extend each registry through an entry-point group;
an entry point that fails to load is skipped with a warning naming it (its name is then not available).

The task's ``--fs`` reaches every part that takes an ``fs`` argument (the ``mel`` encoder, the CQT
discriminator) unless its ``*_conf`` sets ``fs`` itself.
"""

from __future__ import annotations

import argparse
import inspect
import logging
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Dict, Optional, Tuple

from torch import nn

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


def _load_entry_point(ep: EntryPoint, group: str) -> Optional[type]:
    """``ep.load()``, or None with a warning naming the entry point when it fails to import."""
    try:
        return ep.load()
    except Exception as e:  # noqa: BLE001 - a broken third-party package must not break the task
        logging.warning(f"entry point '{ep.name} = {ep.value}' in {group} ignored: it failed to load: {e!r}")
        return None


def _with_entry_points(group: str, builtin: Dict[str, type]) -> Dict[str, type]:
    """Built-in classes plus those third parties register under entry-point ``group``.

    An entry point that raises on load is skipped (warning naming it); the others stay available.
    """
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
        cls = _load_entry_point(ep, group)
        if cls is not None:
            classes[name] = cls
    return classes


def _accepts(cls: type, name: str) -> bool:
    """Whether ``cls(...)`` has an explicit parameter ``name``."""
    try:
        return name in inspect.signature(cls).parameters
    except (TypeError, ValueError):  # pragma: no cover - no introspectable signature
        return False


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


def encoder_kwargs(args: argparse.Namespace) -> Tuple[type, Dict[str, Any]]:
    """The encoder class chosen in ``args`` and the keyword arguments :func:`build_generator` gives it.

    ``encoder_conf`` plus ``fs = args.fs`` when the class takes ``fs`` and plus (except for ``mel``)
    ``out_channels`` = the bottleneck's input size for ``args.latent_dim``; keys set in
    ``encoder_conf`` win.
    """
    enc_cls = encoder_choices.get_class(args.encoder)
    conf = dict(args.encoder_conf or {})
    if _accepts(enc_cls, "fs"):
        conf.setdefault("fs", args.fs)
    if enc_cls is not MelEncoder:
        bn_cls = bottleneck_choices.get_class(args.bottleneck)
        conf.setdefault("out_channels", bn_cls.in_channels(args.latent_dim))
    return enc_cls, conf


def encoder_hop_length(args: argparse.Namespace) -> int:
    """Samples per latent frame of the encoder chosen in ``args``, without building the model.

    Uses the class's ``hop_length_from_conf(**conf)`` (the built-in encoders have one); a
    third-party encoder without it is built alone and asked for its ``hop_length``.
    """
    enc_cls, conf = encoder_kwargs(args)
    from_conf = getattr(enc_cls, "hop_length_from_conf", None)
    if from_conf is not None:
        return int(from_conf(**conf))
    return int(enc_cls(**conf).hop_length)


def latent_dim_of(args: argparse.Namespace) -> int:
    """The latent size D of the generator ``args`` build, without building it.

    The ``mel`` encoder is a fixed frontend whose log-mel bins are the latent (its ``out_channels``);
    every other encoder feeds a bottleneck of ``args.latent_dim``.
    """
    enc_cls, conf = encoder_kwargs(args)
    if enc_cls is MelEncoder:
        return int(conf.get("out_channels", inspect.signature(MelEncoder).parameters["out_channels"].default))
    return int(args.latent_dim)


def build_generator(args: argparse.Namespace) -> SpeechVAE:
    """Encoder + bottleneck + decoder from ``args`` (also used to load a trained model)."""
    enc_cls, enc_conf = encoder_kwargs(args)
    bn_cls = bottleneck_choices.get_class(args.bottleneck)
    latent_dim = latent_dim_of(args)
    if enc_cls is MelEncoder:
        if bn_cls is not DeterministicBottleneck:
            raise ConfigError("encoder 'mel' is a fixed frontend: use bottleneck 'deterministic' (no KL)")
        encoder = enc_cls(**enc_conf)
    else:
        encoder = enc_cls(**enc_conf)
    bottleneck = bn_cls(latent_dim=latent_dim, **(args.bottleneck_conf or {}))
    decoder = decoder_choices.get_class(args.decoder)(latent_dim=latent_dim, **(args.decoder_conf or {}))
    return SpeechVAE(encoder, bottleneck, decoder, fs=args.fs, latent_dim=latent_dim)


def build_discriminator(args: argparse.Namespace) -> nn.Module:
    """The discriminator chosen in ``args`` from ``discriminator_conf``.

    ``fs = args.fs`` is passed when the class takes ``fs`` (``cqt``), and into ``cqt_conf`` for the
    classes that build the CQT discriminator from it (``mpd_cqt``); keys set in the config win.
    """
    disc_cls = discriminator_choices.get_class(args.discriminator)
    conf = dict(args.discriminator_conf or {})
    if _accepts(disc_cls, "fs"):
        conf.setdefault("fs", args.fs)
    if isinstance(disc_cls, type) and issubclass(disc_cls, MPDCQTDiscriminator):
        conf["cqt_conf"] = {"fs": args.fs, **(conf.get("cqt_conf") or {})}  # -> MultiScaleSubbandCQTDiscriminator
    return disc_cls(**conf)
