"""IOB2 utilities."""
from __future__ import annotations

import pytest

from bmcourse.tagging import (Span, invalid_positions, labels_for_types, repair_iob2, spans,
                              split_tag, types_of)


def test_label_order() -> None:
    labels = labels_for_types(["PER", "LOC"])
    assert labels == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"] and types_of(labels) == ["PER", "LOC"]


@pytest.mark.parametrize("tag", ["PER", "B-", "X-PER", "b-PER", ""])
def test_split_tag_rejects(tag: str) -> None:
    with pytest.raises(ValueError):
        split_tag(tag)


def test_invalid_and_repair() -> None:
    tags = ["I-PER", "I-PER", "O", "B-LOC", "I-ORG"]
    assert invalid_positions(tags) == [0, 4]
    assert repair_iob2(tags) == (["B-PER", "I-PER", "O", "B-LOC", "B-ORG"], 2)


def test_spans() -> None:
    tags = ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "I-LOC", "I-LOC"]
    assert spans(tags) == [Span("PER", 0, 2), Span("PER", 2, 3), Span("LOC", 4, 7)]
    assert spans(["O", "I-ORG", "I-ORG"]) == [Span("ORG", 1, 3)]
