"""FrozenS3prlFrontend: the SSL teacher stays frozen and in eval mode while the probe trains.

The teacher is a random-init tiny ESPnet HuBERT (``conf/teacher/hubert_tiny_cpu.yaml``) with dropout
and layer-drop switched ON, loaded through s3prl's ``espnet_hubert_local`` as the recipe does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def hubert_ckpt(tmp_path_factory) -> Path:
    from espnet2.tasks.hubert import HubertTask

    d = tmp_path_factory.mktemp("hubert")
    conf = yaml.safe_load((ROOT / "conf" / "teacher" / "hubert_tiny_cpu.yaml").read_text())
    conf["encoder_conf"].update(encoder_dropout=0.3, encoder_attention_dropout=0.3,
                                encoder_projection_dropout=0.3, encoder_layer_drop=0.3)
    conf["token_list"] = [str(i) for i in range(conf["num_classes"])]
    (d / "train.yaml").write_text(yaml.safe_dump(conf))
    args = HubertTask.get_parser().parse_args(["--config", str(d / "train.yaml")])
    torch.manual_seed(0)
    model = HubertTask.build_model(args)
    (d / "config.yaml").write_text(yaml.safe_dump(vars(args)))  # read by s3prl beside the .pth
    torch.save(model.state_dict(), d / "model.pth")
    return d / "model.pth"


def _conf(ckpt: Path) -> dict:
    return dict(frontend_conf=dict(upstream="espnet_hubert_local", path_or_url=str(ckpt)), multilayer_feature=True)


def _wavs():
    g = torch.Generator().manual_seed(1)
    return 0.1 * torch.randn(2, 6400, generator=g), torch.tensor([6400, 4800])


def test_espnet_s3prl_frontend_runs_teacher_dropout_in_training(hubert_ckpt):
    # the old teacher baseline (--frontend s3prl --freeze_param frontend.upstream): after the
    # trainer's model.train() the upstream's dropout is live, so features differ call to call
    from espnet2.asr.frontend.s3prl import S3prlFrontend

    fe = S3prlFrontend(**_conf(hubert_ckpt))
    for p in fe.upstream.parameters():
        p.requires_grad_(False)
    fe.train()
    x, n = _wavs()
    assert any(m.training for m in fe.upstream.modules())
    assert not torch.allclose(fe(x, n)[0], fe(x, n)[0])


def test_frozen_teacher_stays_in_eval_through_the_asr_models_train(hubert_ckpt):
    from espnet_plugin.bin.asr_probe_train import get_parser
    from espnet_plugin.probe.register import ProbeASRTask
    from espnet_plugin.probe.teacher_frontend import FrozenS3prlFrontend

    args = get_parser().parse_args([
        "--frontend", "s3prl_frozen", "--frontend_conf", "frontend_conf.upstream=espnet_hubert_local",
        "--frontend_conf", f"frontend_conf.path_or_url={hubert_ckpt}", "--frontend_conf", "multilayer_feature=true",
        "--preencoder", "linear", "--preencoder_conf", "output_size=8", "--encoder", "rnn",
        "--encoder_conf", "num_layers=1", "--encoder_conf", "hidden_size=8", "--encoder_conf", "output_size=8",
        "--decoder", "none", "--model_conf", "ctc_weight=1.0", "--normalize", "none"])
    args.token_list = ["<blank>", "<unk>", "a", "b", "<sos/eos>"]
    model = ProbeASRTask.build_model(args)
    fe = model.frontend
    assert isinstance(fe, FrozenS3prlFrontend)
    model.train()  # what ESPnet's trainer does every epoch
    assert not any(m.training for m in fe.upstream.modules())
    assert fe.featurizer.training and model.encoder.training
    assert not any(p.requires_grad for p in fe.upstream.parameters())
    x, n = _wavs()
    f1, l1 = fe(x, n)
    f2, l2 = fe(x, n)
    assert torch.equal(f1, f2) and torch.equal(l1, l2)
    # the probe still learns the featurizer's layer weights
    loss, _, _ = model(speech=x, speech_lengths=n, text=torch.tensor([[2, 3], [3, -1]]),
                       text_lengths=torch.tensor([2, 1]))
    loss.backward()
    assert fe.featurizer.weights.grad is not None
    assert all(p.grad is None for p in fe.upstream.parameters())
    model.eval()
    assert torch.equal(fe(x, n)[0], f1)  # the same features in eval mode
