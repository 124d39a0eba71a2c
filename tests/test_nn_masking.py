"""The shared padding-mask helpers (espnet_plugin.nn.masking) and the layering they allow."""
import subprocess
import sys

import pytest
import torch

from espnet_plugin.nn.masking import fill_padding, lengths_to_mask, masked_mean


def test_lengths_to_mask_marks_valid_prefix():
    m = lengths_to_mask(torch.tensor([3, 0, 5]), 5)
    assert m.dtype == torch.bool and m.shape == (3, 5)
    assert m.sum(1).tolist() == [3, 0, 5]
    assert m[0].tolist() == [True, True, True, False, False]


def test_masked_mean_ignores_padding_even_nan():
    x = torch.tensor([[1.0, 3.0, float("nan")], [5.0, float("inf"), 0.0]], requires_grad=True)
    mask = lengths_to_mask(torch.tensor([2, 1]), 3)
    y = masked_mean(x, mask)
    assert y.item() == pytest.approx(3.0)  # (1 + 3 + 5) / 3
    y.backward()
    assert torch.isfinite(x.grad).all()


def test_masked_mean_of_nothing_is_zero_and_attached():
    x = torch.ones(2, 3, requires_grad=True)
    y = masked_mean(x, torch.zeros(2, 3, dtype=torch.bool))
    assert y.item() == 0.0 and y.requires_grad


def test_fill_padding_features_and_text_ids():
    feats = torch.ones(2, 4, 3)
    out = fill_padding(feats, torch.tensor([4, 1]))
    assert out[0].sum().item() == 12 and out[1, 0].sum().item() == 3 and out[1, 1:].abs().sum().item() == 0
    assert feats.sum().item() == 24  # input untouched
    ids = torch.tensor([[5, 6, 7], [8, -1, -1]])
    assert fill_padding(ids, torch.tensor([3, 1]), -2).tolist() == [[5, 6, 7], [8, -2, -2]]


def test_vae_core_does_not_import_distillation_plugins():
    """The bottleneck (VAE core) must not pull in the distillation package; the TTS and probe
    must not reach into the VAE generator for their masks."""
    code = (
        "import sys, espnet_plugin.vae.bottleneck, espnet_plugin.tts.cfm\n"
        "bad = [m for m in ('espnet_plugin.distill.terms', 'espnet_plugin.vae.generator') if m in sys.modules]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
