"""DiT backbone: shapes, zero init, masking, CFG flags, RoPE, gradients."""
import pytest
import torch

from espnet_plugin.errors import ConfigError
from espnet_plugin.tts.dit import DiT, RotaryEmbedding, apply_rotary


def tiny(**kw):
    torch.manual_seed(0)
    conf = dict(dim=32, depth=2, heads=2, dim_head=16, text_dim=16, text_num_embeds=7, conv_layers=1,
                latent_dim=4, dropout=0.0)
    conf.update(kw)
    return DiT(**conf)


def randomize_zero_init(m: DiT) -> DiT:
    """Give the zero-initialised layers random weights, so every path affects the output."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for lin in [b.modulation for b in m.blocks] + [m.modulation_out, m.proj_out]:
            lin.weight.copy_(0.1 * torch.randn(lin.weight.shape, generator=g))
            lin.bias.copy_(0.1 * torch.randn(lin.bias.shape, generator=g))
    return m.eval()


def inputs(b=2, t=12, d=4):
    g = torch.Generator().manual_seed(2)
    x, cond = torch.randn(b, t, d, generator=g), torch.randn(b, t, d, generator=g)
    text = torch.randint(0, 7, (b, 5), generator=g)
    text[1, 3:] = -1
    mask = torch.arange(t)[None] < torch.tensor([t, t - 4])[:, None]
    return x, cond, text, torch.tensor([0.3, 0.8]), mask


def test_shape_and_zero_init_output():
    m = tiny()
    x, cond, text, time, mask = inputs()
    out = m(x, cond, text, time, mask)
    assert out.shape == (2, 12, 4)
    assert torch.count_nonzero(out) == 0  # zero-initialised output projection
    assert torch.count_nonzero(randomize_zero_init(m)(x, cond, text, time, mask)) > 0


def test_param_count_of_f5_small():
    with torch.device("meta"):
        m = DiT(dim=768, depth=18, heads=12, text_dim=512, latent_dim=100, text_num_embeds=2545)
    n = sum(p.numel() for p in m.parameters())
    assert 150e6 < n < 165e6  # F5-TTS Small is ~158M


def test_padding_frames_do_not_leak():
    m = randomize_zero_init(tiny())
    x, cond, text, time, mask = inputs()
    out = m(x, cond, text, time, mask)
    x2, c2 = x.clone(), cond.clone()
    x2[1, 8:] = 100.0
    c2[1, 8:] = -50.0
    out2 = m(x2, c2, text, time, mask)
    assert torch.allclose(out[1, :8], out2[1, :8], atol=1e-5)
    assert torch.allclose(out[0], out2[0])


def test_per_sample_drop_flags_equal_separate_calls():
    m = randomize_zero_init(tiny())
    x, cond, text, time, mask = inputs()
    da, dt = torch.tensor([True, False]), torch.tensor([False, True])
    both = m(x, cond, text, time, mask, drop_audio_cond=da, drop_text=dt)
    a = m(x[:1], cond[:1], text[:1], time[:1], mask[:1], drop_audio_cond=True, drop_text=False)
    b = m(x[1:], cond[1:], text[1:], time[1:], mask[1:], drop_audio_cond=False, drop_text=True)
    assert torch.allclose(both, torch.cat([a, b]), atol=1e-5)
    # dropping = zero condition / all-filler text
    assert torch.allclose(a, m(x[:1], torch.zeros_like(cond[:1]), text[:1], time[:1], mask[:1]), atol=1e-6)
    assert torch.allclose(b, m(x[1:], cond[1:], torch.full_like(text[1:], -1), time[1:], mask[1:]), atol=1e-6)
    assert not torch.allclose(a, m(x[:1], cond[:1], text[:1], time[:1], mask[:1]), atol=1e-4)


def test_text_embedding_cache_and_time_dependence():
    m = randomize_zero_init(tiny())
    x, cond, text, time, mask = inputs()
    emb = m.embed_text(text, 12)
    assert emb.shape == (2, 12, 16)
    assert torch.allclose(m(x, cond, text, time, mask), m(x, cond, None, time, mask, text_emb=emb), atol=1e-6)
    assert not torch.allclose(m(x, cond, text, time, mask), m(x, cond, text, time + 0.1, mask), atol=1e-4)
    # text longer than the audio is truncated, shorter is padded with the filler
    assert m.embed_text(torch.randint(0, 7, (2, 30)), 12).shape == (2, 12, 16)


def test_rope_relative_positions():
    rope = RotaryEmbedding(8)
    cos, sin = rope(20, torch.device("cpu"), torch.float32)
    q, k = torch.randn(8), torch.randn(8)

    def rot(v, p):
        return apply_rotary(v[None, None, None].expand(1, 1, 20, 8), cos, sin)[0, 0, p]

    assert torch.allclose(rot(q, 3) @ rot(k, 7), rot(q, 10) @ rot(k, 14), atol=1e-5)
    assert torch.allclose(rot(q, 5).norm(), q.norm(), atol=1e-5)
    assert torch.allclose(rot(q, 0), q)


def test_gradients_reach_all_parameters():
    m = randomize_zero_init(tiny()).train()
    x, cond, text, time, mask = inputs()
    m(x, cond, text, time, mask).pow(2).mean().backward()
    no_grad = [n for n, p in m.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert no_grad == []
    assert m.text_embed.embed.weight.grad.abs().sum() > 0


def test_bad_sizes():
    m = tiny()
    x, cond, text, time, mask = inputs(d=5)
    with pytest.raises(ConfigError):
        m(x, cond, text, time, mask)
    with pytest.raises(ConfigError):
        DiT(dim=30, heads=2, dim_head=15, latent_dim=4)


def test_valid_outputs_do_not_depend_on_padding_length():
    m = randomize_zero_init(tiny())
    x, cond, text, time, mask = inputs()
    full = m(x, cond, text, time, mask)  # utterance 1 has 8 valid frames out of 12
    alone = m(x[1:, :8], cond[1:, :8], text[1:], time[1:], mask[1:, :8])
    assert torch.allclose(full[1, :8], alone[0], atol=1e-5)
