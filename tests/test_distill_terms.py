"""Built-in alignment terms against hand computations (espnet_plugin.distill.terms)."""

import math

import pytest
import torch
import torch.nn.functional as F

from espnet_plugin.distill import build_term
from espnet_plugin.errors import ConfigError

INV_SQRT2 = 1 / math.sqrt(2)


def logsig(x: float) -> float:
    return -math.log1p(math.exp(-x))


@pytest.fixture
def toy():
    """B=2, T=3, F=2; utterance 0 has 2 valid frames (frame 2 is garbage padding)."""
    g = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [3.0, 4.0]], [[1.0, 1.0], [-1.0, 0.0], [0.0, 2.0]]])
    f = torch.tensor([[[1.0, 0.0], [1.0, 1.0], [5.0, 5.0]], [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]])
    # per-frame cosines of valid frames: 1, 1/sqrt2 | 1/sqrt2, -1, 1
    mask = torch.tensor([[True, True, False], [True, True, True]])
    return g, f, mask


def test_tas_by_hand(toy):
    g, f, mask = toy
    expected = (0 + (1 - INV_SQRT2) + (1 - INV_SQRT2) + 2 + 0) / 5
    assert build_term("tas")(g, f, mask).item() == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    "m1, frame_losses",
    [
        (0.0, [0, 1 - INV_SQRT2, 1 - INV_SQRT2, 2, 0]),  # no margin = T-axis cosine
        (0.5, [0, 0, 0, 1.5, 0]),  # ReLU(0.5 - cos)
        (0.2, [0, 0.8 - INV_SQRT2, 0.8 - INV_SQRT2, 1.8, 0]),
        (1.5, [0, 0, 0, 0.5, 0]),
    ],
)
def test_mcos_by_hand(toy, m1, frame_losses):
    g, f, mask = toy
    got = build_term("mcos", m1=m1)(g, f, mask).item()
    assert got == pytest.approx(sum(frame_losses) / 5, abs=1e-6)


def test_mcos_zero_margin_equals_tas(toy):
    g, f, mask = toy
    torch.testing.assert_close(build_term("mcos", m1=0.0)(g, f, mask), build_term("tas")(g, f, mask))


def test_daxis_by_hand(toy):
    g, f, mask = toy
    # utt 0 (frames 0,1): d0 g=(1,0) f=(1,1) -> 1/sqrt2 ; d1 g=(0,1) f=(0,1) -> 1
    # utt 1 (frames 0..2): d0 g=(1,-1,0) f=(1,1,0) -> 0 ; d1 g=(1,0,2) f=(0,0,1) -> 2/sqrt5
    cos = [INV_SQRT2, 1.0, 0.0, 2 / math.sqrt(5)]
    expected = -sum(logsig(c) for c in cos) / 4
    assert build_term("daxis")(g, f, mask).item() == pytest.approx(expected, abs=1e-6)


def test_daxis_ignores_fully_padded_utterance(toy):
    g, f, mask = toy
    g3 = torch.cat([g, torch.randn(1, 3, 2)])
    f3 = torch.cat([f, torch.randn(1, 3, 2)])
    m3 = torch.cat([mask, torch.zeros(1, 3, dtype=torch.bool)])
    torch.testing.assert_close(build_term("daxis")(g3, f3, m3), build_term("daxis")(g, f, mask))


def test_mdms_two_frames_by_hand():
    # cos_g = [[1, 0], [0, 1]], cos_f = [[1, s], [s, 1]], s = 1/sqrt2 ; |diff| off-diagonal = s
    g = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [7.0, -3.0]]])
    f = torch.tensor([[[1.0, 0.0], [1.0, 1.0], [-2.0, 9.0]]])
    mask = torch.tensor([[True, True, False]])
    for m2, expected in [(0.0, 2 * INV_SQRT2 / 4), (0.25, 2 * (INV_SQRT2 - 0.25) / 4), (0.8, 0.0)]:
        for scope in ("batch", "utterance"):
            got = build_term("mdms", m2=m2, scope=scope)(g, f, mask).item()
            assert got == pytest.approx(expected, abs=1e-6), (m2, scope)


def _cos(a, b):
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(x * x for x in b))
    return sum(x * y for x, y in zip(a, b)) / (max(na, 1e-8) * max(nb, 1e-8))


def _mdms_loop(gs, fs, m2):
    """Plain-Python reference: mean over all (i, j) of ReLU(|cos(g_i,g_j) - cos(f_i,f_j)| - m2)."""
    n = len(gs)
    tot = sum(
        max(abs(_cos(gs[i], gs[j]) - _cos(fs[i], fs[j])) - m2, 0.0) for i in range(n) for j in range(n)
    )
    return tot / (n * n)


@pytest.mark.parametrize("m2", [0.0, 0.1, 0.25])
def test_mdms_scopes_against_loops(m2):
    torch.manual_seed(0)
    g, f = torch.randn(3, 5, 4), torch.randn(3, 5, 4)
    lens = [5, 3, 1]
    mask = torch.arange(5)[None] < torch.tensor(lens)[:, None]
    g_valid = [[g[b, t].tolist() for t in range(n)] for b, n in enumerate(lens)]
    f_valid = [[f[b, t].tolist() for t in range(n)] for b, n in enumerate(lens)]
    batch_ref = _mdms_loop(sum(g_valid, []), sum(f_valid, []), m2)
    utt_ref = sum(_mdms_loop(gv, fv, m2) for gv, fv in zip(g_valid, f_valid)) / 3
    got_b = build_term("mdms", m2=m2, scope="batch")(g, f, mask).item()
    got_u = build_term("mdms", m2=m2, scope="utterance")(g, f, mask).item()
    assert got_b == pytest.approx(batch_ref, abs=1e-5)
    assert got_u == pytest.approx(utt_ref, abs=1e-5)
    assert abs(batch_ref - utt_ref) > 1e-3  # the scopes really differ


def test_mdms_matches_naive_cosine_matrix():
    torch.manual_seed(1)
    g, f = torch.randn(2, 6, 8), torch.randn(2, 6, 8)
    mask = torch.ones(2, 6, dtype=torch.bool)
    x, y = g.reshape(12, 8), f.reshape(12, 8)
    cg = F.cosine_similarity(x[:, None], x[None], dim=-1)
    cf = F.cosine_similarity(y[:, None], y[None], dim=-1)
    naive = F.relu((cg - cf).abs() - 0.25).mean()
    torch.testing.assert_close(build_term("mdms", m2=0.25)(g, f, mask), naive, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize(
    "name, conf, per_utterance",
    [
        ("tas", {}, False),
        ("mcos", {"m1": 0.3}, False),
        ("daxis", {}, True),
        ("mdms", {"m2": 0.1, "scope": "utterance"}, True),
        ("mdms", {"m2": 0.1, "scope": "batch"}, None),
    ],
)
def test_padded_batch_equals_unpadded(name, conf, per_utterance):
    """Padding (any value) changes nothing: compare with the unpadded computation."""
    torch.manual_seed(2)
    lens = [6, 4, 2]
    g, f = torch.randn(3, 6, 5), torch.randn(3, 6, 5)
    mask = torch.arange(6)[None] < torch.tensor(lens)[:, None]
    g_pad = torch.where(mask[..., None], g, torch.full_like(g, 1e4))
    f_pad = torch.where(mask[..., None], f, torch.full_like(f, -3.0))
    term = build_term(name, **conf)
    got = term(g_pad, f_pad, mask)
    if per_utterance is None:  # batch scope: all valid frames as one utterance
        ref = term(g[mask][None], f[mask][None], None)
    elif per_utterance:  # mean over utterances of the per-utterance value
        ref = torch.stack([term(g[b : b + 1, :n], f[b : b + 1, :n], None) for b, n in enumerate(lens)]).mean()
    else:  # frame mean over all valid frames
        ref = term(g[mask][None], f[mask][None], None)
    torch.testing.assert_close(got, ref, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize(
    "name, conf", [("tas", {}), ("daxis", {}), ("mcos", {"m1": 0.1}), ("mdms", {"m2": 0.0})]
)
def test_gradients_only_on_valid_frames(name, conf):
    torch.manual_seed(3)
    g = torch.randn(2, 4, 3)
    g[1, 3] = float("inf")  # garbage padding must not poison anything
    g.requires_grad_(True)
    f = torch.randn(2, 4, 3)
    mask = torch.tensor([[True, True, True, True], [True, True, True, False]])
    loss = build_term(name, **conf)(g, f, mask)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(g.grad).all()
    assert torch.all(g.grad[1, 3] == 0)
    assert g.grad[mask].abs().sum() > 0


def test_terms_run_in_float32_under_autocast(toy):
    g, f, mask = toy
    g, f = g + 0.1 * torch.randn_like(g), f + 0.1 * torch.randn_like(f)
    for name in ("tas", "daxis", "mcos", "mdms"):
        term = build_term(name)
        ref = term(g, f, mask)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = term(g, f, mask)
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, ref)
        # half-precision inputs are upcast, not computed in half precision
        gh, fh = g.bfloat16(), f.bfloat16()
        torch.testing.assert_close(term(gh, fh, mask), term(gh.float(), fh.float(), mask))


def test_all_padding_gives_zero():
    g, f = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    mask = torch.zeros(2, 3, dtype=torch.bool)
    for name in ("tas", "daxis", "mcos", "mdms"):
        assert build_term(name)(g, f, mask).item() == 0.0


@pytest.mark.parametrize(
    "name, conf",
    [("mcos", {"m1": -0.1}), ("mdms", {"m2": -1}), ("mdms", {"scope": "global"}), ("mcos", {"m1": "x"})],
)
def test_bad_conf_raises(name, conf):
    with pytest.raises(ConfigError):
        build_term(name, **conf)


def test_shape_mismatch_raises():
    with pytest.raises(ConfigError, match="equal shape"):
        build_term("tas")(torch.randn(1, 3, 4), torch.randn(1, 3, 5), None)
    with pytest.raises(ConfigError, match="mask"):
        build_term("tas")(torch.randn(1, 3, 4), torch.randn(1, 3, 4), torch.ones(1, 2, dtype=torch.bool))
