"""The unpacked BiLSTM probe encoder equals ESPnet's packed ``rnn`` encoder on valid frames."""
from __future__ import annotations

import pytest
import torch

from espnet_plugin.probe.encoder import BLSTMEncoder, reverse_within_lengths


def test_reverse_within_lengths():
    x = torch.arange(10.0).view(2, 5, 1)
    y = reverse_within_lengths(x, torch.tensor([5, 3]))
    assert y[0, :, 0].tolist() == [4, 3, 2, 1, 0]
    assert y[1, :, 0].tolist() == [7, 6, 5, 8, 9]      # the padding (8, 9) stays where it is
    assert torch.equal(reverse_within_lengths(y, torch.tensor([5, 3])), x)


def _copy_into_espnet(ours: BLSTMEncoder, theirs) -> None:
    """Our per-direction LSTMs and projection -> ESPnet's stacked bidirectional LSTM layers."""
    for i, (f, b) in enumerate(zip(ours.fwd, ours.bwd)):
        rnn = theirs.enc[0].nbrnn if len(theirs.enc) == 1 else theirs.enc[i].nbrnn
        sfx = f"_l{i}" if len(theirs.enc) == 1 else "_l0"
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(rnn, f"{name}{sfx}").data.copy_(getattr(f, f"{name}_l0").data)
            getattr(rnn, f"{name}{sfx}_reverse").data.copy_(getattr(b, f"{name}_l0").data)
    last = theirs.enc[-1].l_last
    last.weight.data.copy_(ours.proj.weight.data)
    last.bias.data.copy_(ours.proj.bias.data)


def test_equals_espnets_packed_rnn_encoder_forward_and_backward():
    from espnet2.asr.encoder.rnn_encoder import RNNEncoder

    torch.manual_seed(0)
    ours = BLSTMEncoder(12, num_layers=2, hidden_size=8, output_size=6).eval()
    theirs = RNNEncoder(12, rnn_type="lstm", bidirectional=True, use_projection=False, num_layers=2,
                        hidden_size=8, output_size=6, dropout=0.0, subsample=None).eval()
    assert len(theirs.enc) == 1     # one stacked nn.LSTM + its projection
    _copy_into_espnet(ours, theirs)
    lens = torch.tensor([9, 7, 4])
    x = torch.randn(3, 9, 12)
    x1 = x.clone().requires_grad_(True)
    x2 = x.clone().requires_grad_(True)
    y1, l1, _ = ours(x1, lens)
    y2, l2, _ = theirs(x2, lens)
    assert torch.equal(l1, l2) and y1.shape == y2.shape == (3, 9, 6)
    assert torch.allclose(y1, y2, atol=1e-6)
    w = torch.randn_like(y1)
    (y1 * w).sum().backward()
    (y2 * w).sum().backward()
    assert torch.allclose(x1.grad, x2.grad, atol=1e-6)
    assert x1.grad[2, 4:].abs().max() == 0        # padding gets no gradient


def test_output_size_and_streaming_refused():
    enc = BLSTMEncoder(4, hidden_size=3, output_size=5)
    assert enc.output_size() == 5
    with pytest.raises(NotImplementedError):
        enc(torch.zeros(1, 2, 4), torch.tensor([2]), prev_states=torch.zeros(1))
