"""Notebook 00's exercises, run from the notebook source itself (see ``tests/nbsource.py``).

Each exercise asks for a function. For each: the placeholder is "not answered"; the reference
solution passes the self-check (the visible example) and the hidden test (fresh inputs drawn at
grading time, silently); the named wrong answers fail both; an answer that calls the function the
exercise rules out fails the hidden test with ``ForbiddenCall``; and the "value in view" shortcut
(a function returning the visible example's answer) passes the self-check but fails the hidden test.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import jupytext
import nbsource
import numpy as np
import pytest
import torch
import torch.nn.functional as F

NB = "00"
#: exercise -> (the function's name, its points)
EXERCISES = {"00.1": ("learning_path", 1), "00.2": ("cosine", 2), "00.3": ("max_pool", 2),
             "00.4": ("probe_parameters", 1), "00.5": ("majority_tag_accuracy", 1), "00.6": ("probe_gain", 1)}
PROBE, BAG = "frozen encoder + linear probe", "bag of words + logistic regression"


EX = nbsource.Exercises(NB, EXERCISES, cached=True)
squash, the_exercise = nbsource.squash, nbsource.the_exercise
solved, answered, self_check, hidden = EX.solved, EX.answered, EX.self_check, EX.hidden
fails_hidden, passes_self_check_fails_hidden = EX.fails_hidden, EX.passes_self_check_fails_hidden
fails_both = EX.fails_both


def visible_answer(exercise_id: str) -> Any:
    """What the reference solution returns on the exercise's visible example (a learner can compute it)."""
    ns = solved(exercise_id)
    fn = ns[EXERCISES[exercise_id][0]]
    if exercise_id == "00.1":
        return fn(ns["map_edges"], "lora")
    if exercise_id == "00.5":
        return fn(ns["train_tag_names"], ns["test_tag_names"])
    if exercise_id == "00.2":
        return fn(ns["u"], ns["v"])
    if exercise_id == "00.4":
        return fn(ns["encoder"].config.hidden_size, 9)
    if exercise_id == "00.6":
        return fn(ns["ref"]["sentiment"]["rows"])
    raise KeyError(exercise_id)


# ---------------------------------------------------------------- every exercise


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_exercise_cell_runs_alone_keeps_the_placeholder_and_sets_the_points(exercise_id: str) -> None:
    name, points = EXERCISES[exercise_id]
    exercise = the_exercise(nbsource.exercise(NB, exercise_id), exercise_id)
    assert exercise.attempts == 0 and len(exercise.hints) >= 2 and exercise.points == points
    assert exercise.checker.expects == "a function"
    assert re.search(rf"^{name} = \.\.\.$", nbsource.exercise_cell(NB, exercise_id), flags=re.MULTILINE)
    assert re.search(rf"^def {name}\(", nbsource.solution_cell(NB, exercise_id), flags=re.MULTILINE)
    assert squash(nbsource.check_cell(NB, exercise_id)) == f"ex{exercise_id[-1]}.check({name})"
    assert f"def grade_{name}():" in nbsource.hidden_test_cell(NB, exercise_id)


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_placeholder_is_not_answered_and_the_reference_passes(exercise_id: str) -> None:
    ex, name = f"ex{exercise_id[-1]}", EXERCISES[exercise_id][0]
    nbsource.check_placeholder_then_solution(NB, exercise_id, ex, name)


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_reference_passes_the_hidden_test_silently(exercise_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    ns = solved(exercise_id)
    capsys.readouterr()  # what the setup cells printed (the encoder's size)
    before, rng_state = dict(ns), torch.get_rng_state()
    for _ in range(5):  # fresh inputs each time
        nbsource.run_hidden_test(NB, exercise_id, ns)
    assert capsys.readouterr() == ("", "")  # nbval compares stored outputs: a hidden test prints nothing
    assert torch.equal(torch.get_rng_state(), rng_state)  # later cells' random draws are unchanged
    # it binds one name (its own function) and rebinds none: the notebook's `u`, `v`, `ref`... are safe
    assert set(ns) - set(before) == {f"grade_{EXERCISES[exercise_id][0]}"}
    assert all(ns[key] is value for key, value in before.items())


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_hidden_test_needs_no_encoder_no_data_and_no_training(exercise_id: str) -> None:
    source = nbsource.hidden_test_cell(NB, exercise_id)
    for needed in ("encoder.", "encoder(", "tokenizer", "load_", "reference.", ".fit(", "contextual_vector",
                   "sentence_features", "word_features", "ref["):
        assert needed not in source, f"{exercise_id}'s hidden test uses {needed}"
    ns = {"__name__": "bare", EXERCISES[exercise_id][0]: solved(exercise_id)[EXERCISES[exercise_id][0]]}
    nbsource.run_hidden_test(NB, exercise_id, ns)  # nothing but the answer: no setup cell is needed


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_placeholder_a_value_and_a_wrong_function_fail_the_hidden_test(exercise_id: str) -> None:
    name = EXERCISES[exercise_id][0]
    assert "expected a function" in fails_hidden(exercise_id, "")  # the placeholder `name = ...` left as it is
    assert "expected a function" in fails_hidden(exercise_id, f"{name} = 0.25")
    assert "expected" in fails_hidden(exercise_id, lambda *args: ...)
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
def test_hints_explain_without_giving_the_solution_line(exercise_id: str) -> None:
    exercise = the_exercise(nbsource.exercise(NB, exercise_id), exercise_id)
    hints = squash(" ".join(exercise.hints))
    for line in nbsource.solution_cell(NB, exercise_id).splitlines():
        code = line.split("=", 1)[-1] if "=" in line and "==" not in line else line
        code = code.strip().removeprefix("return ")
        if len(squash(code)) > 12:
            assert squash(code) not in hints, f"{exercise_id}: a hint contains the solution code {code.strip()!r}"


def test_no_solution_or_hidden_test_line_appears_in_another_cell() -> None:
    """``bmcourse assign`` refuses a release in which a line (over 24 characters) of a solution or a
    hidden test appears: none may also be written in a cell the learner gets."""
    nb = jupytext.read(nbsource.NOTEBOOKS / "00_foundations.py", fmt="py:percent")
    secret = [i for i, c in enumerate(nb.cells) if {"solution", "hidden-test"} & set(c.metadata.get("tags", ()))]
    assert len(secret) == 2 * len(EXERCISES)
    for index in secret:
        for line in nb.cells[index].source.splitlines():
            if len(line.strip()) > 24:
                elsewhere = [i for i, c in enumerate(nb.cells) if i not in secret and line.strip() in c.source]
                assert not elsewhere, f"{line.strip()!r} is also in cell {elsewhere}"


def stored_output_text() -> str:
    """Every text output stored in notebooks/00_foundations.ipynb (what a copy with outputs shows)."""
    nb = json.loads((nbsource.NOTEBOOKS / "00_foundations.ipynb").read_text(encoding="utf-8"))
    texts = []
    for cell in nb["cells"]:
        for output in cell.get("outputs", ()):
            texts.append("".join(output.get("text", "")))
            for kind, value in output.get("data", {}).items():
                if kind.startswith("text/"):
                    texts.append("".join(value))
    return "\n".join(texts)


@pytest.mark.parametrize("exercise_id", ["00.2", "00.4", "00.5", "00.6"])
def test_no_stored_output_prints_an_expected_answer(exercise_id: str) -> None:
    """The kept outputs (a release with outputs, the rendered notebook) never print what the visible
    check expects: the learner computes it (the map of 00.1 is drawn on purpose: that one is read)."""
    answer, text = float(visible_answer(exercise_id)), stored_output_text()
    if answer == int(answer):
        assert not re.search(rf"(?<![\d.]){int(answer)}(?![\d.])", text), f"{exercise_id}'s answer is printed"
    else:
        for shown in (f"{answer:.3f}", f"{answer:+.3f}", f"{answer:.4f}", f"{100 * answer:.1f}%"):
            assert shown not in text, f"{exercise_id}'s answer is printed as {shown}"


# ---------------------------------------------------------------- 00.1


def walk_back(edges, concept):
    """The reference solution's path (the notebook's solution cell, run from its source)."""
    return solved("00.1")["learning_path"](edges, concept)


def test_learning_path_backwards_partial_and_forward_paths_fail() -> None:
    assert visible_answer("00.1") == ["pretrain", "foundation", "finetune", "peft", "lora"]
    for wrong in (lambda e, c: walk_back(e, c)[::-1],  # from the concept back to the start
                  lambda e, c: [c],  # the concept alone
                  lambda e, c: walk_back(e, c)[1:] or [c],  # the start left out
                  lambda e, c: walk_back(e, c)[:-1] or [c],  # the concept left out
                  lambda e, c: [c] + [t for s, t in e if s == c],  # forwards: what builds on it
                  lambda e, c: set(walk_back(e, c)),  # no order
                  lambda e, c: " -> ".join(walk_back(e, c))):  # a string
        fails_both("00.1", wrong)
    assert "end at the concept" in self_check("00.1", lambda e, c: walk_back(e, c)[:-1] or [c]).message
    assert "builds on another" in self_check("00.1", lambda e, c: [c]).message
    skipped = self_check("00.1", lambda e, c: [k for i, k in enumerate(walk_back(e, c)) if i != 1])
    assert not skipped.passed and "follows no arrow" in skipped.message
    assert self_check("00.1", lambda e, c: tuple(walk_back(e, c))).passed  # a tuple is a path too
    hidden("00.1", lambda e, c: tuple(walk_back(e, c)))
    hidden("00.1", lambda e, c: walk_back(list(reversed(e)), c))


def test_learning_path_in_view_or_from_the_course_map_gets_no_points() -> None:
    ns = solved("00.1")
    shown = {c: walk_back(ns["map_edges"], c) for c in ("lora", "fewshot", "pretrain")}
    passes_self_check_fails_hidden("00.1", lambda e, c: shown[c], forbidden=False)  # typed from the map
    passes_self_check_fails_hidden("00.1", "def learning_path(edges, c):\n"  # reads the course map, not its edges
                                           "    parent = dict((t, s) for s, t in concepts.EDGES)\n"
                                           "    path = [c]\n"
                                           "    while path[0] in parent:\n"
                                           "        path.insert(0, parent[path[0]])\n"
                                           "    return path", forbidden=False)
    assert ns["map_edges"] == list(ns["concepts"].EDGES)  # the self-check left the map alone


# ---------------------------------------------------------------- 00.2


def cos_in_float(a, b):
    return float(torch.dot(a, b) / (a.norm() * b.norm()))


def test_cosine_dot_product_distance_and_one_norm_fail() -> None:
    ns = solved("00.2")
    u, v = ns["u"], ns["v"]
    assert min(u.norm().item(), v.norm().item()) > 1.5  # raw vectors: a plain dot product is far from the cosine
    shown = f"{visible_answer('00.2'):.4f}"
    for wrong in (lambda a, b: torch.dot(a, b).item(),  # not normalised
                  lambda a, b: torch.dist(a, b).item(),  # a distance
                  lambda a, b: 1 - cos_in_float(a, b),  # the cosine distance
                  lambda a, b: float(torch.dot(a, b) / a.norm() ** 2),  # one vector's length twice
                  lambda a, b: float(torch.dot(a, b) / (a.norm() + b.norm())),  # lengths added
                  lambda a, b: 1.0):
        result = fails_both("00.2", wrong)
        assert shown not in result.message
    assert self_check("00.2", lambda a, b: torch.dot(a, b) / (a.norm() * b.norm())).passed  # a 0-d tensor is fine
    hidden("00.2", lambda a, b: torch.dot(a, b) / (a.norm() * b.norm()))
    hidden("00.2", lambda a, b: (F.normalize(a, dim=0) * F.normalize(b, dim=0)).sum())  # normalising is allowed
    as_1d = fails_both("00.2", lambda a, b: (torch.dot(a, b) / (a.norm() * b.norm())).reshape(1))
    assert "shape mismatch" in as_1d.message


def test_cosine_absolute_value_fails_the_hidden_test() -> None:
    """|cos| passes the self-check (the two senses of "bank" are at a positive angle) but not opposite vectors."""
    passes_self_check_fails_hidden("00.2", lambda a, b: abs(cos_in_float(a, b)), forbidden=False)


def test_cosine_with_a_library_or_in_view_gets_no_points() -> None:
    passes_self_check_fails_hidden("00.2", lambda a, b: F.cosine_similarity(a, b, dim=0).item(), forbidden=True)
    passes_self_check_fails_hidden("00.2", lambda a, b: torch.cosine_similarity(a, b, dim=0), forbidden=True)
    passes_self_check_fails_hidden("00.2", lambda a, b: torch.nn.CosineSimilarity(dim=0)(a, b), forbidden=True)
    passes_self_check_fails_hidden("00.2", "cosine = torch.nn.CosineSimilarity(dim=0)", forbidden=True)  # a module
    passes_self_check_fails_hidden("00.2", "from torch.nn.functional import cosine_similarity as cs\n"
                                           "cosine = lambda a, b: cs(a, b, dim=0)", forbidden=True)
    passes_self_check_fails_hidden("00.2", lambda a, b: 1 - F.cosine_embedding_loss(
        a[None], b[None], torch.ones(1)), forbidden=True)
    passes_self_check_fails_hidden("00.2", "from sklearn.metrics.pairwise import cosine_similarity\n"
                                           "cosine = lambda a, b: cosine_similarity(a[None].numpy(), "
                                           "b[None].numpy())[0, 0]", forbidden=True)
    passes_self_check_fails_hidden("00.2", "from scipy.spatial import distance\n"
                                           "cosine = lambda a, b: 1 - distance.cosine(a.numpy(), b.numpy())",
                                   forbidden=True)
    shown = visible_answer("00.2")
    passes_self_check_fails_hidden("00.2", lambda a, b: shown, forbidden=False)  # was: typing the printed number


# ---------------------------------------------------------------- 00.3


def zero_filled(h, m):  # 0 wins when every real value is negative
    return (h * m.unsqueeze(-1)).amax(dim=1)


def first_tokens(h, m):  # assumes the padding is at the end
    return torch.stack([h[b, :int(m[b].sum())].amax(dim=0) for b in range(len(h))])


def test_max_pool_padding_as_zero_unmasked_mean_and_first_tokens_fail() -> None:
    unmasked = lambda h, m: h.amax(dim=1)  # noqa: E731
    mean = lambda h, m: (h * m.unsqueeze(-1)).sum(1) / m.sum(1, keepdim=True)  # noqa: E731
    as_list = lambda h, m: solved("00.3")["max_pool"](h, m).tolist()  # noqa: E731
    cls_token = lambda h, m: h[:, 0]  # noqa: E731
    for wrong in (zero_filled, unmasked, mean, as_list, first_tokens, cls_token):
        fails_both("00.3", wrong)
    assert "padding" in self_check("00.3", unmasked).message
    assert "padding" in self_check("00.3", first_tokens).message
    assert "shape" in self_check("00.3", lambda h, m: h.amax(dim=2)).message
    hidden("00.3", lambda h, m: (h - (1 - m).unsqueeze(-1) * 1e9).amax(dim=1))  # another correct answer
    hidden("00.3", lambda h, m: torch.stack([h[b][m[b] == 1].amax(dim=0) for b in range(len(h))]))


def test_max_pool_self_check_shows_no_pooling_code() -> None:
    """The self-check builds its batch around the answer: no line of it computes a masked maximum."""
    source = nbsource.exercise_cell(NB, "00.3").split("ex3 = Exercise(")[0]
    assert "def _check_max_pool" in source and "amax" not in source and ".max(" not in source


# ---------------------------------------------------------------- 00.4


def test_probe_parameters_forgetting_the_bias_or_the_classes_fails() -> None:
    fails_both("00.4", lambda d, k: d * k)  # no bias
    fails_both("00.4", lambda d, k: d + 1)  # one output
    fails_both("00.4", lambda d, k: d * k + 1)  # one bias
    fails_both("00.4", lambda d, k: d * k + k + 0.5)
    passes_self_check_fails_hidden("00.4", lambda d, k: d * 9 + 9, forbidden=False)  # the 9 tags hard-coded
    hidden("00.4", lambda d, k: (d + 1) * k)
    assert self_check("00.4", lambda d, k: float(d * k + k)).passed  # a whole float counts


def test_probe_parameters_by_building_a_layer_or_in_view_gets_no_points() -> None:
    passes_self_check_fails_hidden("00.4", lambda d, k: sum(p.numel() for p in torch.nn.Linear(d, k).parameters()),
                                   forbidden=True)
    passes_self_check_fails_hidden("00.4", lambda d, k: sum(p.numel() for p in torch.nn.Conv1d(d, k, 1).parameters()),
                                   forbidden=True)
    passes_self_check_fails_hidden("00.4", "probe_parameters = lambda d, k: count_parameters("
                                           "torch.nn.Linear(d, k, device='meta'))[1]", forbidden=True)
    passes_self_check_fails_hidden("00.4", "import numpy as np\n"
                                           "from sklearn.linear_model import LogisticRegression\n"
                                           "def probe_parameters(d, k):\n"
                                           "    fit = LogisticRegression(max_iter=5).fit(np.eye(k, d), np.arange(k))\n"
                                           "    return fit.coef_.size + fit.intercept_.size", forbidden=True)
    shown = visible_answer("00.4")
    passes_self_check_fails_hidden("00.4", lambda d, k: shown, forbidden=False)


# ---------------------------------------------------------------- 00.5


def flat(sentences):
    return [tag for tags in sentences for tag in tags]


def share(tag, sentences):
    words = flat(sentences)
    return sum(t == tag for t in words) / len(words)


def top_tag(sentences):
    return Counter(flat(sentences)).most_common(1)[0][0]


def test_majority_tag_accuracy_per_sentence_counts_and_percentages_fail() -> None:
    ns = solved("00.5")
    assert top_tag(ns["train_tag_names"]) == "O" and 0.5 < visible_answer("00.5") < 1
    for wrong in (lambda tr, te: sum(t == top_tag(tr) for t in flat(te)),  # a count, not a share
                  lambda tr, te: 100 * share(top_tag(tr), te),  # a percentage
                  lambda tr, te: 1 - share(top_tag(tr), te),  # the error rate
                  lambda tr, te: share(top_tag(tr), tr),  # scored on the training words
                  lambda tr, te: sum(share(top_tag(tr), [s]) for s in te) / len(te)):  # mean over sentences
        fails_both("00.5", wrong)
    hidden("00.5", lambda tr, te: float(np.mean([t == top_tag(tr) for t in flat(te)])))


def test_majority_tag_accuracy_o_hard_coded_test_majority_or_in_view_gets_no_points() -> None:
    passes_self_check_fails_hidden("00.5", lambda tr, te: share("O", te), forbidden=False)  # "O" assumed
    passes_self_check_fails_hidden("00.5", lambda tr, te: share(top_tag(te), te), forbidden=False)  # test's own top
    shown = visible_answer("00.5")
    passes_self_check_fails_hidden("00.5", lambda tr, te: shown, forbidden=False)
    passes_self_check_fails_hidden("00.5", "import numpy as np\n"
                                           "from sklearn.dummy import DummyClassifier\n"
                                           "def majority_tag_accuracy(tr, te):\n"
                                           "    a = [t for s in tr for t in s]\n"
                                           "    b = [t for s in te for t in s]\n"
                                           "    d = DummyClassifier(strategy='most_frequent').fit(np.zeros((len(a), 1)), a)\n"
                                           "    return d.score(np.zeros((len(b), 1)), b)", forbidden=True)
    passes_self_check_fails_hidden("00.5", "from collections import Counter\n"
                                           "from bmcourse import metrics\n"
                                           "def majority_tag_accuracy(tr, te):\n"
                                           "    top = Counter(t for s in tr for t in s).most_common(1)[0][0]\n"
                                           "    return metrics.ner_report(te, [[top] * len(s) for s in te])"
                                           "['token_accuracy']", forbidden=True)


# ---------------------------------------------------------------- 00.6


def accuracy_of(rows, method):
    return next(row["accuracy"] for row in rows if row["method"] == method)


def test_probe_gain_wrong_sign_single_accuracies_and_positions_fail() -> None:
    ns = solved("00.6")
    assert abs(visible_answer("00.6")) > 0.005  # the checks can tell the sign apart
    fails_both("00.6", lambda rows: accuracy_of(rows, BAG) - accuracy_of(rows, PROBE))  # sign flipped
    fails_both("00.6", lambda rows: accuracy_of(rows, PROBE))
    fails_both("00.6", lambda rows: accuracy_of(rows, BAG))
    fails_both("00.6", lambda rows: accuracy_of(rows, PROBE) - accuracy_of(rows, "majority class"))
    by_position = self_check("00.6", lambda rows: rows[2]["accuracy"] - rows[1]["accuracy"])  # the shipped order
    assert not by_position.passed and "reverse order" in by_position.message
    fails_hidden("00.6", lambda rows: rows[2]["accuracy"] - rows[1]["accuracy"])
    as_text = self_check("00.6", lambda rows: str(accuracy_of(rows, PROBE) - accuracy_of(rows, BAG)))
    assert not as_text.passed and "expected" in as_text.message
    hidden("00.6", lambda rows: accuracy_of(rows, PROBE) - accuracy_of(rows, BAG))
    assert ns["ref"]["sentiment"]["rows"][2]["method"] == PROBE  # the self-check left the shipped table alone


def test_probe_gain_in_view_or_read_from_the_reference_gets_no_points() -> None:
    shown = visible_answer("00.6")
    passes_self_check_fails_hidden("00.6", lambda rows: shown, forbidden=False)  # was: typing the printed number
    passes_self_check_fails_hidden("00.6", "probe_gain = lambda rows: ("
                                           "{r['method']: r['accuracy'] for r in ref['sentiment']['rows']}"
                                           "['frozen encoder + linear probe'] - "
                                           "{r['method']: r['accuracy'] for r in ref['sentiment']['rows']}"
                                           "['bag of words + logistic regression'])", forbidden=False)
    largest_minus_smallest = lambda rows: max(r["accuracy"] for r in rows) - min(r["accuracy"] for r in rows)  # noqa: E731
    fails_hidden("00.6", largest_minus_smallest)
