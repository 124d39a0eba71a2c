"""Understanding metrics: how much linguistic/speaker content a frozen latent exposes to probes.

Scored from the decodes of SUPERB-style probes trained on the frozen latent:

* ``wer`` / ``cer`` (%, lower is better): corpus-level error rates of the ASR probe's
  decodes against the reference transcripts (same normalisation as generation,
  :func:`espnet_plugin.metrics.generation.normalize_text`).
* ``sid_acc`` (%, higher): speaker-identification accuracy,
  ``100 * #{i: pred_i == label_i} / N``.
* ``kws_acc`` (%, higher): keyword-spotting accuracy, same formula.

The probe stage writes ``metrics.json`` with ``axis: "understanding"`` and these names
(see :func:`espnet_plugin.metrics.registry.write_metrics_json`).
"""
from __future__ import annotations

from typing import Hashable, Sequence

from espnet_plugin.metrics.generation import char_error_rate, word_error_rate
from espnet_plugin.metrics.registry import register_metric


@register_metric("wer", direction="lower", axis="understanding", needs=("refs", "hyps"), judge="asr_probe",
                 aggregate="corpus", unit="%", description="ASR-probe WER, %")
def probe_wer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus WER (%) of probe decodes ``hyps`` vs reference transcripts ``refs``."""
    return word_error_rate(refs, hyps)


@register_metric("cer", direction="lower", axis="understanding", needs=("refs", "hyps"), judge="asr_probe",
                 aggregate="corpus", unit="%", description="ASR-probe CER, %")
def probe_cer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus CER (%) of probe decodes vs reference transcripts."""
    return char_error_rate(refs, hyps)


def accuracy(labels: Sequence[Hashable], preds: Sequence[Hashable]) -> float:
    """``100 * mean(pred == label)`` in percent; NaN for an empty set.

    Raises:
        ValueError: the two sequences differ in length.
    """
    if len(labels) != len(preds):
        raise ValueError(f"{len(labels)} labels but {len(preds)} predictions")
    if not labels:
        return float("nan")
    return 100.0 * sum(a == b for a, b in zip(labels, preds)) / len(labels)


@register_metric("sid_acc", direction="higher", axis="understanding", needs=("labels", "preds"), judge="sid_probe",
                 aggregate="corpus", unit="%", description="speaker-id probe accuracy, %")
def speaker_id_accuracy(labels: Sequence[Hashable], preds: Sequence[Hashable]) -> float:
    """Speaker-identification accuracy (%) of the probe's predictions."""
    return accuracy(labels, preds)


@register_metric("kws_acc", direction="higher", axis="understanding", needs=("labels", "preds"), judge="kws_probe",
                 aggregate="corpus", unit="%", description="keyword-spotting probe accuracy, %")
def keyword_accuracy(labels: Sequence[Hashable], preds: Sequence[Hashable]) -> float:
    """Keyword-spotting accuracy (%) of the probe's predictions."""
    return accuracy(labels, preds)
