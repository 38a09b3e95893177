"""``BmcourseError``, the error for a problem the user can fix: it says what went wrong, where, and the fix."""
from __future__ import annotations

from pathlib import Path

from .i18n import tr as _


class BmcourseError(ValueError):
    """A problem a learner can fix; the message says the file, the line and the fix."""

    def __init__(self, problem: str, *, file: str | Path | None = None,
                 line: int | None = None, fix: str | None = None) -> None:
        self.problem, self.file, self.line, self.fix = problem, file, line, fix
        message = f"{self.where}{problem}"
        if fix:
            message += "\n  " + _("fix: {fix}").format(fix=fix)
        super().__init__(message)

    @property
    def where(self) -> str:
        """``file:line: `` (or ``file: ``) in front of the problem; empty without a file."""
        if self.file is None:
            return ""
        return f"{self.file}:{self.line}: " if self.line is not None else f"{self.file}: "

    def one_line(self) -> str:
        """Problem and fix on one line, as the ``bmcourse`` command prints it: ``where problem (fix: ...)``."""
        text = f"{self.where}{self.problem}" + (_(" (fix: {fix})").format(fix=self.fix) if self.fix else "")
        return " ".join(part.strip() for part in text.splitlines() if part.strip())
