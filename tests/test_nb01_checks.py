"""The checkers of notebook 01's exercises, built exactly as the notebook builds them."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bmcourse.exercises import Exercise, expect_close
from bmcourse.train import warmup_linear

DT = torch.float64


def make_ex1() -> Exercise:
    z_point = torch.tensor(2.0, dtype=DT, requires_grad=True)
    torch.sigmoid(z_point).backward()
    return Exercise("01.1", "Sigmoid slope at z = 2", expect_close(z_point.grad.item()),
                    hints=("The derivative of the sigmoid is written with the sigmoid itself.",
                           "s = torch.sigmoid(torch.tensor(2.0)); answer s * (1 - s) as a float."))


def make_ex4() -> tuple[Exercise, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    ex4_logits = torch.randn(6, 3, generator=gen, dtype=DT)
    ex4_labels = torch.tensor([2, -100, 0, 1, -100, 1])
    ex4 = Exercise("01.4", "Masked mean loss", expect_close(F.cross_entropy(ex4_logits, ex4_labels, ignore_index=-100).item()),
                   hints=("Keep only rows whose label is not -100; divide by how many there are, not by 6.",
                          ("keep = ex4_labels != -100; -torch.log_softmax(ex4_logits[keep], 1)"
                          "[torch.arange(int(keep.sum())), ex4_labels[keep]].mean()")))
    return ex4, ex4_logits, ex4_labels


def make_ex6() -> Exercise:
    theta6 = torch.tensor([1.0, -2.0], dtype=DT, requires_grad=True)
    theta6.grad = torch.tensor([0.1, 0.3], dtype=DT)
    torch.optim.AdamW([theta6], lr=0.1, weight_decay=0.5).step()
    return Exercise("01.6", "One AdamW step", expect_close(theta6.detach().clone()),
                    hints=("Decoupled: first shrink θ by (1 - ηλ), then take the Adam step -η·g/(|g|+ε).",
                           "theta * (1 - 0.1 * 0.5) - 0.1 * g / (g.abs() + 1e-8)"))


def make_ex7() -> Exercise:
    TOTAL, WARMUP, PEAK_LR = 100, 10, 5e-5
    return Exercise("01.7", "Learning rate at step 30", expect_close(PEAK_LR * warmup_linear(30, TOTAL, WARMUP)),
                    hints=("Step 30 is past the warm-up, so the factor is in the linear decay.",
                           "The factor is (TOTAL - step) / (TOTAL - WARMUP); multiply by PEAK_LR."))


def test_sigmoid_slope(capsys: pytest.CaptureFixture[str]) -> None:
    ex1 = make_ex1()
    assert not ex1.check(...).passed and ex1.attempts == 0
    wrong = ex1.check(float(torch.sigmoid(torch.tensor(2.0, dtype=DT))))  # sigma, not sigma'
    assert not wrong.passed and "💡 Hint 1/2" in wrong.message and "0.1049" not in wrong.message
    s = torch.sigmoid(torch.tensor(2.0, dtype=DT))
    right = ex1.check(float(s * (1 - s)))
    assert right.passed and ex1.attempts == 2
    assert "✅ 01.1" in capsys.readouterr().out


def test_masked_mean_loss() -> None:
    ex4, logits, labels = make_ex4()
    keep = labels != -100
    per_row = -torch.log_softmax(logits[keep], dim=1)[torch.arange(int(keep.sum())), labels[keep]]
    assert not ex4.check(per_row.sum() / len(labels)).passed  # divided by 6 positions, not 4
    as_text = ex4.check(str(per_row.mean().item()))  # a string is reported, never evaluated
    assert not as_text.passed and "expected" in as_text.message
    assert ex4.check(per_row.mean()).passed
    assert ex4.check(per_row.mean().item()).passed


def test_adamw_step_vs_adam_l2() -> None:
    ex6 = make_ex6()
    theta0, g = torch.tensor([1.0, -2.0], dtype=DT), torch.tensor([0.1, 0.3], dtype=DT)
    coupled = theta0 - 0.1 * (g + 0.5 * theta0) / ((g + 0.5 * theta0).abs() + 1e-8)  # Adam + L2
    assert not ex6.check(coupled).passed
    assert not ex6.check(torch.zeros(3, dtype=DT)).passed  # wrong shape
    assert ex6.check(theta0 * (1 - 0.1 * 0.5) - 0.1 * g / (g.abs() + 1e-8)).passed


def test_learning_rate_at_step() -> None:
    ex7 = make_ex7()
    assert not ex7.check(5e-5).passed  # the peak, not the decayed value
    assert not ex7.check(5e-5 * 30 / 100).passed
    assert ex7.check(5e-5 * (100 - 30) / (100 - 10)).passed
