"""ESPnet-style model packs: a zip with ``meta.yaml``, configs whose paths point inside the pack.

The format is ``espnet2.bin.pack``'s (:mod:`espnet2.main_funcs.pack_funcs`): the archive holds
``meta.yaml`` ::

    files: {<key>: <name in the archive>}        # weights, e.g. model_file: exp/svae_x/model.pth
    yaml_files: {<key>: <name in the archive>}   # configs, e.g. train_config: exp/svae_x/config.yaml
    timestamp: <float>  python: <version>  torch: <version>  espnet: <version>
    espnet_plugin: {kind: svae|tts|probe, version: <version>}

and every file under its recipe-relative name (``exp/...``; a file outside the recipe dir under
``ext/<parent>/<name>``). Every string of a packed config that names a packed file (as a path,
relative to the recipe dir or absolute) is replaced by that file's name in the archive, so
``espnet2.main_funcs.pack_funcs.unpack`` (and espnet_model_zoo, and a Hugging Face repo holding
the unzipped files) rewrites it to the unpacked location. Paths to unpacked things (training data,
``output_dir``) are left as they were, as ESPnet leaves them.

Keys per kind (the argument names of the loaders, ESPnet's convention):

    svae:  train_config, model_file                                  (codec-style)
    tts:   train_config, model_file [, vae_train_config, vae_model_file]
    probe: asr_train_config, asr_model_file [, vae_train_config, vae_model_file]

:func:`resolve_pretrained` turns a packed ``.zip`` (unpacked once into a cache dir), an unpacked
dir (``meta.yaml`` at its top; e.g. a Hugging Face snapshot), a legacy packed VAE dir
(``config.yaml`` + ``model.pth``, no ``meta.yaml``) or a hub tag (``owner/name[@revision]``,
fetched with ``huggingface_hub``) into a :class:`Packed` (kind + absolute paths by key).
"""
from __future__ import annotations

import hashlib
import os
import re
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Union

import yaml

from espnet_plugin.errors import ConfigError, DataError

PathLike = Union[str, Path]

#: kind -> (yaml keys, file keys); the first of each is required
PACK_KEYS: Dict[str, tuple] = {
    "svae": (("train_config",), ("model_file",)),
    "tts": (("train_config", "vae_train_config"), ("model_file", "vae_model_file")),
    "probe": (("asr_train_config", "vae_train_config"), ("asr_model_file", "vae_model_file")),
}
HUB_TAG = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")


@dataclass(frozen=True)
class Member:
    """One file of a pack: ``src`` (read now), ``arc`` (its name inside), ``refs`` (other paths the
    configs may use for it, e.g. the training checkpoint a staged ``model.pth`` was made from)."""

    src: Path
    arc: str
    refs: tuple = ()


@dataclass
class Packed:
    """A pack ready to load: ``kind``, ``files`` (key -> absolute path, configs and weights),
    ``root`` (where the files lie) and ``meta`` (the parsed ``meta.yaml``; {} for a legacy dir)."""

    kind: str
    files: Dict[str, Path]
    root: Path
    meta: Dict[str, Any] = field(default_factory=dict)


def arc_name(path: PathLike, root: Optional[PathLike] = None) -> str:
    """The name of ``path`` inside a pack: relative to ``root`` (default: cwd, as ESPnet's pack)
    when inside it, else ``ext/<parent dir>/<file>``."""
    p = Path(path).resolve()
    r = Path(root or ".").resolve()
    try:
        return p.relative_to(r).as_posix()
    except ValueError:
        return f"ext/{p.parent.name}/{p.name}"


def _rewrite(value: Any, table: Mapping[Path, str], root: Path) -> Any:
    """Replace every string naming a packed file (relative to ``root`` or absolute) by its ``arc``."""
    if isinstance(value, dict):
        return {k: _rewrite(v, table, root) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rewrite(v, table, root) for v in value]
    if isinstance(value, str) and value and "\n" not in value and "\0" not in value:
        try:
            p = (root / value).resolve() if not os.path.isabs(value) else Path(value).resolve()
        except (OSError, ValueError):
            return value
        return table.get(p, value)
    return value


def _meta(kind: str, yaml_files: Mapping[str, str], files: Mapping[str, str]) -> Dict[str, Any]:
    """``meta.yaml`` with ESPnet's fields (+ the kind of model, for the loaders)."""
    import espnet_plugin

    meta: Dict[str, Any] = dict(files=dict(files), yaml_files=dict(yaml_files),
                                timestamp=datetime.now().timestamp(), python=sys.version)
    try:
        import torch

        meta["torch"] = str(torch.__version__)
    except ImportError:  # pragma: no cover
        pass
    try:
        import espnet

        meta["espnet"] = espnet.__version__
    except ImportError:  # pragma: no cover
        pass
    meta["espnet_plugin"] = {"kind": kind, "version": espnet_plugin.__version__}
    return meta


def write_pack(
    outpath: PathLike,
    kind: str,
    yaml_files: Mapping[str, Member],
    files: Mapping[str, Member],
    options: Sequence[Member] = (),
    root: Optional[PathLike] = None,
) -> Path:
    """Write the zip ``outpath`` (atomically): meta.yaml, the configs (paths rewritten), the rest.

    Raises:
        ConfigError: unknown kind or key, a missing required key or file, two files with one name.
    """
    if kind not in PACK_KEYS:
        raise ConfigError(f"unknown pack kind {kind!r}; expected one of {sorted(PACK_KEYS)}")
    ykeys, fkeys = PACK_KEYS[kind]
    bad = sorted(set(yaml_files) - set(ykeys)) + sorted(set(files) - set(fkeys))
    if bad or ykeys[0] not in yaml_files or fkeys[0] not in files:
        raise ConfigError(f"a {kind} pack needs {ykeys[0]} and {fkeys[0]}, may have {ykeys[1:] + fkeys[1:]} (got {bad or 'neither'})")
    members = list(yaml_files.values()) + list(files.values()) + list(options)
    for m in members:
        if not Path(m.src).is_file():
            raise ConfigError(f"cannot pack {m.arc}: no such file {m.src}")
    names = [m.arc for m in members]
    if len(set(names)) != len(names):
        raise ConfigError(f"two packed files share a name: {sorted(n for n in names if names.count(n) > 1)}")
    base = Path(root or ".").resolve()
    table = {}
    for m in members:
        for r in (m.src, *m.refs):
            table[Path(r).resolve()] = m.arc
    out = Path(outpath)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=out.name, suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w") as z:
            meta = _meta(kind, {k: m.arc for k, m in yaml_files.items()}, {k: m.arc for k, m in files.items()})
            z.writestr("meta.yaml", yaml.safe_dump(meta))
            for m in yaml_files.values():
                with open(m.src, encoding="utf-8") as f:
                    cfg = yaml.safe_load(f)
                z.writestr(m.arc, yaml.safe_dump(_rewrite(cfg, table, base), sort_keys=False))
            for m in list(files.values()) + list(options):
                z.write(m.src, m.arc)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


# ---------------------------------------------------------------- reading
def cache_root(cache_dir: Optional[PathLike] = None) -> Path:
    """Where packs are unpacked: ``cache_dir``, ``$ESPNET_PLUGIN_PACK_CACHE`` or ~/.cache/espnet_plugin/packs."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("ESPNET_PLUGIN_PACK_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "espnet_plugin" / "packs"


def read_meta(meta_file: Path, where: str) -> Dict[str, Any]:
    try:
        meta = yaml.safe_load(meta_file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise DataError(f"{where}: unreadable meta.yaml ({e})") from e
    if not isinstance(meta, dict) or not isinstance(meta.get("files"), dict) or not isinstance(meta.get("yaml_files"), dict):
        raise DataError(f"{where}: meta.yaml lacks the files / yaml_files mappings of an ESPnet pack")
    return meta


def kind_of(meta: Mapping[str, Any], where: str) -> str:
    kind = (meta.get("espnet_plugin") or {}).get("kind")
    if kind is None:  # a pack written by espnet2.bin.pack: guess from its keys
        keys = set(meta["yaml_files"]) | set(meta["files"])
        kind = "probe" if "asr_train_config" in keys else ("tts" if "vae_train_config" in keys else "svae")
    if kind not in PACK_KEYS:
        raise DataError(f"{where}: meta.yaml names an unknown kind {kind!r}")
    return kind


def unpack_zip(zip_path: PathLike, cache_dir: Optional[PathLike] = None) -> Packed:
    """Unpack ``zip_path`` once into ``<cache>/<stem>_<sha12>`` with ESPnet's ``unpack`` (configs'
    paths rewritten to the unpacked files); an unchanged zip reuses its unpacked copy."""
    from espnet2.main_funcs.pack_funcs import unpack

    z = Path(zip_path)
    if not z.is_file():
        raise ConfigError(f"pack not found: {z}")
    if not zipfile.is_zipfile(z):
        raise DataError(f"{z} is not a zip archive (a packed model is a .zip written by espnet_plugin.bin.pack)")
    out = (cache_root(cache_dir) / f"{z.stem}_{sha256_file(z)[:12]}").resolve()
    try:
        files = unpack(z, out)
    except (RuntimeError, KeyError, zipfile.BadZipFile) as e:
        raise DataError(f"{z}: not an ESPnet pack ({e})") from e
    meta = read_meta(out / "meta.yaml", str(z))
    return Packed(kind_of(meta, str(z)), {k: Path(v) for k, v in files.items()}, out, meta)


def open_unpacked_dir(d: PathLike, cache_dir: Optional[PathLike] = None) -> Packed:
    """A dir holding an unzipped pack (``meta.yaml`` at its top, e.g. a Hugging Face snapshot).

    Its configs name files relative to the dir: copies with absolute paths are written under
    ``<cache>/dir_<hash of the dir's path>`` (the dir itself is not modified).
    """
    from espnet2.main_funcs.pack_funcs import find_path_and_change_it_recursive

    d = Path(d).resolve()
    meta = read_meta(d / "meta.yaml", str(d))
    kind = kind_of(meta, str(d))
    names = [p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file()]
    out = cache_root(cache_dir) / f"dir_{hashlib.sha256(str(d).encode()).hexdigest()[:12]}"
    files: Dict[str, Path] = {}
    for key, arc in meta["yaml_files"].items():
        src = d / arc
        if not src.is_file():
            raise DataError(f"{d}: meta.yaml names {arc} ({key}), which is not there")
        cfg = yaml.safe_load(src.read_text(encoding="utf-8"))
        for n in names:
            cfg = find_path_and_change_it_recursive(cfg, n, str(d / n))
        dst = out / arc
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
        files[key] = dst
    for key, arc in meta["files"].items():
        if not (d / arc).is_file():
            raise DataError(f"{d}: meta.yaml names {arc} ({key}), which is not there")
        files[key] = d / arc
    return Packed(kind, files, d, meta)


def download_tag(tag: str) -> Path:
    """``owner/name[@revision]`` -> a local snapshot dir of that Hugging Face repo.

    Raises:
        ConfigError: huggingface_hub missing, offline, or the repo cannot be fetched; the message
            names the tag and what to do instead.
    """
    repo, _, rev = tag.partition("@")
    hint = (f"fetch it where there is a network (huggingface-cli download {repo} --local-dir DIR, "
            f"or download its packed .zip) and pass DIR or the .zip instead of the tag")
    try:
        from huggingface_hub import snapshot_download
    except ImportError as e:
        raise ConfigError(f"model tag {tag!r}: huggingface_hub is not installed; {hint}") from e
    try:
        return Path(snapshot_download(repo_id=repo, revision=rev or None, library_name="espnet_plugin"))
    except Exception as e:  # noqa: BLE001 - offline mode, no network, unknown repo: all mean "not here"
        offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
        why = "offline (HF_HUB_OFFLINE=1) and not in the local hub cache" if offline else f"{type(e).__name__}: {e}"
        raise ConfigError(f"cannot fetch model tag {tag!r} from the Hugging Face hub: {why}; {hint}") from e


def resolve_pretrained(ref: PathLike, cache_dir: Optional[PathLike] = None, kind: Optional[str] = None) -> Packed:
    """A packed ``.zip``, an unpacked dir, a legacy packed VAE/TTS dir or a hub tag -> :class:`Packed`.

    Args:
        ref: what to load (see the module docstring).
        cache_dir: where zips are unpacked (default :func:`cache_root`).
        kind: the kind the caller needs (checked; also the kind of a legacy dir, default svae).
    Raises:
        ConfigError: nothing at ``ref``, a pack of another kind, an unreachable hub tag.
    """
    p = Path(ref).expanduser()
    if p.is_file():
        packed = unpack_zip(p, cache_dir)
    elif p.is_dir() and (p / "meta.yaml").is_file():
        packed = open_unpacked_dir(p, cache_dir)
    elif p.is_dir() and (p / "config.yaml").is_file():
        packed = _legacy_dir(p, kind or "svae")
    elif p.is_dir():
        raise ConfigError(f"{p}: neither a pack (meta.yaml) nor a packed dir (config.yaml)")
    elif HUB_TAG.match(str(ref)):
        packed = open_unpacked_dir(download_tag(str(ref)), cache_dir)
    else:
        raise ConfigError(f"{ref!r}: no such file or dir, and not a hub tag (owner/name)")
    if kind is not None and packed.kind != kind:
        raise ConfigError(f"{ref} holds a {packed.kind} pack, not a {kind}")
    return packed


def sha256_file(path: PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def resolve_model_file(exp_dir: PathLike) -> Path:
    """Pick the weights of an experiment dir: packed model.pth, else valid.*best.pth, else latest.pth."""
    d = Path(exp_dir)
    for pattern in ("model.pth", "valid.mrstft_loss.ave.pth", "valid.mrstft_loss.best.pth", "*.ave*.pth", "*best.pth", "latest.pth"):
        hits = sorted(d.glob(pattern))
        if hits:
            return hits[0]
    raise ConfigError(f"no model weights (*.pth) in {exp_dir}")


def resolve_tts_model_file(tts_dir: Path) -> Path:
    """Weights of a TTS exp dir: model.pth, valid.loss.{ave,best}.pth, *ave*.pth, *best.pth, latest.pth."""
    for pattern in ("model.pth", "valid.loss.ave.pth", "valid.loss.best.pth", "*ave*.pth", "*best.pth", "latest.pth"):
        hits = sorted(tts_dir.glob(pattern))
        if hits:
            return hits[0]
    raise ConfigError(f"--tts_exp {tts_dir}: no model weights (*.pth)")


def _legacy_dir(d: Path, kind: str) -> Packed:
    """A packed dir of the old format (``config.yaml`` + weights; no ``meta.yaml``)."""
    if kind == "svae":
        return Packed("svae", {"train_config": d / "config.yaml", "model_file": resolve_model_file(d)}, d)
    if kind == "tts":
        return Packed("tts", {"train_config": d / "config.yaml", "model_file": resolve_tts_model_file(d)}, d)
    raise ConfigError(f"{d}: a {kind} is loaded from a pack (.zip or a dir with meta.yaml)")


def is_pack_ref(ref: PathLike) -> bool:
    """Whether ``ref`` names a pack rather than a config file: a .zip, a dir with meta.yaml or config.yaml."""
    p = Path(ref)
    return (p.is_file() and zipfile.is_zipfile(p)) or (p.is_dir() and any((p / n).is_file() for n in ("meta.yaml", "config.yaml")))

