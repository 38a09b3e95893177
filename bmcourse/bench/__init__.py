"""The benchmarks behind ``bmcourse bench``: each measures one part of the course on the real data
and returns a JSON payload (``write_json`` writes it whole). One module per benchmark; ``common``
holds what they share. Nothing in the core or the topics imports this package.
"""
from __future__ import annotations

from ..transfer import BUDGET, EVAL_SAMPLE, epochs_for
from .common import Phases, require_real_data, result_row, sample_only, write_json
from .epochtime import bench_epoch_time
from .inference import bench_inference
from .ner import SEED_RECIPE_BATCH, SEED_RECIPE_LENGTH, bench_ner, seed_recipe_features, seed_recipe_throughput
from .transfer import DEFAULT_SIZES, DEFAULT_TARGETS, LR_TARGETS, bench_transfer, bench_transfer_lr

__all__ = ["BUDGET", "DEFAULT_SIZES", "DEFAULT_TARGETS", "EVAL_SAMPLE", "LR_TARGETS", "Phases",
           "SEED_RECIPE_BATCH", "SEED_RECIPE_LENGTH", "bench_epoch_time", "bench_inference", "bench_ner", "bench_transfer", "bench_transfer_lr",
           "epochs_for", "require_real_data", "result_row", "sample_only", "seed_recipe_features",
           "seed_recipe_throughput", "write_json"]
