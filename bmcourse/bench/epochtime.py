"""``bmcourse bench epoch-time``: how long one CoNLL-2003 epoch of ``fit`` takes for a model of a named
shape (``bert-base-cased``: 12 layers, hidden size 768), built locally with random weights when the Hub
cannot be reached. Random weights train exactly as fast as pretrained ones of the same shape; the
epoch time is measured on the first steps of the epoch and scaled to all of its steps (said so).
"""
from __future__ import annotations

import math
from typing import Any

#: Model shapes by the checkpoint they copy (its config.json's numbers; nothing is downloaded).
SHAPES: dict[str, dict[str, int]] = {
    "bert-base-cased": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                        "intermediate_size": 3072, "max_position_embeddings": 512, "vocab_size": 28996},
}


def same_shape_model(shape: str, labels: list[str], vocab_size: int) -> Any:
    """A BERT token classifier of ``shape`` with random weights and ``vocab_size`` word embeddings
    (the tokenizer's, so its ids fit)."""
    from transformers import BertConfig, BertForTokenClassification

    from ..errors import BmcourseError

    if shape not in SHAPES:
        raise BmcourseError(f"unknown model shape {shape!r}", fix=f"use one of {', '.join(SHAPES)}")
    config = BertConfig(**{**SHAPES[shape], "vocab_size": vocab_size}, num_labels=len(labels),
                        id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)},
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return BertForTokenClassification(config)


def bench_epoch_time(shape: str = "bert-base-cased", steps: int = 40, warmup_steps: int = 3,
                     batch_size: int = 16, batch_tokens: int | str | None = None, lr: float = 5e-5,
                     device: str | None = None, seed: int = 0) -> dict[str, Any]:
    """Train ``warmup_steps`` (untimed) then ``steps`` steps of one CoNLL-2003 epoch on a ``shape`` model;
    seconds per step, useful tokens/s, and the epoch's time at that pace."""
    import torch

    from .. import config as cfg
    from .. import reference
    from ..data import load_ner, source_label
    from ..models import count_parameters, load_encoder, model_info
    from ..train import TrainConfig, encode_ner, fit
    from ..train.loop import token_budget_for
    from ..train.runtime import to_device
    from .common import require_real_data

    require_real_data(("conll2003",), "the epoch-time benchmark")
    cfg.seed_everything(seed)
    data = load_ner("conll2003")
    labels = data["train"].features["ner_tags"].feature.names
    _, tokenizer = load_encoder()  # the course's tokenizer (offline: all-MiniLM-L6-v2's, uncased)
    train = encode_ner(data["train"], tokenizer, quiet=True)
    model = same_shape_model(shape, labels, len(tokenizer))
    config = TrainConfig(epochs=1, lr=lr, batch_size=batch_size, batch_tokens=batch_tokens, progress=False,
                         device=device, seed=seed)
    target = to_device(model, device)
    budget = token_budget_for(config, target)
    warm = TrainConfig(**{**vars(config), "max_steps": warmup_steps})
    fit(model, train, None, warm)  # allocations and kernel choices happen here, off the clock
    measured = fit(model, train, None, TrainConfig(**{**vars(config), "max_steps": steps}))
    per_step = measured.train_seconds / measured.steps
    epoch_steps = measured.batches_per_epoch or math.ceil(len(train) / batch_size)
    total = count_parameters(model)[1]
    return {
        "shape": shape, "parameters": total, "layers": SHAPES[shape]["num_hidden_layers"],
        "hidden_size": SHAPES[shape]["hidden_size"], "vocab_size": len(tokenizer),
        "device": str(target), "torch_threads": torch.get_num_threads(),
        "steps_timed": measured.steps, "warmup_steps": warmup_steps, "seconds_timed": round(measured.train_seconds, 2),
        "seconds_per_step": round(per_step, 4),
        "useful_tokens_per_second": round(measured.useful_tokens_per_second, 1),
        "epoch_steps": epoch_steps, "epoch_seconds_estimated": round(per_step * epoch_steps, 1),
        "estimate": f"seconds per step over {measured.steps} steps of the epoch's shuffled, length-grouped order, "
                    f"times its {epoch_steps} steps",
        "settings": {"batch_size": batch_size, "batch_tokens": budget, "lr": lr, "seed": seed,
                     "weights": "random (the shape of the checkpoint, no download)",
                     "tokenizer": model_info()["name"]},  # the course's: its ids, its sentence lengths
        **reference.provenance(model={"shape": shape}, data_source=source_label("conll2003", kind="ner"),
                               command=reference.command_line()),
    }
