"""The frame every course figure shares: its default size, a new pyplot figure with its axes,
and the finishing touches (suptitle, tight layout). Plot functions return the ``Figure`` and never
call ``plt.show()``; pyplot is imported only when a plot is made.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["FIGSIZE", "new_figure", "finish"]

FIGSIZE = (6.0, 3.5)


def new_figure(nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] = FIGSIZE):
    """A new pyplot figure and its axes (imports pyplot only when a plot is made)."""
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)


def finish(fig: Figure, title: str | None = None) -> Figure:
    """The figure with its suptitle (if any) and a tight layout."""
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig

