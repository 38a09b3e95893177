"""Robustness (notebook 05, section 4): noisy copies of a NER test set (lower-cased, typos, entities
swapped for unseen names), the same test set with its word embeddings moved a step of fixed length
(the change adversarial training defends against), and how much of each gold entity a redaction
would leave visible.
"""
from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from typing import Any

import torch

from ..errors import BmcourseError
from ..i18n import tr as _
from ..tagging import spans

#: The directions embedding_attack moves the embeddings in.
DIRECTIONS = ("random", "gradient")

_KEYBOARD = "qwertyuiopasdfghjklzxcvbnm"


def typo(word: str, rng: random.Random) -> str:
    """One character-level typo in ``word``: swap two neighbours, drop, double or replace a letter
    (words shorter than 2 letters get a replacement only, so no word disappears)."""
    letters = [i for i, ch in enumerate(word) if ch.isalpha()]
    if not letters:
        return word
    i = rng.choice(letters)
    kind = rng.choice(("swap", "drop", "double", "replace")) if len(word) > 1 else "replace"
    if kind == "swap" and i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == "drop":
        return word[:i] + word[i + 1:]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    new = rng.choice(_KEYBOARD)
    return word[:i] + (new.upper() if word[i].isupper() else new) + word[i + 1:]


def add_typos(tokens: Sequence[str], rate: float, rng: random.Random) -> list[str]:
    """A copy of ``tokens`` where each word with letters gets one typo with probability ``rate``."""
    return [typo(word, rng) if rng.random() < rate else word for word in tokens]


def noisy_split(split: Any, kind: str, *, rate: float = 0.0, seed: int = 0, pool: dict | None = None) -> Any:
    """A copy of a NER split with the same tags and the words changed: ``"lower"`` (lower-cased),
    ``"typos"`` (``add_typos`` at ``rate``) or ``"swap"`` (every entity replaced by a mention of the
    same type from ``pool``)."""
    from ..transfer import replace_mentions

    rng = random.Random(seed)
    names = split.features["ner_tags"].feature.names
    rows = {"tokens": [], "ner_tags": []}
    for tokens, tags in zip(split["tokens"], split["ner_tags"]):
        if kind == "lower":
            new_tokens, new_tags = [t.lower() for t in tokens], list(tags)
        elif kind == "typos":
            new_tokens, new_tags = add_typos(tokens, rate, rng), list(tags)
        elif kind == "swap":
            if pool is None:
                raise BmcourseError(_("an entity swap needs a pool of mentions"),
                                    fix=_("pass pool=unseen_mentions(...)"))
            words, named = replace_mentions(tokens, [names[t] for t in tags], pool, rng)
            new_tokens, new_tags = words, [names.index(t) for t in named]
        else:
            raise BmcourseError(_("unknown noise {kind}").format(kind=repr(kind)), fix=_("use 'lower', 'typos' or 'swap'"))
        rows["tokens"].append(new_tokens)
        rows["ner_tags"].append(new_tags)
    from datasets import Dataset, Features

    return Dataset.from_dict(rows, features=Features({k: split.features[k] for k in ("tokens", "ner_tags")}))


def unseen_mentions(pool_split: Any, seen_split: Any) -> dict[str, list[list[str]]]:
    """Entity mentions of ``pool_split`` by type that never occur (same words) in ``seen_split``:
    names the model was not trained on."""
    from ..transfer import mentions_by_type

    seen = {tuple(m) for mentions in mentions_by_type(seen_split).values() for m in mentions}
    return {kind: [m for m in mentions if tuple(m) not in seen]
            for kind, mentions in mentions_by_type(pool_split).items()}


def leaked_entities(gold: Sequence[str], pred: Sequence[str]) -> list[Any]:
    """One sentence's gold entities (``tagging.Span``) that redaction would leave partly visible:
    at least one of their words is outside every predicted entity, whatever its type."""
    hidden = {i for span in spans(list(pred)) for i in range(span.start, span.end)}
    return [span for span in spans(list(gold)) if any(i not in hidden for i in range(span.start, span.end))]


def leak_rate(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, float]:
    """Per gold entity type, the share of entities that leak (``leaked_entities``)."""
    counts: dict[str, list[int]] = {}
    for g, p in zip(gold, pred):
        leaked = leaked_entities(g, p)
        for span in spans(list(g)):
            counts.setdefault(span.type, []).append(span in leaked)
    return {kind: statistics.fmean(flags) for kind, flags in sorted(counts.items())}


def embedding_attack(model: torch.nn.Module, features: Sequence[Any], epsilon: float, *, batch_size: int = 32,
                     pad_id: int | None = None, seed: int = 0, decode: str = "viterbi", progress: bool = True
                     ) -> dict[str, dict[str, Any]]:
    """Mean loss and word tags with each batch's word embeddings as they are (``"clean"``) and moved by a
    step of L2 length ``epsilon``: along the loss gradient, normalised as FGM does (``"gradient"``, the
    worst case FGM trains on) or in a random direction (``"random"``). Embeddings restored after each batch."""
    from ..train import (
        decode_logits,
        fgm_delta,
        gold_and_predicted_tags,
        length_sorted_batches,
        pad_id_of,
        progress_bar,
        to_device,
        word_embeddings,
    )

    if not features or epsilon <= 0:
        raise BmcourseError(_("embedding_attack needs features and a positive epsilon, got {features} features and "
                              "epsilon={epsilon}").format(features=len(features), epsilon=epsilon),
                            fix=_("encode a test split; use e.g. epsilon=1.0"))
    target = to_device(model, None)
    model.eval()  # no dropout: the only change between the passes is the step
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    weight = word_embeddings(model)
    generator = torch.Generator().manual_seed(seed)
    results: dict[str, dict[str, Any]] = {kind: {"loss": 0.0, "pairs": []} for kind in ("clean", *DIRECTIONS)}
    bar = progress_bar(len(features), _("embedding steps"), progress)
    for indices, batch in length_sorted_batches(features, batch_size, pad_id_of(features, pad_id), target):
        rows_of = [features[i] for i in indices]
        model.zero_grad(set_to_none=True)
        output = model(**batch)
        output.loss.backward()
        rows = weight.grad.abs().sum(-1).nonzero().squeeze(-1)  # the batch's tokens (as fgm_backward)
        steps = {"gradient": weight.grad[rows],
                 "random": torch.randn(weight.grad[rows].shape, generator=generator).to(weight.device)}
        outputs = {"clean": output}
        with torch.no_grad():
            saved = weight[rows].clone()
            for kind in DIRECTIONS:
                weight[rows] += fgm_delta(steps[kind], epsilon)
                try:
                    outputs[kind] = model(**batch)
                finally:
                    weight[rows] = saved  # restored exactly, not by subtracting
        for kind, out in outputs.items():
            results[kind]["loss"] += float(out.loss.detach()) * len(indices)
            results[kind]["pairs"].extend(zip(indices, decode_logits(out.logits.detach(), rows_of, names, decode)))
        bar.update(len(indices))
    bar.close()
    model.zero_grad(set_to_none=True)
    id2label = dict(enumerate(names))
    scored = {}
    for kind, result in results.items():
        preds = [p for _, p in sorted(result["pairs"], key=lambda pair: pair[0])]
        gold, pred = gold_and_predicted_tags(features, preds, id2label)
        scored[kind] = {"loss": result["loss"] / len(features), "gold": gold, "pred": pred}
    return scored
