"""bin/tts_collect_stats writes what ESPnet's collect-stats run of the latent TTS task writes."""
import kaldiio
import numpy as np
import pytest
import yaml

from espnet_plugin.bin.tts_collect_stats import main as fast_main
from espnet_plugin.errors import DataError
from espnet_plugin.tts.text import token_list_from_text

D = 6


def _data(d, n=5, missing_text=None):
    rng = np.random.default_rng(1)
    with kaldiio.WriteHelper(f"ark,scp:{d}/feats.ark,{d}/feats.scp") as w, open(d / "text", "w") as ft:
        for i in range(n):
            w[f"u{i}"] = (rng.standard_normal((int(rng.integers(20, 50)), D)) * 3 - 1).astype(np.float32)
            if f"u{i}" != missing_text:
                ft.write(f"u{i} " + "".join(rng.choice(list("abc de"), int(rng.integers(5, 15)))).strip() + "\n")
    token_list_from_text(d / "text", d / "tokens.txt")  # as the recipe writes it


def _fast(d, out):
    fast_main(["--output_dir", str(out), "--token_type", "char", "--token_list", str(d / "tokens.txt"),
               "--train_latents", str(d / "feats.scp"), "--train_text", str(d / "text"),
               "--valid_latents", str(d / "feats.scp"), "--valid_text", str(d / "text")])


def test_same_files_as_espnet_collect_stats(tmp_path):
    from espnet_plugin.bin.latent_tts_train import main as task_main

    _data(tmp_path)
    conf = dict(dit_conf=dict(dim=16, depth=1, heads=2, dim_head=8, text_dim=8, conv_layers=1, latent_dim=D),
                token_type="char", token_list=str(tmp_path / "tokens.txt"), ngpu=0, num_workers=0,
                batch_type="unsorted", batch_size=2)
    (tmp_path / "conf.yaml").write_text(yaml.safe_dump(conf))
    data = []
    for split in ("train", "valid"):
        data += [f"--{split}_data_path_and_name_and_type", f"{tmp_path}/feats.scp,feats,kaldi_ark",
                 f"--{split}_data_path_and_name_and_type", f"{tmp_path}/text,text,text",
                 f"--{split}_shape_file", f"{tmp_path}/feats.scp"]
    task_main(["--config", str(tmp_path / "conf.yaml"), "--collect_stats", "true",
               "--output_dir", str(tmp_path / "espnet")] + data)
    _fast(tmp_path, tmp_path / "fast")
    for split in ("train", "valid"):
        a, b = tmp_path / "fast" / split, tmp_path / "espnet" / split
        for f in ("feats_shape", "text_shape", "batch_keys", "stats_keys"):
            assert sorted((a / f).read_text().split("\n")) == sorted((b / f).read_text().split("\n")), f
        for f in ("feats_stats.npz", "feats_lengths_stats.npz"):
            x, y = np.load(a / f), np.load(b / f)
            assert int(x["count"]) == int(y["count"])
            np.testing.assert_allclose(x["sum"], y["sum"], rtol=1e-5, atol=1e-3)
            np.testing.assert_allclose(x["sum_square"], y["sum_square"], rtol=1e-5)


def test_missing_transcript_names_the_utterance(tmp_path):
    _data(tmp_path, missing_text="u3")
    with pytest.raises(DataError, match="u3"):
        _fast(tmp_path, tmp_path / "fast")
