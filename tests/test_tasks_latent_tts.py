"""LatentTTSTask: ESPnet collect-stats + training run, config round trip, inference; the EMA."""
import argparse
import math

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from torch import nn

from espnet_plugin.errors import ConfigError, DataError
from espnet_plugin.tts.duration import estimate_duration
from espnet_plugin.tts.ema import EMA
from espnet_plugin.tts.text import token_list_from_text

D, HOP, FS = 8, 400, 16000


class StubVAE(nn.Module):
    """Stand-in for ``load_svae``: orthonormal linear frame encoder/decoder, hop 400, D = 8."""

    fs, hop_length, latent_dim = FS, HOP, D

    def __init__(self):
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(HOP, D, generator=torch.Generator().manual_seed(0)))
        self.register_buffer("w", q)

    def encode(self, wav, lengths=None):
        b, n = wav.shape
        t = math.ceil(n / HOP)
        frames = nn.functional.pad(wav, (0, t * HOP - n)).view(b, t, HOP)
        z_len = torch.full((b,), t) if lengths is None else (lengths + HOP - 1) // HOP
        return frames @ self.w * 10.0, z_len

    def decode(self, z):
        return (z / 10.0 @ self.w.T).reshape(z.size(0), -1)


# ---------------------------------------------------------------- EMA
def test_ema_hand_values():
    lin = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(lin.weight)
    ema = EMA(lin, decay=0.5, warmup=False)
    assert not any(p.requires_grad for p in ema.parameters())
    with torch.no_grad():
        lin.weight.fill_(1.0)
    ema.update(lin)
    assert ema.module.weight.item() == pytest.approx(0.5)
    ema.update(lin)
    assert ema.module.weight.item() == pytest.approx(0.75)
    warm = EMA(nn.Linear(1, 1, bias=False).requires_grad_(False), decay=0.9999, warmup=True)
    nn.init.zeros_(warm.module.weight)
    warm.update(lin)  # first decay = min(0.9999, 1/10)
    assert warm.module.weight.item() == pytest.approx(0.9)
    every = EMA(lin, decay=0.5, warmup=False, update_every=2)
    nn.init.zeros_(every.module.weight)
    every.update(lin)
    assert every.module.weight.item() == 0.0
    every.update(lin)
    assert every.module.weight.item() == pytest.approx(0.5)
    with pytest.raises(ConfigError):
        EMA(lin, decay=1.0)


def test_ema_is_torch_averaged_model_copies_buffers_and_loads_old_checkpoints():
    from torch.optim.swa_utils import AveragedModel

    live = nn.BatchNorm1d(2)  # weight/bias are averaged, running stats are buffers (copied)
    ema = EMA(live, decay=0.5, warmup=False)
    assert isinstance(ema, AveragedModel) and int(ema.num_updates) == 0
    with torch.no_grad():
        live.weight.fill_(3.0)  # shadow weight 1 -> 0.5 * 1 + 0.5 * 3
        live.running_mean.fill_(4.0)
    ema.update(live)
    torch.testing.assert_close(ema.module.weight, torch.full((2,), 2.0))
    torch.testing.assert_close(ema.module.running_mean, torch.full((2,), 4.0))  # copied, not 2.0
    assert int(ema.num_updates) == 1 and int(ema.state_dict()["n_averaged"]) == 2
    # a checkpoint written before the EMA was an AveragedModel: "<prefix>num_updates" = n
    old = {"ema." + k: v for k, v in ema.state_dict().items() if k != "n_averaged"}
    old["ema.num_updates"] = torch.tensor(7)
    holder = nn.Module()
    holder.ema = EMA(nn.BatchNorm1d(2), decay=0.5, warmup=False)
    holder.load_state_dict(old)  # strict: no missing / unexpected key
    assert int(holder.ema.num_updates) == 7
    torch.testing.assert_close(holder.ema.module.weight, ema.module.weight)


# ---------------------------------------------------------------- ESPnet micro run
CONF = dict(
    dit_conf=dict(dim=32, depth=2, heads=2, dim_head=16, text_dim=16, conv_layers=1, latent_dim=D, dropout=0.0),
    cfm_conf=dict(audio_drop_prob=0.3, cond_drop_prob=0.2),
    model_conf=dict(ema_decay=0.99),
    token_type="char",
    best_model_criterion=[["valid", "loss", "min"]],
    keep_nbest_models=1,
    num_att_plot=0,
    optim="adamw",
    optim_conf=dict(lr=1e-3),
    batch_type="sorted",
    batch_size=2,
    ngpu=0,
    num_workers=0,
    seed=0,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import kaldiio

    from espnet_plugin.bin.latent_tts_train import main

    d = tmp_path_factory.mktemp("latent_tts")
    rng = np.random.default_rng(0)
    feats = {}
    with kaldiio.WriteHelper(f"ark,scp:{d}/feats.ark,{d}/feats.scp") as w, open(d / "text", "w") as ft:
        for i in range(6):
            feats[f"u{i}"] = (rng.standard_normal((int(rng.integers(30, 60)), D)) * 2 + 1).astype(np.float32)
            w[f"u{i}"] = feats[f"u{i}"]
            ft.write(f"u{i} " + "".join(rng.choice(list("abcde "), 12)).strip() + "\n")
    token_list_from_text(d / "text", d / "tokens.txt")  # as the recipe writes it
    conf = dict(CONF, token_list=str(d / "tokens.txt"))
    (d / "conf.yaml").write_text(yaml.safe_dump(conf))
    data = []
    for split in ("train", "valid"):
        data += [f"--{split}_data_path_and_name_and_type", f"{d}/feats.scp,feats,kaldi_ark",
                 f"--{split}_data_path_and_name_and_type", f"{d}/text,text,text"]
    main(["--config", str(d / "conf.yaml"), "--collect_stats", "true", "--output_dir", str(d / "stats")] + data)
    main(["--config", str(d / "conf.yaml"), "--output_dir", str(d / "exp"), "--max_epoch", "1",
          "--normalize", "global_mvn", "--normalize_conf", f"stats_file={d}/stats/train/feats_stats.npz",
          "--train_shape_file", f"{d}/stats/train/feats_shape",
          "--valid_shape_file", f"{d}/stats/valid/feats_shape"] + data)
    return d, feats


def test_collect_stats_writes_feature_statistics(trained):
    d, feats = trained
    st = np.load(d / "stats" / "train" / "feats_stats.npz")
    allf = np.concatenate(list(feats.values()))
    assert int(st["count"]) == len(allf)
    np.testing.assert_allclose(st["sum"], allf.sum(0), rtol=1e-4)
    np.testing.assert_allclose(st["sum_square"], (allf.astype(np.float64) ** 2).sum(0), rtol=1e-4)
    shapes = dict(line.split() for line in (d / "stats" / "train" / "feats_shape").read_text().splitlines())
    assert shapes["u0"] == f"{len(feats['u0'])},{D}"


def test_training_outputs_and_config_round_trip(trained):
    from espnet_plugin.tasks.latent_tts import LatentTTSTask

    d, _ = trained
    exp = d / "exp"
    assert (exp / "1epoch.pth").is_file() and (exp / "valid.loss.best.pth").exists()
    cfg = yaml.safe_load((exp / "config.yaml").read_text())
    assert isinstance(cfg["token_list"], list) and cfg["dit_conf"]["latent_dim"] == D
    state = torch.load(exp / "1epoch.pth", map_location="cpu")
    assert any(k.startswith("ema.module.") for k in state) and "normalize.mean" in state
    # EMA moved away from the live weights during training (3 updates at decay 0.99 with warm-up)
    k = "cfm.transformer.input_proj.weight"
    assert not torch.equal(state[k], state["ema.module.transformer.input_proj.weight"])
    model, _ = LatentTTSTask.build_model_from_file(exp / "config.yaml", exp / "1epoch.pth")
    for name, v in model.state_dict().items():
        assert torch.equal(v, state[name]), name
    model2, _ = LatentTTSTask.load_model(exp / "config.yaml", exp / "1epoch.pth")
    assert model2.ema is not None and model2.inference_cfm() is model2.ema.module
    # validation losses are seeded (comparable across epochs); the EMA moves only in training forwards
    batch = dict(feats=torch.randn(2, 9, D), feats_lengths=torch.tensor([9, 6]),
                 text=torch.tensor([[3, 4, 5], [4, 4, -1]]), text_lengths=torch.tensor([3, 2]))
    n0 = int(model2.ema.num_updates)
    with torch.no_grad():
        l1, stats, w = model2(**batch)
        l2, _, _ = model2(**batch)
    assert torch.equal(l1, l2) and int(w) == 2 and set(stats) == {"loss", "span_frac"}
    assert int(model2.ema.num_updates) == n0
    model2.train()
    model2(**batch)[0].backward()
    assert int(model2.ema.num_updates) == n0 + 1
    assert model2.ema.module.training is False
    model2.eval()
    # normaliser inverse undoes the normaliser
    x = torch.randn(2, 5, D)
    n = torch.tensor([5, 3])
    back = model2.denormalize_feats(model2.normalize_feats(x, n), n)
    assert torch.allclose(back[0], x[0], atol=1e-4) and torch.allclose(back[1, :3], x[1, :3], atol=1e-4)


def test_validation_loss_is_the_ema_weights_loss(trained):
    # best_model_criterion (valid loss) must rank the weights inference samples with: the EMA's
    from espnet_plugin.tasks.latent_tts import LatentTTSTask
    from espnet_plugin.tts.text import FILLER_ID

    d, _ = trained
    model, _ = LatentTTSTask.load_model(d / "exp" / "config.yaml", d / "exp" / "1epoch.pth")
    batch = dict(feats=torch.randn(2, 12, D, generator=torch.Generator().manual_seed(5)),
                 feats_lengths=torch.tensor([12, 9]), text=torch.tensor([[3, 4, 5], [4, 4, -1]]),
                 text_lengths=torch.tensor([3, 2]))
    x1 = model.normalize_feats(batch["feats"], batch["feats_lengths"])
    text = batch["text"].masked_fill(batch["text"] < 0, FILLER_ID)

    def loss_of(cfm):
        gen = torch.Generator().manual_seed(model.valid_seed)
        return cfm(x1, batch["feats_lengths"], text, generator=gen)[0]

    model.eval()
    with torch.no_grad():
        valid, _, _ = model(**batch)
        ema_loss, live_loss = loss_of(model.ema.module), loss_of(model.cfm)
    assert not torch.allclose(ema_loss, live_loss)  # the two weight sets differ after training
    assert torch.allclose(valid, ema_loss) and not torch.allclose(valid, live_loss)
    model.ema = None  # no EMA copy (an EMA-only checkpoint): validate the live (= sampled) weights
    with torch.no_grad():
        assert torch.allclose(model(**batch)[0], live_loss)


def test_ema_only_checkpoint(trained, tmp_path):
    from espnet_plugin.tasks.latent_tts import LatentTTSTask, ema_only_state_dict

    d, _ = trained
    state = torch.load(d / "exp" / "1epoch.pth", map_location="cpu")
    small = ema_only_state_dict(state)
    assert not any(k.startswith("ema.") for k in small)
    torch.save(small, tmp_path / "ema.pth")
    model, _ = LatentTTSTask.load_model(d / "exp" / "config.yaml", tmp_path / "ema.pth")
    assert model.ema is None
    assert torch.equal(model.cfm.transformer.proj_out.weight, state["ema.module.transformer.proj_out.weight"])


def test_config_errors(trained, tmp_path):
    from espnet_plugin.tasks.latent_tts import LatentTTSTask

    d, _ = trained
    cfg = yaml.safe_load((d / "exp" / "config.yaml").read_text())
    bad = dict(cfg, normalize_conf={"stats_file": str(tmp_path / "none.npz")})
    with pytest.raises(ConfigError, match="collect_stats"):
        LatentTTSTask.build_model(argparse.Namespace(**bad))
    with pytest.raises(ConfigError, match="dit_conf"):
        LatentTTSTask.build_model(argparse.Namespace(**dict(cfg, dit_conf={"nonsense": 1})))
    with pytest.raises(ConfigError, match="text_num_embeds"):
        LatentTTSTask.build_model(argparse.Namespace(**dict(cfg, dit_conf={"text_num_embeds": 3})))
    torch.save({"foo": torch.zeros(1)}, tmp_path / "wrong.pth")
    with pytest.raises(ConfigError, match="does not match"):
        LatentTTSTask.load_model(d / "exp" / "config.yaml", tmp_path / "wrong.pth")


def test_ema_update_every_defaults_to_accum_grad(trained):
    from espnet_plugin.tasks.latent_tts import LatentTTSTask

    d, _ = trained
    cfg = yaml.safe_load((d / "exp" / "config.yaml").read_text())
    assert "ema_update_every" not in LatentTTSTask.get_parser().get_default("model_conf")
    assert "ema_update_every" not in cfg["model_conf"]
    model = LatentTTSTask.build_model(argparse.Namespace(**dict(cfg, accum_grad=3)))
    assert model.ema.update_every == 3  # one EMA update per optimiser step
    conf = dict(cfg, accum_grad=3, model_conf=dict(cfg["model_conf"], ema_update_every=2))
    assert LatentTTSTask.build_model(argparse.Namespace(**conf)).ema.update_every == 2  # the config wins
    assert LatentTTSTask.build_model(argparse.Namespace(**dict(cfg, accum_grad=1))).ema.update_every == 1


def test_token_list_read_as_the_preprocessor_reads_it(trained, tmp_path):
    from espnet2.train.preprocessor import CommonPreprocessor

    from espnet_plugin.tasks.latent_tts import LatentTTSTask

    d, _ = trained
    cfg = yaml.safe_load((d / "exp" / "config.yaml").read_text())
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("<blank>\n<unk>\n \na\nb\n<sos/eos>\n")  # a whitespace-only line is a token for ESPnet
    args = argparse.Namespace(**dict(cfg, token_list=str(tokens)))
    model = LatentTTSTask.build_model(args)
    pre = CommonPreprocessor(train=False, token_type="char", token_list=str(tokens))
    vocab = pre.token_id_converter.get_num_vocabulary_size()
    assert vocab == 6 and args.token_list == pre.token_id_converter.token_list
    assert model.cfm.transformer.text_embed.num_embeds == vocab
    for bad, why in (("<blank>\na\nb\n", "<unk>"), ("<blank>\n<unk>\na\na\n", "duplicated")):
        tokens.write_text(bad)
        with pytest.raises(ConfigError, match=f"{tokens}.*{why}"):
            LatentTTSTask.build_model(argparse.Namespace(**dict(cfg, token_list=str(tokens))))


def test_inference_writes_wavs_latents_and_follows_duration_rule(trained, tmp_path):
    import kaldiio

    from espnet_plugin.bin.latent_tts_inference import inference

    d, _ = trained
    rng = np.random.default_rng(1)
    rows = []
    for i, (n, ptxt, ttxt) in enumerate([(16000, "abc de", "ab ab cd"), (12345, "ea", "abcde abcde")]):
        sf.write(tmp_path / f"p{i}.wav", (0.1 * rng.standard_normal(n)).astype(np.float32), FS)
        rows.append(f"g{i}\tp{i}.wav\t{ptxt}\t{ttxt}\n")  # relative to the list's directory
    (tmp_path / "list.tsv").write_text("".join(rows))
    kw = dict(vae=StubVAE(), nfe=4, batch_size=2, seed=0)
    res = inference(tmp_path / "list.tsv", tmp_path / "out", d / "exp" / "config.yaml", d / "exp" / "1epoch.pth", **kw)
    assert res["num_utts"] == 2 and res["rtf"] > 0
    lat = dict(kaldiio.load_scp(str(tmp_path / "out" / "latents.scp")))
    for i, (n, ptxt, ttxt) in enumerate([(16000, "abc de", "ab ab cd"), (12345, "ea", "abcde abcde")]):
        ref = math.ceil(n / HOP)
        gen = estimate_duration(ref, ptxt, ttxt) - ref
        assert lat[f"g{i}"].shape == (gen, D)
        wav, fs = sf.read(tmp_path / "out" / "wav" / f"g{i}.wav")
        assert fs == FS and len(wav) == gen * HOP
    assert (tmp_path / "out" / "durations").read_text().split("\n")[0] == f"g0 40 {estimate_duration(40, 'abc de', 'ab ab cd') - 40}"
    # seeded: same outputs again, batch size 1 gives the same latents
    inference(tmp_path / "list.tsv", tmp_path / "out2", d / "exp" / "config.yaml", d / "exp" / "1epoch.pth",
              **dict(kw, batch_size=1))
    lat2 = dict(kaldiio.load_scp(str(tmp_path / "out2" / "latents.scp")))
    for k in lat:
        np.testing.assert_allclose(lat[k], lat2[k], atol=1e-4)
    (tmp_path / "bad.tsv").write_text("x\tmissing.wav\tab\tcd\n")
    with pytest.raises(DataError):
        inference(tmp_path / "bad.tsv", tmp_path / "out3", d / "exp" / "config.yaml", d / "exp" / "1epoch.pth", **kw)


def test_inference_noise_is_seeded_per_utterance(trained, tmp_path):
    # identical inputs under two ids get different noise; an utterance's output does not depend
    # on the batch it is in or the list order; the same (seed, utt) gives the same output
    import kaldiio

    from espnet_plugin.bin.latent_tts_inference import inference
    from espnet_plugin.tts.synthesizer import LatentTTS

    d, _ = trained
    rng = np.random.default_rng(2)
    sf.write(tmp_path / "p.wav", (0.1 * rng.standard_normal(8000)).astype(np.float32), FS)
    sf.write(tmp_path / "q.wav", (0.1 * rng.standard_normal(6000)).astype(np.float32), FS)
    rows = {"a": "p.wav\tab cd\tde ab", "b": "p.wav\tab cd\tde ab", "c": "q.wav\tea\tabcde"}
    (tmp_path / "fwd.tsv").write_text("".join(f"{k}\t{v}\n" for k, v in rows.items()))
    (tmp_path / "rev.tsv").write_text("".join(f"{k}\t{v}\n" for k, v in reversed(rows.items())))
    model = (d / "exp" / "config.yaml", d / "exp" / "1epoch.pth")
    lat = {}
    for name, lst, bs in (("fwd3", "fwd.tsv", 3), ("rev2", "rev.tsv", 2), ("fwd1", "fwd.tsv", 1), ("again", "fwd.tsv", 3)):
        inference(tmp_path / lst, tmp_path / name, *model, vae=StubVAE(), nfe=4, batch_size=bs, seed=7)
        lat[name] = dict(kaldiio.load_scp(str(tmp_path / name / "latents.scp")))
    assert lat["fwd3"]["a"].shape == lat["fwd3"]["b"].shape
    assert not np.allclose(lat["fwd3"]["a"], lat["fwd3"]["b"], atol=1e-3)
    for k in rows:
        np.testing.assert_array_equal(lat["again"][k], lat["fwd3"][k])
        for other in ("rev2", "fwd1"):
            np.testing.assert_allclose(lat[other][k], lat["fwd3"][k], atol=1e-4)
    tts = LatentTTS(*model, vae=StubVAE())
    wav = np.zeros(4000, np.float32)
    with pytest.raises(ConfigError, match="utt_ids"):
        tts.synthesize([wav, wav], ["ab", "ab"], ["cd", "cd"], nfe=2, seed=0)


def test_two_gloo_ranks_train_the_latent_tts_in_sync(trained, tmp_path):
    # ESPnet's launcher path with two processes: the EMA (updated inside forward) and the
    # normaliser must not make the ranks drift apart
    import json
    import subprocess
    import sys

    d, _ = trained
    data = []
    for split in ("train", "valid"):
        data += [f"--{split}_data_path_and_name_and_type", f"{d}/feats.scp,feats,kaldi_ark",
                 f"--{split}_data_path_and_name_and_type", f"{d}/text,text,text"]
    procs = []
    for rank in range(2):
        cmd = [sys.executable, "-m", "espnet_plugin.bin.latent_tts_train", "--config", str(d / "conf.yaml"),
               "--output_dir", str(tmp_path / "exp"), "--max_epoch", "1", "--num_iters_per_epoch", "2",
               "--normalize", "global_mvn", "--normalize_conf", f"stats_file={d}/stats/train/feats_stats.npz",
               "--train_shape_file", f"{d}/stats/train/feats_shape",
               "--valid_shape_file", f"{d}/stats/valid/feats_shape",
               "--multiprocessing_distributed", "false", "--dist_backend", "gloo", "--dist_world_size", "2",
               "--dist_rank", str(rank), "--dist_init_method", f"file://{tmp_path / 'dist_init'}", *data]
        procs.append(subprocess.Popen(cmd, stdout=open(tmp_path / f"rank{rank}.log", "w"),
                                      stderr=subprocess.STDOUT))
    for rank, p in enumerate(procs):
        try:
            assert p.wait(timeout=300) == 0, (tmp_path / f"rank{rank}.log").read_text()[-3000:]
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail("DDP ranks of the latent TTS deadlocked")
    sync = json.loads((tmp_path / "exp" / "ddp_sync.json").read_text())
    assert sync == {**sync, "in_sync": True, "world_size": 2}
    state = torch.load(tmp_path / "exp" / "1epoch.pth", map_location="cpu")
    assert any(k.startswith("ema.module.") for k in state)
