"""Evaluation metrics on three axes (reconstruction, understanding, generation) + overall score.

* :mod:`.registry` - ``Metric``, ``register_metric``, ``get_metric``, ``available_metrics``,
  per-utterance scoring helpers and the ``metrics.json`` writer.
* :mod:`.judges` - the judge registry (``available_judges``): embedded judges (DistillMOS,
  Resemblyzer, PocketSphinx) and the paper's (:mod:`.paper_judges`: Whisper-large-v3, WavLM-Large
  ECAPA-TDNN SV for SIM-o, UTMOS22 strong), loaded from local files only.
* :mod:`.reconstruction`, :mod:`.generation`, :mod:`.understanding` - the metrics.
* :mod:`.missing` - the missing-value policy: the worst value a failed item counts as, per metric.
* :mod:`.overall` - ``compute_scores``: axis scores relative to baselines + overall score.
"""
from espnet_plugin.metrics.registry import (  # noqa: F401
    AXES,
    JudgeUnavailable,
    Metric,
    add_metric,
    available_metrics,
    average_scores,
    get_metric,
    register_metric,
    resolve_metrics,
    score_utterance,
    write_metrics_json,
)
from espnet_plugin.metrics import generation, reconstruction, understanding  # noqa: F401,E402
from espnet_plugin.metrics.overall import DEFAULT_BASELINES, compute_scores  # noqa: F401,E402
