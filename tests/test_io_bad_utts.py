"""``--skip_bad_utts``: a batch job with one corrupt wav among good ones completes (true) or names it (false)."""
from __future__ import annotations

import logging
import shutil

import kaldiio
import pytest

from espnet_plugin.bin import dump_teacher, score_recon
from espnet_plugin.errors import DataError
from espnet_plugin.io.bad_utts import BadUtts, merge_bad_utts, read_bad_utts

FBANK = ["--upstream", "fbank", "--layer", "0", "--device", "cpu"]
BAD = "bad-000"


@pytest.fixture
def corpus_with_corrupt_wav(speech_corpus, tmp_path):
    """The fixture corpus' wav.scp (8 good utterances) plus one whose 'wav' is garbage bytes."""
    d = tmp_path / "data"
    d.mkdir()
    (d / "corrupt.wav").write_bytes(b"RIFF\x00\x00not a wav at all" * 10)
    lines = (speech_corpus / "wav.scp").read_text().splitlines()
    lines.insert(3, f"{BAD} {d / 'corrupt.wav'}")
    (d / "wav.scp").write_text("".join(ln + "\n" for ln in lines))
    return d


def _read_tsv(path):
    rows = path.read_text().splitlines()
    assert rows[0] == "utt_id\treason"
    return dict(r.split("\t", 1) for r in rows[1:])


def test_dump_teacher_skips_and_records_the_corrupt_wav(corpus_with_corrupt_wav, speech_corpus, tmp_path, caplog):
    out = tmp_path / "teacher"
    args = ["--wav_scp", str(corpus_with_corrupt_wav / "wav.scp"), "--output_dir", str(out), *FBANK]
    with pytest.raises(DataError, match=BAD):  # default: fail fast, naming the utterance
        dump_teacher.main(args)
    assert not (out / "bad_utts.tsv").exists()
    with caplog.at_level(logging.WARNING):
        dump_teacher.main(args + ["--skip_bad_utts", "true"])
    good = sorted(ln.split()[0] for ln in (speech_corpus / "wav.scp").read_text().splitlines())
    assert sorted(dict(kaldiio.load_scp(str(out / "feats.scp")))) == good
    bad = _read_tsv(out / "bad_utts.tsv")
    assert list(bad) == [BAD] and "corrupt" in bad[BAD]
    assert any(BAD in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_parallel_dump_merges_the_jobs_records(corpus_with_corrupt_wav, tmp_path):
    out = tmp_path / "par"
    for j in (1, 2):
        dump_teacher.main(["--wav_scp", str(corpus_with_corrupt_wav / "wav.scp"), "--output_dir", str(out), *FBANK,
                           "--num_jobs", "2", "--job_index", str(j), "--skip_bad_utts", "true"])
    dump_teacher.main(["--output_dir", str(out), "--merge", "2"])
    assert sorted(p.name for p in out.glob("bad_utts*")) == ["bad_utts.tsv"]
    assert list(_read_tsv(out / "bad_utts.tsv")) == [BAD]


def test_score_recon_skips_a_corrupt_reference(corpus_with_corrupt_wav, speech_corpus, tmp_path):
    hyp = tmp_path / "hyp"
    hyp.mkdir()
    for p in (speech_corpus / "wav").glob("*.wav"):
        shutil.copy(p, hyp / p.name)
    shutil.copy(corpus_with_corrupt_wav / "corrupt.wav", hyp / f"{BAD}.wav")
    args = ["--ref_scp", str(corpus_with_corrupt_wav / "wav.scp"), "--hyp_dir", str(hyp), "--metrics", "mel_distance"]
    with pytest.raises(DataError, match=BAD):
        score_recon.main(args + ["--out_dir", str(tmp_path / "a")])
    rec = score_recon.main(args + ["--out_dir", str(tmp_path / "b"), "--skip_bad_utts", "true"])
    assert rec["n"] == 8 and rec["n_bad"] == 1
    assert list(_read_tsv(tmp_path / "b" / "bad_utts.tsv")) == [BAD]


def test_collector_rules(tmp_path):
    (tmp_path / "bad_utts.tsv").write_text("utt_id\treason\nold\tstale\n")
    fail = BadUtts(tmp_path, skip=False)
    assert not (tmp_path / "bad_utts.tsv").exists()  # a stale record is not kept
    with pytest.raises(DataError):
        with fail.guard("u"):
            raise DataError("bad")
    keep = BadUtts(tmp_path, skip=True, name="bad_utts.2.tsv")
    with pytest.raises(RuntimeError):  # not bad data: never swallowed
        with keep.guard("u"):
            raise RuntimeError("bug")
    with keep.guard("u1"):
        raise DataError("line one\nline\ttwo")
    assert "u1" in keep and len(keep) == 1
    assert read_bad_utts(tmp_path) == {"u1": "line one line two"}  # one line per utterance
    assert merge_bad_utts(tmp_path, 2) == 1 and (tmp_path / "bad_utts.tsv").is_file()
    assert not (tmp_path / "bad_utts.2.tsv").exists()
