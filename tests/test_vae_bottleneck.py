"""Tests for espnet_plugin.vae.bottleneck."""
import math

import pytest
import torch

from espnet_plugin.errors import ConfigError, DataError
from espnet_plugin.vae.bottleneck import DeterministicBottleneck, GaussianBottleneck


def test_in_channels():
    assert GaussianBottleneck.in_channels(64) == 128
    assert DeterministicBottleneck.in_channels(64) == 64
    assert GaussianBottleneck(8).in_channels(3) == 6


def test_sigma_formula_and_eval_returns_mu():
    torch.manual_seed(0)
    bn = GaussianBottleneck(latent_dim=3).eval()
    h = torch.randn(2, 6, 5)
    z, _, stats = bn(h)
    mu, s = h[:, :3], h[:, 3:]
    expected_sigma = torch.log1p(torch.exp(s)) + 1e-4
    torch.testing.assert_close(stats["sigma"], expected_sigma)
    torch.testing.assert_close(stats["mu"], mu)
    assert torch.equal(z, mu)
    # training mode samples by default; sample=False forces the mean
    bn.train()
    assert torch.equal(bn(h, sample=False)[0], mu)
    torch.manual_seed(1)
    z_train, _, _ = bn(h)
    torch.manual_seed(1)
    eps = torch.randn(2, 3, 5)
    torch.testing.assert_close(z_train, mu + expected_sigma * eps)
    # eval with sample=True samples too
    bn.eval()
    assert not torch.equal(bn(h, sample=True)[0], mu)


def _kl_by_hand(h, mask, d):
    """Plain-loop KL: mean over valid (b, t) of sum_c (mu^2 + sigma^2 - log sigma^2 - 1)."""
    total, count = 0.0, 0
    for b in range(h.shape[0]):
        for t in range(h.shape[2]):
            if mask is not None and not bool(mask[b, t]):
                continue
            acc = 0.0
            for c in range(d):
                mu = float(h[b, c, t])
                sig = math.log1p(math.exp(float(h[b, d + c, t]))) + 1e-4
                acc += mu**2 + sig**2 - math.log(sig**2) - 1.0
            total += acc
            count += 1
    return total / count


def test_kl_matches_hand_computation_with_and_without_mask():
    torch.manual_seed(0)
    d = 4
    h = torch.randn(3, 2 * d, 6)
    mask = torch.tensor(
        [[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0]], dtype=torch.bool
    )
    bn = GaussianBottleneck(d)
    _, kl, _ = bn(h)
    assert kl.dim() == 0
    assert kl.item() == pytest.approx(_kl_by_hand(h, None, d), rel=1e-5)
    _, kl_m, _ = bn(h, mask=mask)
    assert kl_m.item() == pytest.approx(_kl_by_hand(h, mask, d), rel=1e-5)
    # padded frames do not matter
    h2 = h.clone()
    h2[1, :, 3:] = 100.0
    assert bn(h2, mask=mask)[1].item() == pytest.approx(kl_m.item(), rel=1e-6)


def test_kl_is_zero_at_standard_normal_only_approximately():
    # mu = 0, sigma = 1 gives KL ~ 0 (sigma has the 1e-4 floor)
    d = 2
    s = math.log(math.expm1(1.0 - 1e-4))  # softplus(s) + 1e-4 = 1
    h = torch.cat([torch.zeros(1, d, 3), torch.full((1, d, 3), s)], dim=1)
    _, kl, stats = GaussianBottleneck(d)(h)
    torch.testing.assert_close(stats["sigma"], torch.ones(1, d, 3))
    assert abs(kl.item()) < 1e-5


def test_kl_gradient_flows_to_both_halves():
    h = torch.randn(2, 4, 3, requires_grad=True)
    z, kl, _ = GaussianBottleneck(2).train()(h)
    (kl + z.sum()).backward()
    assert h.grad is not None and (h.grad[:, :2] != 0).all() and (h.grad[:, 2:] != 0).all()


def test_deterministic_bottleneck():
    h = torch.randn(2, 5, 7)
    z, kl, stats = DeterministicBottleneck(5)(h, mask=torch.ones(2, 7, dtype=torch.bool), sample=True)
    assert z is h and kl.dim() == 0 and kl.item() == 0.0 and kl.device == h.device and stats == {}


def test_errors():
    with pytest.raises(ConfigError):
        GaussianBottleneck(4)(torch.randn(1, 4, 3))
    with pytest.raises(ConfigError):
        DeterministicBottleneck(4)(torch.randn(1, 8, 3))
    with pytest.raises(DataError):
        GaussianBottleneck(2)(torch.randn(1, 4, 3), mask=torch.ones(1, 4, dtype=torch.bool))
