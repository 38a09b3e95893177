"""Notebook 04's exercises, run from the notebook source itself (see ``tests/nbsource.py``).

Each exercise asks for a function. For each: the placeholder is "not answered"; the reference
solution passes the self-check (the visible example) and the hidden test (fresh inputs drawn at
grading time, silently, with no model, data or training); the named wrong answers fail both; an
answer that calls the course's own function for the job fails the hidden test with ``ForbiddenCall``;
and the "value in view" shortcut (a function returning the visible example's answers) passes the
self-check but fails the hidden test.
"""
from __future__ import annotations

import re
from collections.abc import Callable

import jupytext
import nbsource
import numpy as np
import pytest
import torch

NB = "04"
#: exercise -> (the function's name, its points)
EXERCISES = {"04.1": ("threshold_for", 2), "04.2": ("alert_rule", 1), "04.3": ("recall_at", 1),
             "04.4": ("char_entities", 3), "04.5": ("upper_bound", 1)}
#: how often a wrong answer is graded: each run draws new inputs, and every one of them must fail
RUNS = 20


EX = nbsource.Exercises(NB, EXERCISES, runs=RUNS)
squash, the_exercise = nbsource.squash, nbsource.the_exercise
solved, answered, self_check, hidden = EX.solved, EX.answered, EX.self_check, EX.hidden
fails_hidden, passes_self_check_fails_hidden = EX.fails_hidden, EX.passes_self_check_fails_hidden
fails_both = EX.fails_both


def passes_both(exercise_id: str, answer: Callable | str) -> None:
    """Another correct way to write it: right while working and when graded, on many draws."""
    assert self_check(exercise_id, answer).passed
    ns = answered(exercise_id, answer)
    for _ in range(RUNS):
        nbsource.run_hidden_test(NB, exercise_id, ns)


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
def test_the_reference_passes_the_hidden_test_silently(exercise_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    ns = solved(exercise_id)
    before, rng_state = dict(ns), torch.get_rng_state()
    for _ in range(5 * RUNS):  # fresh inputs each time
        nbsource.run_hidden_test(NB, exercise_id, ns)
    assert capsys.readouterr() == ("", "")  # nbval compares stored outputs: a hidden test prints nothing
    assert torch.equal(torch.get_rng_state(), rng_state)  # later cells' random draws are unchanged
    # it binds one name (its own function) and rebinds none: the notebook's `apps`, `spans`, `ex1_cases`... are safe
    assert len(set(ns) - set(before)) == 1 and all(ns[key] is value for key, value in before.items())


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_hidden_test_needs_no_model_data_or_training(exercise_id: str) -> None:
    source = nbsource.hidden_test_cell(NB, exercise_id)
    for heavy in ("load_", "fit(", "from_pretrained", "Tagger", "sentence_embeddings", "class_logits", "torch"):
        assert heavy not in source, f"{exercise_id}'s hidden test uses {heavy}"
    assert "graded.fresh_rng()" in source and "forbid=" in source


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_placeholder_a_value_and_a_wrong_function_fail_the_hidden_test(exercise_id: str) -> None:
    assert "expected a function" in fails_hidden(exercise_id, "", runs=1)  # the placeholder `name = ...` left as it is
    assert "expected a function" in fails_hidden(exercise_id, f"{EXERCISES[exercise_id][0]} = 0.25", runs=1)
    fails_hidden(exercise_id, lambda *args: ..., runs=1)
    with pytest.raises(ZeroDivisionError):  # an error in the answer fails the test cell (nbgrader: 0 points)
        hidden(exercise_id, lambda *args: 1 / 0)


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_self_check_explains_a_value_or_an_error_without_a_traceback(exercise_id: str) -> None:
    not_a_function = self_check(exercise_id, f"{EXERCISES[exercise_id][0]} = 0.25")
    assert not not_a_function.passed and "expected a function, got a float" in not_a_function.message
    raising = self_check(exercise_id, lambda *args: 1 / 0)
    assert not raising.passed and "your function raised ZeroDivisionError" in raising.message
    wrong_kind = self_check(exercise_id, lambda *args: "0.1")
    assert not wrong_kind.passed and ("expected" in wrong_kind.message or "not the expected" in wrong_kind.message)


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
    nb = jupytext.read(nbsource.NOTEBOOKS / "04_applications.py", fmt="py:percent")
    secret = [i for i, c in enumerate(nb.cells) if {"solution", "hidden-test"} & set(c.metadata.get("tags", ()))]
    assert len(secret) == 2 * len(EXERCISES)
    for index in secret:
        for line in nb.cells[index].source.splitlines():
            if len(line.strip()) > 24:
                elsewhere = [i for i, c in enumerate(nb.cells) if i not in secret and line.strip() in c.source]
                assert not elsewhere, f"{line.strip()!r} is also in cell {elsewhere}"


# ---------------------------------------------------------------- 04.1


def first_that_meets(conf, ok, target):  # the highest threshold that meets the target, not the most coverage
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


def strict(conf, ok, target):  # accuracy > target instead of >=
    pairs = sorted(zip(conf, ok), reverse=True)
    best, right = None, 0
    for i, (c, good) in enumerate(pairs):
        right += good
        if (i + 1 == len(pairs) or pairs[i + 1][0] < c) and right / (i + 1) > target:
            best = c
    return best


def by_brute_force(conf, ok, target):  # each distinct confidence tried, in float32 tensors: also right
    conf_t, ok_t = torch.tensor(conf), torch.tensor(ok)
    good = [c for c in conf_t.unique().tolist() if ok_t[conf_t >= c].float().mean().item() >= target]
    return min(good) if good else None


def test_threshold_wrong_answers_fail() -> None:
    ex1 = nbsource.exercise(NB, "04.1")["ex1"]
    result = ex1.check(strict)
    assert not result.passed and "Hint 1/2" in result.message and "example 1" in result.message
    assert "0.6" not in result.message  # the expected threshold of example 1 is never shown
    for wrong in (first_that_meets, strict, lambda c, ok, t: min(c), lambda c, ok, t: max(c)):
        fails_both("04.1", wrong)
    fails_both("04.1", ignores_ties)
    fails_both("04.1", lambda c, ok, t: by_brute_force(c, ok, t) or 0.0)  # 0 instead of None
    passes_both("04.1", by_brute_force)
    assert ex1.check(solved("04.1")["threshold_for"]).passed


def test_threshold_with_the_course_functions_or_in_view_gets_no_points() -> None:
    passes_self_check_fails_hidden("04.1", "def threshold_for(c, ok, t):\n"
                                           "    row = apps.pick_threshold(c, ok, t)\n"
                                           "    return row and row['threshold']", forbidden=True)
    passes_self_check_fails_hidden("04.1", "from bmcourse.apps.intent import pick_threshold\n"
                                           "threshold_for = lambda c, ok, t: (pick_threshold(c, ok, t) or {}).get("
                                           "'threshold')", forbidden=True)
    passes_self_check_fails_hidden("04.1", "threshold_for = lambda c, ok, t: next((r['threshold'] for r in "
                                           "apps.coverage_curve(c, ok) if r['accuracy'] >= t), None)", forbidden=True)
    ns = solved("04.1")
    shown = {(tuple(c), tuple(ok), t): ns["threshold_for"](c, ok, t) for c, ok, t in ns["ex1_cases"]}
    passes_self_check_fails_hidden("04.1", lambda c, ok, t: shown.get((tuple(c), tuple(ok), t), 0.5),
                                   forbidden=False)


# ---------------------------------------------------------------- 04.2


def full_window(neg, window, threshold):  # divides by `window` at the start of the stream too
    return [sum(neg[max(0, i - window + 1):i + 1]) / window >= threshold for i in range(len(neg))]


def strict_share(neg, window, threshold):  # > instead of >=
    return [sum(neg[max(0, i - window + 1):i + 1]) / len(neg[max(0, i - window + 1):i + 1]) > threshold
            for i in range(len(neg))]


def off_by_one(neg, window, threshold):  # the window ends one headline early
    out = []
    for i in range(len(neg)):
        recent = neg[max(0, i - window):i] or [False]
        out.append(sum(recent) / len(recent) >= threshold)
    return out


def with_numpy(neg, window, threshold):  # cumulative sums in an array: also right
    counts = np.concatenate([[0], np.cumsum(np.asarray(neg, dtype=int))])
    ends = np.arange(1, len(neg) + 1)
    starts = np.maximum(0, ends - window)
    return (counts[ends] - counts[starts]) / (ends - starts) >= threshold


def test_alert_rule_wrong_answers_fail() -> None:
    ex2 = nbsource.exercise(NB, "04.2")["ex2"]
    result = ex2.check(full_window)
    assert not result.passed and "example 3" in result.message and "Hint 1/2" in result.message
    for wrong in (full_window, strict_share, off_by_one, lambda neg, w, t: list(neg)):
        fails_both("04.2", wrong)
    shares = fails_both("04.2", lambda neg, w, t: [sum(neg[max(0, i - w + 1):i + 1]) / len(neg[max(0, i - w + 1):i + 1])
                                                    for i in range(len(neg))])  # the shares, not the alerts
    assert "first difference" in shares.message
    passes_both("04.2", with_numpy)  # an array of numpy bools is fine
    passes_both("04.2", lambda neg, w, t: torch.tensor(with_numpy(neg, w, t)))  # and a tensor
    assert ex2.check(solved("04.2")["alert_rule"]).passed


def test_alert_rule_with_rolling_share_or_in_view_gets_no_points() -> None:
    passes_self_check_fails_hidden("04.2", "alert_rule = lambda neg, w, t: [s >= t for s in apps.rolling_share(neg, w)]",
                                   forbidden=True)
    passes_self_check_fails_hidden("04.2", "from bmcourse.apps.sentiment import rolling_share\n"
                                           "alert_rule = lambda neg, w, t: [s >= t for s in rolling_share(neg, w)]",
                                   forbidden=True)
    ns = solved("04.2")
    shown = {(tuple(f), w, t): ns["alert_rule"](f, w, t) for f, w, t in ns["ex2_cases"]}
    passes_self_check_fails_hidden("04.2", lambda neg, w, t: shown.get((tuple(neg), w, t), [False] * len(neg)),
                                   forbidden=False)


# ---------------------------------------------------------------- 04.3


def test_recall_wrong_answers_fail() -> None:
    ex3 = nbsource.exercise(NB, "04.3")["ex3"]
    every_hit = lambda k, q, n: sum(row[:k].count(x) for x, row in zip(q, n)) / len(q)  # noqa: E731
    all_neighbours = lambda k, q, n: sum(x in row for x, row in zip(q, n)) / len(q)  # noqa: E731
    per_neighbour = lambda k, q, n: sum(row[:k].count(x) for x, row in zip(q, n)) / (k * len(q))  # noqa: E731
    result = ex3.check(all_neighbours)
    assert not result.passed and "example 1" in result.message and "0.4" not in result.message
    for wrong in (every_hit, all_neighbours, per_neighbour):
        fails_both("04.3", wrong)
    fails_both("04.3", lambda k, q, n: sum(x in row[:k + 1] for x, row in zip(q, n)) / len(q))  # one neighbour too many
    fixed_size = lambda k, q, n: sum(x in row[:k] for x, row in zip(q, n)) / 5  # noqa: E731 - the visible 5 queries
    passes_self_check_fails_hidden("04.3", fixed_size, forbidden=False)
    as_tensor = lambda k, q, n: (torch.tensor(n)[:, :k] == torch.tensor(q)[:, None]).any(1).float().mean()  # noqa: E731
    passes_both("04.3", as_tensor)  # a 0-d float32 tensor is a number too
    assert ex3.check(solved("04.3")["recall_at"]).passed


def test_recall_with_recall_at_k_or_in_view_gets_no_points() -> None:
    passes_self_check_fails_hidden("04.3", "recall_at = lambda k, q, n: apps.recall_at_k(q, n, k)", forbidden=True)
    passes_self_check_fails_hidden("04.3", "import bmcourse.apps.search\n"
                                           "recall_at = lambda k, q, n: bmcourse.apps.search.recall_at_k(q, n, k)",
                                   forbidden=True)
    ns = solved("04.3")
    shown = {k: ns["recall_at"](k, ns["ex3_queries"], ns["ex3_neighbours"]) for k in (1, 2, 3)}
    passes_self_check_fails_hidden("04.3", lambda k, q, n: shown.get(k, 0.5), forbidden=False)


# ---------------------------------------------------------------- 04.4


def per_subword(offsets, tags):  # one entity per sub-word, nothing merged
    return [(t[2:], s, e) for (s, e), t in zip(offsets, tags) if t not in (None, "O")]


def word_starts_only(offsets, tags):  # ends at the first sub-word of the entity
    return [(t[2:], s, e) for (s, e), t in zip(offsets, tags) if t and t.startswith("B-")]


def merges_same_type(offsets, tags):  # a B- right after an entity of its type continues it
    found, current = [], None
    for (start, end), tag in zip(offsets, tags):
        if tag is None:
            continue
        if tag != "O" and current and current[0] == tag[2:]:
            current[2] = end
            continue
        if current:
            found.append(tuple(current))
        current = [tag[2:], start, end] if tag != "O" else None
    return found + [tuple(current)] if current else found


def test_char_entities_wrong_answers_fail() -> None:
    ns = nbsource.exercise(NB, "04.4", solved=True)
    ex4, reference = ns["ex4"], ns["char_entities"]
    result = ex4.check(per_subword)
    assert not result.passed and "Hint 1/2" in result.message and "Lovelace" not in result.message
    drops_last = lambda offsets, tags: reference(offsets, tags)[:-1]  # noqa: E731 - forgot the entity open at the end
    ends_early = lambda o, t: [(k, s, e - 1) for k, s, e in reference(o, t)]  # noqa: E731 - end inclusive
    for wrong in (per_subword, word_starts_only, drops_last, ends_early):
        fails_both("04.4", wrong)
    passes_self_check_fails_hidden("04.4", merges_same_type, forbidden=False)  # the example has no such pair
    passes_both("04.4", lambda o, t: [list(entity) for entity in reference(o, t)])  # lists for tuples are fine
    assert ex4.check(reference).passed


def by_spans(offsets, tags):
    from bmcourse.tagging import spans

    kept = [(offset, tag) for offset, tag in zip(offsets, tags) if tag is not None]
    return [(s.type, kept[s.start][0][0], kept[s.end - 1][0][1]) for s in spans([tag for _, tag in kept])]


def test_char_entities_with_the_course_helpers_or_in_view_gets_no_points() -> None:
    passes_self_check_fails_hidden("04.4", by_spans, forbidden=True)
    passes_self_check_fails_hidden("04.4", "def char_entities(offsets, tags):\n"  # the notebook's own `spans`
                                           "    kept = [(o, t) for o, t in zip(offsets, tags) if t is not None]\n"
                                           "    return [(s.type, kept[s.start][0][0], kept[s.end - 1][0][1])\n"
                                           "            for s in spans([t for _, t in kept])]", forbidden=True)
    passes_self_check_fails_hidden("04.4", "from bmcourse.apps.redact import _entities\n"
                                           "def char_entities(offsets, tags):\n"
                                           "    kept = [(o, t) for o, t in zip(offsets, tags) if t is not None]\n"
                                           "    words = [('', s, e) for (s, e), _ in kept]\n"
                                           "    return [e[:3] for e in _entities('', words, [t for _, t in kept])]",
                                   forbidden=True)
    passes_self_check_fails_hidden("04.4", "from seqeval.metrics.sequence_labeling import get_entities\n"
                                           "def char_entities(offsets, tags):\n"
                                           "    kept = [(o, t) for o, t in zip(offsets, tags) if t is not None]\n"
                                           "    return [(k, kept[s][0][0], kept[e][0][1])\n"
                                           "            for k, s, e in get_entities([t for _, t in kept])]",
                                   forbidden=True)
    ns = solved("04.4")
    shown = ns["char_entities"](ns["ex4_offsets"], ns["ex4_subword_tags"])
    passes_self_check_fails_hidden("04.4", lambda offsets, tags: shown, forbidden=False)


# ---------------------------------------------------------------- 04.5


def lower_instead(right, total, z=1.645):  # the lower bound: subtracts the spread
    p, n = right / total, total
    return (p + z * z / (2 * n) - z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)


def wald(right, total, z=1.645):  # the normal approximation: no Wilson correction, 0 when nothing is right
    p = right / total
    return min(1.0, p + z * (p * (1 - p) / total) ** 0.5)


def two_sided(right, total):  # z = 1.96: a two-sided 95% interval's upper end
    return 1 - lower_instead(total - right, total, z=1.96)


def unscaled(right, total, z=1.645):  # forgets to divide by 1 + z²/n
    p, n = right / total, total
    return p + z * z / (2 * n) + z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5


def by_error_rate(right, total):  # one minus the lower bound of the error rate, written by hand: also right
    return 1 - lower_instead(total - right, total)


def test_upper_bound_wrong_answers_fail() -> None:
    ex5 = nbsource.exercise(NB, "04.5")["ex5"]
    result = ex5.check(wald)
    assert not result.passed and "Hint 1/2" in result.message and "example" in result.message
    for wrong in (lower_instead, wald, two_sided, unscaled, lambda right, total: right / total):
        fails_both("04.5", wrong)
    passes_both("04.5", by_error_rate)
    passes_both("04.5", lambda right, total: torch.tensor(by_error_rate(right, total), dtype=torch.float64))
    assert ex5.check(solved("04.5")["upper_bound"]).passed


def test_upper_bound_with_the_course_bound_or_in_view_gets_no_points() -> None:
    passes_self_check_fails_hidden("04.5", "upper_bound = lambda right, total: 1 - apps.wilson_lower_bound("
                                           "total - right, total)", forbidden=True)
    passes_self_check_fails_hidden("04.5", "from bmcourse.apps.intent import wilson_lower_bound\n"
                                           "upper_bound = lambda right, total: 1 - wilson_lower_bound(total - right, total)",
                                   forbidden=True)
    ns = solved("04.5")
    shown = {case: ns["upper_bound"](*case) for case in ns["ex5_cases"]}
    passes_self_check_fails_hidden("04.5", lambda right, total: shown.get((right, total), 0.5), forbidden=False)
