"""Notebook 01's exercises, run from the notebook source itself (see ``tests/nbsource.py``).

Each exercise asks for a function. For each: the placeholder is "not answered"; the reference
solution passes the self-check (the visible example) and the hidden test (fresh inputs drawn at
grading time, silently); the named wrong answers fail both; an answer that calls the function the
exercise rules out fails the hidden test with ``ForbiddenCall``; and the "value in view" shortcut
(a function returning the visible example's answer) passes the self-check but fails the hidden test.
"""
from __future__ import annotations

import re
from typing import Any

import jupytext
import nbsource
import pytest
import torch
import torch.nn.functional as F

DT = torch.float64
#: exercise -> (the function's name, its points)
EXERCISES = {"01.1": ("sigmoid_slope", 1), "01.2": ("bce_grad", 2), "01.3": ("ce_grad", 2),
             "01.4": ("masked_loss", 2), "01.5": ("head_dW", 2), "01.6": ("adamw_step", 2), "01.7": ("lr_at", 1)}


EX = nbsource.Exercises("01", EXERCISES)
squash, the_exercise = nbsource.squash, nbsource.the_exercise
solved, answered, self_check, hidden = EX.solved, EX.answered, EX.self_check, EX.hidden
fails_hidden, passes_self_check_fails_hidden = EX.fails_hidden, EX.passes_self_check_fails_hidden
fails_both = EX.fails_both


# ---------------------------------------------------------------- every exercise


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_exercise_cell_runs_alone_keeps_the_placeholder_and_sets_the_points(exercise_id: str) -> None:
    name, points = EXERCISES[exercise_id]
    ns = nbsource.exercise("01", exercise_id)
    exercise = the_exercise(ns, exercise_id)
    assert exercise.attempts == 0 and len(exercise.hints) >= 2 and exercise.points == points
    assert exercise.checker.expects == "a function"
    assert re.search(rf"^{name} = \.\.\.$", nbsource.exercise_cell("01", exercise_id), flags=re.MULTILINE)
    assert re.search(rf"^def {name}\(", nbsource.solution_cell("01", exercise_id), flags=re.MULTILINE)
    assert squash(nbsource.check_cell("01", exercise_id)) == f"ex{exercise_id[-1]}.check({name})"


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_placeholder_is_not_answered_and_the_reference_passes(exercise_id: str) -> None:
    ex, name = f"ex{exercise_id[-1]}", EXERCISES[exercise_id][0]
    nbsource.check_placeholder_then_solution("01", exercise_id, ex, name)


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_reference_passes_the_hidden_test_silently(exercise_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    ns = solved(exercise_id)
    before, rng_state = dict(ns), torch.get_rng_state()
    for _ in range(5):  # fresh inputs each time
        nbsource.run_hidden_test("01", exercise_id, ns)
    assert capsys.readouterr() == ("", "")  # nbval compares stored outputs: a hidden test prints nothing
    assert torch.equal(torch.get_rng_state(), rng_state)  # later cells' random draws are unchanged
    # it binds one name (its own function) and rebinds none: the notebook's `gen`, `z`, `X`... are safe
    assert len(set(ns) - set(before)) == 1 and all(ns[key] is value for key, value in before.items())


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_placeholder_a_value_and_a_wrong_function_fail_the_hidden_test(exercise_id: str) -> None:
    assert "expected a function" in fails_hidden(exercise_id, "")  # the placeholder `name = ...` left as it is
    assert "expected a function" in fails_hidden(exercise_id, f"{EXERCISES[exercise_id][0]} = 0.25")
    assert "expected numbers" in fails_hidden(exercise_id, lambda *args: ...)
    with pytest.raises(ZeroDivisionError):  # an error in the answer fails the test cell (nbgrader: 0 points)
        hidden(exercise_id, lambda *args: 1 / 0)


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_self_check_explains_a_value_or_an_error_without_a_traceback(exercise_id: str) -> None:
    not_a_function = self_check(exercise_id, f"{EXERCISES[exercise_id][0]} = 0.25")
    assert not not_a_function.passed and "expected a function, got a float" in not_a_function.message
    raising = self_check(exercise_id, lambda *args: 1 / 0)
    assert not raising.passed and "your function raised ZeroDivisionError" in raising.message
    wrong_kind = self_check(exercise_id, lambda *args: "0.1")
    assert not wrong_kind.passed and "expected" in wrong_kind.message


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_last_hint_explains_without_giving_the_solution_line(exercise_id: str) -> None:
    ns = nbsource.exercise("01", exercise_id)
    exercise = the_exercise(ns, exercise_id)
    hints = squash(" ".join(exercise.hints))
    for line in nbsource.solution_cell("01", exercise_id).splitlines():
        code = line.split("=", 1)[-1] if "=" in line and "==" not in line else line
        code = code.removeprefix("    return ")
        if len(squash(code)) > 12:
            assert squash(code) not in hints, f"{exercise_id}: a hint contains the solution code {code.strip()!r}"


def test_no_solution_or_hidden_test_line_appears_in_another_cell() -> None:
    """``bmcourse assign`` refuses a release in which a line (over 24 characters) of a solution or a
    hidden test appears: none may also be written in a cell the learner gets."""
    nb = jupytext.read(nbsource.NOTEBOOKS / "01_loss_and_gradients.py", fmt="py:percent")
    secret = [i for i, c in enumerate(nb.cells) if {"solution", "hidden-test"} & set(c.metadata.get("tags", ()))]
    assert len(secret) == 2 * len(EXERCISES)
    for index in secret:
        for line in nb.cells[index].source.splitlines():
            if len(line.strip()) > 24:
                elsewhere = [i for i, c in enumerate(nb.cells) if i not in secret and line.strip() in c.source]
                assert not elsewhere, f"{line.strip()!r} is also in cell {elsewhere}"


# ---------------------------------------------------------------- 01.1


def visible_answer(exercise_id: str) -> Any:
    """What the reference solution returns on the exercise's visible example (a learner can compute it)."""
    ns = solved(exercise_id)
    args = {"01.1": ("z1",), "01.2": ("z2", "y2"), "01.3": ("z3", "y3"), "01.4": ("ex4_logits", "ex4_labels"),
            "01.5": ("X5", "W5", "labels5"), "01.6": ("theta6", "g6", "LR6", "WD6")}[exercise_id]
    return ns[EXERCISES[exercise_id][0]](*(ns[a] for a in args))


def test_sigmoid_slope(capsys: pytest.CaptureFixture[str]) -> None:
    ns = nbsource.exercise("01", "01.1")
    ex1 = ns["ex1"]
    assert "backward" not in nbsource.exercise_cell("01", "01.1")  # the self-check measures, it is not autograd
    wrong = ex1.check(torch.sigmoid)  # σ, not σ'
    assert not wrong.passed and "💡 Hint 1/2" in wrong.message and "3 of 3 values differ" in wrong.message
    assert "0.1049" not in wrong.message and "0.105" not in wrong.message
    again = ex1.check(lambda z: 1 - torch.sigmoid(z))  # only one factor
    assert not again.passed and "💡 Hint 2/2" in again.message and "σ(z)·(1 − σ(z))" in again.message
    assert ex1.check(solved("01.1")["sigmoid_slope"]).passed and ex1.attempts == 3
    assert "✅ 01.1" in capsys.readouterr().out
    assert self_check("01.1", lambda z: torch.sigmoid(z.float()) * (1 - torch.sigmoid(z.float()))).passed
    for wrong_answer in (torch.sigmoid, lambda z: 1 - torch.sigmoid(z), lambda z: torch.sigmoid(z) ** 2):
        fails_both("01.1", wrong_answer)


def autograd_slope(z):
    leaf = z.clone().requires_grad_()
    torch.sigmoid(leaf).sum().backward()
    return leaf.grad


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")  # torch.func.jvp's first call
def test_sigmoid_slope_by_autograd_or_in_view_gets_no_points() -> None:
    passes_self_check_fails_hidden("01.1", autograd_slope, forbidden=True)
    passes_self_check_fails_hidden("01.1", lambda z: torch.autograd.grad(torch.sigmoid(z.requires_grad_()).sum(), z)[0],
                                   forbidden=True)
    passes_self_check_fails_hidden("01.1", lambda z: torch.func.jvp(torch.sigmoid, (z,), (torch.ones_like(z),))[1],
                                   forbidden=True)  # forward mode is autograd too
    passes_self_check_fails_hidden("01.1", "sigmoid_slope = lambda z: finite_difference_grad("
                                           "lambda t: torch.sigmoid(t).sum(), z)", forbidden=True)
    shown = visible_answer("01.1")
    passes_self_check_fails_hidden("01.1", lambda z: shown, forbidden=False)


# ---------------------------------------------------------------- 01.2


def test_bce_gradient_vector() -> None:
    ns = nbsource.exercise("01", "01.2")
    assert ns["z2"].grad is None and not ns["z2"].requires_grad  # no gradient left in view
    ex2 = ns["ex2"]
    per_example = lambda z, y: torch.sigmoid(z) - y  # noqa: E731 - forgot the mean's 1/N
    wrong = ex2.check(per_example)
    assert not wrong.passed and "4 of 4 values differ" in wrong.message and "Hint 1/2" in wrong.message
    fails_both("01.2", per_example)
    fails_both("01.2", lambda z, y: (y - torch.sigmoid(z)) / len(y))  # sign flipped
    scalar = fails_both("01.2", lambda z, y: (torch.sigmoid(z) - y).sum() / len(y))  # a number, not the vector
    assert "shape mismatch" in scalar.message
    assert ex2.check(solved("01.2")["bce_grad"]).passed


def test_bce_gradient_by_autograd_in_view_or_for_n_4_only_gets_no_points() -> None:
    def by_autograd(z, y):
        leaf = z.clone().requires_grad_()
        F.binary_cross_entropy_with_logits(leaf, y).backward()
        return leaf.grad

    passes_self_check_fails_hidden("01.2", by_autograd, forbidden=True)
    shown = visible_answer("01.2")
    passes_self_check_fails_hidden("01.2", lambda z, y: shown, forbidden=False)  # was: bce_grad = z2.grad
    passes_self_check_fails_hidden("01.2", lambda z, y: (torch.sigmoid(z) - y) / 4, forbidden=False)  # N fixed


# ---------------------------------------------------------------- 01.3


def test_softmax_cross_entropy_gradient() -> None:
    ns = nbsource.exercise("01", "01.3")
    assert ns["z3"].grad is None
    fails_both("01.3", lambda z, y: torch.softmax(z, 0))  # forgot the one-hot
    fails_both("01.3", lambda z, y: torch.softmax(z, 0) - F.one_hot(torch.tensor(0), len(z)))  # the wrong class
    fails_both("01.3", lambda z, y: F.one_hot(torch.tensor(y), len(z)) - torch.softmax(z, 0))  # sign flipped
    fails_both("01.3", lambda z, y: torch.softmax(z, -1)[y] - 1)  # only the true class's entry
    assert ns["ex3"].check(solved("01.3")["ce_grad"]).passed


def test_softmax_gradient_by_autograd_in_view_or_hard_coded_gets_no_points() -> None:
    def by_autograd(z, y):
        leaf = z.clone().requires_grad_()
        return torch.autograd.grad(F.cross_entropy(leaf.unsqueeze(0), torch.tensor([y])), leaf)[0]

    passes_self_check_fails_hidden("01.3", by_autograd, forbidden=True)
    shown = visible_answer("01.3")
    passes_self_check_fails_hidden("01.3", lambda z, y: shown, forbidden=False)  # was: ce_grad = z3.grad
    hard_coded = lambda z, y: torch.softmax(z, 0) - F.one_hot(torch.tensor(2), 4)  # noqa: E731 - class 2 of 4
    passes_self_check_fails_hidden("01.3", hard_coded, forbidden=False)


# ---------------------------------------------------------------- 01.4


def per_row_loss(logits, labels):
    keep = labels != -100
    return -torch.log_softmax(logits[keep], dim=1)[torch.arange(int(keep.sum())), labels[keep]]


def test_masked_mean_loss() -> None:
    ex4 = nbsource.exercise("01", "01.4")["ex4"]
    wrong = ex4.check(lambda logits, labels: per_row_loss(logits, labels).sum() / len(labels))  # ÷ all 6 rows
    assert not wrong.passed and wrong.message.startswith("❌ 01.4") and "Hint 1/2" in wrong.message
    fails_both("01.4", lambda logits, labels: per_row_loss(logits, labels).sum() / len(labels))
    fails_both("01.4", lambda logits, labels: per_row_loss(logits, labels).sum())  # no mean
    as_text = ex4.check(lambda logits, labels: str(per_row_loss(logits, labels).mean().item()))  # never evaluated
    assert not as_text.passed and "expected" in as_text.message
    assert ex4.check(lambda logits, labels: per_row_loss(logits, labels).mean().item()).passed  # a float is fine
    hidden("01.4", lambda logits, labels: per_row_loss(logits, labels).mean().item())
    assert ex4.check(solved("01.4")["masked_loss"]).passed


def test_masked_loss_with_pytorchs_cross_entropy_or_in_view_gets_no_points() -> None:
    passes_self_check_fails_hidden("01.4", lambda logits, labels: F.cross_entropy(logits, labels, ignore_index=-100),
                                   forbidden=True)
    passes_self_check_fails_hidden("01.4", lambda logits, labels: F.nll_loss(torch.log_softmax(logits, 1), labels),
                                   forbidden=True)
    passes_self_check_fails_hidden("01.4", "masked_loss = lambda logits, labels: torch.nn.CrossEntropyLoss()"
                                           "(logits, labels)", forbidden=True)
    shown = float(visible_answer("01.4"))
    passes_self_check_fails_hidden("01.4", lambda logits, labels: shown, forbidden=False)


# ---------------------------------------------------------------- 01.5


def test_linear_head_dw() -> None:
    ns = nbsource.exercise("01", "01.5")
    assert ns["W5"].grad is None and not ns["W5"].requires_grad  # W5.grad is no longer in view

    def unmasked(X, W, labels):  # the ignored row counted as class 0
        return X.T @ ((torch.softmax(X @ W, 1) - F.one_hot(labels.clamp(min=0), W.shape[1])) / len(labels))

    def no_mean(X, W, labels):  # forgot the 1/N
        keep = (labels != -100).unsqueeze(1)
        return X.T @ ((torch.softmax(X @ W, 1) - F.one_hot(labels.clamp(min=0), W.shape[1])) * keep)

    fails_both("01.5", unmasked)
    fails_both("01.5", no_mean)
    transposed = fails_both("01.5", lambda X, W, labels: no_mean(X, W, labels).T / 4)
    assert "shape mismatch" in transposed.message
    assert ns["ex5"].check(solved("01.5")["head_dW"]).passed


def test_head_dw_by_autograd_or_in_view_gets_no_points() -> None:
    def by_autograd(X, W, labels):
        leaf = W.clone().requires_grad_()
        F.cross_entropy(X @ leaf, labels, ignore_index=-100).backward()
        return leaf.grad

    passes_self_check_fails_hidden("01.5", by_autograd, forbidden=True)
    shown = visible_answer("01.5")
    passes_self_check_fails_hidden("01.5", lambda X, W, labels: shown, forbidden=False)  # was: dW5 = W5.grad


# ---------------------------------------------------------------- 01.6


def test_adamw_step_vs_adam_l2_and_order() -> None:
    ns = nbsource.exercise("01", "01.6")
    ex6 = ns["ex6"]
    coupled = lambda t, g, lr, wd: t - lr * (g + wd * t) / ((g + wd * t).abs() + 1e-8)  # noqa: E731 - Adam + L2
    fails_both("01.6", coupled)
    decay_after = lambda t, g, lr, wd: (t - lr * g / (g.abs() + 1e-8)) * (1 - lr * wd)  # noqa: E731
    fails_both("01.6", decay_after)  # shrinks the Adam step too
    fails_both("01.6", lambda t, g, lr, wd: t * (1 - lr * wd) - lr * g)  # SGD's step, not Adam's
    wrong_shape = fails_both("01.6", lambda t, g, lr, wd: torch.zeros(3, dtype=DT))
    assert "shape mismatch" in wrong_shape.message
    assert ex6.check(solved("01.6")["adamw_step"]).passed
    assert "First multiply θ by (1 − ηλ); then subtract" in ex6.hints[-1]  # the order the notebook text describes


def test_adamw_step_with_torch_optim_in_view_or_hard_coded_gets_no_points() -> None:
    def with_optimizer(theta, g, lr, weight_decay, make=torch.optim.AdamW):
        param = torch.nn.Parameter(theta.clone())
        param.grad = g.clone()
        make([param], lr=lr, weight_decay=weight_decay).step()  # bound before grading: Optimizer.__init__ refuses
        return param.detach()

    passes_self_check_fails_hidden("01.6", with_optimizer, forbidden=True)
    passes_self_check_fails_hidden("01.6", lambda *args: with_optimizer(*args, make=lambda params, **kw: torch.optim.Adam(
        params, decoupled_weight_decay=True, **kw)), forbidden=True)
    shown = visible_answer("01.6")
    passes_self_check_fails_hidden("01.6", lambda *args: shown, forbidden=False)  # was: adamw_step = theta6
    hard_coded = lambda t, g, lr, wd: t * (1 - 0.1 * 0.5) - 0.1 * g / (g.abs() + 1e-8)  # noqa: E731
    passes_self_check_fails_hidden("01.6", hard_coded, forbidden=False)


# ---------------------------------------------------------------- 01.7


def test_learning_rate_at_step() -> None:
    ex7 = nbsource.exercise("01", "01.7")["ex7"]
    peak_only = ex7.check(lambda step, total, warmup, peak: peak)
    assert not peak_only.passed and "at step 30" in peak_only.message and "3.8" not in peak_only.message
    fails_both("01.7", lambda step, total, warmup, peak: peak * step / total)
    fails_both("01.7", lambda step, total, warmup, peak: peak * (total - step) / total)  # decay over all steps
    no_warmup = lambda step, total, warmup, peak: peak * max(0.0, (total - step) / (total - warmup))  # noqa: E731
    result = fails_both("01.7", no_warmup)
    assert "at step 0" in result.message
    off_by_one = lambda s, t, w, p: p * (s / w if s < w else max(0.0, (t - s) / (t - w)))  # noqa: E731
    fails_both("01.7", off_by_one)  # step 0 already has the factor 1/W
    no_floor = lambda s, t, w, p: p * ((s + 1) / w if s < w else (t - s) / (t - w))  # noqa: E731
    fails_both("01.7", no_floor)  # negative after the last step
    assert ex7.check(solved("01.7")["lr_at"]).passed


def test_lr_at_with_warmup_linear_or_for_one_schedule_only_gets_no_points() -> None:
    # a learner's answer cell, run in the notebook's namespace, calling the name the setup cell imported
    passes_self_check_fails_hidden("01.7", "lr_at = lambda s, t, w, p: p * warmup_linear(s, t, w)", forbidden=True)
    passes_self_check_fails_hidden("01.7", "import bmcourse.train.loop\n"
                                           "lr_at = lambda s, t, w, p: p * bmcourse.train.loop.warmup_linear(s, t, w)",
                                   forbidden=True)
    table = {step: 5e-5 * ((step + 1) / 10 if step < 10 else max(0.0, (100 - step) / 90)) for step in range(200)}
    passes_self_check_fails_hidden("01.7", lambda step, *args: table[step] if step in table else 0.0,
                                   forbidden=False)  # only the visible schedule's values


# ---------------------------------------------------------------- stored outputs


def stored_cells() -> list[tuple[str, str]]:
    """(source, text of its stored outputs) of every code cell of notebooks/01_loss_and_gradients.ipynb."""
    import json

    nb = json.loads((nbsource.NOTEBOOKS / "01_loss_and_gradients.ipynb").read_text(encoding="utf-8"))
    return [("".join(c["source"]), "".join("".join(o.get("text", "")) for o in c.get("outputs", ())))
            for c in nb["cells"] if c["cell_type"] == "code"]


def test_the_four_runs_print_whatever_the_widgets_and_the_sliders_only_add() -> None:
    """The text of section 7 reads the four printed runs: they are printed and drawn in their own cell,
    widgets or not; the sliders come in a later cell as an extra."""
    cells = stored_cells()
    runs = [text for source, text in cells if re.search(r"^fig = four_runs\(\)$", source, flags=re.MULTILINE)]
    assert len(runs) == 1 and runs[0].count("ends at") == 4
    runs_index = next(i for i, (source, _) in enumerate(cells) if "fig = four_runs()" in source)
    sliders = [i for i, (source, _) in enumerate(cells) if "interactive_or_static(explorer" in source]
    assert len(sliders) == 1 and sliders[0] > runs_index
    assert "four_runs" not in cells[sliders[0]][0]


def test_the_schedule_printout_shows_no_step_the_lr_at_check_asks_for() -> None:
    """Section 6 prints the factor at a few steps; none is a step whose learning rate exercise 01.7's
    check expects (the learner computes those)."""
    printed = next(text for source, text in stored_cells() if "factor at steps" in source)
    shown = {int(step) for step in re.search(r"factor at steps ([\d, ]+):", printed).group(1).split(",")}
    checked = re.search(r"for step in \(([\d, ]+)\)", nbsource.exercise_cell("01", "01.7")).group(1)
    assert shown and not shown & {int(step) for step in checked.split(",")}
