"""feat_dim: the dimension of the first matrix of an scp, and errors that name the list."""
from __future__ import annotations

import kaldiio
import numpy as np
import pytest

from espnet_plugin.bin.feat_dim import feat_dim, main
from espnet_plugin.errors import DataError


def test_dimension_of_the_first_matrix(tmp_path, capsys):
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path}/f.ark,{tmp_path}/f.scp") as w:
        w["a"] = np.zeros((5, 7), dtype=np.float32)
        w["b"] = np.zeros((3, 7), dtype=np.float32)
    assert feat_dim(str(tmp_path / "f.scp")) == 7
    main([str(tmp_path / "f.scp")])
    assert capsys.readouterr().out.strip() == "7"


def test_missing_empty_and_broken_lists_name_the_file(tmp_path):
    with pytest.raises(DataError, match="nope.scp"):
        feat_dim(str(tmp_path / "nope.scp"))
    (tmp_path / "empty.scp").write_text("")
    with pytest.raises(DataError, match="empty.scp"):
        feat_dim(str(tmp_path / "empty.scp"))
    (tmp_path / "bad.scp").write_text(f"u1 {tmp_path}/missing.ark:10\n")
    with pytest.raises(DataError, match="bad.scp.*'u1'"):
        feat_dim(str(tmp_path / "bad.scp"))


def test_shape_file_like_espnets_collect_stats(tmp_path):
    from espnet_plugin.bin.feat_dim import shape_lines

    with kaldiio.WriteHelper(f"ark,scp:{tmp_path}/f.ark,{tmp_path}/f.scp") as w:
        w["a"] = np.zeros((5, 7), dtype=np.float32)
        w["b"] = np.zeros((3, 7), dtype=np.float32)
    main([str(tmp_path / "f.scp"), "--shape_out", str(tmp_path / "s" / "speech_shape")])
    assert (tmp_path / "s" / "speech_shape").read_text() == "a 5,7\nb 3,7\n"
    (tmp_path / "bad.scp").write_text(f"a {tmp_path}/f.ark:{len('a ')}\nu2 {tmp_path}/missing.ark:10\n")
    with pytest.raises(DataError, match="bad.scp"):
        shape_lines(str(tmp_path / "bad.scp"))
