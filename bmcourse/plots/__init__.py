"""Matplotlib figures for the notebooks, and HTML entity highlighting: ``training`` (curves and
distributions), ``entities`` (highlighted text), ``applications`` (notebooks 04 and 05), all
drawn in ``layout``'s frame. Notebooks call them as ``plots.<name>``.

Every plot function returns its ``Figure`` and never calls ``plt.show()``. In Jupyter a
figure made through pyplot is shown once the cell ends: assign the result
(``fig = plot_history(h)``) so it is not shown twice.
"""
from __future__ import annotations

from .applications import (
    plot_coverage,
    plot_reliability,
    plot_robustness,
    plot_stream,
    plot_token_attributions,
    plot_variants,
)
from .entities import KNOWN_COLOURS, PALETTE, entity_colour, entity_legend, highlight_entities
from .layout import FIGSIZE, finish, new_figure
from .training import (
    plot_bars,
    plot_confusion,
    plot_curve_panels,
    plot_curves_with_bands,
    plot_history,
    plot_label_distribution,
    plot_learning_curves,
    plot_length_distribution,
    plot_tradeoff,
)

__all__ = ["FIGSIZE", "KNOWN_COLOURS", "PALETTE", "entity_colour", "entity_legend", "finish", "highlight_entities",
           "new_figure", "plot_bars", "plot_confusion", "plot_coverage", "plot_curve_panels", "plot_curves_with_bands",
           "plot_history", "plot_label_distribution", "plot_learning_curves", "plot_length_distribution",
           "plot_reliability", "plot_robustness", "plot_stream", "plot_token_attributions", "plot_tradeoff",
           "plot_variants"]
