"""Matplotlib figures for the notebooks, and HTML entity highlighting: ``training`` (curves and
distributions), ``entities`` (highlighted text), ``applications`` (notebooks 04 and 05), all
drawn in ``layout``'s frame. Notebooks call every one of them as ``plots.<name>``.

Every plot function returns its ``Figure`` and never calls ``plt.show()``. In Jupyter a
figure made through pyplot is shown once the cell ends: assign the result
(``fig = plot_history(h)``) so it is not shown twice.
"""
from __future__ import annotations

from . import applications, entities, layout, training
from .applications import *  # noqa: F403  (each module's __all__ is the public part)
from .entities import *  # noqa: F403
from .layout import *  # noqa: F403
from .training import *  # noqa: F403

__all__ = [*applications.__all__, *entities.__all__, *layout.__all__, *training.__all__]
