"""Semantic search (notebook 04, section 3): mean-pooled sentence embeddings, the nearest rows by
cosine similarity, recall@k, a similarity-weighted k-nearest-neighbour vote, and a seeded
per-class sample to search in.
"""
from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import torch

from ..errors import BmcourseError
from ..i18n import tr as _


@torch.no_grad()
def sentence_embeddings(model: torch.nn.Module, tokenizer: Any, texts: Sequence[str], *,
                        batch_size: int = 64, device: str | None = None, normalise: bool = True,
                        max_length: int = 128, progress: bool = False) -> torch.Tensor:
    """Mean-pooled last hidden states (padding excluded), L2-normalised: one row per text.

    Mean pooling is how all-MiniLM-L6-v2 was trained, so cosine similarity is meaningful."""
    from ..models import mean_pool
    from ..train import progress_bar, to_device

    target = to_device(model, device)
    model.eval()
    rows = []
    bar = progress_bar(len(texts), _("embedding"), progress)
    for s in range(0, len(texts), batch_size):
        batch = tokenizer(list(texts[s:s + batch_size]), padding=True, truncation=True,
                          max_length=max_length, return_tensors="pt").to(target)
        hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        rows.append(mean_pool(hidden, batch["attention_mask"]).float().cpu())
        bar.update(len(batch["input_ids"]))
    bar.close()
    out = torch.cat(rows) if rows else torch.empty(0, model.config.hidden_size)
    return torch.nn.functional.normalize(out, dim=-1) if normalise else out


def nearest(queries: torch.Tensor, index: torch.Tensor, k: int, *, exclude_self: bool = False
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine scores and row ids of the ``k`` nearest index rows per query (rows L2-normalised).

    ``exclude_self`` (queries are the index) skips each row's own match."""
    scores = queries @ index.T
    if exclude_self:
        scores.fill_diagonal_(-math.inf)
    k = min(k, index.shape[0] - int(exclude_self))
    return scores.topk(k, dim=-1)


def recall_at_k(query_labels: Sequence[int], neighbour_labels: Sequence[Sequence[int]], k: int) -> float:
    """Share of queries with at least one of their first ``k`` neighbours in the same class."""
    if len(query_labels) != len(neighbour_labels):
        raise BmcourseError(_("{queries} queries but {lists} neighbour lists").format(
                            queries=len(query_labels), lists=len(neighbour_labels)),
                            fix=_("pass one neighbour list per query"))
    hits = sum(label in list(row)[:k] for label, row in zip(query_labels, neighbour_labels))
    return hits / len(query_labels)


def knn_vote(neighbour_labels: Sequence[Sequence[int]], neighbour_scores: Sequence[Sequence[float]],
             k: int) -> list[int]:
    """The class of each query by a similarity-weighted vote of its ``k`` nearest neighbours
    (ties: the class of the nearer neighbour)."""
    out = []
    for labels, scores in zip(neighbour_labels, neighbour_scores):
        votes: dict[int, float] = {}
        for rank, (label, score) in enumerate(zip(list(labels)[:k], list(scores)[:k])):
            votes[int(label)] = votes.get(int(label), 0.0) + float(score) - 1e-9 * rank
        out.append(max(votes, key=votes.get))
    return out


def per_class_sample(labels: Sequence[int], n: int, seed: int = 0) -> list[int]:
    """Row ids of ``n`` examples per class (all of a class that has fewer), seeded, in row order."""
    rng = random.Random(seed)
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(int(label), []).append(i)
    picked = []
    for label in sorted(by_class):
        rows = by_class[label]
        picked += rows if len(rows) <= n else rng.sample(rows, n)
    return sorted(picked)
