"""Batched greedy CTC decoding of an ESPnet ASR probe (CTC-only models).

ESPnet's ``asr_inference`` decodes one utterance at a time with a label-synchronous prefix search,
which for a CTC-only probe with beam 1 costs about as much as training it on a CPU. Greedy CTC
(per-frame argmax, merge repeats, drop blanks) needs one encoder pass per *batch*; for a CTC-only
model it is the usual "greedy" decode (SUPERB reports its ASR probes this way).
A batch pads its waveforms with zeros: a waveform frontend (STFT, the VAE encoder) can then see
zeros where a single utterance would see its own end, so the last frames of the shorter utterances
may differ slightly from a batch of one; features read from arks (``probe_input=latents``) pass
through masked normalisation and packed RNNs unchanged.

:func:`ctc_greedy_ids` is the rule; :func:`decode_greedy` runs it over an ESPnet data spec with the
model's own preprocessing and writes ``<output_dir>/1best_recog/text`` like ``asr_inference``.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Optional, Sequence

import torch

logger = logging.getLogger(__name__)


def ctc_greedy_ids(log_probs: torch.Tensor, lengths: torch.Tensor, blank: int = 0) -> List[List[int]]:
    """Best path of each sequence: argmax per frame, repeats merged, blanks removed.

    Args:
        log_probs: (B, T, V) CTC (log-)posteriors.
        lengths: (B,) valid frames per sequence.
        blank: the blank id.
    Returns:
        B lists of token ids.
    """
    best = log_probs.argmax(dim=-1).cpu()
    out = []
    for b, n in enumerate(lengths.cpu().tolist()):
        seq = best[b, :n]
        keep = torch.ones_like(seq, dtype=torch.bool)
        keep[1:] = seq[1:] != seq[:-1]
        out.append([int(t) for t in seq[keep] if int(t) != blank])
    return out


def decode_greedy(asr_train_config: str, asr_model_file: str, data_path_and_name_and_type: Sequence,
                  output_dir: str, key_file: Optional[str] = None, batch_size: int = 16,
                  device: str = "cpu") -> Path:
    """Decode every utterance of the data spec; returns ``<output_dir>/1best_recog/text``.

    Raises:
        ConfigError: the model has an attention decoder (greedy CTC would not be its decode).
    """
    from espnet2.tasks.asr import ASRTask
    from espnet2.text.build_tokenizer import build_tokenizer
    from espnet2.text.token_id_converter import TokenIDConverter
    from tqdm import tqdm

    from espnet_plugin.errors import ConfigError
    from espnet_plugin.io.kaldi_dir import write_text_atomic

    model, args = ASRTask.build_model_from_file(asr_train_config, asr_model_file, device)
    if getattr(model, "decoder", None) is not None and getattr(model, "ctc_weight", 1.0) < 1.0:
        raise ConfigError(f"{asr_train_config}: the model has an attention decoder; greedy CTC decoding "
                          "is for CTC-only probes (use the ESPnet decoding configs)")
    model.eval()
    converter = TokenIDConverter(token_list=args.token_list)
    tokenizer = build_tokenizer(token_type=args.token_type, bpemodel=getattr(args, "bpemodel", None))
    loader = ASRTask.build_streaming_iterator(
        data_path_and_name_and_type, dtype="float32", batch_size=batch_size, key_file=key_file,
        num_workers=0, preprocess_fn=ASRTask.build_preprocess_fn(args, False),
        collate_fn=ASRTask.build_collate_fn(args, False), allow_variable_data_keys=False, inference=True)
    lines = []
    with torch.no_grad():
        for keys, batch in tqdm(loader, desc="ctc greedy", disable=None):
            # longest first: ESPnet's RNN encoders pack sorted sequences
            order = batch["speech_lengths"].argsort(descending=True)
            speech = batch["speech"][order].to(device)
            lengths = batch["speech_lengths"][order].to(device)
            enc, enc_lens = model.encode(speech, lengths)
            best = ctc_greedy_ids(model.ctc.log_softmax(enc), enc_lens, model.blank_id)
            for key, ids in zip([keys[i] for i in order.tolist()], best):
                tokens = converter.ids2tokens(ids)
                lines.append(f"{key} {tokenizer.tokens2text(tokens)}".rstrip())
    out = Path(output_dir) / "1best_recog" / "text"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, "".join(line + "\n" for line in sorted(lines)))
    logger.info("%d utterances decoded (greedy CTC, batches of %d) -> %s", len(lines), batch_size, out)
    return out
