"""Text front end of the latent TTS: ESPnet tokenisation + F5-TTS's filler padding.

Token ids come from an ESPnet ``token_list`` (a file, one token a line, or a list) exactly as
ESPnet's ``CommonPreprocessor`` produces them in training: text cleaner -> tokenizer
(ESPnet's ``CharTokenizer`` for ``token_type="char"``, ``SentencepiecesTokenizer`` for
``"bpe"``) -> ``TokenIDConverter`` (unknown tokens map to ``<unk>``). The list itself is ESPnet's
``tokenize_text --write_vocabulary`` output (the recipe's, or :func:`token_list_from_text` in-process).

Padding: id sequences are padded with ``FILLER_ID = -1`` (also the ``int_pad_value`` of the
task's collate function) up to the number of audio frames T; the DiT text embedding looks up
row ``id + 1``, so the filler token is embedding row 0 and the ESPnet ids 0..V-1 are rows 1..V.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

import torch

from espnet_plugin.errors import ConfigError

FILLER_ID = -1


def token_list_from_text(
    text: Union[str, Path],
    output: Union[str, Path],
    token_type: str = "char",
    bpemodel: Optional[Union[str, Path]] = None,
) -> Path:
    """Write the token list of a Kaldi ``text`` file (``utt-id transcript`` lines) with ESPnet.

    The recipe's ``tts_token_list`` (``egs2/TEMPLATE/svae1/stages/tts.sh``), run in-process::

        python -m espnet2.bin.tokenize_text --token_type <token_type> [--bpemodel <bpemodel>]
            --input <text> --output <output> -f 2- --write_vocabulary true
            --add_symbol "<blank>:0" --add_symbol "<unk>:1" --add_symbol "<sos/eos>:-1"

    i.e. ``<blank>, <unk>, tokens by decreasing count..., <sos/eos>`` one a line.

    Raises:
        ConfigError: ``text`` does not exist.
    """
    from espnet2.bin import tokenize_text

    if not Path(text).is_file():
        raise ConfigError(f"text file not found: {text}")
    cmd = ["--token_type", token_type, "--input", str(text), "--output", str(output), "--field", "2-",
           "--write_vocabulary", "true",
           "--add_symbol", "<blank>:0", "--add_symbol", "<unk>:1", "--add_symbol", "<sos/eos>:-1"]
    if bpemodel is not None:
        cmd += ["--bpemodel", str(bpemodel)]
    tokenize_text.main(cmd)
    return Path(output)


def pad_text_to_length(text: torch.Tensor, length: int) -> torch.Tensor:
    """Pad (with ``FILLER_ID``) or truncate text ids to ``length`` frames.

    Args:
        text: (B, L) integer ids; any negative id is treated as padding.
    Returns:
        (B, length) ids, negative entries replaced by ``FILLER_ID``.
    """
    text = text.masked_fill(text < 0, FILLER_ID)
    if text.size(1) >= length:
        return text[:, :length]
    pad = text.new_full((text.size(0), length - text.size(1)), FILLER_ID)
    return torch.cat([text, pad], dim=1)


class CharTokenizer:
    """Text -> ESPnet token ids, identical to the training preprocessor's text processing.

    Args:
        token_list: token-list file or list of tokens (index = id).
        token_type: ``"char"`` (ESPnet ``CharTokenizer``) or ``"bpe"`` (sentencepiece).
        bpemodel: sentencepiece model file, required for ``"bpe"``.
        non_linguistic_symbols: file or list of symbols kept as single tokens.
        cleaner: ESPnet text cleaner name (e.g. ``"tacotron"``) or None.
        space_symbol: token of a space for ``"char"``.
        unk_symbol: token used for characters not in the list.
    """

    def __init__(
        self,
        token_list: Union[str, Path, Sequence[str]],
        token_type: str = "char",
        bpemodel: Optional[Union[str, Path]] = None,
        non_linguistic_symbols: Optional[Union[str, Path, Sequence[str]]] = None,
        cleaner: Optional[str] = None,
        space_symbol: str = "<space>",
        unk_symbol: str = "<unk>",
    ):
        from espnet2.text.build_tokenizer import build_tokenizer
        from espnet2.text.cleaner import TextCleaner
        from espnet2.text.token_id_converter import TokenIDConverter

        if token_type not in ("char", "bpe"):
            raise ConfigError(f"token_type must be 'char' or 'bpe' for the latent TTS, got {token_type!r}")
        if token_type == "bpe" and bpemodel is None:
            raise ConfigError("token_type 'bpe' needs --bpemodel (a sentencepiece model file)")
        if isinstance(token_list, (str, Path)) and not Path(token_list).is_file():
            raise ConfigError(f"token list file not found: {token_list}")
        if isinstance(token_list, (str, Path)):
            token_list = str(token_list)
        else:
            token_list = list(token_list)
        try:
            self.converter = TokenIDConverter(token_list, unk_symbol=unk_symbol)
        except RuntimeError as e:  # duplicated symbol / no <unk>
            raise ConfigError(f"bad token list {token_list if isinstance(token_list, str) else ''}: {e}") from e
        self.tokenizer = build_tokenizer(
            token_type=token_type,
            bpemodel=str(bpemodel) if bpemodel is not None else None,
            non_linguistic_symbols=non_linguistic_symbols,
            space_symbol=space_symbol,
        )
        self.cleaner = TextCleaner(cleaner)
        self.token_type = token_type

    @classmethod
    def from_train_args(cls, args: Any) -> "CharTokenizer":
        """Build from an ESPnet training ``argparse.Namespace`` (or dict) of the latent TTS task."""
        get = args.get if isinstance(args, dict) else lambda k, d=None: getattr(args, k, d)
        return cls(
            token_list=get("token_list"),
            token_type=get("token_type", "char") or "char",
            bpemodel=get("bpemodel"),
            non_linguistic_symbols=get("non_linguistic_symbols"),
            cleaner=get("cleaner"),
        )

    @property
    def vocab_size(self) -> int:
        """Number of ESPnet tokens V (the filler is extra)."""
        return self.converter.get_num_vocabulary_size()

    def encode(self, text: str) -> list[int]:
        """Text -> ids (cleaner, tokenizer, token-id conversion)."""
        return self.converter.tokens2ids(self.tokenizer.text2tokens(self.cleaner(text)))

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> text (negative ids, i.e. fillers, are skipped)."""
        tokens = self.converter.ids2tokens([int(i) for i in ids if int(i) >= 0])
        return self.tokenizer.tokens2text(tokens)

    def __call__(
        self, texts: Sequence[str], length: Optional[int] = None, device: Optional[torch.device] = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch-encode texts.

        Args:
            texts: B strings.
            length: pad/truncate to this many positions (e.g. the audio length T); default
                the longest text.
        Returns:
            ids (B, L) padded with ``FILLER_ID``, and text lengths (B,) before padding.
        """
        seqs = [self.encode(t) for t in texts]
        lens = torch.tensor([len(s) for s in seqs], dtype=torch.long, device=device)
        width = max([len(s) for s in seqs] + [1]) if length is None else int(length)
        ids = torch.full((len(seqs), width), FILLER_ID, dtype=torch.long, device=device)
        for i, s in enumerate(seqs):
            s = s[:width]
            if s:
                ids[i, : len(s)] = torch.tensor(s, dtype=torch.long, device=device)
        return ids, lens
