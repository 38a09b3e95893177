"""What a hidden test (``bmcourse assign``'s graded exercises) calls at grading time: run the
learner's function with the functions the exercise forbids made to raise, draw fresh inputs the
learner never saw, and compare without ever printing the expected value.

A hidden test is plain Python in a cell tagged ``hidden-test`` right after an exercise's check
cell; nbgrader gives the exercise its points when that cell raises nothing. In the instructor's
notebook it runs against the reference solution, silently.
"""
from __future__ import annotations

import contextlib
import importlib
import random
import sys
import types
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .i18n import tr as _

#: Autograd's entry points: an exercise that says "by hand" or "not with autograd" forbids them.
#: Forward mode too (``torch.func.jvp``/``jacfwd``, dual numbers): ``jvp(torch.sigmoid, (z,), (ones,))`` is σ'(z).
AUTOGRAD = ("torch.Tensor.backward", "torch.autograd.grad", "torch.autograd.backward",
            "torch.autograd.functional.jacobian", "torch.func.grad", "torch.func.vjp",
            "torch.func.jvp", "torch.func.jacfwd", "torch.autograd.forward_ad.make_dual")


_INHERITED = object()  # marks a patched class attribute that the class did not define itself

#: The reason a forbidden call gives unless the hidden test names another (shown in the learner's language).
BY_HAND = "this exercise asks you to do it by hand"


def _why(why: str) -> str:
    """``why`` in the learner's language (the notebooks' catalog holds the hidden tests' own reasons).
    Both branches translate; the first names BY_HAND so the catalog scan collects the default."""
    return _(BY_HAND) if why == BY_HAND else _(why)


def _refusal(path: str, why: str) -> str:
    """What a forbidden call says: which function, and why it is not allowed."""
    return _("your answer calls {path}, which this exercise does not allow ({why})").format(path=path, why=_why(why))


class ForbiddenCall(AssertionError):
    """Raised when a learner's answer calls a function the exercise says not to use."""


def _resolve(path: str) -> tuple[Any, str]:
    """``"torch.nn.functional.cross_entropy"`` -> (the module or class that holds it, its name)."""
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:-1]:
            owner = getattr(owner, part)
        return owner, parts[-1]
    raise ValueError(f"cannot resolve {path!r}")


def _user_namespaces() -> list[dict[str, Any]]:
    """The kernel's user namespace (where ``from x import f`` bound ``f``) and ``__main__``'s."""
    spaces = [vars(sys.modules["__main__"])]
    with contextlib.suppress(ImportError, AttributeError):
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None and shell.user_ns is not spaces[0]:
            spaces.append(shell.user_ns)
    return spaces


@contextlib.contextmanager
def forbidden(*paths: str, why: str = BY_HAND) -> Iterator[None]:
    """Make each dotted function raise :class:`ForbiddenCall` inside the block: in its module or
    class and wherever the notebook bound it by name; everything is restored on exit."""
    saved: list[tuple[Any, str, Any]] = []
    # resolved before anything is patched, so "torch.optim.Adam" and "torch.optim.Adam.step" go together
    targets = [(path, *_resolve(path)) for path in paths]
    try:
        for path, owner, name in targets:
            original = getattr(owner, name)
            # a class's own attribute as stored (a staticmethod stays one), or _INHERITED: then restoring
            # deletes the patch instead of copying the base class's method into this class
            stored = vars(owner).get(name, _INHERITED) if isinstance(owner, type) else original

            def refuse(*args: Any, _path: str = path, **kwargs: Any) -> Any:
                raise ForbiddenCall(_refusal(_path, why))

            saved.append((owner, name, stored))
            setattr(owner, name, refuse)
            if isinstance(original, types.FunctionType) and not original.__code__.co_freevars:
                # every other reference to it (a default argument, functools.partial, an alias) refuses too
                saved.append((original, "__code__", original.__code__))
                original.__code__ = _refusing_code(path, why)
            for space in _user_namespaces():
                for key, value in list(space.items()):
                    if value is original:
                        saved.append((space, key, original))
                        space[key] = refuse
        yield
    finally:
        for owner, name, original in reversed(saved):
            if isinstance(owner, dict):
                owner[name] = original
            elif original is _INHERITED:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


def _refusing_code(path: str, why: str) -> types.CodeType:
    """A code object, free of closures, that raises :class:`ForbiddenCall` naming ``path``."""
    message = _refusal(path, why)
    namespace: dict[str, Any] = {}
    exec(  # noqa: S102 - our own constant source: the message is a repr'd string literal
        "def refuse(*args, **kwargs):\n"
        f"    raise __import__('bmcourse.graded', fromlist=['ForbiddenCall']).ForbiddenCall({message!r})\n",
        namespace)
    return namespace["refuse"].__code__


def call(answer: Any, *args: Any, forbid: Sequence[str] = (), why: str = BY_HAND, **kwargs: Any) -> Any:
    """``answer(*args, **kwargs)`` with ``forbid`` made to raise; a missing function fails clearly."""
    if not callable(answer):
        raise AssertionError(_("expected a function, got {type}: define it in the answer cell").format(
            type=type(answer).__name__))
    for path in forbid:  # the answer *is* a forbidden function (`name = forbidden_function`): the test holds
        owner, name = _resolve(path)  # the object itself, which patching its module cannot reach
        if getattr(owner, name, None) is answer:
            raise ForbiddenCall(_("your answer is {path}, which this exercise does not allow ({why})").format(
                path=path, why=_why(why)))
    with forbidden(*forbid, why=why):
        return answer(*args, **kwargs)


def fresh_rng() -> random.Random:
    """A generator of inputs nobody saw: seeded from the operating system at grading time."""
    return random.Random(random.SystemRandom().getrandbits(64))


def fresh_seed(rng: random.Random) -> int:
    """A seed for torch's generator, drawn from ``rng``."""
    return rng.getrandbits(63)


def assert_close(got: Any, want: Any, what: str, *, rtol: float = 1e-6, atol: float = 1e-9) -> None:
    """Fail (AssertionError) unless ``got`` has ``want``'s shape and values; the message names
    ``what`` and the shapes, never a value."""
    import numpy as np

    def as_array(value: Any) -> Any:
        if hasattr(value, "detach"):
            value = value.detach().cpu().double().numpy()
        return np.asarray(value, dtype=np.float64)

    try:
        got_array = as_array(got)
    except (TypeError, ValueError):
        raise AssertionError(_("{what}: expected numbers, got {type}").format(what=what, type=type(got).__name__)) from None
    want_array = as_array(want)
    if got_array.shape != want_array.shape:
        raise AssertionError(_("{what}: shape {shape}, expected {expected}").format(
            what=what, shape=got_array.shape, expected=want_array.shape))
    if not np.allclose(got_array, want_array, rtol=rtol, atol=atol):
        raise AssertionError(_("{what}: wrong values on inputs you have not seen").format(what=what))


def check_function(answer: Callable[..., Any], cases: Sequence[tuple[tuple, Any]], what: str, *,
                   forbid: Sequence[str] = (), why: str = BY_HAND,
                   rtol: float = 1e-6, atol: float = 1e-9) -> None:
    """Call ``answer`` on each ``(args, expected)`` case with ``forbid`` raising; all must be close."""
    for args, expected in cases:
        assert_close(call(answer, *args, forbid=forbid, why=why), expected, what, rtol=rtol, atol=atol)
