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


def _assert_same_feats(merged, single):
    """The merged cache holds the one-job cache's features, its keys sorted."""
    one = dict(kaldiio.load_scp(str(single / "feats.scp")))
    par = dict(kaldiio.load_scp(str(merged / "feats.scp")))
    assert list(par) == sorted(one)
    for k in one:
        np.testing.assert_array_equal(par[k], one[k])


def test_three_jobs_merged_equal_one_job(speech_corpus, fbank_cache, tmp_path):
    out = tmp_path / "par"
    _dump(speech_corpus, out, 3)
    assert not (out / "feats.scp").exists()  # nothing usable before the merge
    dump_teacher.main(["--output_dir", str(out), "--merge", "3"])
    _assert_same_feats(out, fbank_cache)
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


def test_jobs_on_split_scp_parts_equal_one_job(speech_corpus, fbank_cache, tmp_path):
    # the recipe splits the list with utils/split_scp.pl and gives each job its part (--key_file)
    import subprocess
    from pathlib import Path

    split = Path(__file__).resolve().parents[1] / "egs2" / "TEMPLATE" / "svae1" / "utils" / "split_scp.pl"
    parts = [tmp_path / f"keys.{j}.scp" for j in (1, 2)]
    subprocess.run([str(split), str(speech_corpus / "wav.scp"), *map(str, parts)], check=True)
    out = tmp_path / "par"
    for j, keys in enumerate(parts, start=1):
        dump_teacher.main(["--wav_scp", str(speech_corpus / "wav.scp"), "--output_dir", str(out), *FBANK,
                           "--num_jobs", "2", "--job_index", str(j), "--key_file", str(keys)])
        assert sorted(kaldiio.load_scp(str(out / f"feats.{j}.scp"))) == sorted(
            ln.split()[0] for ln in keys.read_text().splitlines())
    dump_teacher.main(["--output_dir", str(out), "--merge", "2"])
    _assert_same_feats(out, fbank_cache)
    # a key the list lacks is an error naming the key file
    (tmp_path / "bad.scp").write_text("nope x\n")
    with pytest.raises(DataError, match="bad.scp"):
        dump_teacher.main(["--wav_scp", str(speech_corpus / "wav.scp"), "--output_dir", str(tmp_path / "b"), *FBANK,
                           "--key_file", str(tmp_path / "bad.scp")])
