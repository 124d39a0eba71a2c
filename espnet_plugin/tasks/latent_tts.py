"""``LatentTTSTask``: F5-TTS-style flow-matching TTS on precomputed latents, as an ESPnet task.

Data (ESPnet ``--*_data_path_and_name_and_type``)::

    dump/.../feats.scp,feats,kaldi_ark     latent frames (T, D) per utterance (VAE posterior means)
    dump/.../text,text,text                transcripts (tokenised by ESPnet's CommonPreprocessor)

Config sections: ``token_list``/``token_type`` (char or bpe), ``normalize: global_mvn`` with
``normalize_conf.stats_file`` = the ``feats_stats.npz`` written by a ``--collect_stats true`` run
(the normaliser is not built during that run), ``dit_conf`` (:class:`espnet_plugin.tts.dit.DiT`,
``text_num_embeds`` is set from the token list), ``cfm_conf`` (:class:`espnet_plugin.tts.cfm.CFM`)
and ``model_conf`` (:class:`ESPnetLatentTTSModel`: EMA settings; ``ema_update_every`` defaults to
``accum_grad``, one EMA update per optimiser step).
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple, Union

import torch

from espnet2.layers.abs_normalize import AbsNormalize
from espnet2.layers.global_mvn import GlobalMVN
from espnet2.tasks.abs_task import AbsTask
from espnet2.torch_utils.device_funcs import force_gatherable
from espnet2.train.abs_espnet_model import AbsESPnetModel
from espnet2.train.class_choices import ClassChoices
from espnet2.train.collate_fn import CommonCollateFn
from espnet2.train.preprocessor import CommonPreprocessor
from espnet2.utils.get_default_kwargs import get_default_kwargs
from espnet2.utils.nested_dict_action import NestedDictAction
from espnet2.utils.types import str2bool, str_or_none
from espnet_plugin.errors import ConfigError
from espnet_plugin.nn.masking import fill_padding
from espnet_plugin.train.safe_trainer import SafeTrainer
from espnet_plugin.tts.cfm import CFM
from espnet_plugin.tts.dit import DiT
from espnet_plugin.tts.ema import EMA
from espnet_plugin.tts.text import FILLER_ID

normalize_choices = ClassChoices(
    "normalize",
    classes=dict(global_mvn=GlobalMVN),
    type_check=AbsNormalize,
    default="global_mvn",
    optional=True,
)


class ESPnetLatentTTSModel(AbsESPnetModel):
    """Normaliser + CFM (+ EMA of the CFM weights).

    Loss (see :class:`CFM`): masked-span flow-matching MSE on ``normalize(feats)``, computed with

        training (``model.train()``):  the live weights (and one EMA update first);
        validation (``model.eval()``): the weights inference samples with, :meth:`inference_cfm`
                                       (the EMA weights when present), with seeded draws,

    so ``best_model_criterion: valid loss`` (and ESPnet's n-best averaging) picks the checkpoints by
    the weights that synthesise, not by the live weights the sampler never uses.

    Args:
        cfm: the flow-matching model.
        normalize: feature normaliser (GlobalMVN) or None.
        ema_decay: EMA decay, None disables the EMA copy.
        ema_warmup: EMA warm-up ``min(decay, (1 + n) / (10 + n))``.
        ema_update_every: EMA update every k training forwards (the task defaults it to ``accum_grad``).
        valid_seed: seed of the random draws (t, noise, span, CFG drop) in eval mode, so the
            validation loss is comparable across epochs.
    """

    def __init__(
        self,
        cfm: CFM,
        normalize: Optional[AbsNormalize],
        ema_decay: Optional[float] = 0.9999,
        ema_warmup: bool = True,
        ema_update_every: int = 1,
        valid_seed: int = 1234,
    ):
        super().__init__()
        self.cfm = cfm
        self.normalize = normalize
        self.ema = EMA(cfm, ema_decay, ema_warmup, ema_update_every) if ema_decay is not None else None
        self.valid_seed = valid_seed

    def normalize_feats(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Raw frames (B, T, D) -> normalised frames (B, T, D), padding zeroed (input untouched)."""
        if self.normalize is None:
            return fill_padding(feats, lengths)
        return self.normalize(feats.clone(), lengths)[0]

    def denormalize_feats(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Normalised frames (B, T, D) -> raw frames (B, T, D), padding zeroed (input untouched)."""
        if self.normalize is None:
            return fill_padding(feats, lengths)
        return self.normalize.inverse(feats.clone(), lengths)[0]

    def inference_cfm(self, use_ema: bool = True) -> CFM:
        """The CFM to sample from: the EMA copy when present and wanted, else the live one."""
        return self.ema.module if (use_ema and self.ema is not None) else self.cfm

    def forward(
        self,
        feats: torch.Tensor,
        feats_lengths: torch.Tensor,
        text: torch.Tensor,
        text_lengths: torch.Tensor,
        **kwargs,
    ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], torch.Tensor]:
        """One training step (live weights) or validation step (EMA weights, seeded draws).

        Args:
            feats: latents (B, T, D); feats_lengths: (B,); text: ids (B, L) padded with -1; text_lengths: (B,).
        Returns:
            loss, stats, weight (batch size) - ESPnet's contract.
        """
        if self.ema is not None and self.training and torch.is_grad_enabled():
            # ESPnet's trainer owns optimizer.step(): average the weights it produced last step.
            self.ema.update(self.cfm)
        x1 = self.normalize_feats(feats, feats_lengths)
        cfm, gen = self.cfm, None
        if not self.training:
            cfm = self.inference_cfm()
            gen = torch.Generator(device=feats.device).manual_seed(self.valid_seed)
        text = fill_padding(text, text_lengths, FILLER_ID)
        loss, stats = cfm(x1, feats_lengths, text, generator=gen)
        batch_size = feats.size(0)
        loss, stats, weight = force_gatherable((loss, stats, batch_size), loss.device)
        return loss, stats, weight

    def collect_feats(
        self, feats: torch.Tensor, feats_lengths: torch.Tensor, text=None, text_lengths=None, **kwargs
    ) -> Dict[str, torch.Tensor]:
        """Frames for ESPnet's collect-stats stage (-> ``feats_stats.npz``)."""
        return {"feats": feats, "feats_lengths": feats_lengths}


def ema_only_state_dict(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """A training state dict -> a small one whose ``cfm.*`` weights are the EMA weights (no ``ema.*``).

    Loading it into a model built with EMA enabled leaves the EMA copy missing; the inference
    loader then samples from ``cfm`` (= the EMA weights).
    """
    out = {k: v for k, v in state.items() if not k.startswith("ema.")}
    for k, v in state.items():
        if k.startswith("ema.module."):
            out["cfm." + k[len("ema.module."):]] = v
    return out


class LatentTTSTask(AbsTask):
    """ESPnet task: flow-matching TTS on latent frames (one optimiser, ESPnet's ``Trainer``)."""

    num_optimizers: int = 1
    class_choices_list = [normalize_choices]
    trainer = SafeTrainer  # ESPnet's Trainer, checkpoints written atomically, DDP ranks checked in sync

    @classmethod
    def add_task_arguments(cls, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group(description="Task related")
        required = parser.get_default("required")
        required += ["token_list"]
        group.add_argument("--token_list", type=str_or_none, default=None, help="Token list file (or list in yaml)")
        model_defaults = get_default_kwargs(ESPnetLatentTTSModel)
        model_defaults.pop("ema_update_every", None)  # default: accum_grad (build_model)
        group.add_argument(
            "--model_conf", action=NestedDictAction, default=model_defaults,
            help="Keyword arguments of ESPnetLatentTTSModel (EMA settings; ema_update_every defaults to accum_grad)",
        )
        dit_defaults = get_default_kwargs(DiT)
        dit_defaults.pop("text_num_embeds", None)
        group.add_argument("--dit_conf", action=NestedDictAction, default=dit_defaults, help="Keyword arguments of DiT")
        group.add_argument(
            "--cfm_conf", action=NestedDictAction, default=get_default_kwargs(CFM), help="Keyword arguments of CFM"
        )
        group = parser.add_argument_group(description="Preprocess related")
        group.add_argument("--use_preprocessor", type=str2bool, default=True, help="Tokenise the text")
        group.add_argument("--token_type", type=str, default="char", choices=["char", "bpe"], help="Text unit")
        group.add_argument("--bpemodel", type=str_or_none, default=None, help="Sentencepiece model (token_type bpe)")
        group.add_argument("--non_linguistic_symbols", type=str_or_none, default=None, help="Symbols kept whole")
        group.add_argument(
            "--cleaner", type=str_or_none, choices=[None, "tacotron", "jaconv", "vietnamese", "korean_cleaner"],
            default=None, help="ESPnet text cleaner",
        )
        for class_choices in cls.class_choices_list:
            class_choices.add_arguments(group)

    @classmethod
    def build_collate_fn(cls, args: argparse.Namespace, train: bool) -> Callable:
        """Pads frames with 0 and text ids with the filler id -1."""
        return CommonCollateFn(float_pad_value=0.0, int_pad_value=FILLER_ID)

    @classmethod
    def build_preprocess_fn(cls, args: argparse.Namespace, train: bool) -> Optional[Callable]:
        if not args.use_preprocessor:
            return None
        return CommonPreprocessor(
            train=train,
            token_type=args.token_type,
            token_list=args.token_list,
            bpemodel=args.bpemodel,
            non_linguistic_symbols=args.non_linguistic_symbols,
            text_cleaner=args.cleaner,
        )

    @classmethod
    def required_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        return ("text",) if inference else ("feats", "text")

    @classmethod
    def optional_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        return ()

    @classmethod
    def read_token_list(cls, args: argparse.Namespace) -> List[str]:
        """Token list from ``args.token_list`` (file or list); stores the list back into args (config.yaml).

        Read by ESPnet's ``TokenIDConverter``, as the ``CommonPreprocessor`` reads it, so the DiT's
        ``text_num_embeds`` equals the preprocessor's vocabulary.

        Raises:
            ConfigError: no such file, not a file or list, a duplicated token or no ``<unk>``,
                fewer than 2 tokens.
        """
        from espnet2.text.token_id_converter import TokenIDConverter

        tl = args.token_list
        if isinstance(tl, (str, Path)):
            if not Path(tl).is_file():
                raise ConfigError(f"token_list file not found: {tl}")
            source: Union[str, List[str]] = str(tl)
        elif isinstance(tl, (list, tuple)):
            source = list(tl)
        else:
            raise ConfigError(f"token_list must be a file or a list, got {type(tl).__name__}")
        try:
            tokens = list(TokenIDConverter(source).token_list)
        except RuntimeError as e:  # duplicated token / no <unk>
            where = f" {tl}" if isinstance(tl, (str, Path)) else ""
            raise ConfigError(f"bad token_list{where}: {e}") from e
        if isinstance(tl, (str, Path)):
            args.token_list = list(tokens)
        if len(tokens) < 2:
            raise ConfigError(f"token_list has {len(tokens)} tokens")
        return tokens

    @classmethod
    def build_model(cls, args: argparse.Namespace) -> ESPnetLatentTTSModel:
        tokens = cls.read_token_list(args)
        dit_conf = dict(getattr(args, "dit_conf", None) or {})
        given = dit_conf.pop("text_num_embeds", None)
        if given is not None and given != len(tokens):
            raise ConfigError(f"dit_conf.text_num_embeds={given} but the token list has {len(tokens)} tokens")
        try:
            dit = DiT(text_num_embeds=len(tokens), **dit_conf)
            cfm = CFM(dit, **dict(getattr(args, "cfm_conf", None) or {}))
        except TypeError as e:
            raise ConfigError(f"bad dit_conf/cfm_conf: {e}") from e
        normalize = None
        if getattr(args, "normalize", None) is not None and not getattr(args, "collect_stats", False):
            conf = dict(getattr(args, "normalize_conf", None) or {})
            stats = conf.get("stats_file")
            if stats is None or not Path(stats).is_file():
                raise ConfigError(
                    f"normalize={args.normalize} needs normalize_conf.stats_file (got {stats!r}): run the "
                    "task with --collect_stats true first and pass <stats_dir>/train/feats_stats.npz"
                )
            normalize = normalize_choices.get_class(args.normalize)(**conf)
        try:
            model_conf = dict(getattr(args, "model_conf", None) or {})
            # one EMA update per optimiser step unless the config says otherwise
            model_conf.setdefault("ema_update_every", int(getattr(args, "accum_grad", None) or 1))
            model = ESPnetLatentTTSModel(cfm=cfm, normalize=normalize, **model_conf)
        except TypeError as e:
            raise ConfigError(f"bad model_conf: {e}") from e
        logging.info(f"Latent TTS: vocab {len(tokens)}, DiT {sum(p.numel() for p in dit.parameters()) / 1e6:.1f}M params")
        return model

    @classmethod
    def load_model(
        cls, config_file: str | Path, model_file: Optional[str | Path] = None, device: str = "cpu"
    ) -> Tuple[ESPnetLatentTTSModel, argparse.Namespace]:
        """Rebuild the model from ESPnet's ``config.yaml`` and load weights, checking the keys.

        Unlike ``build_model_from_file`` (``strict=False``), missing non-EMA keys raise
        :class:`ConfigError`; a checkpoint without ``ema.*`` (e.g. from :func:`ema_only_state_dict`)
        drops the EMA copy so inference uses the loaded ``cfm`` weights.
        """
        import yaml

        config_file = Path(config_file)
        if not config_file.is_file():
            raise ConfigError(f"TTS config not found: {config_file}")
        with open(config_file, encoding="utf-8") as f:
            args = argparse.Namespace(**yaml.safe_load(f))
        args.collect_stats = False
        model = cls.build_model(args)
        if model_file is not None:
            if not Path(model_file).is_file():
                raise ConfigError(f"TTS model file not found: {model_file}")
            try:
                state = torch.load(model_file, map_location="cpu", weights_only=True)
            except Exception as e:  # noqa: BLE001 - pickled objects in a training checkpoint.pth
                raise ConfigError(f"cannot read {model_file} as a state dict (use <N>epoch.pth / *.best.pth): {e}") from e
            if isinstance(state.get("model"), dict):
                state = state["model"]
            missing, unexpected = model.load_state_dict(state, strict=False)
            bad = [k for k in missing if not k.startswith("ema.")]
            if bad or unexpected:
                raise ConfigError(
                    f"{model_file} does not match {config_file}: missing {bad[:5]}, unexpected {unexpected[:5]}"
                )
            if any(k.startswith("ema.") for k in missing):
                logging.warning(f"{model_file} has no EMA weights: using the model weights")
                model.ema = None
        return model.to(device).eval(), args
