"""Packaging: the plugin installs into an existing ESPnet environment without replacing it.

- the metadata (``setup.py egg_info`` into a tmp dir, nothing installed) pins no exact version
  of torch, torchaudio, espnet or gradio, and has no ``==`` at all;
- every third-party module the package imports (static AST scan of ``espnet_plugin/``) is
  declared: import name -> distribution by :data:`DIST_OF`;
- optional distributions (judges, s3prl, demo) are declared only in an extra, and the package
  imports them only inside functions, so ``import espnet_plugin.<anything>`` works without them;
- the exact pins of ``conf/requirements.txt`` (the environment ``local/env.sh`` builds) satisfy
  every declared range, and that file's bytes are unchanged (its hash keys the cached venv).

Not done here: ``pip install --no-deps -e .`` into a throw-away venv (pip must not run in the
shared environment, and a venv with --system-site-packages costs more than the budget of a fast test).
"""
from __future__ import annotations

import ast
import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "espnet_plugin"

# import name -> the distributions that provide it (any one of them declared is enough)
DIST_OF = {
    "torch": {"torch"},
    "torchaudio": {"torchaudio"},
    "espnet2": {"espnet"},
    "espnet": {"espnet"},
    "numpy": {"numpy"},
    "scipy": {"scipy"},
    "yaml": {"pyyaml"},
    "soundfile": {"soundfile"},
    "kaldiio": {"kaldiio"},
    "humanfriendly": {"humanfriendly"},
    "tqdm": {"tqdm"},
    "sklearn": {"scikit-learn"},
    "jiwer": {"jiwer"},
    "matplotlib": {"matplotlib"},
    "pesq": {"pesq"},
    "pystoi": {"pystoi"},
    "distillmos": {"distillmos"},
    "resemblyzer": {"resemblyzer"},
    "pocketsphinx": {"pocketsphinx"},
    "transformers": {"transformers"},
    "s3prl": {"s3prl", "espnet-s3prl"},
    "gradio": {"gradio"},
    "pandas": {"pandas"},
    "PIL": {"pillow"},
    "vocos": {"vocos"},
    "sentencepiece": {"sentencepiece"},
    "huggingface_hub": {"huggingface-hub"},
}
NEVER_PINNED = {"torch", "torchaudio", "espnet", "gradio"}
TESTED_PINS_SHA256_12 = "4c4c93148626"  # = the cached venv's name: venv-<this>


@pytest.fixture(scope="module")
def metadata(tmp_path_factory) -> dict[str, list[Requirement]]:
    """{"": install_requires, extra: its requirements} from the egg-info that setup.py writes."""
    out = tmp_path_factory.mktemp("egg")
    subprocess.run([sys.executable, "setup.py", "--quiet", "egg_info", "--egg-base", str(out)],
                   cwd=ROOT, check=True, capture_output=True, timeout=120)
    (egg,) = out.glob("*.egg-info")
    reqs: dict[str, list[Requirement]] = {"": []}
    section = ""
    for line in (egg / "requires.txt").read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        m = re.fullmatch(r"\[([^\]:]*)(:.*)?\]", line)
        if m:
            section = m.group(1)
            reqs.setdefault(section, [])
        else:
            reqs[section].append(Requirement(line))
    return reqs


def _names(reqs) -> set[str]:
    return {canonicalize_name(r.name) for r in reqs}


def third_party_imports() -> dict[str, list[tuple[str, bool]]]:
    """import name -> [(file, eager)], eager = imported at module level (not inside a function)."""
    found: dict[str, list[tuple[str, bool]]] = {}

    def visit(node: ast.AST, in_function: bool, path: Path) -> None:
        for child in ast.iter_child_nodes(node):
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                names = [child.module]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "espnet_plugin":
                    found.setdefault(top, []).append((str(path.relative_to(ROOT)), not in_function))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)),
                  path)

    for path in sorted(PKG.rglob("*.py")):
        visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), False, path)
    return found


def test_no_exact_pins(metadata):
    assert {"torch", "torchaudio", "espnet"} <= _names(metadata[""]), sorted(_names(metadata[""]))
    seen = set()
    for section, reqs in metadata.items():
        for r in reqs:
            seen.add(canonicalize_name(r.name))
            pinned = [s for s in r.specifier if s.operator in ("==", "===")]
            assert not pinned, f"[{section or 'install_requires'}] {r} pins an exact version"
            if canonicalize_name(r.name) in NEVER_PINNED:  # an existing environment's own versions
                assert not any(s.operator in ("<", "<=", "~=") for s in r.specifier), f"{r} has an upper bound"
    assert NEVER_PINNED <= seen, sorted(NEVER_PINNED - seen)


def test_extras_exist(metadata):
    assert {"judges", "ssl", "demo", "test"} <= set(metadata), sorted(metadata)
    assert {"gradio", "pandas"} <= _names(metadata["demo"])
    assert {"pytest", "hypothesis", "playwright"} <= _names(metadata["test"])


def test_every_import_is_declared(metadata):
    declared = {s: _names(r) for s, r in metadata.items()}
    everywhere = set().union(*declared.values())
    imports = third_party_imports()
    unknown = sorted(set(imports) - set(DIST_OF))
    assert not unknown, (f"imported but not in DIST_OF (add the distribution to setup.py and here): "
                         f"{ {k: imports[k][0][0] for k in unknown} }")
    for mod, uses in imports.items():
        dists = {canonicalize_name(d) for d in DIST_OF[mod]}
        assert dists & everywhere, f"{mod} (used in {uses[0][0]}) is declared nowhere in setup.py ({dists})"
        if not dists & declared[""]:  # optional: only in an extra -> never imported at module level
            eager = [f for f, e in uses if e]
            assert not eager, f"optional {mod} imported at module level in {eager}: import it where it is used"


def test_optional_only_in_extras(metadata):
    core = _names(metadata[""])
    for mod in ("gradio", "pandas", "pesq", "pystoi", "distillmos", "resemblyzer", "pocketsphinx",
                "transformers", "s3prl", "pytest", "hypothesis", "playwright"):
        dists = {canonicalize_name(d) for d in DIST_OF.get(mod, {mod})}
        assert not dists & core, f"{mod} is optional but in install_requires"


def test_pinned_environment_satisfies_ranges(metadata):
    pins = {}
    for line in (ROOT / "conf" / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.strip().split("==")
            pins[canonicalize_name(name)] = version
    for section, reqs in metadata.items():
        for r in reqs:
            v = pins.get(canonicalize_name(r.name))
            if v is not None:
                assert r.specifier.contains(v, prereleases=True), f"[{section}] {r} excludes the tested pin {v}"


def test_pinned_file_unchanged():
    """local/env.sh names its venv by this hash: other bytes = a new 8 GB venv on every machine."""
    digest = hashlib.sha256((ROOT / "conf" / "requirements.txt").read_bytes()).hexdigest()[:12]
    assert digest == TESTED_PINS_SHA256_12, (
        "conf/requirements.txt changed: every machine will rebuild its venv. If that is intended, "
        f"update TESTED_PINS_SHA256_12 to {digest}")
