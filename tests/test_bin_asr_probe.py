"""A tiny ASR probe on a frozen VAE, end to end through the launchers and ESPnet's ASR task:
token list -> asr_probe_train (1 epoch) -> asr_probe_inference (CTC) -> score_probe (WER/CER + sid)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "--max_epoch", "1", "--batch_size", "4", "--num_workers", "0", "--log_interval", "1",
    "--preencoder_conf", "output_size=16", "--encoder_conf", "hidden_size=16", "--encoder_conf", "output_size=16",
]


def _edit_distance(a, b) -> int:
    d = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, d[0] = d[0], i
        for j, y in enumerate(b, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (x != y))
    return d[-1]


@pytest.fixture(scope="module")
def probe_run(speech_corpus, trained_vae, tmp_path_factory):
    from espnet2.bin import tokenize_text

    from espnet_plugin.bin import asr_probe_inference, asr_probe_train, score_probe
    from espnet_plugin.vae.loading import resolve_model_file

    work = tmp_path_factory.mktemp("probe")
    tokens = work / "tokens.txt"
    tokenize_text.main(["--token_type", "char", "--input", str(speech_corpus / "text"), "--output", str(tokens),
                        "--field", "2-", "--cleaner", "none", "--g2p", "none", "--write_vocabulary", "true",
                        "--add_symbol", "<blank>:0", "--add_symbol", "<unk>:1", "--add_symbol", "<sos/eos>:-1"])
    vae_model = resolve_model_file(trained_vae)
    exp = work / "probe_tiny"
    data = [f"{speech_corpus}/wav.scp,speech,sound", f"{speech_corpus}/text,text,text"]
    asr_probe_train.main([
        "--config", str(ROOT / "conf" / "probe" / "train_probe_cpu.yaml"), "--output_dir", str(exp), "--ngpu", "0",
        "--frontend", "svae_latent", "--frontend_conf", f"vae_config={trained_vae}/config.yaml",
        "--frontend_conf", f"vae_model_file={vae_model}",
        "--token_type", "char", "--token_list", str(tokens), "--non_linguistic_symbols", "none",
        "--cleaner", "none", "--g2p", "none", "--use_preprocessor", "true",
        "--train_data_path_and_name_and_type", data[0], "--train_data_path_and_name_and_type", data[1],
        "--valid_data_path_and_name_and_type", data[0], "--valid_data_path_and_name_and_type", data[1],
        "--train_shape_file", f"{speech_corpus}/utt2num_samples",
        "--valid_shape_file", f"{speech_corpus}/utt2num_samples",
        *TINY,
    ])
    keys = work / "keys.scp"
    keys.write_text("".join(ln + "\n" for ln in (speech_corpus / "wav.scp").read_text().splitlines()[::2]))
    dec = work / "decode_greedy"
    asr_probe_inference.main([
        "--config", str(ROOT / "conf" / "probe" / "decode_ctc_greedy.yaml"), "--ngpu", "0",
        "--data_path_and_name_and_type", data[0], "--key_file", str(keys),
        "--asr_train_config", str(exp / "config.yaml"), "--asr_model_file", str(exp / "valid.loss.ave.pth"),
        "--output_dir", str(dec),
    ])
    sid = work / "sid.json"
    sid.write_text(json.dumps({"sid_acc": 75.0, "n_test": 4}))
    score_probe.main(["--ref_text", str(speech_corpus / "text"), "--hyp", f"ctc_greedy={dec}/1best_recog/text",
                      "--sid_json", str(sid), "--tag", "tiny", "--out_dir", str(work / "scores")])
    return dict(work=work, exp=exp, dec=dec, keys=keys, vae_model=vae_model, corpus=speech_corpus)


def test_probe_trained_with_espnet_on_the_frozen_latent(probe_run):
    import yaml

    from espnet_plugin.vae.ema import generator_state

    exp = probe_run["exp"]
    cfg = yaml.safe_load((exp / "config.yaml").read_text())
    assert cfg["frontend"] == "svae_latent" and cfg["encoder"] == "blstm"
    assert cfg["preencoder_conf"]["input_size"] == 64  # the latent dimension
    assert cfg["model_conf"]["ctc_weight"] == 1.0
    state = torch.load(exp / "valid.loss.ave.pth", map_location="cpu", weights_only=True)
    vae = torch.load(probe_run["vae_model"], map_location="cpu", weights_only=True)
    enc = {k[len("frontend."):]: v for k, v in state.items() if k.startswith("frontend.")}
    assert enc and not any(k.startswith("decoder.") for k in enc)  # the VAE's decoder is not carried
    gen, source = generator_state(vae)  # the weights every loader uses (the EMA when trained with one)
    assert source == "ema"
    for k, v in enc.items():  # frozen: bit-identical to the VAE after an epoch of training
        assert torch.equal(v, gen[k]), k
    assert any(k.startswith("encoder.fwd") for k in state)  # the BiLSTM was trained


def test_decoded_and_wer_against_the_reference(probe_run):
    from espnet_plugin.metrics.generation import normalize_text

    hyp_file = probe_run["dec"] / "1best_recog" / "text"
    keys = [ln.split()[0] for ln in probe_run["keys"].read_text().splitlines()]
    hyps = {}
    for ln in hyp_file.read_text().splitlines():
        k, _, t = ln.partition(" ")
        hyps[k] = t
    assert sorted(hyps) == sorted(keys)
    refs = dict(ln.split(" ", 1) for ln in (probe_run["corpus"] / "text").read_text().splitlines())
    rec = json.loads((probe_run["work"] / "scores" / "metrics.json").read_text())
    assert rec["axis"] == "understanding" and rec["tag"] == "tiny" and rec["n"] == len(refs)
    # every reference counts; utterances not decoded are empty hypotheses (all deletions)
    errs = sum(_edit_distance(normalize_text(refs[k]).split(), normalize_text(hyps.get(k, "")).split()) for k in refs)
    words = sum(len(normalize_text(refs[k]).split()) for k in refs)
    assert rec["metrics"]["wer"] == pytest.approx(100.0 * errs / words)
    cerrs = sum(_edit_distance(normalize_text(refs[k]), normalize_text(hyps.get(k, ""))) for k in refs)
    chars = sum(len(normalize_text(refs[k])) for k in refs)
    assert rec["metrics"]["cer"] == pytest.approx(100.0 * cerrs / chars)
    assert rec["metrics"]["sid_acc"] == 75.0 and rec["sid"]["n_test"] == 4
    assert rec["n_missing"]["ctc_greedy"] == len(refs) - len(keys)
    assert rec["directions"] == {"wer": "lower", "cer": "lower", "sid_acc": "higher"}
    assert rec["judges"] == {"wer": "asr_probe", "cer": "asr_probe", "sid_acc": "sid_probe"}


def test_ctc_greedy_rule():
    from espnet_plugin.probe.greedy import ctc_greedy_ids

    # frames: a a _ a b b _ _ | padding beyond length 8
    path = [1, 1, 0, 1, 2, 2, 0, 0, 3, 3]
    lp = torch.full((1, 10, 4), -10.0)
    lp[0, torch.arange(10), torch.tensor(path)] = 0.0
    assert ctc_greedy_ids(lp, torch.tensor([8])) == [[1, 1, 2]]
    assert ctc_greedy_ids(lp, torch.tensor([10])) == [[1, 1, 2, 3]]


def test_batched_greedy_decode_does_not_depend_on_the_batch(probe_run):
    """Every key of the key file gets a line (empty transcripts included), in the probe's characters;
    batches of 3 and of 1 agree up to the frontend's padding (an untrained probe's near-ties can flip
    where a waveform frontend sees zeros instead of the signal's end)."""
    from espnet_plugin.bin import asr_probe_inference

    exp, corpus = probe_run["exp"], probe_run["corpus"]

    def decode(bs):
        out = probe_run["work"] / f"decode_batched_{bs}"
        asr_probe_inference.main([
            "--greedy_ctc", "true", "--batch_size", str(bs), "--ngpu", "0",
            "--data_path_and_name_and_type", f"{corpus}/wav.scp,speech,sound", "--key_file", str(probe_run["keys"]),
            "--asr_train_config", str(exp / "config.yaml"), "--asr_model_file", str(exp / "valid.loss.ave.pth"),
            "--output_dir", str(out),
        ])
        return {k: t for k, _, t in (ln.partition(" ") for ln in (out / "1best_recog" / "text").read_text().splitlines())}

    from espnet_plugin.metrics.generation import char_error_rate

    one, three = decode(1), decode(3)
    assert sorted(one) == sorted(three) == sorted(ln.split()[0] for ln in probe_run["keys"].read_text().splitlines())
    tokens = set((probe_run["work"] / "tokens.txt").read_text().split()) | {" "}
    assert all(set(t) <= tokens for t in one.values())
    keys = sorted(one)
    assert char_error_rate([one[k] or "-" for k in keys], [three[k] for k in keys]) < 40.0
