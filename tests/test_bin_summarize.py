"""summarize on a fake exp/ tree: tables, both pictures, missing axis shown as missing."""
from __future__ import annotations

import csv
import json
import math

import pytest

from espnet_plugin.bin import summarize
from espnet_plugin.errors import DataError

PNG = b"\x89PNG\r\n\x1a\n"


def _write(path, axis, tag, metrics, **extra):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"axis": axis, "tag": tag, "metrics": metrics, "n": 10, **extra}))


@pytest.fixture
def exp(tmp_path):
    e = tmp_path / "exp"
    rec = {"pesq": 2.82, "stoi": 0.9, "mel_distance": 1.0}     # PESQ 2.82 = 0.5 on [0, 1]
    _write(e / "svae_mel_vocoder" / "score" / "metrics.json", "reconstruction", "mel_vocoder", rec)
    _write(e / "probe_fbank" / "score" / "metrics.json", "understanding", "fbank", {"cer": 20.0},
           directions={"cer": "lower"})
    _write(e / "tts_mel_f5" / "score" / "metrics.json", "generation", "mel_f5",
           {"cer": 4.0, "spk_sim": 0.5})
    for m1, m2, k in [(0.5, 0.25, 1.0), (0.0, 0.25, 1.5), (0.5, 0.0, 1.2), (0.0, 0.0, 2.0)]:
        tag = f"jmas_m1-{m1}_m2-{m2}"
        _write(e / f"svae_{tag}" / "score" / "metrics.json", "reconstruction", tag,
               {"pesq": 1.0 + 1.82 / k, "stoi": 0.9, "mel_distance": 1.0 * k})
        _write(e / f"probe_{tag}" / "score" / "metrics.json", "understanding", tag, {"cer": 20.0 / k})
        _write(e / f"tts_{tag}" / "score" / "metrics.json", "generation", tag,
               {"cer": 4.0 * k, "spk_sim": 0.5})
    # a config without an understanding result
    _write(e / "svae_tas" / "score" / "metrics.json", "reconstruction", "tas", rec)
    _write(e / "tts_tas" / "score" / "metrics.json", "generation", "tas", {"cer": 2.0, "spk_sim": 0.5})
    # a foreign file with the same name is skipped (logged), not fatal
    (e / "other" / "metrics.json").parent.mkdir()
    (e / "other" / "metrics.json").write_text('{"loss": 1.0}')
    return e


def test_summarize_fake_tree(exp, tmp_path):
    out = exp / "summary"
    scores = summarize.main(["--exp_dir", str(exp), "--out_dir", str(out), "--log_level", "ERROR"])
    for f in ("table.md", "table.csv", "axes.png", "margins.png", "scores.json"):
        assert (out / f).is_file(), f
    assert (out / "axes.png").read_bytes()[:8] == PNG
    assert (out / "margins.png").read_bytes()[:8] == PNG
    # hand values: k = 1 is the baseline level on every axis -> 100
    assert scores["jmas_m1-0.5_m2-0.25"]["overall"] == pytest.approx(100.0)
    # k = 2: rec = 100 * sqrt(0.5 * 1) (PESQ 1.91 = 0.25 on [0, 1]; STOI equal; mel distance is not
    # scored); und = 200 (CER); gen = 100 * sqrt(0.5 * 1)
    rec, und, gen = 100 * 0.5 ** 0.5, 200.0, 100 * 0.5 ** 0.5
    assert scores["jmas_m1-0.0_m2-0.0"]["overall"] == pytest.approx((rec * und * gen) ** (1 / 3))
    assert math.isnan(scores["tas"]["understanding"]) and math.isnan(scores["tas"]["overall"])
    rows = list(csv.DictReader((out / "table.csv").open(encoding="utf-8")))
    tas = next(r for r in rows if r["config"] == "tas")
    assert tas["score:und ↑"] == "" and tas["overall ↑"] == "" and tas["und:cer ↓"] == ""
    assert float(tas["score:rec ↑"]) == pytest.approx(100.0)
    assert [r["config"] for r in rows][:3] == ["mel_vocoder", "fbank", "mel_f5"]
    md = (out / "table.md").read_text(encoding="utf-8")
    tas_md = next(line for line in md.splitlines() if line.startswith("| tas "))
    assert "—" in tas_md and "| 0 " not in tas_md and "0.0 |" not in tas_md.split("|")[-2]
    # re-running ignores the summary dir itself; without sweep rows no margins.png is left
    for p in exp.glob("*jmas*"):
        for f in p.rglob("*"):
            if f.is_file():
                f.unlink()
    summarize.main(["--exp_dir", str(exp), "--out_dir", str(out), "--log_level", "ERROR"])
    assert not (out / "margins.png").exists() and (out / "axes.png").exists()


def test_summarize_empty(tmp_path):
    with pytest.raises(DataError, match="no files"):
        summarize.main(["--exp_dir", str(tmp_path), "--out_dir", str(tmp_path / "s")])
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "metrics.json").write_text("{broken")
    with pytest.raises(DataError, match="none of the 1"):
        summarize.main(["--exp_dir", str(tmp_path), "--out_dir", str(tmp_path / "s")])


def _per_utt(path, cols, rows):
    path.write_text("utt\t" + "\t".join(cols) + "\n" + "".join(
        f"u{i}\t" + "\t".join(str(v) for v in r) + "\n" for i, r in enumerate(rows)))


def test_summarize_intervals_seeds_ground_truth_and_curves(tmp_path):
    """Per-utterance files give every cell an interval; seeds are averaged; the ground truth row
    borrows the Fbank probe's understanding; train.log epochs become curves.png."""
    e = tmp_path / "exp"
    n = 12
    recon = {"mel_vocoder": 3.0, "vanilla_seed1": 2.0, "vanilla_seed2": 2.2, "jmas_seed1": 2.4,
             "jmas_seed2": 2.6, "ground_truth": 4.5}
    for tag, base in recon.items():
        d = e / f"svae_{tag}" / "scores"
        d.mkdir(parents=True)
        _per_utt(d / "per_utt.tsv", ["pesq"], [[base + 0.1 * (i % 3 - 1)] for i in range(n)])
        _write(d / "metrics.json", "reconstruction", tag, {"pesq": base}, per_utt=["per_utt.tsv"])
    for tag, errs in {"fbank": 2, "vanilla_seed1": 5, "vanilla_seed2": 5, "jmas_seed1": 3, "jmas_seed2": 3}.items():
        d = e / f"probe_{tag}" / "scores"
        d.mkdir(parents=True)
        _per_utt(d / "per_utt.tsv", ["cer.err", "cer.len"], [[errs, 20]] * n)
        _write(d / "metrics.json", "understanding", tag, {"cer": 100 * errs / 20}, per_utt=["per_utt.tsv"])
    (e / "svae_jmas_seed1" / "train.log").write_text(
        "".join(f"x {k}epoch results: [train] loss=1.0, [valid] mrstft_loss={2.0 / k}, time=1.0 seconds, "
                f"total_count=3, [att_plot] time=0.1\n" for k in (1, 2, 3)))
    (e / "svae_jmas_seed1" / "config.yaml").write_text("num_iters_per_epoch: 30\n")
    out = e / "summary"
    scores = summarize.main(["--exp_dir", str(e), "--out_dir", str(out), "--log_level", "ERROR",
                             "--n_boot", "200", "--smoke_note", "SMOKE RUN: differences mean nothing"])
    assert set(scores) == {"mel_vocoder", "vanilla", "jmas", "ground_truth", "fbank"}
    md = (out / "table.md").read_text(encoding="utf-8")
    assert md.startswith("> SMOKE RUN")
    main_table = md.split("\n\n")[1]
    rows = {ln.split("|")[1].strip(): ln for ln in main_table.splitlines() if ln.startswith("| ")}
    assert list(rows)[1] == "ground_truth"
    assert "2 seeds" in rows["jmas"] and "2.500 [" in rows["jmas"]       # (2.4 + 2.6) / 2
    assert "10.00 [10.00, 10.00]" in rows["ground_truth"]                # fbank's CER: 2/20 everywhere
    csv_rows = {r["config"]: r for r in csv.DictReader((out / "table.csv").open(encoding="utf-8"))}
    jm = csv_rows["jmas"]
    assert float(jm["rec:pesq_lo"]) < float(jm["rec:pesq ↑"]) < float(jm["rec:pesq_hi"])
    assert float(jm["score:rec_lo"]) <= float(jm["score:rec ↑"]) <= float(jm["score:rec_hi"])
    assert jm["overall ↑"] == jm["overall_lo"] == ""     # no generation axis: missing, never 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["paired"]["jmas"]["understanding"]["verdict"] == "better"      # CER 15 % vs 25 % everywhere
    assert stats["seed_groups"]["jmas"] == ["jmas_seed1", "jmas_seed2"]
    # each seed has its own understanding score: CER 15 % vs the Fbank baseline's 10 %
    assert stats["seed_scores"]["jmas_seed2"]["understanding"] == pytest.approx(100 * 10 / 15)
    assert "Paired comparison with `vanilla`" in md and "### Seeds" in md
    assert (out / "curves.png").read_bytes()[:8] == PNG


def test_seed_rows_share_an_axis_measured_on_one_seed():
    vals = {"j_seed1": {"generation/wer": 50.0, "reconstruction/pesq": 2.0},
            "j_seed2": {"reconstruction/pesq": 3.0}}
    out = summarize.share_missing_axes(vals, {"j": ["j_seed1", "j_seed2"]})
    assert out["j_seed2"] == {"reconstruction/pesq": 3.0, "generation/wer": 50.0}
    assert vals["j_seed2"] == {"reconstruction/pesq": 3.0}       # the input is not changed


def test_decode_tag_reads_the_scores_of_one_inference_model(tmp_path):
    # two decode dirs of one VAE (two --inference_model files): --decode_tag picks one, whichever is newer
    e = tmp_path / "exp"
    rec = {"pesq": 2.82, "stoi": 0.9, "mel_distance": 1.0}
    _write(e / "svae_mel_vocoder" / "decode_valid.mrstft_loss.ave_test" / "scores" / "metrics.json",
           "reconstruction", "mel_vocoder", rec)
    _write(e / "svae_jmas" / "decode_valid.mrstft_loss.ave_test" / "scores" / "metrics.json",
           "reconstruction", "jmas", dict(rec, pesq=1.5))
    _write(e / "svae_jmas" / "decode_valid.loss.best_test" / "scores" / "metrics.json",
           "reconstruction", "jmas", dict(rec, pesq=4.0))   # written last: would win without the tag

    def pesq(tag):
        out = tmp_path / f"summary_{tag or 'all'}"
        summarize.main(["--exp_dir", str(e), "--out_dir", str(out), "--decode_tag", tag, "--log_level", "ERROR",
                        "--n_boot", "10"])
        row = next(r for r in csv.DictReader((out / "table.csv").open(encoding="utf-8")) if r["config"] == "jmas")
        return float(next(v for k, v in row.items() if k.startswith("rec:pesq")))

    assert pesq("valid.mrstft_loss.ave") == pytest.approx(1.5)
    assert pesq("valid.loss.best") == pytest.approx(4.0)
    assert pesq("") == pytest.approx(4.0)


def test_seed_rows_are_scored_against_a_baseline_trained_with_seeds(tmp_path):
    """The evidence profile trains the mel baseline as ``mel_vocoder_seed1``: the table groups it into
    ``mel_vocoder``, and every seed row must still get a reconstruction score against it (it was
    "—" because the per-seed rows were scored against the ungrouped table)."""
    e = tmp_path / "exp"
    for tag, pesq in {"mel_vocoder_seed1": 3.0, "jmas_seed1": 2.0, "jmas_seed2": 2.5}.items():
        d = e / f"svae_{tag}" / "scores"
        d.mkdir(parents=True)
        _per_utt(d / "per_utt.tsv", ["pesq"], [[pesq]] * 6)
        _write(d / "metrics.json", "reconstruction", tag, {"pesq": pesq}, per_utt=["per_utt.tsv"])
    summarize.main(["--exp_dir", str(e), "--out_dir", str(e / "summary"), "--log_level", "ERROR",
                    "--n_boot", "50"])
    seed_scores = json.loads((e / "summary" / "stats.json").read_text())["seed_scores"]
    rec = {r: s["reconstruction"] for r, s in seed_scores.items()}
    assert rec["mel_vocoder_seed1"] == pytest.approx(100.0)
    assert 0 < rec["jmas_seed1"] < rec["jmas_seed2"] < 100.0     # PESQ 2.0 < 2.5 < the baseline's 3.0


def test_summary_line_counts_skipped_utterances_per_set(tmp_path):
    from espnet_plugin.io.bad_utts import BadUtts

    e = tmp_path / "exp"
    assert summarize.bad_utts_markdown(e) == ""
    for d, utts in (("svae_a/latents/train", ["u1", "u2"]), ("svae_a/latents/dev", ["u3"])):
        bad = BadUtts(e / d, skip=True, name="bad_utts.1.tsv")
        for u in utts:
            bad.add(u, "corrupt")
    BadUtts(e / "svae_a/latents/dev", skip=True, name="bad_utts.2.tsv").add("u4", "empty")
    line = summarize.bad_utts_markdown(e)
    assert "svae_a/latents/dev: 2" in line and "svae_a/latents/train: 2" in line
