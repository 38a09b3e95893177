"""The argparse pieces every ``bmcourse`` sub-command shares: one-line usage errors and option types.

A usage error (argparse's own, or a bad value found after parsing: :class:`UsageError`) is one line,
``bmcourse CMD: problem (fix: ...)``, and exits 2; :func:`leaf` makes a sub-command parser that knows
its handler and itself; :func:`names` and :func:`sizes` read comma-separated option values.
"""
from __future__ import annotations

import argparse
from typing import Any, NoReturn


class UsageError(Exception):
    """A bad option value found after parsing (``bmcourse`` exits 2, as for argparse's own errors)."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, ``bmcourse CMD: problem (fix: ...)``, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (fix: see `{self.prog} --help`)\n")


def leaf(sub: Any, name: str, func: Any, **kwargs: Any) -> argparse.ArgumentParser:
    """A sub-command parser that runs ``func`` and knows itself (for its usage errors)."""
    parser = sub.add_parser(name, **kwargs)
    parser.set_defaults(func=func, _parser=parser)
    return parser


def names(value: str, allowed: tuple[str, ...] | None = None, what: str = "name") -> tuple[str, ...]:
    """A comma-separated option as a tuple, checked against ``allowed``."""
    found = tuple(v.strip() for v in value.split(",") if v.strip())
    unknown = [n for n in found if allowed is not None and n not in allowed]
    if not found or unknown:
        raise UsageError(f"unknown {what} {', '.join(unknown) or repr(value)} (fix: give a comma-separated list"
                         + (f" of {', '.join(allowed)})" if allowed else ")"))
    return found


def sizes(value: str) -> tuple[int, ...]:
    """``--sizes``: comma-separated whole numbers (an argparse type: a bad value is a usage error)."""
    try:
        found = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        found = ()
    if not found or min(found) < 1:
        raise argparse.ArgumentTypeError(f"expected positive whole numbers, e.g. 10,25,50; got {value!r}")
    return found
