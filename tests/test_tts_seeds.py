"""Per-utterance noise seeds of the TTS sampler (stable hash of run seed + utterance id)."""
import subprocess
import sys

import pytest
import torch

from espnet_plugin.tts.seeds import seeded_noise, utterance_seed


def test_utterance_seed_is_a_stable_hash():
    # pinned values: the same on every machine and in every process (no salted hash())
    assert utterance_seed(0, "utt1") == 7041198144397208893
    assert utterance_seed(1, "utt1") == 885578037238198590
    assert utterance_seed(0, "ü-2") == 4089802741717826564
    code = "from espnet_plugin.tts.seeds import utterance_seed; print(utterance_seed(0, 'utt1'))"
    for hash_seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={"PYTHONHASHSEED": hash_seed, "PATH": "", "PYTHONPATH": ":".join(sys.path)})
        assert int(out.stdout) == 7041198144397208893
    seeds = {utterance_seed(s, u) for s in range(3) for u in ("a", "b", "c", "a ")}
    assert len(seeds) == 12 and all(0 <= s < 2 ** 63 for s in seeds)


def test_seeded_noise_rows_depend_only_on_their_seed_and_length():
    a = seeded_noise([5, 9], [4, 2], 6, 3)
    b = seeded_noise([9], [2], 2, 3)
    assert a.shape == (2, 6, 3) and torch.equal(a[1, :2], b[0])
    assert torch.equal(a[0, 4:], torch.zeros(2, 3)) and torch.equal(a[1, 2:], torch.zeros(4, 3))
    assert torch.equal(a[0, :4], torch.randn(4, 3, generator=torch.Generator().manual_seed(5)))
    with pytest.raises(ValueError):
        seeded_noise([1, 2], [3], 3, 3)
