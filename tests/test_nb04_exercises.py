"""Notebook 04's exercises, run from the notebook source: the reference answers pass and the
typical wrong answers fail, with messages that do not give the answer away."""
from __future__ import annotations

import nbsource
import pytest

NB = "04"


@pytest.mark.parametrize("exercise_id, ex, answer", [
    ("04.1", "ex1", "threshold_for"), ("04.2", "ex2", "alert_rule"), ("04.3", "ex3", "recall_at"),
    ("04.4", "ex4", "char_entities"),
])
def test_placeholder_is_unanswered_and_solution_passes(exercise_id: str, ex: str, answer: str) -> None:
    nbsource.check_placeholder_then_solution(NB, exercise_id, ex, answer)


def test_04_1_highest_threshold_ignoring_ties_or_strict_target_fails() -> None:
    ns = nbsource.exercise(NB, "04.1", solved=True)
    check = ns["ex1"].check

    def first_that_meets(conf, ok, target):  # the highest threshold, not the most coverage
        pairs = sorted(zip(conf, ok), reverse=True)
        right = 0
        for i, (c, good) in enumerate(pairs):
            right += good
            if right / (i + 1) >= target:
                return c
        return None

    def ignores_ties(conf, ok, target):  # tests a threshold in the middle of a tie
        pairs = sorted(zip(conf, ok), key=lambda p: (-p[0], not p[1]))
        best, right = None, 0
        for i, (c, good) in enumerate(pairs):
            right += good
            if right / (i + 1) >= target:
                best = c
        return best

    def strict(conf, ok, target):  # > instead of >=
        return ns["threshold_for"](conf, ok, target + 1e-9)

    for wrong in (first_that_meets, ignores_ties, strict):
        result = check(wrong)
        assert not result.passed, wrong.__name__


def test_04_2_full_window_denominator_or_strict_threshold_fails() -> None:
    ns = nbsource.exercise(NB, "04.2", solved=True)
    check = ns["ex2"].check

    def full_window(neg, window, threshold):
        return [sum(neg[max(0, i - window + 1):i + 1]) / window >= threshold for i in range(len(neg))]

    def strict(neg, window, threshold):
        return [sum(neg[max(0, i - window + 1):i + 1]) / len(neg[max(0, i - window + 1):i + 1]) > threshold
                for i in range(len(neg))]

    def off_by_one(neg, window, threshold):  # the window ends one headline early
        out = []
        for i in range(len(neg)):
            recent = neg[max(0, i - window):i] or [False]
            out.append(sum(recent) / len(recent) >= threshold)
        return out

    for wrong in (full_window, strict, off_by_one):
        assert not check(wrong).passed, wrong.__name__


def test_04_3_counting_every_hit_or_all_neighbours_fails() -> None:
    ns = nbsource.exercise(NB, "04.3", solved=True)
    check = ns["ex3"].check
    every_hit = lambda k, q, n: sum(row[:k].count(x) for x, row in zip(q, n)) / len(q)  # noqa: E731
    all_neighbours = lambda k, q, n: sum(x in row for x, row in zip(q, n)) / len(q)  # noqa: E731
    per_neighbour = lambda k, q, n: sum(row[:k].count(x) for x, row in zip(q, n)) / (k * len(q))  # noqa: E731
    for wrong in (every_hit, all_neighbours, per_neighbour):
        result = check(wrong)
        assert not result.passed


def test_04_4_one_span_per_subword_or_dropping_the_last_entity_fails() -> None:
    ns = nbsource.exercise(NB, "04.4", solved=True)
    check = ns["ex4"].check
    per_subword = lambda offsets, tags: [(t[2:], s, e) for (s, e), t in zip(offsets, tags)  # noqa: E731
                                         if t not in (None, "O")]

    def drops_last(offsets, tags):
        return ns["char_entities"](offsets, tags)[:-1]

    def word_starts_only(offsets, tags):  # ends at the first sub-word of the entity
        return [(t[2:], s, e) for (s, e), t in zip(offsets, tags) if t and t.startswith("B-")]

    for wrong in (per_subword, drops_last, word_starts_only):
        assert not check(wrong).passed
    assert len(ns["ex4_expected"]) == 4 and ns["ex4_expected"][1][0] == "LOC"
