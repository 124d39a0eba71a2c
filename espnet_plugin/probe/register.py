"""Offer the probe frontends to ESPnet's ASR task without editing ESPnet.

ESPnet has no plugin mechanism: ``espnet2.tasks.asr.frontend_choices`` is a module-level
``ClassChoices`` whose ``classes`` dict is read when the parser is built and when the model is
built. :func:`register_probe_frontends` adds the names of :data:`PROBE_FRONTENDS` and
:data:`PROBE_ENCODERS` (registries: the built-in ones and third parties' entry points of the groups
``espnet_plugin.probe_frontends`` / ``espnet_plugin.probe_encoders``) to it; the project's launchers
(``python -m espnet_plugin.bin.asr_probe_train`` / ``asr_probe_inference``) call it and then run
ESPnet's own ASR entry points. Importing :mod:`espnet_plugin` (or this module) registers nothing.

:class:`ProbeASRTask` is ESPnet's ``ASRTask`` with one convenience: SUPERB's input projection is
ESPnet's ``linear`` pre-encoder, whose ``input_size`` must equal the frontend's feature size; when
the config leaves it out it is filled in with the frontend's ``output_size()`` (read from the
frontend's config, see :func:`frontend_output_size`, and recorded in the dumped ``config.yaml``, so
plain ``ASRTask`` rebuilds the model at inference time).
"""

from __future__ import annotations

import argparse
import logging
from typing import List

from espnet2.asr.encoder.abs_encoder import AbsEncoder as AbsESPnetEncoder
from espnet2.asr.frontend.abs_frontend import AbsFrontend
from espnet2.tasks.asr import ASRTask

from espnet_plugin.errors import ConfigError
from espnet_plugin.probe.encoder import BLSTMEncoder
from espnet_plugin.probe.frontend import SVAELatentFrontend
from espnet_plugin.probe.teacher_frontend import FrozenS3prlFrontend
from espnet_plugin.registry import Registry

logger = logging.getLogger(__name__)

#: the frontends this project offers to ESPnet's ASR task; third parties add theirs under the
#: entry-point group ``espnet_plugin.probe_frontends`` (an ESPnet ``AbsFrontend`` subclass)
PROBE_FRONTENDS: Registry[type] = Registry("probe frontend", AbsFrontend, "espnet_plugin.probe_frontends")
PROBE_FRONTENDS.register("svae_latent", SVAELatentFrontend)
PROBE_FRONTENDS.register("s3prl_frozen", FrozenS3prlFrontend)
#: the probe encoders (an ESPnet ``AbsEncoder`` subclass; group ``espnet_plugin.probe_encoders``)
PROBE_ENCODERS: Registry[type] = Registry("probe encoder", AbsESPnetEncoder, "espnet_plugin.probe_encoders")
PROBE_ENCODERS.register("blstm", BLSTMEncoder)


def _register(choices, registry: Registry, what: str) -> List[str]:
    """Copy every loadable entry of ``registry`` into ESPnet's ``choices`` (a broken third-party
    entry point is skipped with the registry's warning: ESPnet's parser then rejects its name)."""
    added = []
    for name, cls in registry.items():
        if choices.base_type is not None and not issubclass(cls, choices.base_type):
            raise ConfigError(f"{cls!r} is not a {choices.base_type.__name__}")
        have = choices.classes.get(name)
        if have is cls:
            continue
        if have is not None:
            raise ConfigError(f"ESPnet {what} name {name!r} is already taken by {have!r}")
        choices.classes[name] = cls
        added.append(name)
    if added:
        logger.info(f"registered ASR {what}s: {added}")
    return added


def register_probe_frontends() -> List[str]:
    """Add the entries of :data:`PROBE_FRONTENDS` and :data:`PROBE_ENCODERS` (built-in and
    third-party) to ESPnet's ASR task's
    ``frontend_choices`` / ``encoder_choices`` (idempotent).

    Returns the names added by this call (empty when already registered).

    Raises:
        ConfigError: a name is already taken by another class, or a class is not of the slot's base type.
    """
    from espnet2.tasks import asr

    return (_register(asr.frontend_choices, PROBE_FRONTENDS, "frontend")
            + _register(asr.encoder_choices, PROBE_ENCODERS, "encoder"))


def frontend_output_size(args: argparse.Namespace) -> int:
    """Feature size the ASR model's normalisation/pre-encoder will see.

    ``args.input_size`` when given; else, for a frontend class with an ``output_size_from_conf``
    classmethod (the probe frontends), that size read from ``args.frontend_conf`` without building
    it (ESPnet builds it right after, once); any other frontend is built once to ask it.
    """
    from espnet2.tasks.asr import frontend_choices

    if args.input_size is not None:
        return int(args.input_size)
    cls = frontend_choices.get_class(args.frontend)
    conf = dict(args.frontend_conf or {})
    from_conf = getattr(cls, "output_size_from_conf", None)
    if from_conf is not None:
        return int(from_conf(**conf))
    frontend = cls(**conf)
    size = int(frontend.output_size())
    del frontend
    return size


class ProbeASRTask(ASRTask):
    """ESPnet's ASR task; the ``linear`` pre-encoder's ``input_size`` defaults to the frontend's size."""

    @classmethod
    def build_model(cls, args: argparse.Namespace):
        """Register the probe frontends (also in spawned DDP workers), fill ``preencoder_conf.input_size``."""
        register_probe_frontends()
        if getattr(args, "preencoder", None) == "linear":
            conf = dict(args.preencoder_conf or {})
            if conf.get("input_size") is None:
                conf["input_size"] = frontend_output_size(args)
                logger.info(f"preencoder linear: input_size={conf['input_size']} (the frontend's output size)")
            args.preencoder_conf = conf
        return super().build_model(args)
