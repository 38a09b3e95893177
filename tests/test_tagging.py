"""IOB2 utilities."""
from __future__ import annotations

import pytest

from bmcourse.tagging import Span, invalid_positions, labels_for_types, repair_iob2, spans, split_tag, types_of


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


def test_viterbi_never_returns_invalid_iob2() -> None:
    import math
    import random

    from bmcourse.tagging import viterbi_iob2

    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    rng = random.Random(0)
    for _ in range(50):
        scores = [[math.log(rng.random()) for _ in labels] for _ in range(rng.randint(1, 8))]
        path = [labels[i] for i in viterbi_iob2(scores, labels)]
        assert not invalid_positions(path)
    log = [[math.log(p) for p in row] for row in ([.6, .1, .1, .1, .1], [.1, .1, .5, .1, .2], [.2, .1, .1, .1, .5])]
    assert viterbi_iob2(log, labels) == [0, 3, 4]  # O I-PER I-LOC is invalid; O B-LOC I-LOC scores best
    assert viterbi_iob2([], labels) == []


def test_split_words() -> None:
    from bmcourse.tagging import split_words

    assert split_words("Merkel's visit to New York, 2024.") == ["Merkel", "'s", "visit", "to", "New", "York", ",", "2024", "."]


def _random_iob2(rng, length: int, types=("PER", "LOC", "ORG")) -> list[str]:
    """A random valid IOB2 sequence: I-X only right after B-X or I-X."""
    tags: list[str] = []
    for _ in range(length):
        previous = tags[-1][2:] if tags and tags[-1] != "O" else None
        choices = ["O", *(f"B-{t}" for t in types)] + ([f"I-{previous}"] * 2 if previous else [])
        tags.append(rng.choice(choices))
    return tags


def test_spans_agree_with_seqeval_chunking_on_random_valid_iob2() -> None:
    import random

    from seqeval.metrics.sequence_labeling import get_entities

    rng = random.Random(0)
    for _ in range(2000):
        tags = _random_iob2(rng, rng.randint(0, 15))
        assert not invalid_positions(tags)
        ours = [(s.type, s.start, s.end - 1) for s in spans(tags)]
        assert ours == get_entities(tags), tags
