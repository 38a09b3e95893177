"""Applications of an adapted encoder, one module per section of notebook 04: ``intent`` (routing
with calibrated confidence and a handoff threshold), ``sentiment`` (an alert monitor on a stream of
headlines), ``search`` (semantic search with sentence embeddings) and ``redact`` (PII redaction
with the NER tagger, also behind ``bmcourse redact``). Every public name is importable from here.
"""
from __future__ import annotations

from ..tagging import split_words_with_offsets as words_with_offsets  # the words with character ranges
from .intent import (
    class_logits,
    class_report,
    confidence_and_prediction,
    confused_pairs,
    coverage_curve,
    expected_calibration_error,
    fit_temperature,
    pick_threshold,
    reliability_bins,
    round_threshold,
    routed_scores,
    wilson_lower_bound,
)
from .redact import (
    Entity,
    Redaction,
    Tagger,
    gold_entities,
    load_tagger,
    missed_and_spurious,
    redact,
    redact_many,
    span_report,
)
from .search import knn_vote, nearest, per_class_sample, recall_at_k, sentence_embeddings
from .sentiment import Stream, alert_episodes, alert_scores, rolling_share, simulate_stream

__all__ = ["Entity", "Redaction", "Stream", "Tagger", "alert_episodes", "alert_scores", "class_logits",
           "class_report", "confidence_and_prediction", "confused_pairs", "coverage_curve",
           "expected_calibration_error", "fit_temperature", "gold_entities", "knn_vote", "load_tagger",
           "missed_and_spurious", "nearest", "per_class_sample", "pick_threshold", "recall_at_k", "redact",
           "redact_many", "reliability_bins", "rolling_share", "round_threshold", "routed_scores",
           "sentence_embeddings", "simulate_stream", "span_report", "wilson_lower_bound", "words_with_offsets"]
