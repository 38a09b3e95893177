"""Domain transfer, the topic of notebook 03 (and ``bmcourse bench transfer``): the cached
CoNLL-2003 source tagger and zero-shot scores (``source``), the adaptation strategies
(``strategies``), few-shot samples and augmentation (``fewshot``), forgetting with replay
(``forgetting``) and with elastic weight consolidation (``ewc``). Notebook 03 reads them as ``tr.<name>``.
"""
from __future__ import annotations

from .ewc import (
    EWC_LAMBDA,
    Consolidated,
    ewc_forgetting,
    ewc_penalty,
    fisher_diagonal,
    fisher_rows,
    on_joint,
    penalty_gradient,
)
from .fewshot import (
    BUDGET,
    EVAL_SAMPLE,
    augment_with_mentions,
    epochs_for,
    few_shot,
    few_shot_indices,
    fixed_sample,
    mean_and_spread,
    mentions_by_type,
    paired_differences,
    replace_mentions,
    scores_by_size,
)
from .forgetting import forgetting, joint_labels, joint_tagger, replay_recovery, source_view
from .source import (
    DEFAULT_MAPPING,
    Mapping,
    SourceRecipe,
    data_fingerprint,
    label_mapping,
    map_tags,
    mapped_scores,
    source_cache_key,
    source_tagger,
    zero_shot,
)
from .strategies import (
    INITS,
    LORA_RANK,
    LR_GRID,
    PARTIAL_LAYERS,
    STRATEGIES,
    STRATEGY_LR,
    AdaptResult,
    adapt,
    apply_strategy,
    bitfit_parameters,
    lora_layer,
    peak_memory,
    target_model,
    trainable_share,
)

__all__ = ["BUDGET", "DEFAULT_MAPPING", "EVAL_SAMPLE", "EWC_LAMBDA", "Consolidated", "ewc_forgetting", "ewc_penalty",
           "fisher_diagonal", "fisher_rows", "on_joint", "penalty_gradient", "INITS", "LORA_RANK", "LR_GRID", "PARTIAL_LAYERS",
           "STRATEGIES", "STRATEGY_LR", "AdaptResult", "Mapping", "SourceRecipe", "adapt", "apply_strategy",
           "augment_with_mentions", "bitfit_parameters", "data_fingerprint", "epochs_for", "few_shot",
           "few_shot_indices", "fixed_sample", "forgetting", "joint_labels", "joint_tagger", "label_mapping",
           "lora_layer", "map_tags", "mapped_scores", "mean_and_spread", "mentions_by_type", "paired_differences", "peak_memory",
           "replace_mentions", "replay_recovery", "scores_by_size", "source_cache_key", "source_tagger",
           "source_view", "target_model", "trainable_share", "zero_shot"]
