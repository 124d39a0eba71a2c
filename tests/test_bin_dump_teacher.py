"""Teacher-cache dump in parallel jobs (``--num_jobs/--job_index`` then ``--merge``) equals one job."""
from __future__ import annotations

import json

import kaldiio
import numpy as np
import pytest

from espnet_plugin.bin import dump_teacher
from espnet_plugin.errors import DataError

FBANK = ["--upstream", "fbank", "--layer", "0", "--device", "cpu"]


def _dump(corpus, out, nj):
    for j in range(1, nj + 1):
        dump_teacher.main(["--wav_scp", str(corpus / "wav.scp"), "--output_dir", str(out), *FBANK,
                           "--num_jobs", str(nj), "--job_index", str(j)])


def test_three_jobs_merged_equal_one_job(speech_corpus, fbank_cache, tmp_path):
    out = tmp_path / "par"
    _dump(speech_corpus, out, 3)
    assert not (out / "feats.scp").exists()  # nothing usable before the merge
    dump_teacher.main(["--output_dir", str(out), "--merge", "3"])
    one = dict(kaldiio.load_scp(str(fbank_cache / "feats.scp")))
    par = dict(kaldiio.load_scp(str(out / "feats.scp")))
    assert list(par) == sorted(one)
    for k in one:
        np.testing.assert_array_equal(par[k], one[k])
    info = json.loads((out / "teacher_info.json").read_text())
    assert info == json.loads((fbank_cache / "teacher_info.json").read_text())
    assert sorted(p.name for p in out.iterdir() if "scp" in p.name or "info" in p.name) == [
        "feats.scp", "teacher_info.json"]


def test_merge_refuses_missing_or_mixed_jobs(speech_corpus, tmp_path):
    out = tmp_path / "par"
    _dump(speech_corpus, out, 2)
    (out / "feats.2.scp").rename(out / "feats.2.scp.bak")
    with pytest.raises(DataError, match="feats.2.scp"):
        dump_teacher.main(["--output_dir", str(out), "--merge", "2"])
    (out / "feats.2.scp.bak").rename(out / "feats.2.scp")
    info2 = out / "teacher_info.json.2"
    info2.write_text(info2.read_text().replace('"layer": 0', '"layer": 1'))
    with pytest.raises(DataError, match="different teachers"):
        dump_teacher.main(["--output_dir", str(out), "--merge", "2"])
    assert not (out / "feats.scp").exists()
