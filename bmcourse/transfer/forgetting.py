"""Catastrophic forgetting and replay (notebook 03): fine-tune the source tagger on a target
through one joint head over both label sets, optionally mixing replayed source sentences in, and
score what the source task keeps.
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from .strategies import STRATEGY_LR


def joint_labels(source_labels: Sequence[str], target_labels: Sequence[str]) -> list[str]:
    """``O``, the source's B-/I- labels, then the target's labels not already there: one head that
    can be trained on target sentences and replayed source sentences together."""
    out = ["O"] + [label for label in source_labels if label != "O"]
    out += [label for label in target_labels if label not in out]
    return out


def relabelled(split: Any, names: Sequence[str], rows: Sequence[int] | None = None) -> Any:
    """``split`` (or some ``rows`` of it) with its tags re-indexed into the label list ``names``."""
    from datasets import ClassLabel, Dataset, Features, Value
    from datasets import Sequence as Seq

    own = split.features["ner_tags"].feature.names
    index = {n: i for i, n in enumerate(names)}
    chosen = split if rows is None else split.select(rows)
    tags = [[index[own[t]] for t in sentence] for sentence in chosen["ner_tags"]]
    features = Features({"tokens": Seq(Value("string")), "ner_tags": Seq(ClassLabel(names=list(names)))})
    return Dataset.from_dict({"tokens": list(chosen["tokens"]), "ner_tags": tags}, features=features)


def _with_head(model: Any, labels: Sequence[str], rows: Sequence[int | None]) -> Any:
    """A copy of ``model`` whose head predicts ``labels``: output ``i`` copies the old head's row
    ``rows[i]``, or starts fresh where that is None."""
    import copy

    import torch

    out = copy.deepcopy(model)
    old = out.classifier
    new = torch.nn.Linear(old.in_features, len(labels))
    with torch.no_grad():
        for i, row in enumerate(rows):
            if row is not None:
                new.weight[i] = old.weight[row]
                new.bias[i] = old.bias[row]
    out.classifier = new
    out.num_labels = out.config.num_labels = len(labels)
    out.config.id2label = dict(enumerate(labels))
    out.config.label2id = {label: i for i, label in enumerate(labels)}
    return out


def joint_tagger(source: Any, labels: Sequence[str]) -> Any:
    """A copy of the source tagger whose head covers ``labels`` (the joint set): the source's
    rows are kept, the target's new rows start fresh."""
    known = source.config.label2id
    return _with_head(source, labels, [known.get(label) for label in labels])


def source_view(joint: Any, source_labels: Sequence[str]) -> Any:
    """The joint tagger restricted to the source's labels: scores it on the source task."""
    return _with_head(joint, source_labels, [joint.config.label2id[label] for label in source_labels])


def forgetting(source: Any, tokenizer: Any, source_data: Any, target_data: Any, *, replay: float = 0.0,
               epochs: float = 3.0, lr: float = STRATEGY_LR["full"], batch_size: int = 16, seed: int = 0,
               device: str | None = None, progress: bool = False) -> dict[str, float]:
    """Fully fine-tune the source tagger on the target (one joint head over both label sets), with
    ``replay`` times as many source sentences as target sentences mixed in; return the target's
    test F1, the source's test F1 after adaptation, and the training seconds."""
    from ..config import seed_everything
    from ..train import TrainConfig, encode_ner, evaluate, fit

    source_labels = source_data["train"].features["ner_tags"].feature.names
    labels = joint_labels(source_labels, target_data["train"].features["ner_tags"].feature.names)
    seed_everything(seed)
    model = joint_tagger(source, labels)
    train = encode_ner(relabelled(target_data["train"], labels), tokenizer, quiet=True)
    n_replay = min(int(round(replay * target_data["train"].num_rows)), source_data["train"].num_rows)
    if n_replay:
        rows = sorted(random.Random(seed).sample(range(source_data["train"].num_rows), n_replay))
        train += encode_ner(relabelled(source_data["train"], labels, rows), tokenizer, quiet=True)
    result = fit(model, train, None, TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                                                 progress=progress, device=device))
    target_test = encode_ner(relabelled(target_data["test"], labels), tokenizer, training=False)
    source_test = encode_ner(source_data["test"], tokenizer, training=False)
    return {"target_f1": evaluate(model, target_test, device=device, progress=False)["f1"],
            "source_f1": evaluate(source_view(model, source_labels), source_test, device=device,
                                  progress=False)["f1"],
            "train_seconds": result.train_seconds, "replayed_sentences": n_replay}


def replay_recovery(before: float, after: float, after_replay: float) -> float | None:
    """Share of the forgotten source F1 that replay wins back (None when nothing was forgotten)."""
    lost = before - after
    return None if lost <= 0 else (after_replay - after) / lost
