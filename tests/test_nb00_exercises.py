"""Notebook 00's exercises, run from the notebook source: the reference answers pass and the
typical wrong answers fail, with messages that do not give the answer away."""
from __future__ import annotations

import nbsource
import pytest
import torch

NB = "00"


@pytest.mark.parametrize("exercise_id, ex, answer", [
    ("00.1", "ex1", "cosine"), ("00.2", "ex2", "max_pool"), ("00.3", "ex3", "probe_parameters"),
    ("00.4", "ex4", "probe_gain"),
])
def test_placeholder_is_unanswered_and_solution_passes(exercise_id: str, ex: str, answer: str) -> None:
    nbsource.check_placeholder_then_solution(NB, exercise_id, ex, answer)


def test_00_1_dot_product_and_distance_fail() -> None:
    ns = nbsource.exercise(NB, "00.1", solved=True)
    u, v = ns["u"], ns["v"]
    assert u.norm().item() > 1.5  # raw vectors: a plain dot product is far from the cosine
    for wrong in (torch.dot(u, v).item(), torch.dist(u, v).item(), 1 - ns["cosine"], 1.0):
        result = ns["ex1"].check(wrong)
        assert not result.passed and f"{ns['cosine']:.4f}" not in result.message


def test_00_2_padding_as_zero_unmasked_and_mean_fail() -> None:
    ns = nbsource.exercise(NB, "00.2", solved=True)
    check = ns["ex2"].check
    zero_filled = lambda h, m: (h * m.unsqueeze(-1)).amax(dim=1)  # noqa: E731  0 wins when all values are negative
    unmasked = lambda h, m: h.amax(dim=1)  # noqa: E731
    mean = lambda h, m: (h * m.unsqueeze(-1)).sum(1) / m.sum(1, keepdim=True)  # noqa: E731
    as_list = lambda h, m: ns["max_pool"](h, m).tolist()  # noqa: E731
    for wrong in (zero_filled, unmasked, mean, as_list):
        assert not check(wrong).passed
    assert "padding" in check(unmasked).message


def test_00_3_forgetting_the_bias_or_the_classes_fails() -> None:
    ns = nbsource.exercise(NB, "00.3", solved=True)
    d = ns["encoder"].config.hidden_size
    for wrong in (d * 9, d + 1, d * 9 + 1, float(d * 9 + 9) + 0.5):
        assert not ns["ex3"].check(wrong).passed
    assert ns["probe_parameters"] == d * 9 + 9


def test_00_4_wrong_sign_and_single_accuracies_fail() -> None:
    ns = nbsource.exercise(NB, "00.4", solved=True)
    rows = {r["method"]: r["accuracy"] for r in ns["ref"]["sentiment"]["rows"]}
    gain = ns["probe_gain"]
    assert abs(gain) > 0.005  # the check can tell the sign apart
    for wrong in (-gain, rows["frozen encoder + linear probe"], rows["bag of words + logistic regression"]):
        assert not ns["ex4"].check(wrong).passed
