"""Teacher frames: one time alignment for the cache and the on-the-fly path; multi-layer teachers.

Uses the tiny HuBERT teacher (random weights, 3 layers, hop 320) of ``conftest.hubert_teacher``.
"""
from __future__ import annotations

import json

import kaldiio
import numpy as np
import pytest
import torch
from torch import nn

from conftest import CPU_CONF
from espnet_plugin.distill import align_time
from espnet_plugin.distill.registry import register_term
from espnet_plugin.distill.teacher import Teacher, check_cache_identity
from espnet_plugin.errors import ConfigError
from espnet_plugin.io.audio import load_audio
from espnet_plugin.tasks.speech_vae import SpeechVAETask
from espnet_plugin.vae.preprocess import SpeechVAEPreprocessor

HOP = 320
SEG = 8000  # a multiple of lcm(400, 320): 25 teacher frames, 20 latent frames


class PaddedLocalUpstream(nn.Module):
    """Deterministic upstream with S3PRLUpstream's interface that pads to ``N // hop + 1`` frames
    (as some s3prl versions do for WavLM); frame i of layer l = (l + 1) * mean of samples [i*hop, (i+1)*hop)
    in 4 channels, i.e. a function of its own samples only, so a crop and the whole utterance agree."""

    num_layers, downsample_rates, hidden_sizes = 2, [HOP, HOP], [4, 4]

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([1.0, -1.0, 2.0, 0.5]))

    def forward(self, wav, lens):
        n = wav.size(1)
        t = n // HOP + 1   # one frame too many when HOP divides n
        x = torch.nn.functional.pad(wav, (0, t * HOP - n)).reshape(wav.size(0), t, HOP).mean(-1)
        hs = [(i + 1) * x[..., None] * self.w for i in range(self.num_layers)]
        return hs, [torch.full_like(lens, t)] * self.num_layers


def _wav(corpus, utt="spka-000") -> np.ndarray:
    return load_audio(corpus / "wav" / f"{utt}.wav", 16000)


def _cache_crop(feats: np.ndarray, wav: np.ndarray, monkeypatch) -> tuple[int, np.ndarray]:
    """The cache path: the preprocessor crops the whole-utterance features with the audio (last crop)."""
    pre = SpeechVAEPreprocessor(train=True, segment_size=SEG, hop_length=400, teacher_hop=HOP)
    monkeypatch.setattr(np.random, "randint", lambda n: n - 1)   # the last start: where a drift is largest
    out = pre("u", {"audio": wav, "teacher_feats": feats})
    start = pre.align * ((len(wav) - SEG) // pre.align)
    assert np.array_equal(out["audio"], wav[start:start + SEG])
    return start, out["teacher_feats"]


def test_on_the_fly_frames_equal_the_cache_crop_by_time_position(speech_corpus, monkeypatch):
    """An upstream padding to N//hop+1 frames: the crop's teacher frames equal the cached crop's."""
    teacher = Teacher(PaddedLocalUpstream(), layer=0)
    wav = _wav(speech_corpus)
    assert len(wav) > 2 * SEG
    full, _ = teacher(torch.from_numpy(wav)[None])
    assert full.shape[1] == -(-len(wav) // HOP)
    start, cached = _cache_crop(full[0].numpy(), wav, monkeypatch)
    fly, lens = teacher(torch.from_numpy(wav[start:start + SEG])[None])
    assert fly.shape == (1, SEG // HOP, 4) and lens.tolist() == [SEG // HOP]
    np.testing.assert_allclose(fly[0].numpy(), cached, rtol=1e-6, atol=1e-7)
    # and the distiller's targets on the 20 latent frames are the same
    torch.testing.assert_close(align_time(fly, SEG // 400), align_time(torch.from_numpy(cached)[None], SEG // 400))


def test_real_teacher_gives_ceil_n_over_hop_frames(hubert_teacher):
    teacher = Teacher("espnet_hubert_local", path=str(hubert_teacher), layer=-1)
    for n in (SEG, SEG - 1, SEG + 1, 32000):
        feats, lens = teacher(torch.randn(2, n), torch.tensor([n, n - 700]))
        assert feats.shape[1] == -(-n // HOP), n
        assert lens.tolist() == [-(-n // HOP), -(-(n - 700) // HOP)]


def test_features_one_pass_several_layers(hubert_teacher):
    teacher = Teacher("espnet_hubert_local", path=str(hubert_teacher), layer=-1, extra_layers=[1])
    assert teacher.layer == 2 and teacher.extra_layers == [1]
    assert teacher.identity()["extra_layers"] == [1]
    wav = torch.randn(1, SEG)
    feats, _ = teacher.features(wav, layers=[None, 1, -1, 0])
    assert set(feats) == {None, 1, -1, 0}
    torch.testing.assert_close(feats[None], teacher(wav)[0])
    torch.testing.assert_close(feats[-1], feats[None])
    assert not torch.allclose(feats[1], feats[None])
    with pytest.raises(ConfigError, match="out of range"):
        teacher.features(wav, layers=[3])


def test_two_layer_cache_layout_and_single_layer_cache_unchanged(hubert_cache, fbank_cache, hubert_teacher):
    info = json.loads((hubert_cache / "teacher_info.json").read_text())
    assert info["layer"] == 2 and info["extra_layers"] == [1]
    assert "extra_layers" not in json.loads((fbank_cache / "teacher_info.json").read_text())
    assert not list(fbank_cache.glob("feats_l*"))
    low = dict(kaldiio.load_scp(str(hubert_cache / "feats_l1.scp")))
    high = dict(kaldiio.load_scp(str(hubert_cache / "feats.scp")))
    assert sorted(low) == sorted(high)
    k = sorted(low)[0]
    assert low[k].shape == high[k].shape and not np.allclose(low[k], high[k])
    conf = {"upstream": "espnet_hubert_local", "path": str(hubert_teacher), "layer": -1}
    check_cache_identity(hubert_cache, conf, [1, -2, 2])   # -2 = layer 1, 2 = the cache's own layer
    with pytest.raises(ConfigError, match="--extra_layers 0"):
        check_cache_identity(hubert_cache, conf, [0])


def test_dump_extra_layers_in_jobs_merged_equal_one_job(speech_corpus, hubert_cache, hubert_teacher, tmp_path):
    from conftest import HUBERT_CONF
    from espnet_plugin.bin import dump_teacher

    out = tmp_path / "par"
    for j in (1, 2):
        dump_teacher.main(["--wav_scp", str(speech_corpus / "wav.scp"), "--output_dir", str(out), *HUBERT_CONF,
                           "--path", str(hubert_teacher), "--extra_layers", "1", "--num_jobs", "2", "--job_index", str(j)])
    dump_teacher.main(["--output_dir", str(out), "--merge", "2"])
    for scp in ("feats.scp", "feats_l1.scp"):
        one, par = dict(kaldiio.load_scp(str(hubert_cache / scp))), dict(kaldiio.load_scp(str(out / scp)))
        assert sorted(one) == sorted(par)
        for k in one:
            np.testing.assert_allclose(par[k], one[k], rtol=1e-5, atol=1e-6)
    assert sorted(p.name for p in out.glob("*.scp")) == ["feats.scp", "feats_l1.scp"]


# ---------------------------------------------------------------- each term gets its layer
class _Record(nn.Module):
    """A term that keeps the teacher features it was given (latent_to_teacher: f_hat = f)."""

    seen: list = []

    def forward(self, g, f, mask=None):
        _Record.seen.append(f.detach().clone())
        return (1 - torch.nn.functional.cosine_similarity(g, f, dim=-1)).mean()


def _hubert_args(config, hubert_teacher, extra=()):
    parser = SpeechVAETask.get_parser()
    return parser.parse_args([
        "--config", str(config), "--encoder_conf", "d_model=4", "--decoder_conf", "dim=32",
        "--decoder_conf", "intermediate_dim=64", "--decoder_conf", "num_layers=1",
        "--discriminator_conf", "periods=[2]", "--discriminator_conf", "mrd_conf={fft_sizes: [256], channels: 4}",
        "--teacher_conf", "upstream=espnet_hubert_local", "--teacher_conf", f"path={hubert_teacher}",
        "--teacher_conf", "layer=-1", "--segment_size", str(SEG), *extra])


@pytest.fixture
def record_terms(hubert_teacher):
    register_term("record_layer", _Record, override=True)
    _Record.seen = []
    yield [{"name": "record_layer", "layer": 1}, {"name": "record_layer"}]   # layer 1, then the configured (2)
    _Record.seen = []


def test_each_term_gets_its_layer_on_the_fly(hubert_teacher, record_terms):
    args = _hubert_args(CPU_CONF / "train_svae_jmas_2layer.yaml", hubert_teacher, ["--distill_conf", "teacher_dim=96"])
    args.distill_conf = dict(args.distill_conf, terms=record_terms, weighting="fixed")
    model = SpeechVAETask.build_model(args)
    audio = torch.randn(2, SEG) * 0.1
    lens = torch.tensor([SEG, SEG - 1600])
    model(audio=audio, audio_lengths=lens, forward_generator=True)
    feats, _ = model.teacher.features(audio, lens, [1, None])
    assert not torch.allclose(feats[1], feats[None])
    low, high = _Record.seen
    torch.testing.assert_close(low, align_time(feats[1], SEG // 400))
    torch.testing.assert_close(high, align_time(feats[None], SEG // 400))


def test_each_term_gets_its_layer_from_the_cache(speech_corpus, hubert_cache, hubert_teacher, record_terms):
    from espnet2.train.collate_fn import CommonCollateFn

    args = _hubert_args(CPU_CONF / "train_svae_jmas_2layer.yaml", hubert_teacher)
    args.train_data_path_and_name_and_type = [(f"{hubert_cache}/feats.scp", "teacher_feats", "kaldi_ark")]
    args.distill_conf = dict(args.distill_conf, terms=record_terms, weighting="fixed")
    model = SpeechVAETask.build_model(args)
    pre = SpeechVAETask.build_preprocess_fn(args, train=True)
    high_all = dict(kaldiio.load_scp(str(hubert_cache / "feats.scp")))
    low_all = dict(kaldiio.load_scp(str(hubert_cache / "feats_l1.scp")))
    items = []
    for utt in ("spka-000", "spkb-001"):
        out = pre(utt, {"audio": _wav(speech_corpus, utt), "teacher_feats": high_all[utt]})
        f0 = int(np.flatnonzero([np.array_equal(high_all[utt][i], out["teacher_feats"][0])
                                 for i in range(len(high_all[utt]))])[0])
        np.testing.assert_array_equal(out["teacher_feats_l1"], low_all[utt][f0:f0 + SEG // HOP])  # same frames
        items.append((utt, out))
    _, batch = CommonCollateFn(float_pad_value=0.0, int_pad_value=0)(items)
    model(**batch, forward_generator=True)
    low, high = _Record.seen
    torch.testing.assert_close(low, align_time(batch["teacher_feats_l1"], SEG // 400))
    torch.testing.assert_close(high, align_time(batch["teacher_feats"], SEG // 400))
    assert not torch.allclose(low, high)


def test_two_layer_config_trains_a_step_on_the_fly(hubert_teacher):
    args = _hubert_args(CPU_CONF / "train_svae_jmas_2layer.yaml", hubert_teacher, ["--distill_conf", "teacher_dim=96"])
    model = SpeechVAETask.build_model(args)
    assert model.distiller.layers == [1, None]
    out = model(audio=torch.randn(2, SEG) * 0.1, audio_lengths=torch.tensor([SEG, SEG]), forward_generator=True)
    assert torch.isfinite(out["stats"]["distill_mdms"]) and torch.isfinite(out["stats"]["distill_mcos"])
    out["loss"].sum().backward()
    assert model.distiller.heads[0].head.weight.grad.abs().sum() > 0
    assert model.generator.encoder.last_layer.weight.grad.abs().sum() > 0
    assert model.teacher.extra_layers == [1]


def test_two_layer_config_refuses_a_single_layer_cache(fbank_cache, hubert_teacher, tmp_path):
    single = tmp_path / "single"
    single.mkdir()
    info = json.loads((fbank_cache / "teacher_info.json").read_text())
    info.update(upstream="espnet_hubert_local", layer=2, num_layers=3,
                checkpoint_fingerprint=check_fingerprint(hubert_teacher))
    (single / "teacher_info.json").write_text(json.dumps(info))
    (single / "feats.scp").write_text("")
    args = _hubert_args(CPU_CONF / "train_svae_jmas_2layer.yaml", hubert_teacher)
    args.train_data_path_and_name_and_type = [(str(single / "feats.scp"), "teacher_feats", "kaldi_ark")]
    with pytest.raises(ConfigError, match="not layer 1.*--extra_layers 1"):
        SpeechVAETask.build_model(args)
    with pytest.raises(ConfigError, match="not layer 1"):
        SpeechVAETask.build_preprocess_fn(args, train=True)


def check_fingerprint(path):
    from espnet_plugin.distill.teacher import _file_fingerprint

    return _file_fingerprint(str(path))
