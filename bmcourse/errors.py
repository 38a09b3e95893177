"""The one exception type of the package: every message names what went wrong, where, and the fix."""
from __future__ import annotations

from pathlib import Path


class BmcourseError(ValueError):
    """A problem a learner can fix; the message says the file, the line and the fix."""

    def __init__(self, problem: str, *, file: str | Path | None = None,
                 line: int | None = None, fix: str | None = None) -> None:
        self.problem, self.file, self.line, self.fix = problem, file, line, fix
        where = ""
        if file is not None:
            where = f"{file}:{line}: " if line is not None else f"{file}: "
        message = f"{where}{problem}"
        if fix:
            message += f"\n  fix: {fix}"
        super().__init__(message)
