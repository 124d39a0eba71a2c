"""Distiller (projection + terms + weighting) and projection heads.

Covers espnet_plugin.distill.distiller and espnet_plugin.distill.projection.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from espnet_plugin.distill import Distiller, align_time, build_projection, build_term
from espnet_plugin.errors import ConfigError

D, FT = 4, 6


def _batch(T=5, Tf=7, seed=0):
    torch.manual_seed(seed)
    z = torch.randn(2, T, D, requires_grad=True)
    f = torch.randn(2, Tf, FT, requires_grad=True)  # requires_grad only to prove it gets none
    mask = torch.ones(2, T, dtype=torch.bool)
    mask[1, T - 2 :] = False
    return z, f, mask


def test_empty_terms_is_vanilla_vae():
    z, f, mask = _batch()
    dist = Distiller(D, FT, terms=[])
    total, stats = dist(z, f, mask)
    assert total.dim() == 0 and total.item() == 0.0 and stats == {}
    assert sum(p.numel() for p in dist.parameters()) == 0


def test_align_time_linear_by_hand():
    f = torch.tensor([[[0.0], [4.0]]])  # (1, T'=2, 1) -> T=4, align_corners=False
    # source positions (i + 0.5) * 2/4 - 0.5 = -0.25, 0.25, 0.75, 1.25 (clamped at the ends)
    torch.testing.assert_close(align_time(f, 4)[0, :, 0], torch.tensor([0.0, 1.0, 3.0, 4.0]))
    assert align_time(f, 2) is f


def test_total_and_stats_by_hand():
    z, f, mask = _batch()
    terms = [
        {"name": "mcos", "weight": 1.0, "conf": {"m1": 0.5}},
        {"name": "mdms", "weight": 0.5, "conf": {"m2": 0.25, "scope": "batch"}},
        {"name": "mcos", "weight": 2.0, "conf": {"m1": 0.0}},
    ]
    dist = Distiller(D, FT, terms=terms, w_ssl=2.5)
    total, stats = dist(z, f, mask)
    head = dist.heads[0].head
    assert isinstance(head, nn.Linear) and head.in_features == D and head.out_features == FT
    f_up = F.interpolate(f.detach().transpose(1, 2), size=5, mode="linear", align_corners=False)
    f_up = f_up.transpose(1, 2)
    g = z @ head.weight.T + head.bias
    values = [
        build_term("mcos", m1=0.5)(g, f_up, mask),
        build_term("mdms", m2=0.25)(g, f_up, mask),
        build_term("mcos", m1=0.0)(g, f_up, mask),
    ]
    expected = 2.5 * (values[0] + 0.5 * values[1] + 2.0 * values[2])
    torch.testing.assert_close(total, expected)
    assert set(stats) == {
        "distill_mcos", "lambda_mcos", "distill_mdms", "lambda_mdms",
        "distill_mcos_1", "lambda_mcos_1", "distill_total",
    }  # fmt: skip
    for key, val in zip(["distill_mcos", "distill_mdms", "distill_mcos_1"], values):
        torch.testing.assert_close(stats[key], val.detach())
    assert [stats[k].item() for k in ("lambda_mcos", "lambda_mdms", "lambda_mcos_1")] == [1.0, 0.5, 2.0]
    torch.testing.assert_close(stats["distill_total"], total.detach())
    assert all(v.dim() == 0 and not v.requires_grad for v in stats.values())


def test_gradients_reach_head_and_latent_never_teacher():
    z, f, mask = _batch()
    dist = Distiller(D, FT, terms=[{"name": "mcos"}, {"name": "mdms"}])
    total, _ = dist(z, f, mask)
    total.backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    assert torch.all(z.grad[1, -2:] == 0)  # padding frames get nothing
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in dist.parameters())
    assert f.grad is None


@pytest.mark.parametrize("head", ["linear", "mlp", "conv"])
@pytest.mark.parametrize("direction", ["latent_to_teacher", "teacher_to_latent"])
def test_projection_shapes_and_gradients(direction, head):
    proj = build_projection(direction=direction, head=head, latent_dim=D, teacher_dim=FT, hidden_dim=8)
    z, f, _ = _batch(Tf=5)
    g, f_hat = proj(z, f.detach())
    width = FT if direction == "latent_to_teacher" else D
    assert g.shape == f_hat.shape == (2, 5, width)
    if direction == "latent_to_teacher":
        assert torch.equal(f_hat, f.detach())
    else:
        assert g is z or torch.equal(g, z)
    (g * f_hat).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in proj.parameters())


def test_projection_defaults_and_subspace():
    paper = build_projection(latent_dim=64, teacher_dim=1024)
    assert isinstance(paper.head, nn.Linear) and paper.head.bias is not None
    assert (paper.head.in_features, paper.head.out_features) == (64, 1024)
    semantic = build_projection("teacher_to_latent", latent_dim=64, teacher_dim=1024)
    convs = [m for m in semantic.modules() if isinstance(m, nn.Conv1d)]
    assert [c.kernel_size for c in convs] == [(3,), (3,)] and convs[-1].out_channels == 64
    sub = build_projection(latent_dim=8, teacher_dim=FT, latent_subspace=0.5)
    z = torch.randn(1, 3, 8)
    g, _ = sub(z, torch.randn(1, 3, FT))
    z2 = z.clone()
    z2[..., 4:] = 100.0  # dims outside the aligned subspace do not matter
    torch.testing.assert_close(sub(z2, torch.randn(1, 3, FT))[0], g)
    with pytest.raises(ConfigError):
        build_projection(direction="sideways")
    with pytest.raises(ConfigError):
        build_projection(head="transformer")


def test_teacher_to_latent_distiller():
    z, f, mask = _batch()
    dist = Distiller(D, FT, terms=[{"name": "tas"}], projection={"direction": "teacher_to_latent"})
    total, stats = dist(z, f, mask)
    f_up = align_time(f.detach(), 5)
    expected = build_term("tas")(z, dist.heads[0](z, f_up)[1], mask)
    torch.testing.assert_close(total, expected)
    total.backward()
    assert all(p.grad is not None for p in dist.parameters()) and f.grad is None


def test_layers_dict_and_per_term_head():
    z, _, mask = _batch()
    torch.manual_seed(5)
    feats = {"8": torch.randn(2, 7, FT), 23: torch.randn(2, 7, FT)}
    terms = [
        {"name": "mdms", "layer": 8},
        {"name": "mcos", "layer": 23, "projection": {"head": "mlp", "hidden_dim": 8}},
    ]
    dist = Distiller(D, FT, terms=terms)
    assert dist.required_layers == [8, 23] and len(dist.heads) == 2
    _, stats = dist(z, feats, mask)
    g0, _ = dist.heads[0](z, align_time(feats["8"], 5))
    g1, _ = dist.heads[1](z, align_time(feats[23], 5))
    torch.testing.assert_close(stats["distill_mdms"], build_term("mdms")(g0, align_time(feats["8"], 5), mask))
    torch.testing.assert_close(stats["distill_mcos"], build_term("mcos")(g1, align_time(feats[23], 5), mask))
    with pytest.raises(ConfigError, match="layer 23 missing"):
        dist(z, {8: feats["8"]}, mask)
    with pytest.raises(ConfigError, match="single tensor"):
        dist(z, feats["8"], mask)


def test_adaptive_weighting_in_distiller():
    torch.manual_seed(3)
    last = nn.Conv1d(3, 2 * D, 1)  # the encoder's last 1x1 conv
    h, noise = torch.randn(2, 3, 5), torch.randn(2, D, 5)
    f, mask = torch.randn(2, 7, FT), torch.ones(2, 5, dtype=torch.bool)
    dist = Distiller(D, FT, terms=[{"name": "mcos", "weight": 3.0}], weighting="adaptive", w_ssl=2.5)

    def forward():
        mu, s = last(h).chunk(2, dim=1)
        z = (mu + (F.softplus(s) + 1e-4) * noise).transpose(1, 2)
        return z, (z**2).mean()  # z (B, T, D), a stand-in reconstruction loss

    def norm(loss):
        grads = torch.autograd.grad(loss, [last.weight, last.bias], retain_graph=True)
        return math.sqrt(sum(float(g.pow(2).sum()) for g in grads))

    z, ref = forward()
    term_value = build_term("mcos")(dist.heads[0](z, align_time(f, 5))[0], align_time(f, 5), mask)
    lam = norm(ref) / (norm(term_value) + 1e-6)
    z, ref = forward()
    total, stats = dist(z, f, mask, ref_loss=ref, adaptive_params=[last.weight, last.bias])
    assert stats["lambda_mcos"].item() == pytest.approx(3.0 * lam, rel=1e-5)
    assert total.item() == pytest.approx(2.5 * 3.0 * lam * term_value.item(), rel=1e-5)
    with torch.no_grad():  # validation: lambda falls back to 1
        _, stats_v = dist(*forward()[:1], f, mask, ref_loss=ref)
    assert stats_v["lambda_mcos"].item() == 3.0


def test_autocast_float32_loss():
    z, f, mask = _batch()
    dist = Distiller(D, FT, terms=[{"name": "mcos"}, {"name": "mdms"}, {"name": "daxis"}])
    ref, _ = dist(z, f, mask)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        total, stats = dist(z, f.bfloat16(), mask)
    assert total.dtype == torch.float32 and all(v.dtype == torch.float32 for v in stats.values())
    torch.testing.assert_close(total, ref, atol=0.05, rtol=0.05)  # only the head ran in bf16
    total.backward()
    assert z.grad is not None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"terms": [{"name": "nope"}]}, "unknown distillation term"),
        ({"terms": [{"name": "mcos", "margin": 1}]}, "unknown keys"),
        ({"terms": [{"name": "mcos", "weight": -1}]}, "weight"),
        ({"terms": [{"name": "mcos"}], "weighting": "magic"}, "unknown weighting"),
        ({"terms": [{"name": "mcos"}], "projection": {"teacher_dim": 5}}, "teacher_dim"),
        ({"terms": [{"name": "mcos"}], "projection": {"head": "rnn"}}, "rnn"),
    ],
)
def test_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Distiller(D, FT, **kwargs)


def test_wrong_teacher_dim_is_config_error():
    z, _, mask = _batch()
    with pytest.raises(ConfigError, match="teacher features"):
        Distiller(D, FT, terms=[{"name": "tas"}])(z, torch.randn(2, 7, FT + 1), mask)
