"""Generator EMA of the speech VAE: the recursion, kept out of the optimizers, checkpointed and
resumed through ESPnet, used by the valid pass and by every loader; old checkpoints still load."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from conftest import CPU_CONF, svae_train_cmd
from espnet_plugin.tasks.speech_vae import SpeechVAETask

CONF = CPU_CONF / "train_svae_vanilla.yaml"
TINY = ["--encoder_conf", "d_model=4", "--decoder_conf", "dim=32", "--decoder_conf", "intermediate_dim=64",
        "--decoder_conf", "num_layers=1", "--discriminator_conf", "periods=[2]",
        "--discriminator_conf", "mrd_conf={fft_sizes: [256], channels: 4}",
        "--model_conf", "stft_loss_conf={fft_sizes: [512, 128, 32], perceptual_weighting: true}"]


def _args(*extra: str):
    return SpeechVAETask.get_parser().parse_args(["--config", str(CONF), *TINY, *extra])


def _ema_state(state: dict) -> dict:
    return {k[len("generator_ema.module."):]: v for k, v in state.items() if k.startswith("generator_ema.module.")}


def _gen_state(state: dict) -> dict:
    return {k[len("generator."):]: v for k, v in state.items() if k.startswith("generator.")}


def _batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return {"audio": 0.1 * torch.randn(2, 4000, generator=g), "audio_lengths": torch.tensor([4000, 3200])}


@pytest.fixture(scope="module")
def stepped():
    """A tiny model (EMA decay 0.9) after 3 GAN steps, with the generator weights after each step."""
    torch.manual_seed(0)
    args = _args("--model_conf", "ema_decay=0.9")
    model = SpeechVAETask.build_model(args).train()
    opt_g, opt_d = SpeechVAETask.build_optimizers(args, model)
    init = copy.deepcopy(model.generator.state_dict())
    after, ema_before_gen = [], []
    for step in range(3):
        for turn, opt in (("discriminator", opt_d), ("generator", opt_g)):
            if turn == "generator":
                ema_before_gen.append(copy.deepcopy(model.generator_ema.module.state_dict()))
            model(forward_generator=turn == "generator", **_batch(step))["loss"].backward()
            opt.step()
            opt_g.zero_grad(), opt_d.zero_grad()
        after.append(copy.deepcopy(model.generator.state_dict()))
    return model, (opt_g, opt_d), init, after, ema_before_gen


def test_ema_is_the_warmed_up_recursion_of_the_generator_steps(stepped):
    model, _, init, after, ema_before_gen = stepped
    assert int(model.generator_ema.num_updates) == 3          # one update per generator step
    # the discriminator steps did not touch it: before each generator step it holds the previous EMA
    assert all(torch.equal(v, init[k]) for k, v in ema_before_gen[0].items())
    names = [n for n, _ in model.generator.named_parameters()]
    ema = {n: init[n].clone() for n in names}
    for n_done, theta in enumerate(after):
        d = min(0.9, (1 + n_done) / (10 + n_done))                # 0.1, 2/11, 3/12
        ema = {k: d * ema[k] + (1 - d) * theta[k] for k in names}
    got = model.generator_ema.module.state_dict()
    for k in names:
        torch.testing.assert_close(got[k], ema[k], rtol=1e-5, atol=1e-7)
    assert any(not torch.allclose(got[k], after[-1][k]) for k in names)  # an average, not a copy


def test_optimizers_never_see_the_ema(stepped):
    model, (opt_g, opt_d), *_ = stepped
    ema_ids = {id(p) for p in model.generator_ema.parameters()}
    assert ema_ids and not any(p.requires_grad for p in model.generator_ema.parameters())
    for opt in (opt_g, opt_d):
        assert not ema_ids & {id(p) for g in opt.param_groups for p in g["params"]}
    assert all(p.grad is None for p in model.generator_ema.parameters())


def test_valid_pass_evaluates_the_ema_generator(stepped):
    model, *_ = stepped
    batch = _batch(7)
    wav = batch["audio"].unsqueeze(1)
    model.eval()
    try:
        with torch.no_grad():
            got = model(forward_generator=True, **batch)["stats"]["mrstft_loss"]
            ema = model.stft_loss(model.generator_ema.module(wav, batch["audio_lengths"])[0], wav)
            raw = model.stft_loss(model.generator(wav, batch["audio_lengths"])[0], wav)
    finally:
        model.train()
    assert float(got) == pytest.approx(float(ema), rel=1e-6)
    assert float(got) != pytest.approx(float(raw), rel=1e-6)


def test_ema_is_off_without_ema_decay_and_for_zero_or_null():
    for off in (None, "0", "null"):
        args = _args(*(["--model_conf", f"ema_decay={off}"] if off else []))
        if off is None:
            args.model_conf.pop("ema_decay")   # an old config
        model = SpeechVAETask.build_model(args)
        assert model.generator_ema is None
        assert not any(k.startswith("generator_ema") for k in model.state_dict())


@pytest.fixture(scope="module")
def runs(speech_corpus, tmp_path_factory):
    """ESPnet runs of 2 epochs x 2 steps: straight through, and 1 epoch then ``--resume`` (as after a kill)."""
    from espnet_plugin.bin import svae_train

    root = tmp_path_factory.mktemp("ema_runs")
    keep = ["--keep_nbest_models", "5"]
    svae_train.main(svae_train_cmd(CONF, speech_corpus, root / "straight", extra=["--max_epoch", "2", *keep]))
    svae_train.main(svae_train_cmd(CONF, speech_corpus, root / "resumed", extra=["--max_epoch", "1", *keep]))
    svae_train.main(svae_train_cmd(CONF, speech_corpus, root / "resumed",
                                   extra=["--max_epoch", "2", "--resume", "true", *keep]))
    return root / "straight", root / "resumed"


def test_checkpoints_carry_the_ema_and_resume_restores_it(runs):
    straight, resumed = runs
    a = torch.load(straight / "2epoch.pth", map_location="cpu", weights_only=True)
    b = torch.load(resumed / "2epoch.pth", map_location="cpu", weights_only=True)
    e1 = torch.load(straight / "1epoch.pth", map_location="cpu", weights_only=True)
    # AveragedModel's n_averaged counts the initial copy too: n_averaged = updates + 1
    assert int(e1["generator_ema.n_averaged"]) == 3 and int(a["generator_ema.n_averaged"]) == 5
    assert int(b["generator_ema.n_averaged"]) == 5                     # the count went on after resume
    ema_a, ema_b = _ema_state(a), _ema_state(b)
    assert ema_a.keys() == _gen_state(a).keys()
    for k in ema_a:   # the resumed run continued the restored EMA: the same as without the break
        torch.testing.assert_close(ema_b[k], ema_a[k], rtol=0, atol=1e-6, msg=k)
    assert any(not torch.equal(ema_a[k], _gen_state(a)[k]) for k in ema_a)


def test_loaders_and_packing_use_the_ema_weights(runs, tmp_path):
    from espnet_plugin.bin import pack_model
    from espnet_plugin.vae.loading import load_svae

    exp = runs[0]
    state = torch.load(exp / "2epoch.pth", map_location="cpu", weights_only=True)
    ema, raw = _ema_state(state), _gen_state(state)
    differs = [k for k in ema if ema[k].is_floating_point() and not torch.equal(ema[k], raw[k])]
    assert differs
    vae = load_svae(exp / "config.yaml", exp / "2epoch.pth")   # resynthesis, latents, probes, TTS, demo
    got = vae.state_dict()
    assert all(torch.equal(got[k], ema[k]) for k in differs)
    got = load_svae(exp / "config.yaml", exp / "2epoch.pth", use_ema=False).state_dict()
    assert all(torch.equal(got[k], raw[k]) for k in differs)
    pack_model.main(["--exp_dir", str(exp), "--model_file", str(exp / "2epoch.pth"), "--out_dir", str(tmp_path)])
    packed = torch.load(tmp_path / "model.pth", map_location="cpu", weights_only=True)
    assert all(torch.equal(packed[k], ema[k]) for k in differs)


def test_a_checkpoint_from_before_the_ema_still_loads(tmp_path):
    from espnet2.utils.yaml_no_alias_safe_dump import yaml_no_alias_safe_dump

    from espnet_plugin.vae.loading import load_svae

    torch.manual_seed(0)
    old = SpeechVAETask.build_model(_args("--model_conf", "ema_decay=null")).state_dict()
    assert not any(k.startswith("generator_ema") for k in old)
    torch.save(old, tmp_path / "old.pth")
    for name, decay in (("config.yaml", 0.99), ("old_config.yaml", None)):
        args = _args("--model_conf", f"ema_decay={decay if decay is not None else 'null'}")
        if decay is None:   # an old config: no ema_decay at all
            args.model_conf.pop("ema_decay")
        (tmp_path / name).write_text(yaml_no_alias_safe_dump(vars(args), indent=4, sort_keys=False))
        model, _ = SpeechVAETask.build_model_from_file(tmp_path / name, tmp_path / "old.pth")
        if decay is None:
            assert model.generator_ema is None
            continue
        # EMA on: it starts from the checkpoint's generator weights, with a fresh warm-up
        assert int(model.generator_ema.num_updates) == 0
        for k, v in model.generator_ema.module.state_dict().items():
            assert torch.equal(v, old["generator." + k]), k
        vae = load_svae(tmp_path / name, tmp_path / "old.pth")
        for k, v in vae.state_dict().items():
            assert torch.equal(v, old["generator." + k]), k
