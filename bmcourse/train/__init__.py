"""``fit`` / ``evaluate`` / ``predict``: the training loop notebook 02 writes by hand, packaged.
``features`` encodes and batches, ``loop`` trains (``fit``), ``predict`` scores, ``runtime`` says
where it runs, ``fgm`` adds adversarial training. The names notebooks use are importable from
here (``from bmcourse.train import encode_ner, fit, evaluate``).

Works for token classification (features from ``encode_ner``) and sequence classification
(features from ``encode_classification``), also for frozen or partly trainable models; ``fit`` and
``evaluate`` run through Hugging Face Accelerate (bf16 on CUDA, gradient accumulation, and
data-parallel runs under ``accelerate launch``; see README, "Scaling up").
"""
from __future__ import annotations

from ..models import save_model
from .features import (
    Feature,
    batch_indices,
    collate,
    encode_classification,
    encode_ner,
    pad_id_of,
    token_budget_batches,
    tokenizer_pad_id,
)
from .fgm import fgm_backward, fgm_delta, word_embeddings
from .loop import FitResult, TrainConfig, fit, make_optimizer, no_decay, scaled_lr, warmup_linear
from .predict import (
    decode_logits,
    evaluate,
    gold_and_predicted_tags,
    length_sorted_batches,
    predict,
    subword_predictions,
    word_tags,
)
from .runtime import autocast, is_main_process, processes, progress_bar, shard_batches, to_device

__all__ = ["Feature", "FitResult", "TrainConfig", "autocast", "batch_indices", "collate", "decode_logits",
           "encode_classification", "encode_ner", "evaluate", "fgm_backward", "fgm_delta", "fit",
           "gold_and_predicted_tags", "is_main_process", "length_sorted_batches", "make_optimizer", "no_decay",
           "pad_id_of", "predict", "processes", "progress_bar", "save_model", "scaled_lr", "shard_batches",
           "subword_predictions", "to_device", "token_budget_batches", "tokenizer_pad_id", "warmup_linear", "word_embeddings",
           "word_tags"]
