"""SpeechVAETask through ESPnet: a GAN step for every config, config round trip, teacher handling."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch
import yaml

from conftest import CPU_CONF, FULL_CONF, svae_train_cmd
from espnet_plugin.errors import ConfigError
from espnet_plugin.tasks.speech_vae import SpeechVAETask
from espnet_plugin.vae.choices import encoder_hop_length

CPU_CONFIGS = sorted(CPU_CONF.glob("train_*.yaml"))
GPU_CONFIGS = sorted(FULL_CONF["tuning"].glob("train_*.yaml"))


def _terms(cfg: Path) -> int:
    return len((yaml.safe_load(cfg.read_text()).get("distill_conf") or {}).get("terms") or [])


def _named_layers(cfg: Path) -> bool:
    return any("layer" in t for t in (yaml.safe_load(cfg.read_text()).get("distill_conf") or {}).get("terms") or [])


@pytest.mark.parametrize("config", CPU_CONFIGS, ids=lambda p: p.stem)
def test_one_gan_step_per_cpu_config(config, speech_corpus, fbank_cache, request, tmp_path):
    """ESPnet's GANTrainer runs both optimizers; config.yaml rebuilds the same model.

    Configs whose terms name teacher layers train from the two-layer tiny-HuBERT cache (fbank has one layer).
    """
    from espnet_plugin.bin import svae_train

    out = tmp_path / config.stem
    cache, teacher = (fbank_cache if _terms(config) else None), ("upstream=fbank", "layer=0")
    if _named_layers(config):
        cache = request.getfixturevalue("hubert_cache")
        teacher = ("upstream=espnet_hubert_local", f"path={request.getfixturevalue('hubert_teacher')}", "layer=-1")
    svae_train.main(svae_train_cmd(config, speech_corpus, out, cache, teacher=teacher))
    log = (out / "config.yaml").read_text()
    assert "distill_conf" in log
    ckpt = torch.load(out / "checkpoint.pth", map_location="cpu", weights_only=False)
    assert len(ckpt["optimizers"]) == 2  # generator and discriminator
    # the trainer reported the alignment terms and their lambdas
    stats = ckpt["reporter"]["stats"][1]["train"]
    for t in (yaml.safe_load(config.read_text())["distill_conf"]["terms"] or []):
        assert f"distill_{t['name']}" in stats and f"lambda_{t['name']}" in stats
    model, args = SpeechVAETask.build_model_from_file(out / "config.yaml", out / "1epoch.pth")
    state = torch.load(out / "1epoch.pth", map_location="cpu", weights_only=True)
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k


@pytest.mark.parametrize("config", GPU_CONFIGS, ids=lambda p: p.stem)
def test_paper_configs_parse_and_build(config):
    """The GPU (paper-size) configs parse with ESPnet's parser and build the paper's modules."""
    parser = SpeechVAETask.get_parser()
    args = parser.parse_args(["--config", str(config), "--distill_conf", "teacher_dim=1024"]
                             if _terms(config) else ["--config", str(config)])
    gen = SpeechVAETask.build_generator(args)
    assert gen.hop_length == 400 and gen.frame_rate == 40.0
    assert encoder_hop_length(args) == gen.hop_length  # the preprocessor's hop, without building the model
    assert SpeechVAETask.build_preprocess_fn(args, train=True).segment_size % 1600 == 0  # latent + teacher hops
    if args.encoder == "dac":
        assert gen.latent_dim == 64 and gen.encoder.last_layer.out_channels == 128
    if _terms(config):
        model = SpeechVAETask.build_model(args)
        assert model.distiller is not None and model.distiller.teacher_dim == 1024


@pytest.mark.parametrize("folder", ["tuning", "cpu", "evidence"])
def test_semantic_vae_baseline_is_the_reference_setting(folder):
    """Semantic-VAE: T-axis cosine through a teacher -> latent conv head, fixed weight 1.0,
    KL 0.01, mel loss x15 (the other losses as in the shared base)."""
    config = FULL_CONF[folder] / "train_svae_semantic.yaml"
    args = _tiny_args(config) if folder != "tuning" else SpeechVAETask.get_parser().parse_args(
        ["--config", str(config), "--distill_conf", "teacher_dim=1024"])
    model = SpeechVAETask.build_model(args)
    d = model.distiller
    assert [type(t).__name__ for t in d.terms] == ["TAxisCosine"] and d.weights == [1.0]
    (head,) = d.heads
    assert head.direction == "teacher_to_latent" and head.head_kind == "conv"
    conv = head.head.net[0]
    assert isinstance(conv, torch.nn.Conv1d) and conv.in_channels == d.teacher_dim and conv.kernel_size == (3,)
    assert head.aligned_dim == 64 and type(d.weighting).__name__ == "FixedWeighting" and d.w_ssl == 1.0
    assert model.lambda_kl == 0.01 and model.lambda_mel == 15.0 and model.mel_loss is not None
    assert model.lambda_stft == 1.0  # the base's MR-STFT, adversarial and FM losses stay
    base = SpeechVAETask.build_model(_tiny_args(CPU_CONF / "train_svae_vanilla.yaml"))
    assert (base.lambda_kl, base.lambda_mel, base.mel_loss) == (0.001, 0.0, None)


def _tiny_args(config: Path, **over) -> argparse.Namespace:
    parser = SpeechVAETask.get_parser()
    cmd = ["--config", str(config), "--decoder_conf", "dim=32",
           "--decoder_conf", "intermediate_dim=64", "--decoder_conf", "num_layers=1",
           "--discriminator_conf", "periods=[2]", "--discriminator_conf", "mrd_conf={fft_sizes: [256], channels: 4}",
           "--teacher_conf", "upstream=fbank", "--teacher_conf", "layer=0", "--distill_conf", "teacher_dim=240"]
    if "encoder: dac" in config.read_text():
        cmd += ["--encoder_conf", "d_model=4"]
    args = parser.parse_args(cmd)
    for k, v in over.items():
        setattr(args, k, v)
    return args


def test_alignment_gradients_reach_encoder_and_head_never_teacher():
    args = _tiny_args(CPU_CONF / "train_svae_jmas.yaml")
    model = SpeechVAETask.build_model(args)
    model.train()
    audio = torch.randn(2, 8000) * 0.1
    out = model(audio=audio, audio_lengths=torch.tensor([8000, 6000]), forward_generator=True)
    teacher = model.teacher
    assert teacher is not None and not teacher.training  # frozen teacher stays in eval mode
    model.train()
    assert not teacher.training
    assert "teacher" not in " ".join(model.state_dict())  # never checkpointed
    d_loss = out["stats"]["distill_total"]
    assert torch.isfinite(d_loss)
    # gradient of the alignment part alone
    model.zero_grad()
    z_grad_src = model.distiller(
        model.generator(audio.unsqueeze(1))[1].transpose(1, 2), teacher(audio)[0], torch.ones(2, 20, dtype=torch.bool)
    )[0]
    z_grad_src.backward()
    assert model.generator.encoder.last_layer.weight.grad.abs().sum() > 0
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.distiller.parameters())
    assert all(p.grad is None for p in teacher.parameters())
    assert all(not p.requires_grad for p in teacher.parameters())


def test_teacher_params_not_in_optimizers():
    args = _tiny_args(CPU_CONF / "train_svae_jmas.yaml", optim_conf={"lr": 1e-3}, optim2_conf={"lr": 1e-3},
                      optim="adam", optim2="adam")
    model = SpeechVAETask.build_model(args)
    opt_g, opt_d = SpeechVAETask.build_optimizers(args, model)
    g_ids = {id(p) for g in opt_g.param_groups for p in g["params"]}
    d_ids = {id(p) for g in opt_d.param_groups for p in g["params"]}
    assert not g_ids & d_ids
    assert {id(p) for p in model.distiller.parameters()} <= g_ids  # the projection head is trained
    assert {id(p) for p in model.discriminator.parameters()} == d_ids


def test_stale_teacher_cache_is_refused(fbank_cache, tmp_path):
    stale = tmp_path / "stale"
    stale.mkdir()
    info = json.loads((fbank_cache / "teacher_info.json").read_text())
    info["upstream"] = "mfcc"
    (stale / "teacher_info.json").write_text(json.dumps(info))
    args = _tiny_args(CPU_CONF / "train_svae_tas.yaml")
    args.train_data_path_and_name_and_type = [(str(stale / "feats.scp"), "teacher_feats", "kaldi_ark")]
    with pytest.raises(ConfigError, match="stale teacher cache"):
        SpeechVAETask.build_model(args)
    args.train_data_path_and_name_and_type = [(str(fbank_cache / "feats.scp"), "teacher_feats", "kaldi_ark")]
    assert SpeechVAETask.build_model(args).distiller.teacher_dim == 240


def test_mel_encoder_needs_deterministic_bottleneck():
    args = _tiny_args(CPU_CONF / "train_svae_mel_vocoder.yaml", bottleneck="gaussian")
    with pytest.raises(ConfigError, match="deterministic"):
        SpeechVAETask.build_model(args)
    args = _tiny_args(CPU_CONF / "train_svae_mel_vocoder.yaml")
    model = SpeechVAETask.build_model(args)
    assert model.distiller is None and sum(p.numel() for p in model.generator.encoder.parameters()) == 0


def test_third_party_term_selectable_by_name_in_config(tmp_path, monkeypatch):
    """A term from a throwaway package's entry point works from a config with no change here."""
    pkg = tmp_path / "site"
    (pkg / "myterm").mkdir(parents=True)
    (pkg / "myterm" / "__init__.py").write_text(
        "import torch\n"
        "class L2Term(torch.nn.Module):\n"
        "    def forward(self, g, f, mask):\n"
        "        m = mask.unsqueeze(-1).float()\n"
        "        return (((g - f) ** 2) * m).sum() / (m.sum() * g.size(-1))\n"
    )
    dist = pkg / "myterm-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: myterm\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[espnet_plugin.distill_losses]\nl2_third_party = myterm:L2Term\n")
    monkeypatch.syspath_prepend(str(pkg))
    args = _tiny_args(CPU_CONF / "train_svae_vanilla.yaml")
    args.distill_conf = {"terms": [{"name": "l2_third_party"}], "teacher_dim": 240}
    model = SpeechVAETask.build_model(args)
    out = model(audio=torch.randn(2, 8000) * 0.1, forward_generator=True)
    assert "distill_l2_third_party" in out["stats"] and torch.isfinite(out["loss"])


def test_preprocessor_crops_audio_and_teacher_frames_in_step():
    import numpy as np

    from espnet_plugin.vae.preprocess import SpeechVAEPreprocessor

    pre = SpeechVAEPreprocessor(train=True, segment_size=4000, hop_length=400, teacher_hop=160)
    n = 16000
    audio = np.arange(n, dtype=np.float32) / n
    feats = np.arange(n // 160, dtype=np.float32)[:, None].repeat(3, 1)
    np.random.seed(3)
    for _ in range(5):
        out = pre("u1", {"audio": audio, "teacher_feats": feats})
        start = int(round(out["audio"][0] * n))
        assert start % pre.align == 0 and len(out["audio"]) == 4000
        assert out["teacher_feats"][0, 0] == start // 160 and len(out["teacher_feats"]) == 4000 // 160


@pytest.mark.parametrize(
    "config,encoder_over,decoder_hop,hop",
    [
        ("train_svae_vanilla.yaml", {}, 400, 400),
        ("train_svae_vanilla.yaml", {"strides": [2, 5, 4]}, 40, 40),
        ("train_svae_mel_vocoder.yaml", {}, 400, 400),
        ("train_svae_mel_vocoder.yaml", {"hop_length": 160}, 160, 160),
    ],
)
def test_hop_length_from_the_encoder_config_matches_the_built_model(config, encoder_over, decoder_hop, hop):
    args = _tiny_args(CPU_CONF / config)
    args.encoder_conf = {**(args.encoder_conf or {}), **encoder_over}
    args.decoder_conf = {**args.decoder_conf, "hop_length": decoder_hop}
    assert encoder_hop_length(args) == SpeechVAETask.build_generator(args).hop_length == hop
    assert SpeechVAETask.build_preprocess_fn(args, train=True).hop_length == hop


def test_build_model_from_file_refuses_mismatched_checkpoints(tmp_path):
    from espnet2.utils.yaml_no_alias_safe_dump import yaml_no_alias_safe_dump

    args = _tiny_args(CPU_CONF / "train_svae_vanilla.yaml")
    (tmp_path / "config.yaml").write_text(yaml_no_alias_safe_dump(vars(args), indent=4, sort_keys=False))
    torch.manual_seed(0)
    state = SpeechVAETask.build_model(args).state_dict()
    torch.save(state, tmp_path / "1epoch.pth")
    model, _ = SpeechVAETask.build_model_from_file(tmp_path / "config.yaml", tmp_path / "1epoch.pth")
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    torch.save({**state, "discriminator.extra": torch.zeros(1)}, tmp_path / "extra.pth")
    with pytest.raises(ConfigError, match=r"extra\.pth.*unexpected \['discriminator\.extra'\]"):
        SpeechVAETask.build_model_from_file(tmp_path / "config.yaml", tmp_path / "extra.pth")
    torch.save({k: v for k, v in state.items() if k != "nonfinite_steps"}, tmp_path / "missing.pth")
    with pytest.raises(ConfigError, match=r"missing\.pth.*missing \['nonfinite_steps'\]"):
        SpeechVAETask.build_model_from_file(tmp_path / "config.yaml", tmp_path / "missing.pth")
    # a packed generator-only model.pth is not a whole-model checkpoint
    torch.save(SpeechVAETask.build_generator(args).state_dict(), tmp_path / "model.pth")
    with pytest.raises(ConfigError, match=r"model\.pth"):
        SpeechVAETask.build_model_from_file(tmp_path / "config.yaml", tmp_path / "model.pth")


def test_reconstruction_warmup_then_gan(speech_corpus, tmp_path):
    """adv_start_step: the discriminator stays untouched through the warm-up, trains after it, and
    the step count is checkpointed (a resumed run continues the count)."""
    from espnet_plugin.bin import svae_train

    cfg = CPU_CONF / "train_svae_vanilla.yaml"
    out = tmp_path / "warm"
    # TINY_OVERRIDES: 2 iterations per epoch; warm-up over the first 4 generator steps (2 epochs)
    keep = ["--keep_nbest_models", "5"]
    svae_train.main(svae_train_cmd(cfg, speech_corpus, out, extra=["--model_conf", "adv_start_step=4",
                                                                   "--max_epoch", "2", *keep]))
    init = torch.load(out / "1epoch.pth", map_location="cpu", weights_only=True)
    assert int(init["gen_step"]) == 2
    s2 = torch.load(out / "2epoch.pth", map_location="cpu", weights_only=True)
    assert int(s2["gen_step"]) == 4
    disc = [k for k in s2 if k.startswith("discriminator.")]
    gen = [k for k in s2 if k.startswith("generator.") and s2[k].is_floating_point()]
    assert disc and all(torch.equal(s2[k], init[k]) for k in disc)        # not moved in the warm-up
    assert any(not torch.equal(s2[k], init[k]) for k in gen)
    ckpt = torch.load(out / "checkpoint.pth", map_location="cpu", weights_only=False)
    assert "adv_loss" not in ckpt["reporter"]["stats"][2]["train"]
    # resume for a third epoch: past the warm-up, the GAN turns run and the discriminator learns
    svae_train.main(svae_train_cmd(cfg, speech_corpus, out, extra=["--model_conf", "adv_start_step=4",
                                                                   "--max_epoch", "3", "--resume", "true", *keep]))
    s3 = torch.load(out / "3epoch.pth", map_location="cpu", weights_only=True)
    assert int(s3["gen_step"]) == 6
    assert any(not torch.equal(s3[k], s2[k]) for k in disc)
    ckpt = torch.load(out / "checkpoint.pth", map_location="cpu", weights_only=False)
    assert "adv_loss" in ckpt["reporter"]["stats"][3]["train"]
