"""Figures of the applications and deployment notebooks (04 and 05): reliability diagrams and
coverage curves for routing, the sentiment stream with its alerts, speed/quality per inference
variant, token attributions and robustness per perturbation.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from bmcourse.i18n import tr as _

from .layout import FIGSIZE, finish, new_figure

if TYPE_CHECKING:  # matplotlib is imported lazily, inside the functions
    from matplotlib.figure import Figure


__all__ = ["plot_reliability", "plot_coverage", "plot_stream", "plot_variants", "plot_token_attributions",
           "plot_robustness"]

def plot_reliability(bins: Mapping[str, Sequence[Mapping[str, float]]], title: str | None = None) -> Figure:
    """Accuracy against mean confidence per bin (``apps.reliability_bins``), one line per model
    state, with the diagonal of perfect calibration; marker size follows the bin's count.
    Default title: "Reliability: is a 0.9 confidence right 90% of the time?"."""
    title = _("Reliability: is a 0.9 confidence right 90% of the time?") if title is None else _(title)
    fig, axes = new_figure(figsize=(FIGSIZE[0], FIGSIZE[1] + 0.5))
    ax = axes[0][0]
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label=_("perfectly calibrated"))
    for name, rows in bins.items():
        used = [r for r in rows if r["count"]]
        total = sum(r["count"] for r in used) or 1
        ax.plot([r["confidence"] for r in used], [r["accuracy"] for r in used], marker="o", label=name,
                markersize=3)
        ax.scatter([r["confidence"] for r in used], [r["accuracy"] for r in used],
                   s=[4 + 300 * r["count"] / total for r in used], alpha=0.3)
    ax.set(xlabel=_("mean confidence in bin"), ylabel=_("accuracy in bin"), title=title, xlim=(0, 1.02),
           ylim=(0, 1.02))
    ax.legend(fontsize="small", loc="upper left")
    ax.grid(alpha=0.3)
    return finish(fig)


def plot_coverage(curves: Mapping[str, Sequence[Mapping[str, float]]], target: float | None = None,
                  chosen: Mapping[str, float] | None = None, title: str | None = None) -> Figure:
    """Accuracy on the automatically answered share against that share (coverage), per curve
    (``apps.coverage_curve``); the accuracy target and the chosen operating point if given.
    Default title: "Answer automatically, or hand over to a human"."""
    title = _("Answer automatically, or hand over to a human") if title is None else _(title)
    fig, axes = new_figure()
    ax = axes[0][0]
    for name, rows in curves.items():
        ax.plot([r["coverage"] for r in rows], [r["accuracy"] for r in rows], label=name)
    if target is not None:
        ax.axhline(target, linestyle="--", color="grey", label=_("target accuracy {target:g}").format(target=target))
    if chosen is not None:
        ax.scatter([chosen["coverage"]], [chosen["accuracy"]], color="black", zorder=3,
                   label=_("threshold {threshold:.2f}").format(threshold=chosen['threshold']))
    ax.set(xlabel=_("coverage (share answered automatically)"), ylabel=_("accuracy on that share"), title=title)
    ax.legend(fontsize="small", loc="lower left")
    ax.grid(alpha=0.3)
    return finish(fig)


def plot_stream(shares: Sequence[float], periods: Sequence[tuple[int, int]], alerts: Sequence[bool],
                threshold: float, title: str | None = None) -> Figure:
    """The rolling negative share over the stream, injected bad periods shaded, the alert
    threshold dashed and alert positions marked. Default title: "Negative share in the headline stream"."""
    title = _("Negative share in the headline stream") if title is None else _(title)
    fig, axes = new_figure(figsize=(FIGSIZE[0] + 2, FIGSIZE[1]))
    ax = axes[0][0]
    for i, (start, end) in enumerate(periods):
        ax.axvspan(start, end, color="#fb9a99", alpha=0.35, label=_("injected bad news") if i == 0 else None)
    ax.plot(range(len(shares)), shares, color="#4c72b0", label=_("rolling negative share"))
    ax.axhline(threshold, linestyle="--", color="grey", label=_("alert threshold {threshold:g}").format(threshold=threshold))
    marks = [t for t, on in enumerate(alerts) if on]
    ax.scatter(marks, [1.02] * len(marks), marker="|", color="#c44e52", label=_("alert"))
    ax.set(xlabel=_("headline number"), ylabel=_("negative share"), title=title, ylim=(0, 1.06))
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=4, frameon=False)
    return finish(fig)


# ---------------------------------------------------------------------------- deployment (notebook 05)

def plot_variants(rows: Sequence[Mapping[str, float | str]], title: str | None = None) -> Figure:
    """Batch-1 latency (p50 bar, p95 tick) and test F1 per variant (``deploy.Variant.row()`` dicts).
    Default title: "Speed and quality per variant"."""
    title = _("Speed and quality per variant") if title is None else title  # finish() translates a given one
    fig, axes = new_figure(1, 2, figsize=(FIGSIZE[0] + 4, FIGSIZE[1]))
    names = [str(r["name"]) for r in rows]
    ys = range(len(rows))
    left, right = axes[0]
    left.barh(ys, [float(r["p50_ms"]) for r in rows], color="#4c72b0", label=_("p50"))
    left.scatter([float(r["p95_ms"]) for r in rows], ys, marker="|", s=200, color="black", label=_("p95"))
    left.set(yticks=list(ys), yticklabels=names, xlabel=_("ms per sentence (batch 1)"), title=_("latency"))
    left.invert_yaxis()
    left.legend(fontsize="small")
    right.barh(ys, [float(r["test_f1"]) for r in rows], color="#55a868")
    low = min(float(r["test_f1"]) for r in rows)
    right.set(yticks=list(ys), yticklabels=[], xlabel=_("test entity F1"), title=_("quality"),
              xlim=(max(0.0, low - 0.05), min(1.0, max(float(r["test_f1"]) for r in rows) + 0.02)))
    right.invert_yaxis()
    for ax in (left, right):
        ax.grid(axis="x", alpha=0.3)
    return finish(fig, title)


def plot_token_attributions(tokens: Sequence[str], scores: Mapping[str, Sequence[float]],
                            title: str | None = None) -> Figure:
    """Tokens coloured by attribution, one row per method: red pushes the prediction up, blue down
    (each row scaled by its own largest absolute value). Default title: "Which tokens pushed the prediction"."""
    title = _("Which tokens pushed the prediction") if title is None else title  # finish() translates a given one
    import matplotlib.pyplot as plt

    fig, axes = new_figure(len(scores), 1, figsize=(max(6.0, 0.75 * len(tokens)), 0.9 * len(scores) + 0.6))
    cmap = plt.get_cmap("RdBu_r")
    for ax, (method, values) in zip(axes[:, 0], scores.items()):
        top = max((abs(float(v)) for v in values), default=0.0) or 1.0
        for i, (token, value) in enumerate(zip(tokens, values)):
            ax.text(i + 0.5, 0.5, token, ha="center", va="center", fontsize=9,
                    bbox={"boxstyle": "round,pad=0.3", "facecolor": cmap(0.5 + 0.5 * float(value) / top),
                          "edgecolor": "none"})
        ax.set(xlim=(0, len(tokens)), ylim=(0, 1))
        ax.set_ylabel(_(method), rotation=0, ha="right", va="center")
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ax.spines.values():
            side.set_visible(False)
    return finish(fig, title)


def plot_robustness(rows: Sequence[Mapping[str, float | str]], models: Sequence[str],
                    title: str | None = None) -> Figure:
    """Grouped bars: test F1 per input condition (rows with a ``condition`` key and one key per model).
    Default title: "Entity F1 under noisy input"."""
    title = _("Entity F1 under noisy input") if title is None else _(title)
    import numpy as np

    fig, axes = new_figure(figsize=(FIGSIZE[0] + 2, FIGSIZE[1]))
    ax = axes[0][0]
    x = np.arange(len(rows))
    width = 0.8 / max(1, len(models))
    for k, model in enumerate(models):
        ax.bar(x + (k - (len(models) - 1) / 2) * width, [float(r[model]) for r in rows], width, label=model)
    ax.set_xticks(x, [str(r["condition"]) for r in rows], rotation=20, ha="right")
    ax.set(ylabel=_("test entity F1"), title=title, ylim=(0, 1))
    ax.legend(fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    return finish(fig)
