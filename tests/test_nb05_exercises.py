"""Notebook 05's exercises, run from the notebook source itself (see ``tests/nbsource.py``).

Each exercise asks for a function. For each: the placeholder is "not answered"; the reference
solution passes the self-check (the visible examples) and the hidden test (fresh inputs drawn at
grading time, silently); the named wrong answers fail both; an answer that calls the function the
exercise rules out (the package's own version, Captum) fails the hidden test with ``ForbiddenCall``;
and the "value in view" shortcut (a function returning the visible examples' answers) passes the
self-check but fails the hidden test. No hidden test needs a model, data, ONNX or training.
"""
from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Callable
from typing import Any

import jupytext
import nbsource
import pytest
import torch

NB = "05"
#: exercise -> (the function's name, its points)
EXERCISES = {"05.1": ("words_from_subwords", 2), "05.2": ("fastest_within", 1), "05.3": ("ig_by_hand", 3),
             "05.4": ("fgm_step", 1), "05.5": ("leaks_in", 2), "05.6": ("kd_loss_of", 2),
             "05.7": ("psi_of", 2)}
#: exercise -> the names of its visible examples' arguments, per example
VISIBLE = {"05.1": lambda ns: list(zip(ns["ex1_sentences"], ns["ex1_subwords"])),
           "05.2": lambda ns: ns["ex2_cases"],
           "05.3": lambda ns: [(ns["ex3_forward"], *case) for case in ns["ex3_cases"]],
           "05.4": lambda ns: [(g, eps) for eps in (ns["FGM_EPSILON"], 0.25) for g in ns["ex4_gradients"]],
           "05.5": lambda ns: ns["ex5_cases"],
           "05.6": lambda ns: ns["ex6_cases"],
           "05.7": lambda ns: ns["ex7_cases"]}


EX = nbsource.Exercises(NB, EXERCISES)
squash, the_exercise = nbsource.squash, nbsource.the_exercise
solved, answered, self_check, hidden = EX.solved, EX.answered, EX.self_check, EX.hidden
fails_hidden, passes_self_check_fails_hidden = EX.fails_hidden, EX.passes_self_check_fails_hidden
fails_both = functools.partial(EX.fails_both, draws=3)  # a wrong answer must fail three fresh draws


def visible_lookup(exercise_id: str) -> Callable:
    """The "value in view" shortcut: a function that returns the reference's answer on each visible
    example (a learner can compute them all once) and anything on other inputs."""
    ns = solved(exercise_id)
    reference = ns[EXERCISES[exercise_id][0]]
    table = [(args, reference(*args)) for args in VISIBLE[exercise_id](ns)]

    def same(a: Any, b: Any) -> bool:
        if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
            return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape \
                and torch.equal(a, b)
        if callable(a) or callable(b):  # the example's function, defined again in the learner's namespace
            return getattr(a, "__qualname__", a) == getattr(b, "__qualname__", b)
        return a == b

    def lookup(*args: Any) -> Any:
        for seen, answer in table:
            if len(seen) == len(args) and all(same(a, b) for a, b in zip(seen, args)):
                return answer
        return table[0][1]

    return lookup


# ---------------------------------------------------------------- every exercise


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_exercise_cell_runs_alone_keeps_the_placeholder_and_sets_the_points(exercise_id: str) -> None:
    name, points = EXERCISES[exercise_id]
    ns = nbsource.exercise(NB, exercise_id)
    exercise = the_exercise(ns, exercise_id)
    assert exercise.attempts == 0 and len(exercise.hints) >= 2 and exercise.points == points
    assert exercise.checker.expects == "a function"
    assert re.search(rf"^{name} = \.\.\.$", nbsource.exercise_cell(NB, exercise_id), flags=re.MULTILINE)
    assert re.search(rf"^def {name}\(", nbsource.solution_cell(NB, exercise_id), flags=re.MULTILINE)
    assert squash(nbsource.check_cell(NB, exercise_id)) == f"ex{exercise_id[-1]}.check({name})"


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_placeholder_is_not_answered_and_the_reference_passes(exercise_id: str) -> None:
    ex, name = f"ex{exercise_id[-1]}", EXERCISES[exercise_id][0]
    nbsource.check_placeholder_then_solution(NB, exercise_id, ex, name)


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_reference_passes_the_hidden_test_silently_and_fast(exercise_id: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    ns = solved(exercise_id)
    before, rng_state = dict(ns), torch.get_rng_state()
    started = time.perf_counter()
    for _ in range(20):  # fresh inputs each time
        nbsource.run_hidden_test(NB, exercise_id, ns)
    assert time.perf_counter() - started < 20  # no model, data, ONNX or training: well under a second each
    assert capsys.readouterr() == ("", "")  # nbval compares stored outputs: a hidden test prints nothing
    assert torch.equal(torch.get_rng_state(), rng_state)  # later cells' random draws are unchanged
    # it binds one name (its own function) and rebinds none: the notebook's `deploy`, `spans`... are safe
    assert len(set(ns) - set(before)) == 1 and all(ns[key] is value for key, value in before.items())


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_placeholder_a_value_and_a_wrong_function_fail_the_hidden_test(exercise_id: str) -> None:
    assert "expected a function" in fails_hidden(exercise_id, "")  # the placeholder `name = ...` left as it is
    assert "expected a function" in fails_hidden(exercise_id, f"{EXERCISES[exercise_id][0]} = 0.25")
    nothing = fails_hidden(exercise_id, lambda *args: ...)
    numbers = ("05.3", "05.4", "05.5", "05.6", "05.7")
    assert ("expected numbers" if exercise_id in numbers else "you have not seen") in nothing
    with pytest.raises(ZeroDivisionError):  # an error in the answer fails the test cell (nbgrader: 0 points)
        hidden(exercise_id, lambda *args: 1 / 0)


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_self_check_explains_a_value_or_an_error_without_a_traceback(exercise_id: str) -> None:
    not_a_function = self_check(exercise_id, f"{EXERCISES[exercise_id][0]} = 0.25")
    assert not not_a_function.passed and "expected a function, got a float" in not_a_function.message
    raising = self_check(exercise_id, lambda *args: 1 / 0)
    assert not raising.passed and "example 1: your function raised ZeroDivisionError" in raising.message
    wrong_kind = self_check(exercise_id, lambda *args: 0.1 if exercise_id == "05.2" else "0.1")  # 05.2 wants a str
    assert not wrong_kind.passed and "expected" in wrong_kind.message


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_value_in_view_passes_the_self_check_and_gets_no_points(exercise_id: str) -> None:
    passes_self_check_fails_hidden(exercise_id, visible_lookup(exercise_id), forbidden=False)


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_last_hint_explains_without_giving_the_solution_line(exercise_id: str) -> None:
    ns = nbsource.exercise(NB, exercise_id)
    exercise = the_exercise(ns, exercise_id)
    hints = squash(" ".join(exercise.hints))
    for line in nbsource.solution_cell(NB, exercise_id).splitlines():
        code = line.split("=", 1)[-1] if "=" in line and "==" not in line else line
        code = code.removeprefix("    return ")
        if len(squash(code)) > 12:
            assert squash(code) not in hints, f"{exercise_id}: a hint contains the solution code {code.strip()!r}"


def test_no_solution_or_hidden_test_line_appears_in_another_cell() -> None:
    """``bmcourse assign`` refuses a release in which a line (over 24 characters) of a solution or a
    hidden test appears: none may also be written in a cell the learner gets."""
    nb = jupytext.read(nbsource.NOTEBOOKS / "05_deployment_and_trust.py", fmt="py:percent")
    secret = [i for i, c in enumerate(nb.cells) if {"solution", "hidden-test"} & set(c.metadata.get("tags", ()))]
    assert len(secret) == 2 * len(EXERCISES)
    for index in secret:
        for line in nb.cells[index].source.splitlines():
            if len(line.strip()) > 24:
                elsewhere = [i for i, c in enumerate(nb.cells) if i not in secret and line.strip() in c.source]
                assert not elsewhere, f"{line.strip()!r} is also in cell {elsewhere}"


def test_no_hidden_test_needs_a_model_data_onnx_or_training() -> None:
    for exercise_id in EXERCISES:
        source = nbsource.hidden_test_cell(NB, exercise_id)
        for heavy in ("tagger_model", "tokenizer", "load_", "fit(", "build_runners", "export_onnx", "conll",
                      "banking", "ner_", "intent_"):
            assert heavy not in source, f"{exercise_id}'s hidden test uses {heavy!r}"


# ---------------------------------------------------------------- 05.1


def last_subword(words, subwords):  # the last sub-word starting inside the word wins
    tags, at = [], 0
    for word in words:
        inside = [s["entity"] for s in subwords if at <= s["start"] < at + len(word)]
        tags.append(inside[-1] if inside else "O")
        at += len(word) + 1
    return tags


def first_inside(words, subwords):  # the first sub-word inside the word, even when none starts the word
    tags, at = [], 0
    for word in words:
        inside = [s["entity"] for s in subwords if at <= s["start"] < at + len(word)]
        tags.append(inside[0] if inside else "O")
        at += len(word) + 1
    return tags


def test_05_1_wrong_word_rules_fail() -> None:
    def by_position(words, subwords):  # the i-th sub-word for the i-th word
        return [subwords[i]["entity"] if i < len(subwords) else "O" for i in range(len(words))]

    def no_space(words, subwords):  # forgets the spaces between words
        starts, at = [], 0
        for word in words:
            starts.append(at)
            at += len(word)
        found = {s["start"]: s["entity"] for s in reversed(subwords)}
        return [found.get(start, "O") for start in starts]

    for wrong in (last_subword, by_position, no_space):
        fails_both("05.1", wrong)
    # every visible word has a sub-word at its start, so only grading sees this one fail
    passes_self_check_fails_hidden("05.1", first_inside, forbidden=False)
    as_tuple = lambda words, subwords: tuple(solved("05.1")["words_from_subwords"](words, subwords))  # noqa: E731
    assert self_check("05.1", as_tuple).passed  # a tuple of tags is as good as a list
    hidden("05.1", as_tuple)


def test_05_1_with_the_course_helpers_gets_no_points() -> None:
    passes_self_check_fails_hidden("05.1", "words_from_subwords = deploy.word_tags_from_subwords", forbidden=True)
    passes_self_check_fails_hidden("05.1", "from bmcourse.deploy.serve import word_tags_from_subwords as "
                                           "words_from_subwords", forbidden=True)
    # bound before grading (a default argument): the helper it calls, word_starts, refuses instead
    passes_self_check_fails_hidden("05.1", "def words_from_subwords(words, subwords, use=deploy.word_tags_from_subwords):\n"
                                           "    return use(words, subwords)", forbidden=True)

    def with_word_starts(words, subwords):
        from bmcourse.tagging import word_starts

        found = {s["start"]: s["entity"] for s in reversed(subwords)}
        return [found.get(start, "O") for start in word_starts(words)]

    passes_self_check_fails_hidden("05.1", with_word_starts, forbidden=True)
    # the pipeline helper calls the course's rule too
    passes_self_check_fails_hidden("05.1", "words_from_subwords = lambda words, subwords: "
                                           "deploy.pipeline_word_tags(lambda texts, **kw: [subwords], [words])[0]",
                                   forbidden=True)


# ---------------------------------------------------------------- 05.2


def with_reference(rows, max_loss):  # the reference itself is a candidate
    base = rows[0]["test_f1"]
    ok = [r for r in rows if base - r["test_f1"] <= max_loss + 1e-12]
    return min(ok, key=lambda r: r["p50_ms"])["name"] if ok else None


def strict(rows, max_loss):  # a loss equal to the budget excluded
    base = rows[0]["test_f1"]
    ok = [r for r in rows[1:] if base - r["test_f1"] < max_loss]
    return min(ok, key=lambda r: r["p50_ms"])["name"] if ok else None


def absolute(rows, max_loss):  # a variant that scores higher is not a loss
    base = rows[0]["test_f1"]
    ok = [r for r in rows[1:] if abs(base - r["test_f1"]) <= max_loss + 1e-12]
    return min(ok, key=lambda r: r["p50_ms"])["name"] if ok else None


def test_05_2_reference_included_strict_budget_or_absolute_loss_fails() -> None:
    for wrong in (with_reference, strict, absolute):
        fails_both("05.2", wrong)
    nothing = fails_both("05.2", lambda rows, max_loss: "none")  # a string, not None
    assert "expected None" in nothing.message or "not equal" in nothing.message
    fastest_any = lambda rows, max_loss: min(rows[1:], key=lambda r: r["p50_ms"])["name"]  # noqa: E731 - no budget
    fails_both("05.2", fastest_any)


def test_05_2_exact_boundary_needs_no_tolerance_when_graded() -> None:
    """Graded F1 values are multiples of 1/1024, so `<=` without a tolerance is right there (the visible
    example needs one, and the hint says so)."""
    def no_tolerance(rows, max_loss):
        base = rows[0]["test_f1"]
        ok = [r for r in rows[1:] if base - r["test_f1"] <= max_loss]
        return min(ok, key=lambda r: r["p50_ms"])["name"] if ok else None

    assert not self_check("05.2", no_tolerance).passed
    for _ in range(5):
        hidden("05.2", no_tolerance)


def test_05_2_with_best_within_gets_no_points() -> None:
    passes_self_check_fails_hidden(
        "05.2", "fastest_within = lambda rows, max_loss: getattr(deploy.best_within("
                "[SimpleNamespace(**r) for r in rows], f1_loss=max_loss), 'name', None)", forbidden=True)
    passes_self_check_fails_hidden(
        "05.2", "from bmcourse.deploy.onnx import best_within\n"
                "fastest_within = lambda rows, max_loss: getattr(best_within("
                "[SimpleNamespace(**r) for r in rows], max_loss), 'name', None)", forbidden=True)


# ---------------------------------------------------------------- 05.3


def grad_times_input(forward, x, baseline, steps):
    x = x.clone().requires_grad_(True)
    forward(x).sum().backward()
    return (x.grad * (x - baseline)).sum(-1)[0]


def ig_rule(alphas_of: Callable[[int, torch.dtype], torch.Tensor], times: str = "difference") -> Callable:
    """IG with the given alphas; ``times="x"`` multiplies by x instead of (x - baseline)."""
    def ig(forward, x, baseline, steps):
        alphas = alphas_of(steps, x.dtype)
        path = (baseline + alphas.view(-1, 1, 1) * (x - baseline)).requires_grad_(True)
        forward(path).sum().backward()
        return ((x if times == "x" else x - baseline) * path.grad.mean(0, keepdim=True)).sum(-1)[0]

    return ig


def test_05_3_gradient_times_input_other_rules_or_times_x_fail() -> None:
    left_rule = ig_rule(lambda n, dtype: torch.arange(n, dtype=dtype) / n)
    right_rule = ig_rule(lambda n, dtype: (torch.arange(n, dtype=dtype) + 1) / n)
    times_x = ig_rule(lambda n, dtype: (torch.arange(n, dtype=dtype) + 0.5) / n, times="x")
    for wrong in (grad_times_input, left_rule, right_rule, times_x):
        fails_both("05.3", wrong)
    not_summed = ig_rule(lambda n, dtype: (torch.arange(n, dtype=dtype) + 0.5) / n)
    shape = fails_both("05.3", lambda *args: not_summed(*args).unsqueeze(0))  # [1, tokens], not [tokens]
    assert "shape mismatch" in shape.message


def test_05_3_midpoint_rule_in_float32_or_in_a_loop_passes() -> None:
    float32_alphas = ig_rule(lambda n, dtype: (torch.arange(n) + 0.5) / n)  # alphas in float32 on float64 input

    def one_step_at_a_time(forward, x, baseline, steps):
        total = torch.zeros_like(x)
        for k in range(steps):
            point = (baseline + (k + 0.5) / steps * (x - baseline)).requires_grad_(True)
            total += torch.autograd.grad(forward(point).sum(), point)[0]
        return ((x - baseline) * total / steps).sum(-1)[0]

    for right in (float32_alphas, one_step_at_a_time):
        assert self_check("05.3", right).passed
        hidden("05.3", right)


def test_05_3_with_captum_or_the_course_function_gets_no_points() -> None:
    passes_self_check_fails_hidden("05.3", "ig_by_hand = _captum_middle", forbidden=True)  # the check's reference

    def layer_ig(forward, x, baseline, steps):
        from captum.attr import IntegratedGradients

        return IntegratedGradients(forward).attribute(x, baselines=baseline, n_steps=steps,
                                                      method="riemann_middle").sum(-1)[0]

    passes_self_check_fails_hidden("05.3", layer_ig, forbidden=True)
    # the course's function uses Captum's default method, not the midpoint rule: it fails the check as well
    course = lambda forward, x, baseline, steps: deploy_ig()(forward, x, baseline, steps)[0]  # noqa: E731
    assert not self_check("05.3", course).passed
    fails_hidden("05.3", course, forbidden=True)


def deploy_ig() -> Callable:
    import bmcourse.deploy

    return bmcourse.deploy.integrated_gradients


# ---------------------------------------------------------------- 05.4


def test_05_4_per_row_norm_sign_unnormalised_or_fixed_epsilon_fails() -> None:
    per_row = lambda g, eps: eps * g / g.norm(dim=-1, keepdim=True).clamp(min=1e-12)  # noqa: E731
    fgsm = lambda g, eps: eps * g.sign()  # noqa: E731
    unnormalised = lambda g, eps: eps * g  # noqa: E731
    fixed = lambda g, eps: g / g.norm()  # noqa: E731 - ε = FGM_EPSILON = 1 only
    flipped = lambda g, eps: -eps * g / g.norm()  # noqa: E731 - the descent direction
    results = {name: fails_both("05.4", wrong) for name, wrong in
               (("per_row", per_row), ("fgsm", fgsm), ("unnormalised", unnormalised), ("fixed", fixed),
                ("flipped", flipped))}
    assert "length" in results["per_row"].message and "along the gradient" in results["flipped"].message
    shape = fails_both("05.4", lambda g, eps: (eps * g / g.norm()).flatten())
    assert "shape mismatch" in shape.message


def test_05_4_the_self_check_holds_no_formula() -> None:
    cell = squash(nbsource.exercise_cell(NB, "05.4"))
    assert "/g.norm()" not in cell and "fgm_delta" not in cell


def test_05_4_with_fgm_delta_gets_no_points() -> None:
    passes_self_check_fails_hidden("05.4", "from bmcourse.train import fgm_delta as fgm_step", forbidden=True)
    passes_self_check_fails_hidden("05.4", "import bmcourse.train.fgm\n"
                                           "fgm_step = lambda g, eps: bmcourse.train.fgm.fgm_delta(g, eps)",
                                   forbidden=True)


# ---------------------------------------------------------------- 05.5


def test_05_5_exact_match_same_type_or_no_word_hidden_fails() -> None:
    spans = solved("05.5")["spans"]

    def exact_match(gold, pred):  # counts what recall misses, not what stays visible
        return len(set(spans(gold)) - set(spans(pred)))

    def same_type(gold, pred):
        hidden_words = {(s.type, i) for s in spans(pred) for i in range(s.start, s.end)}
        return sum(any((s.type, i) not in hidden_words for i in range(s.start, s.end)) for s in spans(gold))

    def no_word_hidden(gold, pred):  # one hidden word is not enough
        hidden_words = {i for s in spans(pred) for i in range(s.start, s.end)}
        return sum(all(i not in hidden_words for i in range(s.start, s.end)) for s in spans(gold))

    def the_list(gold, pred):  # the entities, not how many
        hidden_words = {i for s in spans(pred) for i in range(s.start, s.end)}
        return [s for s in spans(gold) if any(i not in hidden_words for i in range(s.start, s.end))]

    for wrong in (exact_match, same_type, no_word_hidden, the_list):
        fails_both("05.5", wrong)


def test_05_5_with_the_course_functions_gets_no_points() -> None:
    passes_self_check_fails_hidden("05.5", "leaks_in = lambda gold, pred: len(deploy.leaked_entities(gold, pred))",
                                   forbidden=True)
    passes_self_check_fails_hidden("05.5", "from bmcourse.deploy.robust import leaked_entities\n"
                                           "leaks_in = lambda gold, pred: len(leaked_entities(gold, pred))",
                                   forbidden=True)
    by_rate = ("leaks_in = lambda gold, pred: round(sum(rate * sum(s.type == kind for s in spans(gold)) "
               "for kind, rate in deploy.leak_rate([gold], [pred]).items()))")
    passes_self_check_fails_hidden("05.5", by_rate, forbidden=True)


# ---------------------------------------------------------------- 05.6


def kd_rule(*, squared: bool = True, reverse: bool = False, reduction: str = "batchmean", keep_ignored: bool = False,
            ce_on_soft: bool = False, swap: bool = False, summed: bool = False) -> Callable:
    """The distillation loss with one thing changed (the defaults are the right loss)."""
    import torch.nn.functional as F

    def loss(student_logits, teacher_logits, labels, temperature, alpha):
        kept = labels != -100
        soft_rows = torch.ones_like(kept) if keep_ignored else kept
        student, teacher = student_logits[soft_rows], teacher_logits[soft_rows]
        log_s = F.log_softmax(student / temperature, dim=-1)
        log_t = F.log_softmax(teacher / temperature, dim=-1)
        first, second = (log_t, log_s) if reverse else (log_s, log_t)
        soft = F.kl_div(first, second, log_target=True, reduction="sum")
        if not summed:  # "batchmean": over the positions; "mean": over positions and tags (kl_div's "mean")
            soft = soft / (log_s.numel() if reduction == "mean" else len(log_s))
        logits = student_logits[kept] / (temperature if ce_on_soft else 1.0)
        hard = F.cross_entropy(logits, labels[kept], reduction="sum" if summed else "mean")
        weight = temperature ** 2 if squared else 1.0
        a, b = (1 - alpha, alpha) if swap else (alpha, 1 - alpha)
        return a * weight * soft + b * hard

    return loss


def test_05_6_wrong_losses_fail() -> None:
    wrong = {"no T squared": kd_rule(squared=False), "KL reversed": kd_rule(reverse=True),
             "kl_div's mean": kd_rule(reduction="mean"), "-100 kept in the soft term": kd_rule(keep_ignored=True),
             "CE on logits / T": kd_rule(ce_on_soft=True), "alpha swapped": kd_rule(swap=True),
             "summed over positions": kd_rule(summed=True)}
    for rule in wrong.values():
        fails_both("05.6", rule)


def test_05_6_float32_or_the_kl_div_route_passes() -> None:
    right = kd_rule()
    assert self_check("05.6", right).passed
    hidden("05.6", right)
    in_float32 = lambda *args: right(args[0].float(), args[1].float(), *args[2:])  # noqa: E731
    assert self_check("05.6", in_float32).passed
    hidden("05.6", in_float32)


def test_05_6_with_the_course_loss_gets_no_points() -> None:
    passes_self_check_fails_hidden("05.6", "kd_loss_of = lambda s, t, g, temperature, alpha: distill.kd_loss("
                                           "s, t, g, temperature=temperature, alpha=alpha)", forbidden=True)
    passes_self_check_fails_hidden("05.6", "from bmcourse.deploy.distill import kd_loss\n"
                                           "kd_loss_of = lambda s, t, g, temperature, alpha: kd_loss("
                                           "s, t, g, temperature=temperature, alpha=alpha)", forbidden=True)


# ---------------------------------------------------------------- 05.7


def shares_floored(counts, floor):
    return [max(c / sum(counts), floor) for c in counts]


def test_05_7_no_floor_one_sided_counts_or_log10_fail() -> None:
    floor = solved("05.7")["deploy"].PSI_FLOOR

    def no_floor(reference, window):  # log(0) on an empty bin
        r = [c / sum(reference) for c in reference]
        w = [c / sum(window) for c in window]
        return sum((b - a) * math.log(b / a) for a, b in zip(r, w))

    def kl(reference, window):  # one-sided: the Kullback-Leibler divergence of the window from the reference
        r, w = shares_floored(reference, floor), shares_floored(window, floor)
        return sum(b * math.log(b / a) for a, b in zip(r, w))

    def counts(reference, window):  # raw counts, not shares: the sizes of the windows count
        return sum((max(b, floor) - max(a, floor)) * math.log(max(b, floor) / max(a, floor))
                   for a, b in zip(reference, window))

    def log10(reference, window):
        r, w = shares_floored(reference, floor), shares_floored(window, floor)
        return sum((b - a) * math.log10(b / a) for a, b in zip(r, w))

    def floor_on_counts(reference, window):  # the floor added to the counts, not to the shares
        r = [(c + floor) / sum(reference) for c in reference]
        w = [(c + floor) / sum(window) for c in window]
        return sum((b - a) * math.log(b / a) for a, b in zip(r, w))

    for wrong in (no_floor, kl, counts, log10):
        fails_both("05.7", wrong)
    # close on the visible examples' few empty bins, off on grading's: within 1e-6 there, not here
    assert not self_check("05.7", floor_on_counts).passed or fails_hidden("05.7", floor_on_counts)


def test_05_7_with_the_course_psi_gets_no_points() -> None:
    passes_self_check_fails_hidden("05.7", "psi_of = deploy.psi", forbidden=True)
    passes_self_check_fails_hidden("05.7", "from bmcourse.deploy.drift import psi\n"
                                           "psi_of = lambda reference, window: psi(reference, window)", forbidden=True)


def test_the_drift_reference_runs_the_notebooks_full_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """``bmcourse reference refresh drift`` must ship what the notebook's full profile would compute."""
    from bmcourse.bench.drift import FULL_SETTINGS

    monkeypatch.setenv("BMCOURSE_PROFILE", "full")
    ns: dict[str, Any] = {"__name__": "notebook_05"}
    for source, tags in nbsource._cells(NB):
        if "setup" in tags:
            nbsource.run(source, ns)
    assert FULL_SETTINGS == {"windows": ns["DRIFT_WINDOWS"], "size": ns["DRIFT_SIZE"],
                             "shift_at": ns["DRIFT_SHIFT_AT"], "ramp": ns["DRIFT_RAMP"],
                             "threshold": ns["PSI_THRESHOLD"], "patience": ns["PATIENCE"]}
