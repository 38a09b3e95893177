"""bmcourse: the helper package of the course on adapting pretrained (foundation) models.

Notebooks teach, the package serves: shared plumbing lives here once.
"""
from __future__ import annotations

from .config import by_profile, device, profile
from .errors import BmcourseError
from .session import Settings, headline, setup

__version__ = "0.1.0"
__all__ = ["BmcourseError", "Settings", "by_profile", "device", "headline", "profile", "setup", "__version__"]
