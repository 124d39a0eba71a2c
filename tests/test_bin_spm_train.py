"""bin/spm_train: the recipes' BPE models (the pip espnet has no espnet2.bin.spm_train)."""
import pytest


def test_trains_a_bpe_model_the_recipe_way(tmp_path):
    import sentencepiece as spm

    from espnet_plugin.bin.spm_train import main

    words = ["the cat sat on the mat", "a dog ran in the park", "speech models learn latent codes"]
    (tmp_path / "train.txt").write_text("\n".join(words * 20) + "\n")
    main([f"--input={tmp_path}/train.txt", "--vocab_size=20", "--model_type=unigram",
          f"--model_prefix={tmp_path}/bpe", "--character_coverage=1.0", "--input_sentence_size=100000000"])
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "bpe.model"))
    assert sp.get_piece_size() == 20
    assert "".join(sp.encode("the cat", out_type=str)).replace("\u2581", " ").strip() == "the cat"


def test_refuses_positional_arguments():
    from espnet_plugin.bin.spm_train import main

    with pytest.raises(SystemExit, match="usage"):
        main(["train.txt"])
