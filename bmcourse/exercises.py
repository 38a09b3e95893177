"""Automatic checks for notebook exercises: graded hints, and never the answer.

A notebook defines its own exercises and keeps them in variables::

    ex = Exercise("01.1", "Sigmoid of 1", expect_close(0.7311, atol=1e-4),
                  hints=("The sigmoid is 1 / (1 + e^-x).", "Use torch.sigmoid or math.exp."))
    answer = ...          # the learner replaces the ... with a value
    ex.check(answer)      # prints one line: ✅ or ❌ plus a 💡 hint

Checks compare values (numbers, arrays, tensors, lists, dicts); they never run strings as code.
Failure messages name shapes, lengths, positions and types, never the expected value.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bmcourse.i18n import tr as _

Verdict = tuple[bool, str]


@dataclass(frozen=True)
class Checker:
    """A value check: ``test(answer) -> (passed, message)``; ``expects`` describes the wanted type."""

    test: Callable[[Any], Verdict] = field(repr=False)
    expects: str | None = None

    def __call__(self, answer: Any) -> Verdict:
        return self.test(answer)


@dataclass(frozen=True)
class Result:
    """The outcome of one check; the full text is in ``message``, the repr stays short."""

    key: str
    passed: bool
    attempts: int
    message: str = field(repr=False)

    def _ipython_display_(self) -> None:
        """Show nothing in a notebook: ``check`` already printed the message."""


# ---------------------------------------------------------------- describing values

def _plural(name: str) -> str:
    """``'int'`` -> ``'ints'``; ``'str'`` -> ``'strings'`` (in Chinese the type name as it is)."""
    return _("strings") if name == "str" else _("{name}s").format(name=name)


def _is_tensor(value: Any) -> bool:
    """True for a torch tensor (checked by duck typing, so torch is not imported here)."""
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def describe(value: Any) -> str:
    """A short type description of a value without its content, e.g. ``'a list of ints'``."""
    if _is_tensor(value):
        return _("a tensor of shape {shape}").format(shape=tuple(value.shape))
    if isinstance(value, np.ndarray):
        return _("an array of shape {shape}").format(shape=value.shape)
    if isinstance(value, (list, tuple)):
        kinds = {type(item).__name__ for item in value}
        kind = type(value).__name__
        if len(kinds) == 1:
            return _("a {kind} of {items}").format(kind=kind, items=_plural(kinds.pop()))
        return _("a {name}").format(name=kind)
    if isinstance(value, Mapping):
        kinds = {type(key).__name__ for key in value}
        return _("a dict with {kind} keys").format(kind=kinds.pop()) if len(kinds) == 1 else _("a dict")
    if value is None:
        return "None"
    name = type(value).__name__
    return (_("an {name}") if name[0] in "aeiou" else _("a {name}")).format(name=name)


def _number_kind(expected: Any) -> str:
    """How ``expect_close`` names what it wants: a number, or a tensor/array with its shape."""
    if _is_tensor(expected) or isinstance(expected, np.ndarray):
        return describe(expected)
    if isinstance(expected, (list, tuple)):
        return _("a sequence of numbers of shape {shape}").format(shape=np.shape(expected))
    return _("a number")


# ---------------------------------------------------------------- checker constructors

def _as_float_array(value: Any) -> np.ndarray:
    """Numbers, sequences, arrays and tensors as a float64 array; raises TypeError otherwise."""
    if isinstance(value, (str, bytes, Mapping)) or value is None:
        raise TypeError(f"not numeric: {type(value).__name__}")
    if _is_tensor(value):
        value = value.detach().cpu().double().numpy()
    return np.asarray(value, dtype=np.float64)


def _expect_close_by_key(expected: Mapping, rtol: float, atol: float) -> Checker:
    """Checker for a dict of numbers: the same keys, each value within ``rtol``/``atol``."""
    keys = list(expected)
    values = _as_float_array([expected[k] for k in keys])

    def test(answer: Any) -> Verdict:
        if not isinstance(answer, Mapping):
            return False, _("expected a dict of numbers, got {got}").format(got=describe(answer))
        missing, extra = [k for k in keys if k not in answer], [k for k in answer if k not in expected]
        if missing or extra:
            return False, _("keys differ: missing {missing}; unexpected {extra}").format(
                missing=", ".join(map(str, missing)) or _("none"), extra=", ".join(map(str, extra)) or _("none"))
        try:
            got = _as_float_array([answer[k] for k in keys])
        except (TypeError, ValueError):
            return False, _("every value must be a number")
        close = np.isclose(got, values, rtol=rtol, atol=atol, equal_nan=True)
        if close.all():
            return True, _("values match")
        return False, _("not close enough for {keys}").format(
            keys=", ".join(str(k) for k, ok in zip(keys, close) if not ok))

    return Checker(test, _("a dict of numbers"))


def expect_close(expected: Any, *, rtol: float = 1e-5, atol: float = 1e-8) -> Checker:
    """Checker for numbers, arrays and tensors: same shape, values within ``rtol``/``atol``; for a
    dict of numbers: the same keys, each value close."""
    if isinstance(expected, Mapping):
        return _expect_close_by_key(expected, rtol, atol)
    target = _as_float_array(expected)
    wants = _number_kind(expected)

    def test(answer: Any) -> Verdict:
        try:
            got = _as_float_array(answer)
        except (TypeError, ValueError):
            return False, _("expected {expected}, got {got}").format(expected=wants, got=describe(answer))
        if got.shape != target.shape:
            return False, _("shape mismatch: your answer has shape {shape}, expected {expected}").format(
                shape=got.shape, expected=target.shape)
        if np.isnan(got).any() and not np.isnan(target).any():
            return False, _("your answer contains NaN")
        if np.allclose(got, target, rtol=rtol, atol=atol, equal_nan=True):
            return True, _("values match")
        wrong = int((~np.isclose(got, target, rtol=rtol, atol=atol, equal_nan=True)).sum())
        if target.size == 1:  # a difference would give a scalar answer away
            return False, _("not close enough to the expected value")
        return False, _("not close enough: {wrong} of {total} values differ").format(wrong=wrong, total=target.size)

    return Checker(test, wants)


def _plain(value: Any) -> Any:
    """Arrays and tensors as (nested) Python lists; other values unchanged."""
    return value.tolist() if _is_tensor(value) or isinstance(value, np.ndarray) else value


def _at(path: str) -> str:
    """``''`` -> ``''``; ``'[3][1]'`` -> ``' at index [3][1]'``."""
    return _(" at index {path}").format(path=path) if path else ""


def _first_difference(got: Any, want: Any, path: str = "") -> str | None:
    """A message saying where ``got`` differs from ``want`` (position, length, type), or None."""
    got = _plain(got)
    if isinstance(want, (list, tuple)):
        if not isinstance(got, (list, tuple)):
            return _("expected {expected}{at}, got {got}").format(expected=describe(want), at=_at(path), got=describe(got))
        sizes = (_("{count} item{at}, expected {expected}") if len(got) == 1
                 else _("{count} items{at}, expected {expected}")).format(count=len(got), at=_at(path),
                                                                          expected=len(want))
        for i, (g, w) in enumerate(zip(got, want)):
            found = _first_difference(g, w, f"{path}[{i}]")
            if found:
                return _("{sizes}; {found}").format(sizes=sizes, found=found) if len(got) != len(want) else found
        if len(got) != len(want):
            return _("length mismatch: {sizes} (the first {count} match)").format(sizes=sizes,
                                                                                  count=min(len(got), len(want)))
        return None
    if isinstance(want, Mapping):
        if not isinstance(got, Mapping):
            return _("expected {expected}{at}, got {got}").format(expected=describe(want), at=_at(path), got=describe(got))
        missing = [k for k in want if k not in got]
        extra = [k for k in got if k not in want]
        unexpected = ", ".join(map(repr, extra))
        if missing and extra:
            return _("{count} key(s) missing; unexpected key(s): {keys}").format(count=len(missing),
                                                                                 keys=unexpected) + _at(path)
        if missing:
            return _("{count} key(s) missing").format(count=len(missing)) + _at(path)
        if extra:
            return _("unexpected key(s): {keys}").format(keys=unexpected) + _at(path)
        for key in want:
            found = _first_difference(got[key], want[key], f"{path}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(want, str) != isinstance(got, str) or isinstance(got, (list, tuple, Mapping)):
        if not path:
            return _("expected {expected}, got {got}").format(expected=describe(want), got=describe(got))
        return _("first difference{at} (expected {expected} there, got {got})").format(
            at=_at(path), expected=describe(want), got=describe(got))
    if got == want:
        return None
    return _("first difference{at}").format(at=_at(path)) if path else _("not equal")


def expect_equal(expected: Any) -> Checker:
    """Checker for exact equality of ints, strings, lists, tuples and dicts (nested too)."""

    def test(answer: Any) -> Verdict:
        found = _first_difference(answer, expected)
        return (True, _("values match")) if found is None else (False, found)

    return Checker(test, describe(expected))


def expect_true(predicate: Callable[[Any], bool], message: str, *,
                expects: str | None = None) -> Checker:
    """Checker from a predicate on the answer; ``message`` is shown when it returns False."""
    return Checker(lambda answer: (True, "ok") if predicate(answer) else (False, message), expects)


def expect_all(*checkers: Callable[[Any], Verdict]) -> Checker:
    """Checker that runs ``checkers`` in order and reports the first failure."""
    if not checkers:
        raise ValueError("expect_all needs at least one checker")

    def test(answer: Any) -> Verdict:
        for check in checkers:
            passed, message = check(answer)
            if not passed:
                return False, message
        return True, "ok"

    expects = next((c.expects for c in checkers if getattr(c, "expects", None)), None)
    return Checker(test, expects)


# ---------------------------------------------------------------- exercises

def _not_answered(answer: Any) -> bool:
    """True for ``None`` and ``...`` (the placeholder a student notebook ships with)."""
    return answer is None or answer is Ellipsis


@dataclass(eq=False)
class Exercise:
    """One exercise of a notebook; it counts its own attempts and grades its hints.

    Pass ``checker`` (see the ``expect_*`` constructors) or ``expected``: floats, arrays and
    tensors are then compared with ``expect_close``, anything else (ints, strings, lists,
    dicts) with ``expect_equal``. Neither the repr nor any message shows the expected value.
    ``points`` is the one place an exercise's grading weight is set (default 1).
    """

    key: str
    title: str
    checker: Callable[[Any], Verdict] | None = None
    hints: tuple[str, ...] = field(default=(), repr=False)
    expected: Any = field(default=None, repr=False)
    points: int = 1                # what the exercise is worth when graded (bmcourse assign reads it here)
    attempts: int = field(default=0, init=False)
    failures: int = field(default=0, init=False)
    result: Result | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.hints = (self.hints,) if isinstance(self.hints, str) else tuple(self.hints)
        if self.checker is None:
            if self.expected is None:
                raise ValueError(f"exercise {self.key}: pass checker=... or expected=...")
            self.checker = _default_checker(self.expected)
        self.expected = None  # the checker holds it; nothing else keeps the answer around

    def __repr__(self) -> str:
        return f"Exercise({self.key!r}, {self.title!r}, attempts={self.attempts})"

    def hint(self, failure: int) -> str:
        """The hint for the ``failure``-th failed attempt (1-based); the last one repeats."""
        if not self.hints:
            return ""
        n = min(failure, len(self.hints))
        return _("💡 Hint {n}/{total}: {hint}").format(n=n, total=len(self.hints), hint=_(self.hints[n - 1]))

    def _verdict(self, answer: Any) -> Verdict:
        """Run the checker; an exception from a badly shaped answer becomes a failure message."""
        try:
            passed, message = self.checker(answer)
        except Exception as err:  # the learner's value broke the check: say which type was wanted
            expects = getattr(self.checker, "expects", None) or "a different kind of value"
            return False, _("expected {expects}, got {got} ({error} while checking)").format(
                expects=_(expects), got=describe(answer), error=type(err).__name__)
        return bool(passed), _(str(message))

    def check(self, answer: Any) -> Result:
        """Check ``answer``, print one ✅/❌ line (plus a 💡 hint on failure) and return a Result."""
        head = f"{self.key} {_(self.title)}"
        if _not_answered(answer):
            text = _("⏳ {head}: not answered yet (replace the ... with your answer)").format(head=head)
            self.result = Result(self.key, False, self.attempts, text)
        else:
            self.attempts += 1
            passed, message = self._verdict(answer)
            if passed:
                text = _("✅ {head}: correct (attempt {n})").format(head=head, n=self.attempts)
            else:
                self.failures += 1
                text = _("❌ {head}: {message}").format(head=head, message=message)
                if self.hints:
                    text += "\n" + self.hint(self.failures)
            self.result = Result(self.key, passed, self.attempts, text)
        print(self.result.message)
        return self.result


def _default_checker(expected: Any) -> Checker:
    """``expect_close`` for floats, arrays and tensors; ``expect_equal`` for everything else."""
    numeric = isinstance(expected, float) or _is_tensor(expected) or isinstance(expected, np.ndarray)
    return expect_close(expected) if numeric else expect_equal(expected)


def checkpoint(results: Iterable[Result | Exercise]) -> str:
    """A summary line such as ``'3/4 exercises passed'`` (Exercises count by their last check)."""
    items = list(results)
    done, open_keys = 0, []
    for item in items:
        result = item.result if isinstance(item, Exercise) else item
        if result is not None and result.passed:
            done += 1
        else:
            open_keys.append(item.key)
    summary = _("{done}/{total} exercises passed").format(done=done, total=len(items))
    return summary + (_(" (still open: {keys})").format(keys=", ".join(open_keys)) if open_keys else "")


# ---------------------------------------------------------------- running a learner's function

_NOT_A_FUNCTION = "expected a function, got {got}: define it with def and assign nothing else to its name"  # _() at use


def _copied(args: tuple) -> tuple:
    """A deep copy of an example's arguments, so a function that changes its inputs cannot change
    the reference; arguments that refuse copying (a tensor inside a graph) are passed as they are."""
    import copy

    try:
        return copy.deepcopy(args)
    except Exception:  # e.g. RuntimeError: only leaf tensors support deepcopy
        return args


def on_example(fn: Any, args: tuple, check: Callable[[Any], Verdict]) -> Verdict:
    """Run a learner's function on an exercise's visible example and judge the result with ``check``
    (an ``expect_*`` checker holding the reference): the message says what is wrong (not a function,
    the exception it raised, a shape, how many values differ), never the expected value."""
    if not callable(fn):
        return False, _(_NOT_A_FUNCTION).format(got=describe(fn))
    try:
        got = fn(*_copied(args))
    except Exception as err:  # the learner's code failed: name the error instead of a traceback
        return False, _("your function raised {error}: {message}").format(error=type(err).__name__, message=err)
    return check(got)


def on_examples(fn: Any, cases: Iterable[tuple[tuple, Callable[[Any], Verdict]]]) -> Verdict:
    """:func:`on_example` over several ``(args, check)`` examples; a failure names its example."""
    if not callable(fn):
        return False, _(_NOT_A_FUNCTION).format(got=describe(fn))
    for number, (args, check) in enumerate(cases, 1):
        passed, message = on_example(fn, args, check)
        if not passed:
            return False, _("example {number}: {message}").format(number=number, message=_(message))
    return True, _("values match")
