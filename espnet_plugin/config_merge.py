"""Compose a training config from a base and small override files (descript-audio-codec's
``conf/ablations`` style): one place for the merge rule, used by the recipe, the margin sweep and users.

Layout (``conf/``)::

    conf/<scale>/base.yaml        a complete config of one scale (tuning = the paper's, cpu, evidence)
    conf/<scale>/<loss>.yaml      an override for that scale only (where a loss differs by scale)
    conf/losses/<loss>.yaml       an override shared by every scale

A config *spec* is ``[<scale>/]<loss>`` (scale ``tuning`` by default; ``<scale>/<loss>.yaml`` first,
then ``losses/<loss>.yaml``), or a path: a YAML beside a ``base.yaml`` (or in a ``losses`` folder:
the default scale's base) is merged onto that base; any other YAML is a full config, used as is.

Merge rule, ``merge(base, override)``:

* a mapping merges into the base's mapping key by key, recursively;
* any other value (scalar, list) replaces the base's value: lists are never concatenated;
* ``null`` deletes the key (ESPnet's default applies);
* a mapping holding ``_replace_: true`` replaces the base's mapping whole (e.g. the ``encoder_conf``
  of another encoder), the marker itself dropped.

``--set`` overrides (``apply_set``) address ``a.b.c``: in a list, an integer is an index and any other
key selects every item whose ``name`` is that key (``distill_conf.terms.mcos.conf.m1=0.25``); the
value is parsed as YAML (``null`` deletes, as above).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Mapping

import yaml

from espnet_plugin.errors import ConfigError

REPLACE = "_replace_"
LOSSES = "losses"
DEFAULT_SCALE = "tuning"


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict:
    """``base`` with ``override`` merged in by the rule above (neither argument is modified)."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and value.get(REPLACE):
            out[key] = _clean({k: v for k, v in value.items() if k != REPLACE})
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = _clean(copy.deepcopy(value))
    return out


def _clean(value: Any) -> Any:
    """A value added where the base has none: nulls and ``_replace_`` markers inside it dropped."""
    if isinstance(value, Mapping):
        return {k: _clean(v) for k, v in value.items() if v is not None and k != REPLACE}
    return value


def load_yaml(path: str | Path) -> dict:
    """A YAML mapping (empty file -> {}); a clear error naming the file otherwise."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read the config: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a YAML mapping, got {type(data).__name__}")
    return data


def merge_files(paths: list[str | Path]) -> dict:
    """``merge(merge(load(p0), load(p1)), ...)``."""
    cfg: dict = {}
    for p in paths:
        cfg = merge(cfg, load_yaml(p))
    return cfg


def apply_set(cfg: dict, assignment: str) -> dict:
    """``cfg`` (modified in place and returned) with ``"a.b.c=value"`` applied (rules in the module doc)."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r}: expected key.sub=value")
    key, text = assignment.split("=", 1)
    return set_path(cfg, key, yaml.safe_load(text))


def set_path(cfg: dict, key: str, value: Any) -> dict:
    """``cfg`` (modified in place and returned) with ``value`` at the dotted ``key`` (``None`` deletes)."""
    parts = key.split(".")
    nodes = [cfg]
    for i, part in enumerate(parts[:-1]):
        nodes = [child for node in nodes for child in _children(node, part, ".".join(parts[: i + 1]), create=True)]
    last = parts[-1]
    for node in nodes:
        if isinstance(node, list):
            for idx in _list_indices(node, last, key):
                node[idx] = value
        elif value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return cfg


def _children(node: Any, part: str, where: str, create: bool) -> list:
    if isinstance(node, dict):
        if part not in node or node[part] is None:
            node[part] = {}
        return [node[part]]
    if isinstance(node, list):
        return [node[i] for i in _list_indices(node, part, where)]
    raise ConfigError(f"--set: {where} is a {type(node).__name__}, not a mapping or list")


def _list_indices(node: list, part: str, where: str) -> list[int]:
    if part.lstrip("-").isdigit():
        i = int(part)
        if not -len(node) <= i < len(node):
            raise ConfigError(f"--set: {where}: index {i} out of a list of {len(node)}")
        return [i % len(node)]
    hits = [i for i, item in enumerate(node) if isinstance(item, dict) and item.get("name") == part]
    if not hits:
        names = [item.get("name") for item in node if isinstance(item, dict)]
        raise ConfigError(f"--set: {where}: no item named {part!r} (names: {names})")
    return hits


def resolve(spec: str, conf_dir: str | Path = "conf", scale: str = DEFAULT_SCALE) -> tuple[list[Path], str]:
    """A config spec -> (the files merged in order, the config's name: ``<scale>/train_svae_<loss>``
    for a merge, the file's stem for a full config, which is the single file of the list)."""
    conf = Path(conf_dir)
    p = Path(spec)
    if p.suffix in (".yaml", ".yml") or p.is_file():
        if not p.is_file():
            raise ConfigError(f"no config file {spec}")
        base = p.parent / "base.yaml"
        if p.parent.name == LOSSES:
            base = p.parent.parent / scale / "base.yaml"
        if p.name != "base.yaml" and base.is_file():
            return [base, p], f"{base.parent.name}/train_svae_{p.stem}"
        return [p], p.stem
    if "/" in spec:
        scale, spec = spec.split("/", 1)
    base = conf / scale / "base.yaml"
    tried = [conf / scale / f"{spec}.yaml", conf / LOSSES / f"{spec}.yaml"]
    if not base.is_file():
        raise ConfigError(f"no config for {spec!r}: no base {base} (scales: {scales(conf)})")
    for override in tried:
        if override.is_file():
            return [base, override], f"{scale}/train_svae_{spec}"
    raise ConfigError(f"no config for {spec!r} (tried {', '.join(map(str, tried))}); "
                      f"losses of {scale}: {' '.join(losses(conf, scale))}")


def scales(conf_dir: str | Path = "conf") -> list[str]:
    """The folders of ``conf_dir`` holding a ``base.yaml``."""
    return sorted(b.parent.name for b in Path(conf_dir).glob("*/base.yaml"))


def losses(conf_dir: str | Path = "conf", scale: str = DEFAULT_SCALE) -> list[str]:
    """Every loss name a scale resolves: the shared overrides and the scale's own."""
    conf = Path(conf_dir)
    names = {p.stem for p in (conf / LOSSES).glob("*.yaml")}
    names |= {p.stem for p in (conf / scale).glob("*.yaml") if p.name != "base.yaml"}
    return sorted(names)


def dump(cfg: Mapping[str, Any], sources: list[Path] | None = None) -> str:
    """YAML text of a merged config (key order kept), headed by where it came from."""
    head = ""
    if sources:
        head = (f"# written by espnet_plugin.bin.merge_config from {' + '.join(map(str, sources))}: "
                "edit those, not this file\n")
    return head + yaml.safe_dump(dict(cfg), sort_keys=False, default_flow_style=None)


def write_if_changed(path: str | Path, text: str) -> Path:
    """Write atomically, leaving an identical file untouched (its mtime too)."""
    from espnet_plugin.io.kaldi_dir import write_text_atomic

    path = Path(path)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text)
    return path


def materialize(spec: str, out_dir: str | Path, conf_dir: str | Path = "conf", sets: tuple[str, ...] = ()) -> Path:
    """The full config of ``spec`` as a file: a full config as is (without ``sets``), otherwise the
    merge written to ``<out_dir>/<scale>/train_svae_<loss>.yaml`` (rewritten only when it changes)."""
    files, name = resolve(spec, conf_dir)
    if len(files) == 1 and not sets:
        return files[0]
    cfg = merge_files(files)
    for s in sets:
        apply_set(cfg, s)
    return write_if_changed(Path(out_dir) / f"{name}.yaml", dump(cfg, files))


def materialize_scale(scale: str, out_dir: str | Path, conf_dir: str | Path = "conf") -> dict[str, Path]:
    """Every loss of a scale written as a full config: {loss: <out_dir>/<scale>/train_svae_<loss>.yaml}."""
    return {name: materialize(f"{scale}/{name}", out_dir, conf_dir) for name in losses(conf_dir, scale)}
