"""Generation (zero-shot TTS) metrics and the shared text-error-rate helpers.

* ``wer`` / ``cer`` (%, lower is better): corpus-level error rates of the ASR judge's
  transcript of each generated clip against the target text,
  ``WER = 100 * (S + D + I) / N_ref_words`` summed over the test set (``jiwer``), after
  :func:`normalize_text` on both sides.  Corpus level (not a mean of per-utterance rates) so
  that short sentences do not dominate; per-utterance rates are still written by the bin.
* ``spk_sim`` (higher): SIM-o, the speaker judge's cosine similarity between the prompt and the
  output (``--sim_judge``: Resemblyzer by default, ``wavlm_large_sv`` as F5-TTS in the paper recipe).
* ``mos`` (higher): the MOS judge's estimate of the output (DistillMOS by default, UTMOS22 strong).
* ``utmos``, ``spk_sim_wavlm``: opt-in extra columns, skipped when their weights are not local.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from typing import Callable, Mapping, Optional, Sequence

import numpy as np

from espnet_plugin.metrics import judges
from espnet_plugin.metrics.registry import add_online_judges, register_metric

logger = logging.getLogger(__name__)

_APOS = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
_NOT_WORD = re.compile(r"[^\w\s']|_")
_LONE_APOS = re.compile(r"(?<!\w)'|'(?!\w)")


def normalize_text(text: str) -> str:
    """Normalise a transcript for WER: NFKC, upper-case, punctuation -> space except
    apostrophes inside words (``don't``; quote marks around words are removed), collapse spaces.

    >>> normalize_text("Hello, world!  It's 'fine'.")
    "HELLO WORLD IT'S FINE"
    """
    t = unicodedata.normalize("NFKC", text).translate(_APOS).upper()
    t = _NOT_WORD.sub(" ", t)
    t = _LONE_APOS.sub(" ", t)
    return " ".join(t.split())


def _pairs(refs: Sequence[str], hyps: Sequence[str]) -> tuple[list[str], list[str]]:
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    r = [normalize_text(x) for x in refs]
    h = [normalize_text(x) for x in hyps]
    keep = [i for i, x in enumerate(r) if x]
    if len(keep) < len(r):
        logger.warning("%d empty reference transcript(s) ignored for WER/CER", len(r) - len(keep))
    return [r[i] for i in keep], [h[i] for i in keep]


def _error_rate(refs: Sequence[str], hyps: Sequence[str], unit: str) -> float:
    """``100 * (S + D + I) / N`` over ``unit`` ("words" or "characters"); NaN with no references."""
    import jiwer

    r, h = _pairs(refs, hyps)
    if not r:
        return float("nan")
    o = jiwer.process_words(r, h) if unit == "words" else jiwer.process_characters(r, h)
    n = o.substitutions + o.deletions + o.hits
    return 100.0 * (o.substitutions + o.deletions + o.insertions) / n


def error_counts(ref: str, hyp: str, unit: str) -> tuple[int, int]:
    """``(S + D + I, N)`` of one utterance over ``unit`` ("words" or "characters"), after
    :func:`normalize_text`; ``(0, 0)`` for an empty reference. Summed over utterances these give the
    corpus rate ``100 * sum(errors) / sum(N)`` (what the bootstrap of the summary resamples)."""
    import jiwer

    r, h = normalize_text(ref), normalize_text(hyp)
    if not r:
        return 0, 0
    o = jiwer.process_words(r, h) if unit == "words" else jiwer.process_characters(r, h)
    return o.substitutions + o.deletions + o.insertions, o.substitutions + o.deletions + o.hits


def error_count_columns(refs: Mapping[str, str], hyps: Mapping[str, str],
                        names: tuple[str, str] = ("wer", "cer")) -> dict[str, dict[str, int]]:
    """Per-utterance ``{utt: {"<wer>.err", "<wer>.len", "<cer>.err", "<cer>.len"}}`` for ``refs``'
    utterances (a missing hypothesis counts as empty: all deletions)."""
    out: dict[str, dict[str, int]] = {}
    for u, ref in refs.items():
        row: dict[str, int] = {}
        for name, unit in zip(names, ("words", "characters")):
            e, n = error_counts(ref, hyps.get(u, ""), unit)
            row[f"{name}.err"], row[f"{name}.len"] = e, n
        out[u] = row
    return out


def word_error_rate(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus WER in percent, ``100 * (S + D + I) / N``; NaN when there are no reference words."""
    return _error_rate(refs, hyps, "words")


def char_error_rate(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus CER in percent over characters (spaces included); NaN with no references."""
    return _error_rate(refs, hyps, "characters")


@register_metric("wer", direction="lower", axis="generation", needs=("refs", "hyps"), judge_kind="asr",
                 aggregate="corpus", unit="%", description="ASR-judge WER of the output, %")
def tts_wer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus WER (%) of ASR transcripts ``hyps`` of the generated audio vs target ``refs``."""
    return word_error_rate(refs, hyps)


@register_metric("cer", direction="lower", axis="generation", needs=("refs", "hyps"), judge_kind="asr",
                 aggregate="corpus", unit="%", description="ASR-judge CER of the output, %")
def tts_cer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus CER (%) of ASR transcripts of the generated audio vs target text."""
    return char_error_rate(refs, hyps)


@register_metric("wer_probe", direction="lower", axis="generation", needs=("refs", "hyps"), judge="asr_probe",
                 aggregate="corpus", unit="%",
                 description="WER of the output from the Fbank ASR probe trained on the corpus' real audio, %")
def tts_wer_probe(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus WER (%) with transcripts from the in-domain judge (the Fbank probe), decoded externally."""
    return word_error_rate(refs, hyps)


@register_metric("cer_probe", direction="lower", axis="generation", needs=("refs", "hyps"), judge="asr_probe",
                 aggregate="corpus", unit="%",
                 description="CER of the output from the Fbank ASR probe, %")
def tts_cer_probe(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus CER (%) with transcripts from the in-domain judge (the Fbank probe)."""
    return char_error_rate(refs, hyps)


@register_metric("spk_sim", direction="higher", axis="generation", needs=("prompt", "hyp"), judge_kind="sim",
                 description="speaker similarity prompt vs output (SIM-o: the speaker judge's cosine)")
def tts_spk_sim(prompt: np.ndarray, hyp: np.ndarray, judge: Optional[Callable] = None) -> float:
    """SIM-o: speaker-judge cosine similarity of the prompt and the generated clip (default Resemblyzer)."""
    return float((judge or judges.speaker_similarity)(prompt, hyp))


@register_metric("mos", direction="higher", axis="generation", needs=("hyp",), judge_kind="mos",
                 description="MOS estimate of the output by the MOS judge, 1..5")
def tts_mos(hyp: np.ndarray, judge: Optional[Callable] = None) -> float:
    """MOS-judge quality estimate of the generated clip (default DistillMOS)."""
    return float((judge or judges.mos_distillmos)(hyp))


add_online_judges("generation", pair=("prompt", "hyp"))

DEFAULT_METRICS = ("wer", "cer", "spk_sim", "mos")
