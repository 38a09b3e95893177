"""Deploying a tagger and trusting it, one module per section of notebook 05: ``serve`` (the
``transformers`` pipeline, versioned model folders, runners), ``onnx`` (ONNX export, int8
quantisation and the variants measured side by side), ``explain`` (Integrated Gradients) and
``robust`` (noisy test sets and entity leaks) and ``drift`` (monitoring a stream after deployment,
the retraining trigger). Every public name is importable from here.
"""
from __future__ import annotations

from .drift import (
    PSI_FLOOR,
    STATISTICS,
    DriftMonitor,
    drift_experiment,
    drift_stream,
    drift_table,
    first_trigger,
    psi,
    type_counts,
    window_stats,
    word_outputs,
)
from .explain import baseline_ids, completeness_gap, integrated_gradients, target_function
from .onnx import (
    INT16_MAX,
    INTEGER_MATMULS,
    Variant,
    batch_logits,
    best_within,
    build_runners,
    export_onnx,
    format_drift,
    fuse_transformer,
    int8_weights,
    latency_ms,
    latency_rounds,
    logit_drift,
    measure_variants,
    quantize_int8,
    saturating_weights,
    speedups,
    tag_agreement,
    tags_from_logits,
    variant_table,
)
from .robust import (
    DIRECTIONS,
    add_typos,
    embedding_attack,
    leak_rate,
    leaked_entities,
    noisy_split,
    typo,
    unseen_mentions,
)
from .serve import (
    MANIFEST,
    OrtRunner,
    Runner,
    TorchRunner,
    file_sha256,
    load_versioned,
    pipeline_spans,
    pipeline_word_tags,
    read_manifest,
    save_versioned,
    span_disagreements,
    tag_spans,
    token_pipeline,
    word_tags_from_subwords,
)

__all__ = ["INT16_MAX", "INTEGER_MATMULS", "MANIFEST", "PSI_FLOOR", "STATISTICS", "DriftMonitor", "OrtRunner", "Runner",
           "TorchRunner", "Variant", "DIRECTIONS", "add_typos", "embedding_attack", "drift_experiment", "drift_stream", "drift_table", "first_trigger",
           "psi", "type_counts", "window_stats", "word_outputs",
           "baseline_ids", "batch_logits", "best_within", "build_runners", "completeness_gap", "export_onnx",
           "file_sha256", "format_drift", "fuse_transformer", "int8_weights", "integrated_gradients",
           "latency_ms", "latency_rounds", "leak_rate", "leaked_entities", "load_versioned", "logit_drift",
           "measure_variants", "noisy_split", "pipeline_spans", "pipeline_word_tags", "quantize_int8",
           "read_manifest", "saturating_weights", "save_versioned", "span_disagreements", "speedups",
           "tag_agreement", "tag_spans", "tags_from_logits", "target_function", "token_pipeline", "typo",
           "unseen_mentions", "variant_table", "word_tags_from_subwords"]
