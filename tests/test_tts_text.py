"""Tokenisation (ESPnet char / sentencepiece) and filler padding of the latent TTS."""
import pytest
import torch

from espnet_plugin.errors import ConfigError
from espnet_plugin.tts.text import FILLER_ID, CharTokenizer, pad_text_to_length, token_list_from_text

TOKENS = ["<blank>", "<unk>", "<space>", "a", "b", "c", "<sos/eos>"]


def test_token_list_from_text_is_espnet_tokenize_text_vocabulary(tmp_path):
    """The recipe's list (tokenize_text --write_vocabulary): specials around the tokens by count."""
    (tmp_path / "text").write_text("u1 ab c\nu2 ca\n")
    path = token_list_from_text(tmp_path / "text", tmp_path / "tok" / "tokens.txt")
    # a and c twice, then b and the space once (ties in order of appearance); utterance ids dropped
    assert path.read_text().splitlines() == ["<blank>", "<unk>", "a", "c", "b", "<space>", "<sos/eos>"]
    assert CharTokenizer(path).encode("ab c") == [2, 4, 5, 3]
    with pytest.raises(ConfigError, match="nowhere"):
        token_list_from_text(tmp_path / "nowhere", tmp_path / "t.txt")


def test_char_encode_decode_by_hand(tmp_path):
    path = tmp_path / "tokens.txt"
    path.write_text("".join(f"{t}\n" for t in TOKENS))
    for tl in (path, str(path), TOKENS):
        tok = CharTokenizer(tl)
        assert tok.vocab_size == 7
        assert tok.encode("ab c") == [3, 4, 2, 5]
        assert tok.encode("az") == [3, 1]  # unknown -> <unk>
        assert tok.decode([3, 4, 2, 5, -1, -1]) == "ab c"


def test_batch_padding_with_filler():
    tok = CharTokenizer(TOKENS)
    ids, lens = tok(["ab", "c a b"])
    assert lens.tolist() == [2, 5]
    assert ids.tolist() == [[3, 4, FILLER_ID, FILLER_ID, FILLER_ID], [5, 2, 3, 2, 4]]
    ids, _ = tok(["ab"], length=4)
    assert ids.tolist() == [[3, 4, -1, -1]]


def test_pad_text_to_length():
    x = torch.tensor([[3, 4, -1], [5, 6, 7]])
    assert pad_text_to_length(x, 5).tolist() == [[3, 4, -1, -1, -1], [5, 6, 7, -1, -1]]
    assert pad_text_to_length(x, 2).tolist() == [[3, 4], [5, 6]]
    assert pad_text_to_length(torch.tensor([[0, -32768]]), 2).tolist() == [[0, -1]]


def test_same_ids_as_espnet_preprocessor(tmp_path):
    from espnet2.train.preprocessor import CommonPreprocessor

    (tmp_path / "text").write_text("u1 Hello world, it's me.\n")
    tl = str(token_list_from_text(tmp_path / "text", tmp_path / "tokens.txt"))
    pre = CommonPreprocessor(train=False, token_type="char", token_list=tl, text_cleaner="tacotron")
    tok = CharTokenizer(tl, cleaner="tacotron")
    text = "Hello  world, it's me."
    assert pre("u", {"text": text})["text"].tolist() == tok.encode(text)


def test_errors(tmp_path):
    with pytest.raises(ConfigError):
        CharTokenizer(tmp_path / "missing.txt")
    with pytest.raises(ConfigError):
        CharTokenizer(TOKENS, token_type="phn")
    with pytest.raises(ConfigError):
        CharTokenizer(TOKENS, token_type="bpe")
    with pytest.raises(ConfigError):
        CharTokenizer(["a", "b"])  # no <unk>


def test_sentencepiece_option(tmp_path):
    spm = pytest.importorskip("sentencepiece")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(["the cat sat on the mat", "a cat and a hat", "the hat on the cat"] * 5))
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(tmp_path / "bpe"), vocab_size=24, model_type="bpe",
        character_coverage=1.0, minloglevel=2,
    )
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "bpe.model"))
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    tl = ["<blank>"] + [p for p in pieces if p not in ("<unk>", "<s>", "</s>")] + ["<unk>", "<sos/eos>"]
    tok = CharTokenizer(tl, token_type="bpe", bpemodel=tmp_path / "bpe.model")
    text = "the cat on the mat"
    ids = tok.encode(text)
    assert 0 < len(ids) < len(text)  # sub-word units, fewer than characters
    assert tok.decode(ids) == text
    want = [tl.index(p) for p in sp.encode(text, out_type=str)]
    assert ids == want
