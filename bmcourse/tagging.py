"""BIO / IOB2 utilities: tag parsing, validation, repair and span extraction.

IOB2: every entity starts with ``B-X``; ``I-X`` may only follow ``B-X`` or ``I-X``.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from .i18n import tr as _


class Span(NamedTuple):
    """An entity: its type and the word range ``[start, end)``."""

    type: str
    start: int
    end: int


def split_tag(tag: str) -> tuple[str, str | None]:
    """``'B-PER'`` -> ``('B', 'PER')``; ``'O'`` -> ``('O', None)``; raises ValueError otherwise."""
    if tag == "O":
        return "O", None
    prefix, sep, kind = tag.partition("-")
    if sep and prefix in ("B", "I") and kind:
        return prefix, kind
    raise ValueError(_("{tag} is not an IOB2 tag (expected O, B-TYPE or I-TYPE)").format(tag=repr(tag)))


def labels_for_types(types: Iterable[str]) -> list[str]:
    """The label list in the course's fixed order: ``O`` first, then ``B-``/``I-`` per type."""
    labels = ["O"]
    for kind in types:
        labels += [f"B-{kind}", f"I-{kind}"]
    return labels


def types_of(labels: Iterable[str]) -> list[str]:
    """Entity types named by a label list, in first-seen order."""
    seen: dict[str, None] = {}
    for label in labels:
        kind = split_tag(label)[1]
        if kind is not None:
            seen.setdefault(kind, None)
    return list(seen)


def continues(prefix: str, kind: str | None, previous_kind: str | None) -> bool:
    """The IOB2 rule, written once: a tag continues an entity only if it is ``I-X`` right after ``X``."""
    return prefix == "I" and kind == previous_kind


def is_stray_inside(prefix: str, kind: str | None, previous_kind: str | None) -> bool:
    """An ``I-X`` that does not continue an entity of type ``X`` (invalid in IOB2)."""
    return prefix == "I" and not continues(prefix, kind, previous_kind)


def invalid_positions(tags: Sequence[str]) -> list[int]:
    """Positions of ``I-X`` tags that do not continue a ``B-X``/``I-X`` (invalid IOB2)."""
    bad, previous = [], None
    for i, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        if is_stray_inside(prefix, kind, previous):
            bad.append(i)
        previous = kind
    return bad


def repair_iob2(tags: Sequence[str]) -> tuple[list[str], int]:
    """Turn every invalid ``I-X`` into ``B-X``; returns the repaired tags and how many changed."""
    fixed, previous, count = [], None, 0
    for tag in tags:
        prefix, kind = split_tag(tag)
        if is_stray_inside(prefix, kind, previous):
            tag, count = f"B-{kind}", count + 1
        fixed.append(tag)
        previous = kind
    return fixed, count


def spans(tags: Sequence[str]) -> list[Span]:
    """Entity spans of a valid IOB2 sequence (a stray ``I-X`` starts a new span)."""
    found: list[Span] = []
    start, current = 0, None
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, kind = split_tag(tag)
        if current is not None and not continues(prefix, kind, current):
            found.append(Span(current, start, i))
            current = None
        if prefix != "O" and current is None:
            start, current = i, kind
    return found


# --- words <-> sub-words -------------------------------------------------------------------

IGNORE_INDEX = -100  # positions with this label are skipped by the loss (PyTorch's ignore_index)


def first_subword_flags(word_ids: Sequence[int | None]) -> list[bool]:
    """The first-sub-word rule, written once: True where a word starts (its first sub-word).

    Special tokens (``None``) are never first; a word's later sub-words repeat its id.
    """
    flags, previous = [], None
    for word in word_ids:
        flags.append(word is not None and word != previous)
        previous = word
    return flags


def inside_label_ids(labels: Sequence[str]) -> list[int]:
    """For each label id, the id of its ``I-`` twin (``B-X`` -> ``I-X``; others map to themselves)."""
    index = {label: i for i, label in enumerate(labels)}
    return [index.get("I-" + label[2:], i) if label.startswith("B-") else i
            for i, label in enumerate(labels)]


def align_labels(word_ids: Sequence[int | None], word_labels: Sequence[int],
                 label_all_subwords: bool = False,
                 inside: Sequence[int] | None = None) -> list[int]:
    """Sub-word labels from word labels: the first sub-word of a word carries its label.

    Special tokens and padding get ``-100``; so do later sub-words of a word, unless
    ``label_all_subwords`` (then they get the word's label, ``B-X`` turned into ``I-X`` via
    ``inside``, the output of ``inside_label_ids``).
    """
    aligned = []
    for word, first in zip(word_ids, first_subword_flags(word_ids)):
        if word is None:
            aligned.append(IGNORE_INDEX)
        elif first:
            aligned.append(word_labels[word])
        elif label_all_subwords:
            label = word_labels[word]
            aligned.append(inside[label] if inside is not None else label)
        else:
            aligned.append(IGNORE_INDEX)
    return aligned


def first_subword_positions(word_ids: Sequence[int | None]) -> list[int]:
    """Positions of the first sub-word of each word (the ones that carry word labels)."""
    return [position for position, first in enumerate(first_subword_flags(word_ids)) if first]


def word_predictions(word_ids: Sequence[int | None], subword_predictions: Sequence[int],
                     n_words: int | None = None, fill: int = 0) -> list[int]:
    """One prediction per word, read at its first sub-word; words never seen get ``fill``."""
    n = n_words if n_words is not None else 1 + max((w for w in word_ids if w is not None), default=-1)
    out: list[int | None] = [None] * n
    for word, pred, first in zip(word_ids, subword_predictions, first_subword_flags(word_ids)):
        if first and word < n and out[word] is None:
            out[word] = int(pred)
    return [fill if p is None else p for p in out]


def word_chunks(subword_counts: Sequence[int], budget: int) -> list[tuple[int, int]]:
    """Split a sentence into consecutive word ranges whose sub-words fit in ``budget``.

    Used at inference so that sentences longer than the model's limit lose no words.
    A single word longer than the budget gets a range of its own (its tail is cut).
    """
    chunks, start, used = [], 0, 0
    for i, count in enumerate(subword_counts):
        count = max(count, 1)
        if used and used + count > budget:
            chunks.append((start, i))
            start, used = i, 0
        used += count
    chunks.append((start, len(subword_counts)))
    return chunks


def repair_for_display(tags: Sequence[str]) -> list[str]:
    """Predicted tags made valid IOB2 for display (stray ``I-X`` become ``B-X``)."""
    return repair_iob2(tags)[0]


_WORD = re.compile(r"[’']s\b|(?:[^\W\d_]\.){2,}|\w+(?:[-.]\w+)*|[^\w\s]")


def split_words(text: str) -> list[str]:
    """Split free text into CoNLL-style words: ``'s`` apart, abbreviations (``U.S.``) whole,
    letters/digits with inner - or ., punctuation."""
    return _WORD.findall(text)


def word_starts(words: Sequence[str]) -> list[int]:
    """Where each word starts in ``" ".join(words)`` (character offsets)."""
    starts, at = [], 0
    for word in words:
        starts.append(at)
        at += len(word) + 1
    return starts


def split_words_with_offsets(text: str) -> list[tuple[str, int, int]]:
    """``split_words`` with each word's character range ``[start, end)`` in ``text``."""
    return [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]


def allowed_transitions(labels: Sequence[str]) -> list[list[bool]]:
    """``allowed[a][b]``: may label ``b`` follow label ``a`` in IOB2 (``I-X`` only after ``B-X``/``I-X``)."""
    parsed = [split_tag(label) for label in labels]
    return [[not is_stray_inside(pb, kb, ka) for pb, kb in parsed] for _, ka in parsed]


def viterbi_iob2(scores: Sequence[Sequence[float]], labels: Sequence[str]) -> list[int]:
    """The highest-scoring *valid* IOB2 label sequence for per-word log-probabilities ``scores``.

    Constrained decoding: instead of taking each word's best label on its own (which can
    produce a stray ``I-X``), pick the best sequence in which every ``I-X`` continues an entity.
    """
    if not len(scores):
        return []
    allowed = allowed_transitions(labels)
    starts = [split_tag(label)[0] != "I" for label in labels]
    n = len(labels)
    best = [s if ok else -math.inf for s, ok in zip(scores[0], starts)]
    back: list[list[int]] = []
    for row in scores[1:]:
        pointers, current = [], []
        for b in range(n):
            a = max((a for a in range(n) if allowed[a][b]), key=lambda a: best[a])
            pointers.append(a)
            current.append(best[a] + row[b])
        back.append(pointers)
        best = current
    path = [max(range(n), key=lambda b: best[b])]
    for pointers in reversed(back):
        path.append(pointers[path[-1]])
    return path[::-1]
