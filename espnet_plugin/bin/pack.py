#!/usr/bin/env python3
"""Pack a trained VAE, latent TTS or ASR probe as an ESPnet-style zip (``meta.yaml``); upload one.

    python -m espnet_plugin.bin.pack svae --train_config exp/svae_x/config.yaml \\
        --model_file exp/svae_x/valid.mrstft_loss.ave.pth --outpath exp/svae_x/svae_x.zip
    python -m espnet_plugin.bin.pack tts --train_config exp/tts_x/config.yaml \\
        --model_file exp/tts_x/valid.loss.ave.pth --vae_train_config exp/svae_x/config.yaml \\
        --vae_model_file exp/svae_x/valid.mrstft_loss.ave.pth --outpath exp/tts_x/tts_x.zip
    python -m espnet_plugin.bin.pack probe --asr_train_config exp/probe_x/config.yaml \\
        --asr_model_file exp/probe_x/valid.loss.ave.pth --outpath exp/probe_x/probe_x.zip
    python -m espnet_plugin.bin.pack upload --pack exp/svae_x/svae_x.zip --hf_repo owner/svae_x

What goes in (format: :mod:`espnet_plugin.pack`; names relative to the current dir, the recipe's):

* svae: the training config and the generator weights (EMA when trained with it; discriminator and
  projection heads dropped) as ``model.pth`` + ``model.pth.sha256``.
* tts: the config, the weights with the EMA weights in place of the live ones (``ema.*`` dropped:
  :func:`espnet_plugin.tasks.latent_tts.ema_only_state_dict`), ``normalize_conf.stats_file``
  (``feats_stats.npz`` of global_mvn), the token list (``tokens.txt``; a file named by the config
  is packed as it is) and ``bpemodel``; with ``--vae_*`` the VAE the latents come from.
* probe: the config and weights, stats (global_mvn) and token list as for tts, and the frozen VAE
  of an ``svae_latent`` frontend (``frontend_conf.vae_config`` / ``vae_model_file``), or the one
  given with ``--vae_*`` (a probe trained on extracted latents).

``--option FILE`` adds more files (ESPnet's option: results, images). Each pack is loaded back
from a fresh unpack before the command ends (:mod:`espnet_plugin.hub`).
"""
from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import yaml

from espnet_plugin.errors import ConfigError
from espnet_plugin.pack import Member, arc_name, write_pack

PathLike = Any


def _read_yaml(path: PathLike) -> Dict[str, Any]:
    if not Path(path).is_file():
        raise ConfigError(f"config not found: {path}")
    with open(path, encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path} is not a YAML mapping")
    return cfg


def _dir_arc(config: PathLike, root: Optional[PathLike]) -> str:
    return arc_name(config, root).rpartition("/")[0] or "."


def vae_members(config: PathLike, model_file: Optional[PathLike], staging: Path, root=None) -> Tuple[Member, Member, Member]:
    """(config, generator weights ``model.pth``, ``model.pth.sha256``) of a VAE, the weights staged
    in ``staging`` from whatever checkpoint ``model_file`` is (default: picked beside the config)."""
    from espnet_plugin.vae.loading import load_svae, resolve_model_file, sha256_file

    model_file = Path(model_file) if model_file else resolve_model_file(Path(config).parent)
    vae = load_svae(config, model_file)
    d = _dir_arc(config, root)
    staged = staging / f"{d.replace('/', '_')}_model.pth"
    torch.save(vae.state_dict(), staged)
    side = staging / f"{staged.name}.sha256"
    side.write_text(f"{sha256_file(staged)}  model.pth\n")
    return (Member(Path(config), arc_name(config, root)), Member(staged, f"{d}/model.pth", (model_file,)),
            Member(side, f"{d}/model.pth.sha256"))


def text_members(cfg: Dict[str, Any], config: PathLike, staging: Path, root=None) -> List[Member]:
    """Feature stats (global_mvn), token list and bpemodel named by a TTS / ASR config."""
    out = []
    stats = (cfg.get("normalize_conf") or {}).get("stats_file") if cfg.get("normalize") else None
    for f in (stats, cfg.get("bpemodel"), cfg.get("token_list") if isinstance(cfg.get("token_list"), str) else None):
        if f:
            if not Path(f).is_file():
                raise ConfigError(f"{config} names {f}, which does not exist: cannot pack it")
            out.append(Member(Path(f), arc_name(f, root)))
    if isinstance(cfg.get("token_list"), list):  # ESPnet writes the list itself into config.yaml
        tokens = staging / "tokens.txt"
        tokens.write_text("".join(f"{t}\n" for t in cfg["token_list"]), encoding="utf-8")
        out.append(Member(tokens, f"{_dir_arc(config, root)}/tokens.txt"))
    return out


def pack_svae(train_config, model_file, outpath, options: Sequence[PathLike] = (), root=None) -> Path:
    """The VAE pack (codec-style: config + generator weights)."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg, model, side = vae_members(train_config, model_file, Path(tmp), root)
        return write_pack(outpath, "svae", {"train_config": cfg}, {"model_file": model},
                          [side] + [Member(Path(o), arc_name(o, root)) for o in options], root)


def pack_tts(train_config, model_file, outpath, vae_train_config=None, vae_model_file=None,
             options: Sequence[PathLike] = (), root=None) -> Path:
    """The latent TTS pack: config, EMA weights, stats, token list [, its VAE]."""
    from espnet_plugin.tasks.latent_tts import ema_only_state_dict

    cfg = _read_yaml(train_config)
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp)
        state = torch.load(model_file, map_location="cpu", weights_only=True)
        if isinstance(state.get("model"), dict):
            state = state["model"]
        staged = staging / "tts_model.pth"
        torch.save(ema_only_state_dict(state), staged)
        yf = {"train_config": Member(Path(train_config), arc_name(train_config, root))}
        ff = {"model_file": Member(staged, f"{_dir_arc(train_config, root)}/model.pth", (Path(model_file),))}
        return _write_with_vae(outpath, "tts", cfg, train_config, yf, ff, vae_train_config, vae_model_file,
                               options, staging, root)


def pack_probe(asr_train_config, asr_model_file, outpath, vae_train_config=None, vae_model_file=None,
               options: Sequence[PathLike] = (), root=None) -> Path:
    """The ASR probe pack: config, weights, stats, token list, and the VAE it reads."""
    cfg = _read_yaml(asr_train_config)
    fconf = cfg.get("frontend_conf") or {}
    if cfg.get("frontend") == "svae_latent":  # the frozen VAE the config names, whatever --vae_* say
        vae_train_config, vae_model_file = fconf.get("vae_config"), fconf.get("vae_model_file")
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp)
        yf = {"asr_train_config": Member(Path(asr_train_config), arc_name(asr_train_config, root))}
        ff = {"asr_model_file": Member(Path(asr_model_file), arc_name(asr_model_file, root))}
        return _write_with_vae(outpath, "probe", cfg, asr_train_config, yf, ff, vae_train_config, vae_model_file,
                               options, staging, root)


def _write_with_vae(outpath, kind: str, cfg: dict, train_config, yf: dict, ff: dict, vae_train_config,
                    vae_model_file, options: Sequence[PathLike], staging: Path, root) -> Path:
    """The pack of a model trained on VAE latents: its text members (stats, token list), the VAE
    (config, weights and their side files) when given, and ``options``."""
    opts = text_members(cfg, train_config, staging, root)
    if vae_train_config:
        yf["vae_train_config"], ff["vae_model_file"], side = vae_members(vae_train_config, vae_model_file, staging, root)
        opts.append(side)
    opts += [Member(Path(o), arc_name(o, root)) for o in options]
    return write_pack(outpath, kind, yf, ff, opts, root)


def upload(pack: PathLike, hf_repo: str, private: bool = False) -> str:
    """Upload the unzipped pack (meta.yaml at the top, as ESPnet's recipes do) + a model card to
    the Hugging Face repo ``hf_repo``; returns its URL. Needs a network and ``huggingface-cli login``."""
    import zipfile

    from huggingface_hub import HfApi

    from espnet_plugin.pack import kind_of, read_meta

    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(pack) as z:
            z.extractall(tmp)
        kind = kind_of(read_meta(Path(tmp) / "meta.yaml", str(pack)), str(pack))
        card = Path(tmp) / "README.md"
        readmes = sorted(Path(tmp).rglob("README.md"))
        body = readmes[0].read_text(encoding="utf-8") if readmes else ""
        card.write_text(
            f"---\nlibrary_name: espnet\ntags:\n- espnet\n- espnet_plugin\n- {kind}\n---\n\n"
            f"ESPnet-style pack (`meta.yaml`) written by `espnet_plugin.bin.pack`. Load with:\n\n"
            f"```python\nfrom espnet_plugin.hub import load_pretrained\nmodel = load_pretrained({hf_repo!r})\n```\n\n{body}",
            encoding="utf-8")
        api = HfApi()
        api.create_repo(hf_repo, exist_ok=True, private=private)
        api.upload_folder(folder_path=tmp, repo_id=hf_repo, commit_message=f"Upload {Path(pack).name}")
    return f"https://huggingface.co/{hf_repo}"


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="kind", required=True)
    for kind, (cfg_key, model_key) in {"svae": ("train_config", "model_file"), "tts": ("train_config", "model_file"),
                                       "probe": ("asr_train_config", "asr_model_file")}.items():
        s = sub.add_parser(kind)
        s.add_argument("--outpath", required=True, help="the .zip to write")
        s.add_argument(f"--{cfg_key}", required=True)
        s.add_argument(f"--{model_key}", required=kind != "svae")
        if kind != "svae":
            s.add_argument("--vae_train_config", default=None)
            s.add_argument("--vae_model_file", default=None)
        s.add_argument("--option", action="append", default=[], help="another file to pack (repeat)")
    u = sub.add_parser("upload")
    u.add_argument("--pack", required=True)
    u.add_argument("--hf_repo", required=True)
    u.add_argument("--private", action="store_true")
    return p


def main(cmd=None) -> Optional[Path]:
    a = get_parser().parse_args(cmd)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if a.kind == "upload":
        logging.info(f"uploaded {a.pack} to {upload(a.pack, a.hf_repo, a.private)}")
        return None
    if a.kind == "svae":
        out = pack_svae(a.train_config, a.model_file, a.outpath, a.option)
    elif a.kind == "tts":
        out = pack_tts(a.train_config, a.model_file, a.outpath, a.vae_train_config, a.vae_model_file, a.option)
    else:
        out = pack_probe(a.asr_train_config, a.asr_model_file, a.outpath, a.vae_train_config, a.vae_model_file, a.option)
    from espnet_plugin.hub import load_pretrained
    from espnet_plugin.pack import resolve_pretrained
    from espnet_plugin.tasks.latent_tts import LatentTTSTask

    with tempfile.TemporaryDirectory() as tmp:  # round trip: the pack loads from a fresh unpack
        if a.kind == "tts" and not a.vae_train_config:
            files = resolve_pretrained(out, tmp).files
            LatentTTSTask.load_model(files["train_config"], files["model_file"])
        else:
            load_pretrained(out, cache_dir=tmp)
    logging.info(f"packed {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return out


if __name__ == "__main__":
    from espnet_plugin.cli import run_main

    raise SystemExit(run_main(main))
