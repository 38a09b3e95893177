"""Small target training sets (notebook 03's few-shot curves): seeded samples that cover every
entity type, a fixed evaluation sample, the training budget that gives every run the same compute,
mention-replacement augmentation, and summaries of the runs per size and seed.
"""
from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from ..errors import BmcourseError
from ..i18n import tr as _
from ..tagging import spans, split_tag

BUDGET = 500        # sentence presentations per run (bench transfer): every run gets the same compute
EVAL_SAMPLE = 300   # few-shot and augmentation runs are scored on this fixed test sample


def epochs_for(sentences: int, budget: int = BUDGET, most: float = 10.0) -> float:
    """Epochs so a run sees about ``budget`` sentences: at most ``most`` passes over a tiny split,
    a fraction of one pass over a large one (every run then costs about the same)."""
    return float(min(most, budget / max(1, sentences)))


def _types_in(tags: Sequence[int], names: Sequence[str]) -> set[str]:
    return {split_tag(names[t])[1] for t in tags if names[t].startswith("B-")}


def few_shot_indices(split: Any, n: int, seed: int) -> list[int]:
    """``n`` sentence indices sampled with ``seed`` so that every entity type of the split appears
    (when ``n`` allows); ``n`` at or above the split's size means all of it."""
    total = split.num_rows
    if n >= total:
        return list(range(total))
    names = split.features["ner_tags"].feature.names
    order = list(range(total))
    random.Random(seed).shuffle(order)
    types = [_types_in(tags, names) for tags in split["ner_tags"]]
    chosen: list[int] = []
    missing = set().union(*types)
    # Walk the seeded shuffle and keep each sentence that has a type not covered yet, until every type
    # is covered (or n are kept); then fill up to n with the rest of the shuffle, in its order.
    for i in order:
        if not missing or len(chosen) == n:
            break
        if types[i] & missing:
            chosen.append(i)
            missing -= types[i]
    rest = [i for i in order if i not in set(chosen)]
    return sorted(chosen + rest[:n - len(chosen)])


def fixed_sample(split: Any, n: int | None, seed: int = 0) -> Any:
    """The same ``n`` sentences of ``split`` for every run (all of it when ``n`` is None or larger):
    scores many small runs on one cheaper, shared evaluation set."""
    if n is None or n >= split.num_rows:
        return split
    return split.select(sorted(random.Random(seed).sample(range(split.num_rows), n)))


def few_shot(split: Any, n: int, seed: int, *, quiet: bool = False) -> Any:
    """The few-shot subset of :func:`few_shot_indices`; says so when ``n`` exceeds the split."""
    if n > split.num_rows and not quiet:
        print(_("bmcourse: asked for {n} sentences, the training split has {m}: using all of them").format(
            n=n, m=split.num_rows))
    return split.select(few_shot_indices(split, n, seed))


def mentions_by_type(split: Any) -> dict[str, list[list[str]]]:
    """Every entity mention of the split (its words), grouped by type."""
    names = split.features["ner_tags"].feature.names
    found: dict[str, list[list[str]]] = defaultdict(list)
    for tokens, tags in zip(split["tokens"], split["ner_tags"]):
        for span in spans([names[t] for t in tags]):
            found[span.type].append(list(tokens[span.start:span.end]))
    return dict(found)


def replace_mentions(tokens: Sequence[str], tags: Sequence[str], pool: dict[str, list[list[str]]],
                     rng: random.Random) -> tuple[list[str], list[str]]:
    """One augmented copy of a sentence: each mention swapped for a random mention of its type
    from ``pool`` (tags follow the new mention's length, so the copy stays valid IOB2)."""
    out_tokens: list[str] = []
    out_tags: list[str] = []
    i = 0
    while i < len(tags):
        prefix, kind = split_tag(tags[i])
        if prefix != "B":
            out_tokens.append(tokens[i])
            out_tags.append(tags[i])
            i += 1
            continue
        end = i + 1
        while end < len(tags) and tags[end] == f"I-{kind}":
            end += 1
        choices = pool.get(kind) or [list(tokens[i:end])]
        new = rng.choice(choices)
        out_tokens += new
        out_tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(new) - 1)
        i = end
    return out_tokens, out_tags


def augment_with_mentions(split: Any, copies: int = 1, seed: int = 0) -> Any:
    """The split plus ``copies`` mention-replaced copies of each sentence that has an entity."""
    from datasets import Dataset

    names = split.features["ner_tags"].feature.names
    index = {n: i for i, n in enumerate(names)}
    pool = mentions_by_type(split)
    rng = random.Random(seed)
    rows = {"tokens": list(split["tokens"]), "ner_tags": list(split["ner_tags"])}
    for _copy in range(copies):
        for tokens, tags in zip(split["tokens"], split["ner_tags"]):
            words = [names[t] for t in tags]
            if all(w == "O" for w in words):
                continue
            new_tokens, new_tags = replace_mentions(tokens, words, pool, rng)
            rows["tokens"].append(new_tokens)
            rows["ner_tags"].append([index[t] for t in new_tags])
    features = split.features.copy()
    return Dataset.from_dict({k: rows[k] for k in ("tokens", "ner_tags")},
                             features=type(features)({k: features[k] for k in ("tokens", "ner_tags")}))


def scores_by_size(few: Sequence[dict[str, Any]], target: str, *, augmentation: str = "none"
                   ) -> dict[str, dict[int, list[float]]]:
    """Few-shot F1 per init and size, one entry per seed: ``{init: {n: [f1, ...]}}``."""
    out: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in few:
        if row["target"] == target and row.get("augmentation", "none") == augmentation:
            out[row["init"]][row["n"]].append(row["test_f1"])
    return {init: dict(sorted(sizes.items())) for init, sizes in out.items()}


def paired_differences(few: Sequence[dict[str, Any]], target: str, *, up_to: int = 50,
                       a: tuple[str, str] = ("source", "none"), b: tuple[str, str] = ("pretrained", "none")
                       ) -> list[float]:
    """F1 of setting ``a`` minus setting ``b`` (``(init, augmentation)``), paired by size and seed
    (the same sampled sentences), for sizes up to ``up_to``."""
    index = {(r["init"], r.get("augmentation", "none"), r["n"], r["seed"]): r["test_f1"]
             for r in few if r["target"] == target}
    return [index[(*a, n, seed)] - f1 for (init, aug, n, seed), f1 in sorted(index.items())
            if (init, aug) == b and n <= up_to and (*a, n, seed) in index]


def mean_and_spread(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for fewer than two values)."""
    import statistics

    if not values:
        raise BmcourseError(_("no values to summarise"), fix=_("check the target and sizes asked for"))
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


