"""bmcourse: the helper package of the course on adapting pretrained (foundation) models.

Notebooks teach, the package serves: shared plumbing lives here once.

``import bmcourse`` is light (no torch, no transformers): the submodules that need them
(``bmcourse.models``, ``bmcourse.train``, ...) are imported when first used, e.g. by
``bmcourse.setup()`` or by ``bmcourse.models`` as an attribute.
"""
from __future__ import annotations

import importlib
from typing import Any

from .config import by_profile, device, profile
from .errors import BmcourseError
from .session import Settings, headline, setup

__version__ = "0.1.0"
__all__ = ["BmcourseError", "Settings", "by_profile", "device", "headline", "profile", "setup", "__version__"]


def __getattr__(name: str) -> Any:
    """``bmcourse.<submodule>`` imports that submodule on first use (``bmcourse.models.load_token_classifier``)."""
    if name.startswith("_"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as error:
        if error.name != f"{__name__}.{name}":
            raise  # the submodule exists but something it imports is missing
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
