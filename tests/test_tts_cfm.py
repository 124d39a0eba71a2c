"""Flow-matching objective and CFG ODE sampling (F5-TTS)."""
import pytest
import torch
from torch import nn

from espnet_plugin.errors import ConfigError
from espnet_plugin.nn.masking import lengths_to_mask
from espnet_plugin.tts.cfm import CFM, random_span_mask
from espnet_plugin.tts.dit import DiT
from espnet_plugin.tts.duration import time_schedule


class Fixed(nn.Module):
    """Stand-in velocity network: returns a given tensor and records its inputs."""

    def __init__(self, out):
        super().__init__()
        self.out = out
        self.calls = []

    def forward(self, x, cond, text, time, mask, drop_audio_cond=False, drop_text=False):
        self.calls.append(dict(x=x, cond=cond, time=time, drop_audio_cond=drop_audio_cond, drop_text=drop_text))
        return self.out


class Counting(nn.Module):
    """Wrapper counting the forward calls of a DiT (keeps its ``embed_text``)."""

    def __init__(self, net):
        super().__init__()
        self.net, self.batches = net, []

    def embed_text(self, *a, **k):
        return self.net.embed_text(*a, **k)

    def forward(self, x, *a, **k):
        self.batches.append(x.size(0))
        return self.net(x, *a, **k)


def tiny_dit(seed=0, d=4):
    torch.manual_seed(seed)
    m = DiT(dim=32, depth=2, heads=2, dim_head=16, text_dim=16, text_num_embeds=7, conv_layers=1,
            latent_dim=d, dropout=0.0)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # non-zero output so CFG and the ODE do something
        for lin in [b.modulation for b in m.blocks] + [m.modulation_out, m.proj_out]:
            lin.weight.copy_(0.1 * torch.randn(lin.weight.shape, generator=g))
    return m.eval()


def setup_batch(b=2, t=10, d=3):
    g = torch.Generator().manual_seed(0)
    x1 = torch.randn(b, t, d, generator=g)
    lengths = torch.tensor([t, t - 3])
    x1[1, t - 3:] = 0
    span = torch.zeros(b, t, dtype=torch.bool)
    span[0, 2:7] = True
    span[1, 1:5] = True
    noise = torch.randn(b, t, d, generator=g)
    return x1, lengths, span, noise, torch.tensor([0.25, 0.6])


def test_loss_formula_and_inputs_by_hand():
    x1, lengths, span, noise, t = setup_batch()
    pred = torch.randn(x1.shape)
    net = Fixed(pred)
    cfm = CFM(net)
    no = torch.zeros(2, dtype=torch.bool)
    loss, stats = cfm(x1, lengths, torch.zeros(2, 4, dtype=torch.long), span_mask=span, time=t, noise=noise,
                      drop_audio_cond=no, drop_text=no)
    flow = x1 - noise
    want = torch.cat([((pred - flow)[0, 2:7] ** 2).flatten(), ((pred - flow)[1, 1:5] ** 2).flatten()]).mean()
    assert torch.allclose(loss, want)
    call = net.calls[0]
    tt = t[:, None, None]
    assert torch.allclose(call["x"], (1 - tt) * noise + tt * x1)
    cond = x1.clone()
    cond[span] = 0
    assert torch.allclose(call["cond"], cond)
    assert stats["span_frac"].item() == pytest.approx(9 / 17)


def test_loss_only_inside_span():
    x1, lengths, span, noise, t = setup_batch()
    pred = torch.randn(x1.shape, requires_grad=True)
    kw = dict(span_mask=span, time=t, noise=noise, drop_audio_cond=torch.tensor([False, True]),
              drop_text=torch.tensor([False, False]))
    text = torch.zeros(2, 4, dtype=torch.long)
    base, _ = CFM(Fixed(pred))(x1, lengths, text, **kw)
    # prediction and target changed outside the span: the loss does not move
    pred_out = pred.detach().clone()
    pred_out[~span] += 5.0
    x1_out = x1.clone()
    x1_out[~span] -= 3.0
    noise_out = noise.clone()
    noise_out[~span] += 2.0
    moved, _ = CFM(Fixed(pred_out))(x1_out, lengths, text, **{**kw, "noise": noise_out})
    assert torch.allclose(base, moved)
    # ... inside it, it does
    pred_in = pred.detach().clone()
    pred_in[span] += 0.5
    assert not torch.allclose(base, CFM(Fixed(pred_in))(x1, lengths, text, **kw)[0])
    base.backward()
    assert torch.count_nonzero(pred.grad[~span]) == 0
    assert torch.count_nonzero(pred.grad[span]) == pred.grad[span].numel()


def test_random_span_mask_properties():
    lengths = torch.tensor([50, 20, 7, 1])
    for seed in range(30):
        m = random_span_mask(lengths, 60, (0.7, 1.0), torch.Generator().manual_seed(seed))
        for i, n in enumerate(lengths.tolist()):
            idx = m[i].nonzero().flatten()
            assert len(idx) >= 1 and idx.max() < n
            assert idx.max() - idx.min() + 1 == len(idx)  # contiguous
            assert int(0.7 * n) <= len(idx) <= n


def test_cfg_dropout_rates():
    b = 4000
    net = Fixed(torch.zeros(b, 2, 1))
    cfm = CFM(net, audio_drop_prob=0.3, cond_drop_prob=0.2)
    cfm(torch.randn(b, 2, 1), torch.full((b,), 2), torch.zeros(b, 1, dtype=torch.long),
        generator=torch.Generator().manual_seed(0))
    da, dt = net.calls[0]["drop_audio_cond"], net.calls[0]["drop_text"]
    assert bool((da | ~dt).all())  # text dropped => audio dropped
    assert dt.float().mean().item() == pytest.approx(0.2, abs=0.03)
    assert da.float().mean().item() == pytest.approx(1 - 0.7 * 0.8, abs=0.03)  # 0.44


def test_cfg_one_batched_forward_per_step_equals_two_forwards():
    net = Counting(tiny_dit())
    cfm = CFM(net)
    g = torch.Generator().manual_seed(3)
    cond = torch.randn(2, 5, 4, generator=g)
    text = torch.randint(0, 7, (2, 6), generator=g)
    dur = torch.tensor([9, 8])
    noise = torch.randn(2, 9, 4, generator=g)
    out, lengths = cfm.sample(cond, text, dur, cond_lengths=torch.tensor([5, 3]), steps=4, cfg_strength=2.0,
                              sway_sampling_coef=-1.0, noise=noise)
    assert net.batches == [4, 4, 4, 4]  # one call per step, conditional + unconditional batched
    assert lengths.tolist() == [9, 8]

    # reference: two separate forwards per step
    dit = net.net
    mask = lengths_to_mask(dur, 9)
    cmask = lengths_to_mask(torch.tensor([5, 3]), 9)
    c = torch.nn.functional.pad(cond, (0, 0, 0, 4)).masked_fill(~cmask[..., None], 0)
    x = noise.masked_fill(~mask[..., None], 0)
    ts = time_schedule(4, -1.0)
    for i in range(4):
        t = ts[i].expand(2)
        vc = dit(x, c, text, t, mask, drop_audio_cond=False, drop_text=False)
        vu = dit(x, c, text, t, mask, drop_audio_cond=True, drop_text=True)
        x = x + (ts[i + 1] - ts[i]) * (vc + 2.0 * (vc - vu))
    ref = torch.where(cmask[..., None], c, x).masked_fill(~mask[..., None], 0)
    assert torch.allclose(out, ref, atol=1e-5)
    assert torch.equal(out[0, :5], cond[0]) and torch.equal(out[1, :3], cond[1, :3])
    assert torch.count_nonzero(out[1, 8:]) == 0


def test_midpoint_and_no_cfg_call_counts():
    net = Counting(tiny_dit())
    cfm = CFM(net)
    cond, text = torch.randn(1, 3, 4), torch.randint(0, 7, (1, 4))
    cfm.sample(cond, text, 7, steps=3, method="midpoint", seed=0)
    assert net.batches == [2] * 6
    net.batches.clear()
    cfm.sample(cond, text, 7, steps=3, cfg_strength=0.0, seed=0)
    assert net.batches == [1] * 3
    with pytest.raises(ConfigError):
        cfm.sample(cond, text, 7, method="rk4")


def test_seeded_sampling_reproducible_and_batch_invariant():
    cfm = CFM(tiny_dit())
    g = torch.Generator().manual_seed(4)
    cond, text = torch.randn(2, 4, 4, generator=g), torch.randint(0, 7, (2, 5), generator=g)
    dur = torch.tensor([10, 7])
    a, _ = cfm.sample(cond, text, dur, steps=3, seed=11)
    b, _ = cfm.sample(cond, text, dur, steps=3, seed=11)
    c, _ = cfm.sample(cond, text, dur, steps=3, seed=12)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    alone, n = cfm.sample(cond[1:], text[1:], dur[1:], steps=3, seed=11)
    assert n.tolist() == [7] and alone.shape == (1, 7, 4)
    assert torch.allclose(alone[0], a[1, :7], atol=1e-5)


def test_per_utterance_seeds_give_identical_inputs_different_noise():
    cfm = CFM(tiny_dit())
    g = torch.Generator().manual_seed(4)
    cond, text = torch.randn(1, 4, 4, generator=g).expand(2, 4, 4), torch.randint(0, 7, (1, 5), generator=g).expand(2, 5)
    same, _ = cfm.sample(cond, text, 9, steps=3, seed=11)  # one int: every row the same noise
    assert torch.allclose(same[0], same[1])
    out, _ = cfm.sample(cond, text, 9, steps=3, seed=[11, 12])
    assert not torch.allclose(out[0, 4:], out[1, 4:])
    assert torch.allclose(out[0], same[0])  # row 0: seed 11 either way
    swapped, _ = cfm.sample(cond, text, 9, steps=3, seed=[12, 11])
    assert torch.allclose(swapped.flip(0), out, atol=1e-5)


def test_duration_at_least_prompt_plus_one():
    cfm = CFM(tiny_dit())
    out, n = cfm.sample(torch.randn(1, 6, 4), torch.zeros(1, 2, dtype=torch.long), 3, steps=1, seed=0)
    assert n.tolist() == [7] and out.shape == (1, 7, 4)


def test_bad_config():
    with pytest.raises(ConfigError):
        CFM(nn.Identity(), frac_lengths_mask=(0.9, 0.5))
    with pytest.raises(ConfigError):
        CFM(nn.Identity(), audio_drop_prob=1.5)


def test_tiny_model_overfits_one_utterance():
    torch.manual_seed(0)
    dit = DiT(dim=32, depth=2, heads=2, dim_head=16, text_dim=16, text_num_embeds=7, conv_layers=1,
              latent_dim=8, dropout=0.0)
    cfm = CFM(dit)  # default CFG dropout
    g = torch.Generator().manual_seed(0)
    x1 = torch.randn(1, 32, 8, generator=g)
    text = torch.randint(0, 7, (1, 10), generator=g)
    b = 16  # the same utterance 16 times per batch (less gradient noise, same CPU time)
    opt = torch.optim.AdamW(cfm.parameters(), lr=5e-3)
    losses = []
    for step in range(120):
        loss, _ = cfm(x1.expand(b, -1, -1), torch.full((b,), 32), text.expand(b, -1), generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    start, end = sum(losses[:5]) / 5, sum(losses[-10:]) / 10
    assert end < 0.3 * start, (start, end)
    # the memorised utterance is regenerated from a 4-frame prompt far better than by chance
    cfm.eval()
    out, _ = cfm.sample(x1[:, :4], text, 32, steps=8, cfg_strength=0.0, seed=0)
    err = (out[0, 4:] - x1[0, 4:]).pow(2).mean() / x1[0, 4:].pow(2).mean()
    assert err < 0.5, err
