"""``bmcourse bench ner``: fine-tune the encoder on the real CoNLL-2003 with the course's tuned
recipe, and measure entity F1, training time and throughput against the source articles' recipe
(every sentence padded to 128 sub-words, batches of 16).
"""
from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BmcourseError
from .common import require_real_data

if TYPE_CHECKING:
    import torch

SEED_RECIPE_LENGTH = 128   # the source articles pad every sentence to 128 sub-words
SEED_RECIPE_BATCH = 16


def seed_recipe_features(split: Any, tokenizer: Any, n: int, seed: int = 0) -> list[dict]:
    """``n`` sentences encoded the articles' way: padded to 128, tags from [CLS] on, padding = O."""
    rng = random.Random(seed)
    rows = [split[i] for i in rng.sample(range(len(split)), n)]
    features = []
    for row in rows:
        enc = tokenizer(" ".join(row["tokens"]), max_length=SEED_RECIPE_LENGTH,
                        padding="max_length", truncation=True)
        tags = (list(row["ner_tags"]) + [0] * SEED_RECIPE_LENGTH)[:SEED_RECIPE_LENGTH]
        features.append({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                         "labels": tags, "pad_id": tokenizer.pad_token_id})
    return features


def seed_recipe_throughput(model: torch.nn.Module, features: list[dict], lr: float = 2e-5,
                           device: str | None = None) -> dict[str, float]:
    """Train on padded-to-128 batches of 16 for a fixed number of steps; useful tokens per second."""
    from ..train import TrainConfig, fit

    config = TrainConfig(epochs=1, lr=lr, batch_size=SEED_RECIPE_BATCH, warmup=0.0,
                         schedule="constant", clip=None, group_by_length=False, progress=False,
                         weight_decay=0.0, device=device)
    result = fit(model, features, None, config)
    return {"steps": result.steps, "seconds": result.train_seconds,
            "useful_tokens": result.useful_tokens,
            "useful_tokens_per_second": result.useful_tokens_per_second}


def bench_ner(model_name: str = "auto", epochs: float = 1.0, lr: float = 2e-4, batch_size: int = 16,
              label_all_subwords: bool = False, warmup: float = 0.1, seed: int = 0,
              seed_recipe_steps: int = 30, device: str | None = None,
              decode: str = "viterbi", dropout: float | None = 0.0,
              save_model_dir: str | Path | None = None, loop_steps: int = 60,
              compile_check: bool = False, batch_tokens: int | str | None = None) -> dict[str, Any]:
    """Fine-tune on the real CoNLL-2003 and measure F1, time and throughput against the seed recipe.

    With ``save_model_dir`` the fine-tuned tagger is saved there (``bmcourse redact --model DIR``);
    ``loop_steps`` > 0 adds what the loop costs over a plain loop and a microbenchmark (``loopcost``);
    ``compile_check`` adds ``fit`` with ``torch.compile`` to it; ``batch_tokens`` trains by token budget
    (``TrainConfig.batch_tokens``; "auto": the device kind's budget, none on a CPU)."""
    from .. import config as cfg
    from .. import reference
    from ..data import load_ner, source_label
    from ..hub import quiet_transformers
    from ..models import load_token_classifier, loaded_model_info
    from ..train import encode_ner, evaluate, fit, is_main_process, processes
    from ..transfer import SourceRecipe

    os.environ["BMCOURSE_PROFILE"] = "full"
    require_real_data(("conll2003",), "the NER benchmark")
    if save_model_dir is not None and Path(save_model_dir).exists() and not Path(save_model_dir).is_dir():
        raise BmcourseError("--save-model must name a folder, but this is a file", file=save_model_dir,
                            fix="choose a new or existing folder")
    quiet_transformers()
    cfg.seed_everything(seed)
    data = load_ner("conll2003")
    labels = data["train"].features["ner_tags"].feature.names
    recipe = SourceRecipe(epochs=epochs, lr=lr, batch_size=batch_size, warmup=warmup, dropout=dropout, seed=seed)
    model, tokenizer = load_token_classifier(labels, name=model_name, **recipe.dropout_overrides())
    train = encode_ner(data["train"], tokenizer, label_all_subwords=label_all_subwords)
    dev = encode_ner(data["validation"], tokenizer, training=False)
    test = encode_ner(data["test"], tokenizer, training=False)
    config = recipe.config(device=device, decode=decode, progress=sys.stderr.isatty(), batch_tokens=batch_tokens)
    pad_id = tokenizer.pad_token_id
    result = fit(model, train, dev, config, pad_id=pad_id)
    scores = evaluate(model, test, device=device, pad_id=pad_id, decode=decode, progress=False)
    argmax = scores if decode == "argmax" else evaluate(model, test, device=device, pad_id=pad_id,
                                                         progress=False)
    world = processes()[1]
    saved = None
    if save_model_dir is not None and is_main_process():
        from ..models import save_model

        saved = str(save_model(model, tokenizer, save_model_dir))

    cost = None
    if loop_steps > 0 and world == 1:
        from .loopcost import loop_cost

        cfg.seed_everything(seed)
        base, _ = load_token_classifier(labels, name=model_name, **recipe.dropout_overrides())
        base.to(next(model.parameters()).device)
        cost = loop_cost(base, train, config, pad_id, steps=loop_steps, compiled=compile_check)
        del base

    cfg.seed_everything(seed)
    fresh, _ = load_token_classifier(labels, name=model_name)
    seed_features = seed_recipe_features(data["train"], tokenizer, seed_recipe_steps * SEED_RECIPE_BATCH, seed)
    seed_run = seed_recipe_throughput(fresh, seed_features, device=device)
    return {
        "test_f1": round(scores["f1"], 4),
        "test_f1_strict": round(scores["f1_strict"], 4),
        "token_accuracy": round(scores["token_accuracy"], 4),
        "token_f1_with_o": round(scores["token_f1_with_o"], 4),
        "test_f1_argmax_decoding": round(argmax["f1"], 4),
        "dev_f1": round(result.best.get("dev_f1", float("nan")), 4),
        "train_seconds": round(result.train_seconds, 1),
        "useful_tokens_per_second": round(result.useful_tokens_per_second, 1),
        "padding_fraction": round(1 - result.useful_tokens / max(1, result.padded_tokens), 4),
        "seed_recipe_useful_tokens_per_second": round(seed_run["useful_tokens_per_second"], 1),
        "seed_recipe_steps": seed_run["steps"],
        "speedup_vs_seed_recipe": round(result.useful_tokens_per_second / seed_run["useful_tokens_per_second"], 2),
        "device": str(next(model.parameters()).device),
        "epochs": epochs,
        **({"saved_model": saved} if saved else {}),
        **({"loop_cost": cost} if cost else {}),
        "settings": {"lr": lr, "lr_used": round(result.lr, 8), "batch_size": batch_size, "batch_tokens": batch_tokens,
                     "batches_per_epoch": result.batches_per_epoch, "warmup": warmup, "schedule": "linear",
                     "label_all_subwords": label_all_subwords, "group_by_length": True,
                     "decode": decode, "dropout": dropout if dropout is not None else "model default",
                     "weight_decay": 0.01, "clip": 1.0, "seed": seed,
                     # under `accelerate launch`: batch_size is per process; one update sees them all
                     "processes": world, "global_batch_size": batch_size * world},
        "steps": result.steps,
        "data": {"train": len(data["train"]), "test": len(data["test"])},
        **reference.provenance(model=loaded_model_info(model, tokenizer),
                               data_source=source_label("conll2003", kind="ner"), command=reference.command_line()),
        "history": result.history,
    }

