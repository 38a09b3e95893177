"""Exercise checks: right answers pass, wrong ones get graded hints and never the answer."""
from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from bmcourse import exercises
from bmcourse.exercises import (
    Exercise,
    Result,
    checkpoint,
    describe,
    expect_all,
    expect_close,
    expect_equal,
    expect_true,
)

HINTS = ("Think about the sigmoid.", "Use torch.sigmoid on a tensor.", "Apply it to 1.0.")


def make(checker, hints=HINTS) -> Exercise:
    """An exercise with the test hints."""
    return Exercise("01.1", "Sigmoid", checker, hints=hints)


@pytest.mark.parametrize("expected, answer", [
    (0.7311, 0.73110001),
    (0.7311, torch.tensor(0.7311)),
    (torch.tensor([[0.1, 0.2], [0.3, 0.4]]), torch.tensor([[0.1, 0.2], [0.3, 0.4]], dtype=torch.float64)),
    (np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0 + 1e-9])),
    (np.array([1.0, 2.0]), [1.0, 2.0]),
])
def test_close_answers_pass(capsys, expected, answer):
    result = make(expect_close(expected)).check(answer)
    assert result.passed and result.attempts == 1
    assert capsys.readouterr().out.startswith("✅ 01.1 Sigmoid")


@pytest.mark.parametrize("expected", [
    ["O", "B-PER", "I-PER"], (1, 2, 3), {"PER": 2, "LOC": 1}, [[-100, 3], [0, -100]], "B-LOC", 7,
])
def test_equal_answers_pass(capsys, expected):
    answer = dict(reversed(expected.items())) if isinstance(expected, dict) else expected
    assert make(expect_equal(expected)).check(answer).passed
    assert "✅" in capsys.readouterr().out


def test_equal_accepts_tensor_for_list_of_ints():
    assert make(expect_equal([-100, 3, 4, -100])).check(torch.tensor([-100, 3, 4, -100])).passed


def test_hints_are_graded_and_the_last_repeats(capsys):
    ex = make(expect_close(0.7311, atol=1e-4))
    messages = [ex.check(0.5).message for _ in range(4)]
    assert "Hint 1/3: " + HINTS[0] in messages[0] and HINTS[1] not in messages[0]
    assert "Hint 2/3: " + HINTS[1] in messages[1]
    assert "Hint 3/3: " + HINTS[2] in messages[2] and "Hint 3/3: " + HINTS[2] in messages[3]
    assert all(m.startswith("❌ 01.1 Sigmoid:") for m in messages)
    assert ex.attempts == 4
    out = capsys.readouterr().out
    assert "0.7311" not in out and "0.731" not in out
    assert ex.check(0.73111).passed and ex.attempts == 5


def test_last_hint_repeats_with_two_hints():
    ex = make(expect_equal(3), hints=("first", "second"))
    texts = [ex.check(2).message for _ in range(3)]
    assert [t.splitlines()[1] for t in texts] == [
        "💡 Hint 1/2: first", "💡 Hint 2/2: second", "💡 Hint 2/2: second"]


def test_close_reports_shape_and_difference_not_value(capsys):
    expected = torch.tensor([0.7311, 0.2689])
    ex = make(expect_close(expected))
    shape_msg = ex.check(torch.tensor([0.7311, 0.2689, 0.5])).message
    diff_msg = ex.check(torch.tensor([0.5, 0.2689])).message
    assert "shape mismatch" in shape_msg and "(3,)" in shape_msg and "(2,)" in shape_msg
    assert "1 of 2 values differ" in diff_msg
    scalar = make(expect_close(0.7311)).check(0.5).message
    assert "not close enough" in scalar and "0.23" not in scalar
    out = capsys.readouterr().out
    assert "0.7311" not in out and "0.2689" not in out


def test_list_mismatch_names_index_and_length_not_content(capsys):
    expected = ["B-PER", "I-PER", "O", "B-LOC"]
    ex = make(expect_equal(expected))
    differ = ex.check(["B-PER", "I-PER", "B-MISC", "B-LOC"]).message
    short = ex.check(["B-PER", "I-PER", "O"]).message
    assert "index [2]" in differ
    assert "3 items, expected 4" in short
    out = capsys.readouterr().out
    for item in ("'B-PER'", "'I-PER'", "'O'", "'B-LOC'"):
        assert item not in out


def test_nested_and_dict_mismatches():
    nested = make(expect_equal([[-100, 3], [0, -100]])).check([[-100, 3], [0, 5]]).message
    assert "index [1][1]" in nested
    ex = make(expect_equal({"PER": 2, "LOC": 1}))
    assert "1 key(s) missing" in ex.check({"PER": 2}).message
    assert "unexpected key(s): 'ORG'" in ex.check({"PER": 2, "LOC": 1, "ORG": 4}).message
    assert "index ['LOC']" in ex.check({"PER": 2, "LOC": 3}).message


def test_not_answered_is_not_an_attempt(capsys):
    ex = make(expect_close(0.7311))
    for answer in (None, ...):
        result = ex.check(answer)
        assert not result.passed and result.attempts == 0 and "not answered yet" in result.message
    assert ex.attempts == 0 and "Hint" not in capsys.readouterr().out


def test_wrong_type_gives_clear_message(capsys):
    ex = make(expect_close(torch.zeros(2, 3)))
    result = ex.check("0.0")
    assert not result.passed and result.attempts == 1
    assert "expected a tensor of shape (2, 3), got a str" in result.message
    assert "Hint 1/3" in result.message
    listed = make(expect_equal([1, 2, 3])).check("1, 2, 3").message
    assert "expected a list of ints, got a str" in listed
    assert "❌" in capsys.readouterr().out


def test_checker_exception_becomes_type_message():
    positive = expect_true(lambda x: x > 0, "must be positive", expects="a number")
    result = make(positive).check([1, 2])
    assert not result.passed and result.attempts == 1
    assert "expected a number, got a list of ints (TypeError while checking)" in result.message


def test_expect_true_and_all():
    prob = expect_all(expect_true(lambda x: isinstance(x, float), "return a float", expects="a float"),
                      expect_true(lambda x: 0.0 <= x <= 1.0, "a probability lies in [0, 1]"))
    ex = make(prob)
    assert "return a float" in ex.check(1).message
    assert "lies in [0, 1]" in ex.check(1.5).message
    assert ex.check(0.25).passed


def test_expected_shortcut_and_repr_hide_the_answer():
    ex = Exercise("02.1", "Count entities", expected=[4, 1, 7], hints="Count B- tags.")
    assert ex.hints == ("Count B- tags.",)
    assert ex.check([4, 1, 7]).passed
    assert repr(ex) == "Exercise('02.1', 'Count entities', attempts=1)"
    assert repr(ex.result) == "Result(key='02.1', passed=True, attempts=1)"
    assert isinstance(Exercise("x", "y", expected=0.5).checker, exercises.Checker)
    with pytest.raises(ValueError, match="checker=... or expected="):
        Exercise("x", "y")


def test_attempts_are_per_instance():
    a, b = make(expect_equal(1)), make(expect_equal(1))
    a.check(2), a.check(2)
    assert a.attempts == 2 and b.attempts == 0
    assert "Hint 1/3" in b.check(2).message


def test_checkpoint_summary():
    a, b = make(expect_equal(1)), Exercise("01.2", "Other", expected=2)
    results = [a.check(1), b.check(3), Result("01.3", True, 1, "")]
    assert checkpoint(results) == "2/3 exercises passed (still open: 01.2)"
    b.check(2)
    assert checkpoint([a, b]) == "2/2 exercises passed"
    assert checkpoint([a, Exercise("01.4", "Unseen", expected=1)]).startswith("1/2")


def test_describe_names_types_only():
    assert describe([1, 2]) == "a list of ints"
    assert describe(["a"]) == "a list of strings"
    assert describe({"a": 1}) == "a dict with str keys"
    assert describe(np.zeros((2, 2))) == "an array of shape (2, 2)"
    assert describe(3) == "an int"


def test_source_never_evaluates_code():
    source = inspect.getsource(exercises)
    assert "eval(" not in source and "exec(" not in source and "compile(" not in source


def test_expect_close_on_a_dict_compares_each_key_and_names_the_wrong_ones() -> None:
    check = expect_close({"a": 0.5, "b": 0.25}, atol=1e-6)
    assert check({"a": 0.5, "b": 0.25})[0]
    ok, message = check({"a": 0.5, "b": 0.3})
    assert not ok and "b" in message and "0.25" not in message
    assert "missing b" in check({"a": 0.5})[1]
    assert "unexpected c" in check({"a": 0.5, "b": 0.25, "c": 1})[1]
    assert not check([0.5, 0.25])[0] and not check({"a": "x", "b": 0.25})[0]


def test_on_example_runs_the_learners_function_on_a_copy_and_never_shows_the_reference() -> None:
    from bmcourse.exercises import expect_close, on_example, on_examples

    data = [1.0, 2.0]

    def mutating(xs):
        xs.append(99.0)
        return sum(xs)

    assert on_example(lambda xs: sum(xs), (data,), expect_close(3.0)) == (True, "values match")
    passed, message = on_example(mutating, (data,), expect_close(3.0))
    assert not passed and "102" not in message and "3.0" not in message and data == [1.0, 2.0]
    assert on_example(..., (data,), expect_close(3.0))[1].startswith("expected a function")
    assert "raised ZeroDivisionError" in on_example(lambda xs: 1 / 0, (data,), expect_close(3.0))[1]
    verdict = on_examples(lambda x: 2 * x, [((1.0,), expect_close(2.0)), ((2.0,), expect_close(5.0))])
    assert verdict[0] is False and verdict[1].startswith("example 2:")
