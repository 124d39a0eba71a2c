"""Fixed / adaptive weighting of the alignment terms (espnet_plugin.distill.weighting)."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from espnet_plugin.distill import build_term, build_weighting
from espnet_plugin.errors import ConfigError

D = 4


class TinyVAE(nn.Module):
    """Encoder-like: conv -> 1x1 conv to (mu, s) -> z -> 1x1 conv decoder."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv1d(1, 6, 4, stride=2)
        self.last = nn.Conv1d(6, 2 * D, 1)
        self.dec = nn.Conv1d(D, 2, 1)
        self.head = nn.Linear(D, 5)

    def losses(self, x, f, noise):
        """-> L_ref, [L_mcos, L_mdms] (recomputed identically each call)."""
        h = self.last(F.gelu(self.conv(x)))
        mu, s = h.chunk(2, dim=1)
        z = mu + (F.softplus(s) + 1e-4) * noise  # (B, D, T)
        l_ref = (self.dec(z) - x[:, :, : 2 * z.shape[-1]].reshape(x.shape[0], 2, -1)).abs().mean()
        g = self.head(z.transpose(1, 2))
        mask = torch.ones(g.shape[:2], dtype=torch.bool)
        terms = [build_term("mcos", m1=0.1)(g, f, mask), build_term("mdms", m2=0.0)(g, f, mask)]
        return l_ref, terms


@pytest.fixture
def setup():
    torch.manual_seed(1)
    model = TinyVAE()
    x = torch.randn(2, 1, 20)
    noise = torch.randn(2, D, 9)
    f = torch.randn(2, 9, 5)
    return model, x, f, noise


def _hand_norm(model, x, f, noise, pick):
    """||d loss / d (last.weight, last.bias)|| via .backward() on a fresh graph."""
    model.zero_grad(set_to_none=True)
    l_ref, terms = model.losses(x, f, noise)
    pick(l_ref, terms).backward()
    theta = (model.last.weight, model.last.bias)
    sq = sum((p.grad.pow(2).sum() if p.grad is not None else 0.0) for p in theta)
    model.zero_grad(set_to_none=True)
    return math.sqrt(float(sq))


def test_adaptive_matches_hand_ratio(setup):
    model, x, f, noise = setup
    n_ref = _hand_norm(model, x, f, noise, lambda r, t: r)
    n_k = [_hand_norm(model, x, f, noise, lambda r, t, k=k: t[k]) for k in range(2)]
    l_ref, terms = model.losses(x, f, noise)
    lams = build_weighting("adaptive")(terms, [1.0, 1.0], l_ref, [model.last.weight, model.last.bias])
    for lam, nk in zip(lams, n_k):
        assert lam.dim() == 0 and not lam.requires_grad
        assert lam.item() == pytest.approx(n_ref / (nk + 1e-6), rel=1e-5)
    assert abs(lams[0].item() - lams[1].item()) > 1e-3  # per-term, not shared
    # weights do not enter the per-term lambdas (gradients of the UNWEIGHTED losses)
    lams_w = build_weighting("adaptive")(terms, [5.0, 0.5], l_ref, [model.last.weight, model.last.bias])
    torch.testing.assert_close(torch.stack(lams_w), torch.stack(lams))
    # the weighting call leaves no .grad behind
    assert model.last.weight.grad is None


def test_adaptive_lambda_is_a_constant(setup):
    model, x, f, noise = setup
    theta = [model.last.weight, model.last.bias]
    l_ref, terms = model.losses(x, f, noise)
    (lam, _) = build_weighting("adaptive")(terms, [1.0, 1.0], l_ref, theta)
    g_weighted = torch.autograd.grad(lam * terms[0], theta, retain_graph=True)
    g_plain = torch.autograd.grad(terms[0], theta, retain_graph=True)
    for a, b in zip(g_weighted, g_plain):
        torch.testing.assert_close(a, lam * b)


def test_unused_parameters_count_as_zero(setup):
    model, x, f, noise = setup
    l_ref, terms = model.losses(x, f, noise)
    extra = nn.Parameter(torch.ones(3))  # reached by no loss
    base = build_weighting("adaptive")(terms, [1, 1], l_ref, [model.last.weight, model.last.bias])
    more = build_weighting("adaptive")(terms, [1, 1], l_ref, [model.last.weight, model.last.bias, extra])
    torch.testing.assert_close(torch.stack(more), torch.stack(base))
    # decoder weight: reached by L_ref only -> ||grad L_k|| = 0 -> lambda = ||grad L_ref|| / 1e-6
    model.zero_grad(set_to_none=True)
    l_ref.backward(retain_graph=True)
    n_dec = float(model.dec.weight.grad.norm())
    model.zero_grad(set_to_none=True)
    lams = build_weighting("adaptive")(terms, [1, 1], l_ref, [model.dec.weight])
    assert lams[0].item() == pytest.approx(n_dec / 1e-6, rel=1e-5)


def test_vavae_variant_by_hand(setup):
    model, x, f, noise = setup
    w = [0.7, 2.0]
    n_ref = _hand_norm(model, x, f, noise, lambda r, t: r)
    n_sum = _hand_norm(model, x, f, noise, lambda r, t: w[0] * t[0] + w[1] * t[1])
    l_ref, terms = model.losses(x, f, noise)
    lams = build_weighting("adaptive_vavae")(terms, w, l_ref, [model.last.weight, model.last.bias])
    expected = 0.1 * min(max(n_ref / (n_sum + 1e-4), 0.0), 1e8)
    assert lams[0].item() == pytest.approx(expected, rel=1e-5)
    assert lams[1].item() == lams[0].item()
    tiny = build_weighting("adaptive_vavae", clamp_max=1e-3, scale=1.0)(terms, w, l_ref, [model.last.weight])
    assert tiny[0].item() == pytest.approx(1e-3)


def test_fallbacks_to_one(setup):
    model, x, f, noise = setup
    theta = [model.last.weight, model.last.bias]
    l_ref, terms = model.losses(x, f, noise)
    for name in ("fixed", "adaptive", "adaptive_vavae"):
        ws = build_weighting(name)
        if name == "fixed":
            assert [v.item() for v in ws(terms, [1, 1], l_ref, theta)] == [1.0, 1.0]
        assert [v.item() for v in ws(terms, [1, 1], None, theta)] == [1.0, 1.0]  # no reference loss
        with torch.no_grad():  # validation
            l_ref_v, terms_v = model.losses(x, f, noise)
            assert [v.item() for v in ws(terms_v, [1, 1], l_ref_v, theta)] == [1.0, 1.0]
    assert build_weighting("adaptive")([], [], l_ref, theta) == []


def test_config_errors(setup):
    model, x, f, noise = setup
    l_ref, terms = model.losses(x, f, noise)
    with pytest.raises(ConfigError, match="adaptive_params"):
        build_weighting("adaptive")(terms, [1, 1], l_ref, None)
    with pytest.raises(ConfigError, match="unknown weighting"):
        build_weighting("softmax")
    with pytest.raises(ConfigError):
        build_weighting("adaptive", eps=-1.0)
    with pytest.raises(ConfigError):
        build_weighting("fixed", eps=1.0)
