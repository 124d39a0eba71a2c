"""Speaker-id probe: pooling, per-speaker split, linear classifier, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from espnet_plugin.errors import DataError
from espnet_plugin.probe.sid import pool_utterance, run_sid_probe, split_per_speaker, train_linear_probe


def _utt2spk(n_spk=6, n_utt=15):
    return {f"s{s}-u{u:02d}": f"s{s}" for s in range(n_spk) for u in range(n_utt)}


def _frames(utt2spk, sep=3.0, seed=0, dim=8, t=20):
    """Frames around a per-speaker mean (distance ~ sep * sqrt(dim)) plus unit noise."""
    rng = np.random.default_rng(seed)
    spk = sorted(set(utt2spk.values()))
    centers = {s: sep * rng.standard_normal(dim) for s in spk}
    return {u: (centers[s] + rng.standard_normal((t, dim))).astype(np.float32) for u, s in sorted(utt2spk.items())}


def test_pool_by_hand():
    x = np.array([[1.0, 2.0], [3.0, 6.0]])
    np.testing.assert_allclose(pool_utterance(x), [2.0, 4.0, 1.0, 2.0])
    np.testing.assert_allclose(pool_utterance(x, with_std=False), [2.0, 4.0])
    with pytest.raises(DataError):
        pool_utterance(np.zeros((0, 3)))


def test_split_per_speaker_deterministic_80_20():
    u2s = _utt2spk(n_spk=3, n_utt=10)
    u2s["lonely-u00"] = "lonely"
    train, test = split_per_speaker(u2s, heldout=0.2, seed=0)
    assert not set(train) & set(test) and set(train) | set(test) == set(u2s)
    for s in ("s0", "s1", "s2"):
        assert sum(u2s[u] == s for u in test) == 2 and sum(u2s[u] == s for u in train) == 8
    assert "lonely-u00" in train  # single-utterance speakers only train
    # independent of dict order, changes with the seed
    shuffled = dict(reversed(list(u2s.items())))
    assert split_per_speaker(shuffled, 0.2, 0) == (train, test)
    assert split_per_speaker(u2s, 0.2, 1)[1] != test
    # at least one held out, never all: 2 utterances -> 1/1
    assert len(split_per_speaker({"a1": "a", "a2": "a"}, 0.2)[1]) == 1


def test_separable_speakers_are_identified():
    u2s = _utt2spk()
    res = run_sid_probe(_frames(u2s), u2s, heldout=0.2, seed=0)
    assert res["n_speakers"] == 6 and res["n_test"] == 18 and res["n_train"] == 72
    assert res["chance"] == pytest.approx(100 / 6)
    assert res["sid_acc"] >= 95.0


def test_shuffled_labels_are_near_chance():
    u2s = _utt2spk()
    feats = _frames(u2s)
    utts = sorted(u2s)
    accs = []
    for seed in range(5):
        labels = [u2s[u] for u in utts]
        np.random.default_rng(seed).shuffle(labels)
        accs.append(run_sid_probe(feats, dict(zip(utts, labels)), heldout=0.2, seed=0, steps=150)["sid_acc"])
    assert np.mean(accs) <= 30.0  # chance 16.7 %; the true labels give ~100 %


def test_linear_probe_learns_a_linear_rule_and_is_seeded():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 4, generator=g)
    y = ["pos" if v > 0 else "neg" for v in (x[:, 0] - 0.5 * x[:, 2]).tolist()]
    p1 = train_linear_probe(x, y, steps=300, seed=0)
    p2 = train_linear_probe(x, y, steps=300, seed=0)
    assert torch.equal(p1.weight, p2.weight)
    acc = np.mean([a == b for a, b in zip(p1.predict(x), y)])
    assert acc >= 0.97
    assert p1.logits(x).shape == (200, 2) and p1.classes == ["neg", "pos"]


def test_errors():
    u2s = _utt2spk(n_spk=2, n_utt=3)
    feats = _frames(u2s)
    del feats["s0-u00"]
    with pytest.raises(DataError, match="no features"):
        run_sid_probe(feats, u2s)
    one = {"a1": "a", "a2": "a"}
    with pytest.raises(DataError, match="2 speakers"):
        run_sid_probe({"a1": np.ones((3, 2)), "a2": np.ones((3, 2))}, one)
    with pytest.raises(DataError, match="held-out"):
        run_sid_probe({"a1": np.ones((3, 2)), "b1": np.ones((3, 2))}, {"a1": "a", "b1": "b"})


def test_cli_feats_scp(tmp_path):
    import kaldiio

    from espnet_plugin.bin import sid_probe

    u2s = _utt2spk(n_spk=3, n_utt=5)
    feats = _frames(u2s, seed=2)
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path}/f.ark,{tmp_path}/f.scp") as w:
        for k, v in feats.items():
            w[k] = v
    (tmp_path / "utt2spk").write_text("".join(f"{u} {s}\n" for u, s in sorted(u2s.items())))
    out = tmp_path / "sid" / "sid.json"
    res = sid_probe.main(["--feats_scp", str(tmp_path / "f.scp"), "--utt2spk", str(tmp_path / "utt2spk"),
                          "--out_json", str(out), "--steps", "200"])
    saved = json.loads(out.read_text())
    assert saved["sid_acc"] == res["sid_acc"] == 100.0
    assert saved["n_test"] == 3 and saved["n_speakers"] == 3


def test_cli_fbank_from_audio(speech_corpus, tmp_path):
    from espnet_plugin.bin import sid_probe

    out = tmp_path / "sid.json"
    res = sid_probe.main(["--wav_scp", str(speech_corpus / "wav.scp"), "--feature", "fbank",
                          "--utt2spk", str(speech_corpus / "utt2spk"), "--out_json", str(out), "--steps", "100"])
    assert res["n_speakers"] == 2 and res["n_test"] == 2 and res["n_train"] == 6
    assert 0.0 <= res["sid_acc"] <= 100.0 and out.is_file()
