"""Notebook 01's exercises, run from the notebook source itself (see ``tests/nbsource.py``).

For each exercise: the reference solution passes, and the named wrong answers fail with a hint.
"""
from __future__ import annotations

import re

import nbsource
import pytest
import torch
import torch.nn.functional as F

DT = torch.float64
EXERCISES = ("01.1", "01.2", "01.3", "01.4", "01.5", "01.6", "01.7")


def squash(text: str) -> str:
    """``text`` without any whitespace, so code compares whatever its spacing."""
    return re.sub(r"\s+", "", text)


def solved(exercise_id: str) -> dict:
    """The setup cells, the exercise cell and its solution cell, run from the notebook source."""
    return nbsource.exercise("01", exercise_id, solved=True)


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_exercise_cell_runs_alone_and_keeps_the_placeholder(exercise_id: str) -> None:
    ns = nbsource.exercise("01", exercise_id)
    exercise = next(v for v in ns.values() if getattr(v, "key", None) == exercise_id)
    assert exercise.attempts == 0 and len(exercise.hints) >= 2
    assert re.search(r"^\w+ = \.\.\.$", nbsource.exercise_cell("01", exercise_id), flags=re.MULTILINE)


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_last_hint_explains_without_giving_the_solution_line(exercise_id: str) -> None:
    ns = nbsource.exercise("01", exercise_id)
    exercise = next(v for v in ns.values() if getattr(v, "key", None) == exercise_id)
    hints = squash(" ".join(exercise.hints))
    for line in nbsource.solution_cell("01", exercise_id).splitlines():
        code = line.split("=", 1)[-1] if "=" in line and "==" not in line else line
        if len(squash(code)) > 12:
            assert squash(code) not in hints, f"{exercise_id}: a hint contains the solution code {code.strip()!r}"


def test_sigmoid_slope(capsys: pytest.CaptureFixture[str]) -> None:
    ns = solved("01.1")
    ex1 = ns["ex1"]
    assert "backward" not in nbsource.exercise_cell("01", "01.1")  # the expected value is not autograd's
    assert not ex1.check(...).passed and ex1.attempts == 0
    sigma = torch.sigmoid(torch.tensor(2.0, dtype=DT))
    wrong = ex1.check(float(sigma))  # σ, not σ'
    assert not wrong.passed and "💡 Hint 1/2" in wrong.message
    assert "0.1049" not in wrong.message and "0.105" not in wrong.message
    again = ex1.check(float(1 - sigma))  # only one factor
    assert not again.passed and "💡 Hint 2/2" in again.message and "σ(z)·(1 − σ(z))" in again.message
    assert ex1.check(ns["sigmoid_slope"]).passed and ex1.attempts == 3
    s32 = torch.sigmoid(torch.tensor(2.0))
    assert ex1.check(float(s32 * (1 - s32))).passed  # float32 is close enough
    assert "✅ 01.1" in capsys.readouterr().out


def test_bce_gradient_vector() -> None:
    ns = solved("01.2")
    ex2, z2, y2 = ns["ex2"], ns["z2"].detach(), ns["y2"]
    per_example = torch.sigmoid(z2) - y2
    wrong = ex2.check(per_example)  # forgot the mean's 1/N
    assert not wrong.passed and "4 of 4 values differ" in wrong.message and "Hint 1/2" in wrong.message
    assert not ex2.check((y2 - torch.sigmoid(z2)) / 4).passed  # sign flipped
    assert not ex2.check(per_example.sum() / 4).passed  # a number, not the vector
    assert ex2.check(ns["bce_grad"]).passed


def test_softmax_cross_entropy_gradient() -> None:
    ns = solved("01.3")
    ex3, z3 = ns["ex3"], ns["z3"].detach()
    probs = torch.softmax(z3, 0)
    assert not ex3.check(probs).passed  # forgot the one-hot
    assert not ex3.check(probs - F.one_hot(torch.tensor(0), 4)).passed  # the wrong class
    assert not ex3.check(F.one_hot(torch.tensor(2), 4) - probs).passed  # sign flipped
    assert ex3.check(ns["ce_grad"]).passed


def test_masked_mean_loss() -> None:
    ns = solved("01.4")
    ex4, logits, labels = ns["ex4"], ns["ex4_logits"], ns["ex4_labels"]
    keep = labels != -100
    per_row = -torch.log_softmax(logits[keep], dim=1)[torch.arange(int(keep.sum())), labels[keep]]
    assert not ex4.check(per_row.sum() / len(labels)).passed  # divided by 6 positions, not 4
    as_text = ex4.check(str(per_row.mean().item()))  # a string is reported, never evaluated
    assert not as_text.passed and "expected" in as_text.message
    assert ex4.check(ns["masked_loss"]).passed
    assert ex4.check(per_row.mean().item()).passed


def test_linear_head_dw() -> None:
    ns = solved("01.5")
    ex5, X5, W5, labels5 = ns["ex5"], ns["X5"], ns["W5"].detach(), ns["labels5"]
    onehot = F.one_hot(labels5.clamp(min=0), 4)
    unmasked = X5.T @ ((torch.softmax(X5 @ W5, 1) - onehot) / 5)  # the ignored row counted as class 0
    assert not ex5.check(unmasked).passed
    keep = (labels5 != -100).unsqueeze(1)
    no_mean = X5.T @ ((torch.softmax(X5 @ W5, 1) - onehot) * keep)  # forgot the 1/N
    assert not ex5.check(no_mean).passed
    wrong_shape = ex5.check(no_mean.T / 4)
    assert not wrong_shape.passed and "shape mismatch" in wrong_shape.message
    assert ex5.check(ns["dW5"]).passed


def test_adamw_step_vs_adam_l2_and_order() -> None:
    ns = solved("01.6")
    ex6 = ns["ex6"]
    theta0, g = torch.tensor([1.0, -2.0], dtype=DT), torch.tensor([0.1, 0.3], dtype=DT)
    coupled = theta0 - 0.1 * (g + 0.5 * theta0) / ((g + 0.5 * theta0).abs() + 1e-8)  # Adam + L2
    assert not ex6.check(coupled).passed
    decay_after = (theta0 - 0.1 * g / (g.abs() + 1e-8)) * (1 - 0.1 * 0.5)  # shrinks the Adam step too
    assert not ex6.check(decay_after).passed
    assert not ex6.check(torch.zeros(3, dtype=DT)).passed  # wrong shape
    assert ex6.check(ns["adamw_step"]).passed
    assert "First multiply θ by (1 − ηλ); then subtract" in ex6.hints[-1]  # the order the notebook text describes


def test_learning_rate_at_step() -> None:
    ns = solved("01.7")
    ex7 = ns["ex7"]
    assert not ex7.check(5e-5).passed  # the peak, not the decayed value
    assert not ex7.check(5e-5 * 30 / 100).passed
    assert not ex7.check(5e-5 * (100 - 30) / 100).passed  # decay over all 100 steps, not the 90 after warm-up
    assert ex7.check(ns["lr_at_30"]).passed
    assert ex7.check(5e-5 * (100 - 30) / (100 - 10)).passed
