"""BIO / IOB2 utilities: tag parsing, validation, repair and span extraction.

IOB2: every entity starts with ``B-X``; ``I-X`` may only follow ``B-X`` or ``I-X``.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple


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
    raise ValueError(f"{tag!r} is not an IOB2 tag (expected O, B-TYPE or I-TYPE)")


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


def invalid_positions(tags: Sequence[str]) -> list[int]:
    """Positions of ``I-X`` tags that do not continue a ``B-X``/``I-X`` (invalid IOB2)."""
    bad, previous = [], None
    for i, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        if prefix == "I" and previous != kind:
            bad.append(i)
        previous = kind
    return bad


def repair_iob2(tags: Sequence[str]) -> tuple[list[str], int]:
    """Turn every invalid ``I-X`` into ``B-X``; returns the repaired tags and how many changed."""
    fixed, previous, count = [], None, 0
    for tag in tags:
        prefix, kind = split_tag(tag)
        if prefix == "I" and previous != kind:
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
        if current is not None and (prefix != "I" or kind != current):
            found.append(Span(current, start, i))
            current = None
        if prefix == "B" or (prefix == "I" and current is None):
            start, current = i, kind
    return found
