"""Summary table (Markdown/CSV, missing never 0) and the two figures."""
from __future__ import annotations

import csv
import io
import json
import math

import pytest

from espnet_plugin.errors import DataError
from espnet_plugin.metrics.overall import compute_scores
from espnet_plugin.report import plots, table as T

BASE = {"reconstruction": "mel_vocoder", "understanding": "fbank", "generation": "mel_f5"}
PNG = b"\x89PNG\r\n\x1a\n"


def _records():
    return [
        ("r1", {"axis": "reconstruction", "tag": "mel_vocoder",
                "metrics": {"pesq": 2.82, "mel_distance": 1.0}}),
        ("u1", {"axis": "understanding", "tag": "fbank", "metrics": {"cer": 20.0},
                "directions": {"cer": "lower"}}),
        ("g1", {"axis": "generation", "tag": "mel_f5", "metrics": {"cer": 4.0}}),
        ("r2", {"axis": "reconstruction", "tag": "jmas", "metrics": {"pesq": None, "mel_distance": 0.9},
                "margins": {"m1": 0.5, "m2": 0.25}}),
        ("u2", {"axis": "understanding", "tag": "jmas", "metrics": {"cer": 10.0}}),
        ("g2", {"axis": "generation", "tag": "jmas", "metrics": {"cer": 0.0}}),
    ]


def test_merge_and_columns():
    t = T.merge_records(_records())
    assert set(t.values) == {"mel_vocoder", "fbank", "mel_f5", "jmas"}
    assert t.columns == ["reconstruction/pesq", "reconstruction/mel_distance",
                         "understanding/cer", "generation/cer"]
    assert t.directions["reconstruction/mel_distance"] == "lower"  # from the registry
    assert math.isnan(t.values["jmas"]["reconstruction/pesq"])  # null -> NaN
    assert t.extra["jmas"]["margins"] == {"m1": 0.5, "m2": 0.25}
    # a later record for the same (tag, axis) replaces the earlier one
    t2 = T.merge_records(_records() + [("r3", {"axis": "reconstruction", "tag": "jmas",
                                                "metrics": {"pesq": 4.0}})])
    assert t2.values["jmas"]["reconstruction/pesq"] == 4.0
    assert "reconstruction/mel_distance" not in t2.values["jmas"]
    with pytest.raises(DataError, match="disagrees"):
        T.merge_records(_records() + [("x", {"axis": "generation", "tag": "z", "metrics": {"cer": 1.0},
                                             "directions": {"cer": "higher"}})])


def test_markdown_and_csv_show_missing_not_zero():
    t = T.merge_records(_records())
    s = compute_scores(t.values, BASE, t.directions)
    rows = T.row_order(list(t.values), BASE)
    assert rows == ["mel_vocoder", "fbank", "mel_f5", "jmas"]
    md = T.to_markdown(t, s, BASE, rows)
    lines = md.splitlines()
    assert "rec:pesq ↑" in lines[0] and "rec:mel_distance ↓" in lines[0] and "overall ↑" in lines[0]
    jmas = next(line for line in lines if line.startswith("| jmas"))
    cells = [c.strip() for c in jmas.strip("|").split("|")]
    # PESQ missing -> "—", rec score missing -> "—", overall missing -> "—"
    assert cells[2] == "—" and cells[-4] == "—" and cells[-1] == "—"
    assert cells[3] == "0.900" and cells[4] == "10.00" and cells[5] == "0.000"
    assert cells[-3] == "200.0" and cells[-2] == "1000.0"  # und 20/10; gen CER 0 -> clip 10x
    assert "failed" not in md.split("\n\n")[0] and "Judges:" not in md   # none recorded: no count, no line
    rows_csv = list(csv.reader(io.StringIO(T.to_csv(t, s, BASE, rows))))
    hdr, j = rows_csv[0], rows_csv[-1]
    assert hdr[:2] == ["config", "baseline for"] and hdr[-3:] == ["overall ↑", "overall_lo", "overall_hi"]
    assert hdr[hdr.index("rec:pesq ↑") + 1: hdr.index("rec:pesq ↑") + 4] == \
        ["rec:pesq_lo", "rec:pesq_hi", "rec:pesq_failed"]
    assert "score:rec_failed" not in hdr
    assert j[hdr.index("rec:pesq ↑")] == "" and j[hdr.index("overall ↑")] == ""
    assert j[hdr.index("rec:pesq_failed")] == ""          # unknown, not 0
    assert j[hdr.index("gen:cer ↓")] == "0"  # a real zero stays a zero
    assert rows_csv[1][1] == "rec"
    assert float(rows_csv[1][hdr.index("score:rec ↑")]) == pytest.approx(100.0)


def test_judges_line_and_failed_counts_from_records():
    recs = _records()
    recs[2][1]["judges"] = {"cer": "whisper_large_v3"}
    recs[5][1]["judges"] = {"cer": "whisper_large_v3", "not_a_metric": "x"}
    recs[1][1]["judges"] = "garbage"                     # not an object: ignored
    recs[0][1]["n_nan"] = {"pesq": 2, "mel_distance": 0}
    recs[3][1]["n_nan"] = "garbage"
    t = T.merge_records(recs)
    s = compute_scores(t.values, BASE, t.directions)
    rows = T.row_order(list(t.values), BASE)
    md = T.to_markdown(t, s, BASE, rows)
    blocks = md.split("\n\n")
    assert blocks[1] == "Judges: gen:cer = whisper_large_v3"          # one line right under the table
    assert "2.820 (2 failed)" in blocks[0] and "1.000 (" not in blocks[0]
    rec = list(csv.DictReader(io.StringIO(T.to_csv(t, s, BASE, rows))))
    assert rec[0]["rec:pesq_failed"] == "2" and rec[0]["rec:mel_distance_failed"] == "0"
    # two judges in one column: each named with its rows (such a column compares unlike things)
    recs[2][1]["judges"] = {"cer": "pocketsphinx"}
    line = T.judges_line(T.merge_records(recs))
    assert line == "Judges: gen:cer = pocketsphinx (mel_f5) / whisper_large_v3 (jmas)"


def test_read_metrics_json(tmp_path):
    p = tmp_path / "m.json"
    p.write_text(json.dumps({"axis": "generation", "tag": "t", "metrics": {"wer": 1}}))
    assert T.read_metrics_json(p)["tag"] == "t"
    p.write_text(json.dumps({"axis": "speed", "tag": "t", "metrics": {}}))
    with pytest.raises(DataError, match="axis"):
        T.read_metrics_json(p)
    p.write_text("{not json")
    with pytest.raises(DataError, match="m.json"):
        T.read_metrics_json(p)


@pytest.mark.parametrize("row,field,expected", [
    ("jmas_m1-0.5_m2-0.25", None, (0.5, 0.25)),
    ("jmas_m1-0p1_m2-0", None, (0.1, 0.0)),
    ("jmas_m1=1_m2=0.75_seed2", None, (1.0, 0.75)),
    ("jmas", {"m1": 0.3, "m2": 0.2}, (0.3, 0.2)),
    ("jmas", [0.3, 0.1], (0.3, 0.1)),
    ("tas_vae", None, None),
])
def test_parse_margins(row, field, expected):
    assert plots.parse_margins(row, field) == expected


def test_plots(tmp_path):
    scores = {"a": {"reconstruction": 120.0, "understanding": 90.0, "generation": 100.0, "overall": 102.6},
              "b": {"reconstruction": 80.0, "understanding": float("nan"), "generation": 95.0,
                    "overall": float("nan")}}
    p = plots.plot_axes(scores, ["a", "b"], tmp_path / "axes.png")
    assert p.read_bytes()[:8] == PNG
    assert plots.plot_margins(scores, {}, tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()
    q = plots.plot_margins(scores, {"a": (0.5, 0.25), "b": (0.0, 0.25)}, tmp_path / "m.png")
    assert q.read_bytes()[:8] == PNG
