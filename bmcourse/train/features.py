"""Features and batches (notebook 02 §2-§3): word-tagged sentences or texts tokenised into
feature dicts with labels aligned to sub-words, and batches padded with the tokenizer's pad id
and ``-100`` labels, grouped by length so little compute goes to padding.
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import torch

from ..errors import BmcourseError
from ..i18n import tr as _
from ..tagging import IGNORE_INDEX, align_labels, inside_label_ids, word_chunks

Feature = dict[str, Any]


def _max_length(tokenizer: Any, max_length: int | None) -> int:
    limit = min(int(getattr(tokenizer, "model_max_length", 512) or 512), 512)
    return min(max_length, limit) if max_length else limit


def encode_ner(split: Any, tokenizer: Any, *, label_all_subwords: bool = False,
               max_length: int | None = None, training: bool = True,
               label_names: Sequence[str] | None = None, quiet: bool = False) -> list[Feature]:
    """Tokenise word-tagged sentences and align labels to sub-words (first sub-word labelled).

    ``split`` is a dataset split (``tokens``, ``ner_tags``) or a list of word lists. With
    ``training=True`` over-long sentences are truncated to ``max_length`` and counted in a
    notice; with ``training=False`` they are cut into word chunks, so no word is lost.
    """
    if isinstance(split, (list, tuple)):
        sentences, tags = [list(s) for s in split], [[0] * len(s) for s in split]
    else:
        sentences, tags = split["tokens"], split["ner_tags"]
        if label_names is None:
            label_names = split.features["ner_tags"].feature.names
    inside = inside_label_ids(label_names) if label_all_subwords and label_names else None
    limit = _max_length(tokenizer, max_length)
    pad_id = tokenizer_pad_id(tokenizer)
    features: list[Feature] = []
    truncated = 0
    for start in range(0, len(sentences), 1000):
        words_batch = sentences[start:start + 1000]
        enc = tokenizer(words_batch, is_split_into_words=True, truncation=False)
        for k, words in enumerate(words_batch):
            index = start + k
            word_ids = enc.word_ids(k)
            if len(word_ids) <= limit:
                features.append(_ner_feature(enc["input_ids"][k], word_ids, tags[index], index, 0,
                                             label_all_subwords, inside, pad_id))
                continue
            if training:
                truncated += 1
                ids = enc["input_ids"][k][:limit - 1] + [enc["input_ids"][k][-1]]
                wids = word_ids[:limit - 1] + [None]
                kept = 1 + max(w for w in wids if w is not None)  # words whose first sub-word survived
                feature = _ner_feature(ids, wids, tags[index][:kept], index, 0, label_all_subwords,
                                       inside, pad_id)
                feature["words_cut"] = len(words) - kept
                features.append(feature)
                continue
            counts = [0] * len(words)
            for w in word_ids:
                if w is not None:
                    counts[w] += 1
            for lo, hi in word_chunks(counts, limit - 2):
                sub = tokenizer(words[lo:hi], is_split_into_words=True, truncation=True, max_length=limit)
                features.append(_ner_feature(sub["input_ids"], sub.word_ids(), tags[index][lo:hi],
                                             index, lo, label_all_subwords, inside, pad_id))
    if truncated and not quiet:
        print(_("bmcourse: truncated {truncated} of {total} training sentences to "
                "{limit} sub-words (their tail words are not trained on)").format(
                    truncated=truncated, total=len(sentences), limit=limit))
    return features


def tokenizer_pad_id(tokenizer: Any) -> int:
    """The tokenizer's own pad id (BERT pads with 0, RoBERTa with 1): never a guessed default."""
    pad_id = getattr(tokenizer, "pad_token_id", None)
    if pad_id is None:
        raise BmcourseError(_("the tokenizer {tokenizer} has no pad token").format(tokenizer=type(tokenizer).__name__),
                            fix=_("set one first, e.g. tokenizer.pad_token = tokenizer.eos_token"))
    return int(pad_id)


def _ner_feature(input_ids: list[int], word_ids: list[int | None], word_labels: Sequence[int],
                 sentence: int, offset: int, label_all_subwords: bool,
                 inside: Sequence[int] | None, pad_id: int) -> Feature:
    return {"input_ids": list(input_ids), "attention_mask": [1] * len(input_ids),
            "labels": align_labels(word_ids, word_labels, label_all_subwords, inside),
            "word_ids": list(word_ids), "word_labels": list(word_labels),
            "sentence": sentence, "offset": offset, "pad_id": pad_id}


def encode_classification(split: Any, tokenizer: Any, *, max_length: int | None = 128,
                          quiet: bool = False) -> list[Feature]:
    """Tokenise texts (``text``, ``label``) for sequence classification; truncation is counted."""
    texts = list(split["text"]) if not isinstance(split, (list, tuple)) else list(split)
    labels = list(split["label"]) if not isinstance(split, (list, tuple)) else [0] * len(texts)
    limit = _max_length(tokenizer, max_length)
    enc = tokenizer(texts, truncation=True, max_length=limit)
    full = sum(len(ids) >= limit for ids in enc["input_ids"])
    if full and not quiet:
        print(_("bmcourse: {full} of {total} texts reach {limit} sub-words and may be truncated").format(
            full=full, total=len(texts), limit=limit))
    pad_id = tokenizer_pad_id(tokenizer)
    return [{"input_ids": ids, "attention_mask": [1] * len(ids), "labels": label, "sentence": i,
             "pad_id": pad_id} for i, (ids, label) in enumerate(zip(enc["input_ids"], labels))]


# --- batching --------------------------------------------------------------------------------

def pad_id_of(features: Sequence[Feature], pad_id: int | None = None) -> int:
    """``pad_id`` if given, else the tokenizer's pad id recorded in the features by ``encode_*``."""
    if pad_id is not None:
        return pad_id
    recorded = features[0].get("pad_id") if features else None
    if recorded is None:
        raise BmcourseError(_("no pad id: these features were not made by encode_ner/encode_classification"),
                            fix=_("pass pad_id=tokenizer.pad_token_id"))
    return int(recorded)


def collate(features: Sequence[Feature], pad_id: int | None = None) -> dict[str, torch.Tensor]:
    """Pad a batch to its longest member: ids with the tokenizer's pad id, mask with 0, token labels with -100."""
    pad_id = pad_id_of(features, pad_id)
    width = max(len(f["input_ids"]) for f in features)
    pad = lambda seq, value: list(seq) + [value] * (width - len(seq))  # noqa: E731
    batch = {"input_ids": torch.tensor([pad(f["input_ids"], pad_id) for f in features]),
             "attention_mask": torch.tensor([pad(f["attention_mask"], 0) for f in features])}
    first = features[0]["labels"]
    if isinstance(first, list):
        batch["labels"] = torch.tensor([pad(f["labels"], IGNORE_INDEX) for f in features])
    else:
        batch["labels"] = torch.tensor([f["labels"] for f in features])
    return batch


def token_budget_batches(lengths: Sequence[int], max_tokens: int, *, shuffle: bool = True,
                         seed: int = 0, pool: int = 4096) -> list[list[int]]:
    """Batches whose padded size (members x longest member) stays within ``max_tokens``: sentences
    are sorted by length within shuffled pools, so short ones travel in large batches and long ones
    in small; every step then costs about the same (what keeps an accelerator busy)."""
    if max_tokens < 1:
        raise BmcourseError(_("a token budget of {n} holds no sentence").format(n=max_tokens),
                            fix=_("use a budget of at least the longest sentence's length, e.g. 4096"))
    order = list(range(len(lengths)))
    rng = random.Random(seed)
    if shuffle:
        rng.shuffle(order)
    batches: list[list[int]] = []
    for s in range(0, len(order), pool):
        current: list[int] = []
        longest = 0
        for i in sorted(order[s:s + pool], key=lambda j: -lengths[j]):
            if current and (len(current) + 1) * max(longest, lengths[i]) > max_tokens:
                batches.append(current)
                current, longest = [], 0
            current.append(i)
            longest = max(longest, lengths[i])
        if current:
            batches.append(current)
    if shuffle:
        rng.shuffle(batches)
    return batches


def batch_indices(lengths: Sequence[int], batch_size: int, *, shuffle: bool = True,
                  group_by_length: bool = True, seed: int = 0) -> list[list[int]]:
    """Batches of indices; grouped by length (little padding) within shuffled pools of 50 batches."""
    order = list(range(len(lengths)))
    rng = random.Random(seed)
    if shuffle:
        rng.shuffle(order)
    if group_by_length:
        pool = batch_size * 50
        order = [i for s in range(0, len(order), pool)
                 for i in sorted(order[s:s + pool], key=lambda j: -lengths[j])]
    batches = [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
    if shuffle and group_by_length:
        rng.shuffle(batches)
    return batches

