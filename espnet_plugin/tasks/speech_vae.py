"""``SpeechVAETask``: an ESPnet task training the speech VAE with ESPnet's ``GANTrainer``.

Each part is a choice in config (``ClassChoices``, as in ``espnet2/tasks/gan_codec.py``)::

    encoder: dac | mel            bottleneck: gaussian | deterministic
    decoder: bigvgan | vocos      discriminator: mpd_cqt | mpd_mrd

plus ``distill_conf`` (the alignment terms, see :class:`espnet_plugin.distill.Distiller`),
``teacher_conf`` (an s3prl upstream) and ``model_conf`` (loss weights, ``ema_decay`` of the
generator EMA, see :mod:`espnet_plugin.vae.ema`). Third-party packages
may add choices through the entry-point groups ``espnet_plugin.encoders``,
``espnet_plugin.decoders``, ``espnet_plugin.bottlenecks``, ``espnet_plugin.discriminators``
and alignment terms through ``espnet_plugin.distill_losses``.

Data: ``audio`` (wav.scp, ``sound``) and optionally ``teacher_feats`` (the teacher cache
``feats.scp``, ``kaldi_ark``), whose ``teacher_info.json`` must match ``teacher_conf``. Terms that
name another teacher ``layer`` read it from the same cache directory (``feats_l<L>.scp``, see
:mod:`espnet_plugin.distill.teacher`); the preprocessor adds it to the batch.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable, Collection, Dict, List, Optional, Tuple

import numpy as np
import torch
import yaml

from espnet2.tasks.abs_task import AbsTask, optim_classes
from espnet2.train.collate_fn import CommonCollateFn
from espnet2.utils.nested_dict_action import NestedDictAction
from espnet2.utils.types import int_or_none, str2bool
from espnet_plugin.errors import ConfigError
from espnet_plugin.train.safe_trainer import SafeGANTrainer
from espnet_plugin.vae.choices import (
    bottleneck_choices,
    build_discriminator,
    build_generator,
    decoder_choices,
    discriminator_choices,
    encoder_choices,
    encoder_hop_length,
)
from espnet_plugin.vae.ema import update_after_each_step
from espnet_plugin.vae.espnet_model import ESPnetSpeechVAEModel
from espnet_plugin.vae.generator import SpeechVAE
from espnet_plugin.vae.preprocess import SpeechVAEPreprocessor


def find_teacher_cache(args: argparse.Namespace, train: bool = True) -> Optional[Path]:
    """The directory of the ``teacher_feats`` scp given as training (or validation) data, if any."""
    specs = getattr(args, "train_data_path_and_name_and_type" if train else "valid_data_path_and_name_and_type", None)
    for spec in specs or []:
        path, name = spec[0], spec[1]
        if name == "teacher_feats":
            return Path(path).parent
    return None


class SpeechVAETask(AbsTask):
    """Speech VAE (GAN) task: generator optimizer 0, discriminator optimizer 1."""

    num_optimizers: int = 2
    class_choices_list = [encoder_choices, bottleneck_choices, decoder_choices, discriminator_choices]
    trainer = SafeGANTrainer  # ESPnet's GANTrainer, checkpoints written atomically

    @classmethod
    def add_task_arguments(cls, parser: argparse.ArgumentParser):
        group = parser.add_argument_group(description="Task related")
        group.add_argument("--fs", type=int, default=16000, help="Sampling rate of the audio")
        group.add_argument("--latent_dim", type=int, default=64, help="Latent dimension D (ignored for encoder mel)")
        group.add_argument("--segment_size", type=int_or_none, default=32768, help="Training crop in samples")
        group.add_argument("--model_conf", action=NestedDictAction, default=dict(), help="ESPnetSpeechVAEModel kwargs")
        group.add_argument(
            "--teacher_conf", action=NestedDictAction, default=dict(upstream="wavlm_large", path=None, layer=23),
            help="s3prl teacher: upstream, path, layer, half_on_gpu",
        )
        group.add_argument(
            "--distill_conf", action=NestedDictAction, default=dict(terms=[]),
            help="alignment terms: terms (list), projection, weighting (fixed|adaptive), w_ssl, teacher_dim",
        )
        group = parser.add_argument_group(description="Preprocess related")
        group.add_argument("--use_preprocessor", type=str2bool, default=True, help="Apply preprocessing")
        for class_choices in cls.class_choices_list:
            class_choices.add_arguments(group)

    @classmethod
    def build_collate_fn(cls, args: argparse.Namespace, train: bool) -> Callable[
        [Collection[Tuple[str, Dict[str, np.ndarray]]]], Tuple[List[str], Dict[str, torch.Tensor]]
    ]:
        return CommonCollateFn(float_pad_value=0.0, int_pad_value=0)

    @classmethod
    def build_preprocess_fn(cls, args: argparse.Namespace, train: bool):
        if not args.use_preprocessor:
            return None
        cache = find_teacher_cache(args, train) or find_teacher_cache(args)
        teacher_hop, extra = None, {}
        if cache is not None:
            import kaldiio

            from espnet_plugin.distill import term_layers
            from espnet_plugin.distill.teacher import cache_layer_scp, read_cache_info

            info = read_cache_info(cache)
            teacher_hop = int(info["downsample_rate"])
            for layer in term_layers((args.distill_conf or {}).get("terms")):
                scp = cache_layer_scp(cache, layer, info)
                extra[layer] = None if scp is None else kaldiio.load_scp(str(scp))
        hop = encoder_hop_length(args)  # from the encoder's config, without building the model
        return SpeechVAEPreprocessor(
            train=train, segment_size=args.segment_size, hop_length=hop, teacher_hop=teacher_hop, extra_feats=extra
        )

    @classmethod
    def build_iter_factory(cls, args: argparse.Namespace, distributed_option, mode: str, kwargs=None):
        """ESPnet's iterators, minus the chunk ones (refused with a clear error).

        Training crops are made by the preprocessor (``--segment_size``, aligned with the teacher's
        frames), so chunking is not needed; ESPnet's chunk iterator would also cut the audio without
        the teacher features and fails with numpy >= 2.3 (``int()`` of a 1-element array).
        """
        itype = args.valid_iterator_type if mode == "valid" and args.valid_iterator_type else args.iterator_type
        if itype in ("chunk", "category_chunk"):
            raise ConfigError(
                f"--iterator_type {itype} is not supported by the speech VAE task: the preprocessor already "
                "crops --segment_size samples aligned with the teacher features; use sequence (default)"
            )
        return super().build_iter_factory(args, distributed_option, mode, kwargs)

    @classmethod
    def required_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        return ("audio",)

    @classmethod
    def optional_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        return ("teacher_feats",)

    @classmethod
    def build_generator(cls, args: argparse.Namespace) -> SpeechVAE:
        """Encoder + bottleneck + decoder from ``args`` (also used to load a trained model)."""
        return build_generator(args)

    @classmethod
    def build_model(cls, args: argparse.Namespace) -> ESPnetSpeechVAEModel:
        generator = cls.build_generator(args)
        discriminator = build_discriminator(args)
        distiller = cls.build_distiller(args, generator)
        return ESPnetSpeechVAEModel(
            generator=generator,
            discriminator=discriminator,
            distiller=distiller,
            teacher_conf=args.teacher_conf,
            **(args.model_conf or {}),
        )

    @classmethod
    def build_distiller(cls, args: argparse.Namespace, generator: SpeechVAE):
        conf = dict(args.distill_conf or {})
        terms = conf.pop("terms", None) or []
        if not terms:
            return None  # the vanilla VAE
        from espnet_plugin.distill import Distiller, term_layers

        teacher_dim = conf.pop("teacher_dim", None)
        cache = find_teacher_cache(args)
        if cache is not None:
            from espnet_plugin.distill.teacher import check_cache_identity

            info = check_cache_identity(cache, args.teacher_conf, term_layers(terms))
            if teacher_dim is not None and int(teacher_dim) != int(info["feature_dim"]):
                raise ConfigError(f"distill_conf.teacher_dim={teacher_dim} but the cache {cache} has {info['feature_dim']}")
            teacher_dim = int(info["feature_dim"])
        if teacher_dim is None:
            raise ConfigError("distill_conf.teacher_dim is required when no teacher cache is given")
        # recorded in the dumped config.yaml, so the model is rebuilt without the cache
        args.distill_conf = dict(args.distill_conf, teacher_dim=int(teacher_dim))
        return Distiller(latent_dim=generator.latent_dim, teacher_dim=int(teacher_dim), terms=terms, **conf)

    @classmethod
    def build_optimizers(cls, args: argparse.Namespace, model: ESPnetSpeechVAEModel) -> List[torch.optim.Optimizer]:
        """Generator optimizer (VAE + projection heads; its steps update the generator EMA) and
        discriminator optimizer. The EMA copy is in neither."""
        optimizers = []
        for opt, conf, params in (
            (args.optim, args.optim_conf, model.generator_parameters()),
            (args.optim2, args.optim2_conf, list(model.discriminator.parameters())),
        ):
            optim_class = optim_classes.get(opt)
            if optim_class is None:
                raise ConfigError(f"optimizer must be one of {list(optim_classes)}: {opt}")
            optimizers.append(optim_class(params, **conf))
        if model.generator_ema is not None:
            update_after_each_step(optimizers[0], model.generator_ema, model.generator)
        return optimizers

    @classmethod
    def build_model_from_file(
        cls, config_file: Optional[str | Path] = None, model_file: Optional[str | Path] = None, device: str = "cpu"
    ) -> Tuple[ESPnetSpeechVAEModel, argparse.Namespace]:
        """Like ESPnet's, but loads weights with ``torch.load(weights_only=True)`` and checks the keys.

        ``model_file`` is a whole-model checkpoint (``<N>epoch.pth``, ``valid.*.pth``: generator,
        discriminator, distiller); for the generator alone (e.g. a packed ``model.pth``) use
        :func:`espnet_plugin.vae.loading.load_svae`.

        Raises:
            ConfigError: missing config / weights, or weights with missing or unexpected keys.
            DataError: unreadable weights.
        """
        from espnet_plugin.vae.loading import load_state_checked, read_state_dict

        if config_file is None:
            if model_file is None:
                raise ConfigError("build_model_from_file needs config_file or model_file")
            config_file = Path(model_file).parent / "config.yaml"
        if not Path(config_file).is_file():
            raise ConfigError(f"speech VAE config not found: {config_file}")
        with open(config_file, encoding="utf-8") as f:
            args = argparse.Namespace(**yaml.safe_load(f))
        args.train_data_path_and_name_and_type = []  # no cache lookup at load time
        model = cls.build_model(args).to(device)
        if model_file is not None:
            state = read_state_dict(model_file, map_location=device)
            load_state_checked(model, state, model_file, config_file)
        return model, args


def load_config(path: str | Path) -> Dict[str, Any]:
    """A YAML config as a dict (used by the benchmarks in ``bench/``)."""
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)
