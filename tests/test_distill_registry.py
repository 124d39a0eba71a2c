"""Term registry: built-in names, register_term, third-party entry points (espnet_plugin.distill.registry)."""

import sys
import textwrap
import warnings

import pytest
import torch
from torch import nn

from espnet_plugin.distill import available_terms, build_term, register_term
from espnet_plugin.distill import registry
from espnet_plugin.distill.terms import TAxisCosine
from espnet_plugin.errors import ConfigError

PKG = "ep_distill_thirdparty_pkg"


@pytest.fixture
def isolated_registry(monkeypatch):
    """Registrations made in a test disappear afterwards."""
    restore = registry.TERMS.snapshot()
    yield
    restore()


@pytest.fixture
def thirdparty(tmp_path, monkeypatch, isolated_registry):
    """An installed-looking distribution (package + *.dist-info with entry_points.txt) on sys.path."""
    pkg = tmp_path / PKG
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        textwrap.dedent(
            """
            import torch
            from torch import nn

            class SquaredError(nn.Module):
                '''L = scale * mean over valid frames of mean_d (g - f)^2.'''
                def __init__(self, scale=1.0):
                    super().__init__()
                    self.scale = scale
                def forward(self, g, f, mask):
                    return self.scale * ((g - f) ** 2).mean(-1)[mask].mean()

            def make_squared_error(scale=1.0):
                return SquaredError(scale=2.0 * scale)

            def not_a_module():
                return 3.0

            class Impostor(nn.Module):
                def forward(self, g, f, mask):
                    return torch.tensor(123.0)
            """
        )
    )
    dist = tmp_path / f"{PKG}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {PKG}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        textwrap.dedent(
            f"""
            [espnet_plugin.distill_losses]
            sqerr = {PKG}:SquaredError
            sqerr_factory = {PKG}:make_squared_error
            not_module = {PKG}:not_a_module
            tas = {PKG}:Impostor
            broken = {PKG}_does_not_exist:Nope
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, PKG, raising=False)
    yield
    sys.modules.pop(PKG, None)


def _data():
    torch.manual_seed(0)
    g, f = torch.randn(2, 4, 3), torch.randn(2, 4, 3)
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    ref = ((g - f) ** 2).mean(-1)[mask].mean()
    return g, f, mask, ref


def test_builtins_available():
    assert {"tas", "daxis", "mcos", "mdms"} <= set(available_terms())
    assert isinstance(build_term("mcos", m1=0.5), nn.Module)


def test_unknown_name_lists_available():
    with pytest.raises(ConfigError) as err:
        build_term("no_such_term")
    msg = str(err.value)
    assert "no_such_term" in msg and all(n in msg for n in ("tas", "daxis", "mcos", "mdms"))


def test_unknown_keyword_is_config_error():
    with pytest.raises(ConfigError, match="m3"):
        build_term("mdms", m3=0.1)


def test_register_decorator_direct_and_clash(isolated_registry):
    @register_term("double_tas")
    class DoubleTas(TAxisCosine):
        def forward(self, g, f, mask):
            return 2 * super().forward(g, f, mask)

    register_term("tas_alias", TAxisCosine)
    g, f, mask, _ = _data()
    torch.testing.assert_close(build_term("double_tas")(g, f, mask), 2 * build_term("tas")(g, f, mask))
    assert isinstance(build_term("tas_alias"), TAxisCosine)
    assert {"double_tas", "tas_alias"} <= set(available_terms())
    register_term("tas_alias", TAxisCosine)  # same object again: fine
    with pytest.raises(ConfigError, match="already registered"):
        register_term("tas_alias", DoubleTas)
    register_term("tas_alias", DoubleTas, override=True)
    assert isinstance(build_term("tas_alias"), DoubleTas)


def test_entry_point_class_and_factory(thirdparty):
    assert {"sqerr", "sqerr_factory"} <= set(available_terms())
    assert PKG not in sys.modules  # listing names imports nothing
    g, f, mask, ref = _data()
    term = build_term("sqerr", scale=3.0)
    assert type(term).__module__ == PKG
    torch.testing.assert_close(term(g, f, mask), 3.0 * ref)
    torch.testing.assert_close(build_term("sqerr_factory")(g, f, mask), 2.0 * ref)


def test_entry_point_errors(thirdparty):
    with pytest.raises(ConfigError, match="not a torch.nn.Module"):
        build_term("not_module")
    with pytest.raises(ConfigError, match="cannot load entry point"):
        build_term("broken")
    with pytest.raises(ConfigError, match="bad configuration"):
        build_term("sqerr", nope=1)


def test_builtin_wins_name_clash(thirdparty):
    g, f, mask, _ = _data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        term = build_term("tas")
    assert isinstance(term, TAxisCosine)
    assert any("built-in" in str(w.message) for w in caught)
    assert term(g, f, mask).item() != 123.0
