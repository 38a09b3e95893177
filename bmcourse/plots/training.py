"""Figures of training and data (notebooks 02 and 03): learning curves from ``fit``'s history,
label and length distributions, confusion heat maps, few-shot curves with seed bands, the
trainable-share/F1 trade-off, and grouped bars.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from bmcourse.i18n import tr as _

from ..errors import BmcourseError
from .layout import FIGSIZE, finish, new_figure

if TYPE_CHECKING:  # matplotlib is imported lazily, inside the functions
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


__all__ = ["plot_history", "plot_label_distribution", "plot_length_distribution", "plot_confusion",
           "plot_learning_curves", "plot_curves_with_bands", "plot_curve_panels", "plot_tradeoff", "plot_bars"]

def _x_key(history: Sequence[Mapping]) -> str:
    """"step" if every record has one, otherwise "epoch"."""
    if all("step" in record for record in history):
        return "step"
    if all("epoch" in record for record in history):
        return "epoch"
    raise BmcourseError(_("every history record needs a 'step' or an 'epoch' key"),
                        fix=_("use the history returned by bmcourse.train.fit()"))


def _series(history: Sequence[Mapping], x: str, key: str) -> tuple[list[float], list[float]]:
    """The (x, y) points of one history key, skipping records that lack it."""
    points = [(r[x], r[key]) for r in history if r.get(key) is not None]
    return [p[0] for p in points], [p[1] for p in points]


def _metric_keys(history: Sequence[Mapping], metric: str, x: str) -> list[str]:
    """The numeric history keys that contain ``metric`` (train before dev, then by name)."""
    keys = {k for r in history for k, v in r.items()
            if metric in k and k not in (x, "epoch", "step") and isinstance(v, (int, float))}
    return sorted(keys, key=lambda k: (not k.startswith("train"), k))


def _axis_text(name: str) -> str:
    """The axis text of a history key in the reader's language (the common ones are in the catalog)."""
    known = {"step": _("step"), "epoch": _("epoch"), "loss": _("loss"), "f1": _("f1")}
    return known.get(name) or _(name)


def plot_history(history: list[dict], metrics: tuple[str, ...] = ("loss", "f1")) -> Figure:
    """Train/dev curves of each metric found in the history vs step (or epoch), one panel each."""
    if not history:
        raise BmcourseError(_("the history is empty"), fix=_("train for at least one evaluation step"))
    x = _x_key(history)
    found = [(m, keys) for m in metrics if (keys := _metric_keys(history, m, x))]
    if not found:
        names = sorted({k for r in history for k in r})
        raise BmcourseError(_("no history key contains any of {metrics}").format(metrics=list(metrics)),
                            fix=_("pass metrics= names found in the keys {names}").format(names=names))
    fig, axes = new_figure(1, len(found), (FIGSIZE[0] * max(1, len(found)) / 1.6, FIGSIZE[1]))
    for ax, (metric, keys) in zip(axes[0], found):
        for key in keys:
            xs, ys = _series(history, x, key)
            ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, markersize=3, label=key)
        ax.set(xlabel=_axis_text(x), ylabel=_axis_text(metric), title=_axis_text(metric))
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return finish(fig)


# ---------------------------------------------------------------------------- data plots

def _bar_labels(ax: Axes, bars, texts: Iterable[str]) -> None:
    """Write a text just right of each horizontal bar."""
    for bar, text in zip(bars, texts):
        ax.annotate(text, (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                    xytext=(3, 0), textcoords="offset points", va="center", fontsize="small")


def plot_label_distribution(counts: Mapping[str, int], title: str | None = None) -> Figure:
    """Horizontal bars of the counts per label, the largest on top, with the counts written.
    Default title: "Label distribution"."""
    title = _("Label distribution") if title is None else _(title)
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    fig, axes = new_figure(figsize=(FIGSIZE[0], max(2.0, 0.3 * len(items) + 1)))
    ax = axes[0][0]
    bars = ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color="#4c72b0")
    _bar_labels(ax, bars, [str(v) for _, v in items][::-1])
    ax.set(xlabel=_("count"), ylabel=_("label"), title=title)
    ax.margins(x=0.15)
    return finish(fig)


def _as_groups(lengths: Sequence[int] | Mapping[str, Sequence[int]]) -> dict[str, list[int]]:
    """Lengths as ``{name: lengths}`` (a plain list becomes one group named "all")."""
    if isinstance(lengths, Mapping):
        return {str(k): list(v) for k, v in lengths.items()}
    return {"all": list(lengths)}


def _exceeding(values: Sequence[int], max_length: int) -> str:
    """``"12 of 300 (4.0%) > 128"``: how many lengths are over the limit."""
    over = sum(v > max_length for v in values)
    share = 100 * over / len(values) if values else 0.0
    return _("{over} of {total} ({share:.1f}%) > {max_length}").format(
        over=over, total=len(values), share=share, max_length=max_length)


def plot_length_distribution(lengths: list[int] | dict[str, list[int]],
                             title: str | None = None,
                             max_length: int | None = None) -> Figure:
    """Histogram(s) of lengths; with ``max_length`` a dashed line and how many exceed it.
    Default title: "Sequence lengths"."""
    title = _("Sequence lengths") if title is None else _(title)
    groups = _as_groups(lengths)
    values = [v for group in groups.values() for v in group]
    if not values:
        raise BmcourseError(_("there are no lengths to plot"), fix=_("pass a non-empty list"))
    low, high = min(values), max(values + ([max_length] if max_length else []))
    bins = min(50, high - low + 1)
    fig, axes = new_figure()
    ax = axes[0][0]
    for name, group in groups.items():
        ax.hist(group, bins=bins, range=(low - 0.5, high + 0.5), alpha=0.6, label=name)
    if max_length is not None:
        ax.axvline(max_length, color="black", linestyle="--", linewidth=1)
        note = "\n".join(f"{name}: {_exceeding(g, max_length)}" if len(groups) > 1
                         else _exceeding(g, max_length) for name, g in groups.items())
        ax.text(0.98, 0.95, note, transform=ax.transAxes, ha="right", va="top",
                fontsize="small", bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
    ax.set(xlabel=_("length"), ylabel=_("count"), title=title)
    if len(groups) > 1:
        ax.legend(fontsize="small", loc="center right")
    return finish(fig)


# ---------------------------------------------------------------------------- evaluation plots

def _normalised(matrix: Sequence[Sequence[float]]) -> list[list[float]]:
    """Each row divided by its sum (rows that sum to 0 stay 0)."""
    return [[v / sum(row) if sum(row) else 0.0 for v in row] for row in matrix]


def plot_confusion(labels: list[str], matrix: list[list[int]], title: str | None = None,
                   normalise: bool = False) -> Figure:
    """A heat map with the value in each cell: gold labels on rows, predicted on columns.
    Default title: "Confusion matrix"."""
    title = _("Confusion matrix") if title is None else _(title)
    n = len(labels)
    if len(matrix) != n or any(len(row) != n for row in matrix):
        raise BmcourseError(_("the matrix must be {n} x {n} for {n} labels").format(n=n),
                            fix=_("pass the (labels, matrix) pair of metrics.type_confusion()"))
    values = _normalised(matrix) if normalise else [[float(v) for v in row] for row in matrix]
    side = max(FIGSIZE[1], 0.55 * n + 1.5)
    fig, axes = new_figure(figsize=(side + 1, side))
    ax = axes[0][0]
    image = ax.imshow(values, cmap="Blues", vmin=0)
    top = max((v for row in values for v in row), default=0) or 1
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            text = f"{v:.2f}" if normalise else str(int(matrix[i][j]))
            ax.text(j, i, text, ha="center", va="center", fontsize="small",
                    color="white" if v > top / 2 else "black")
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set(xlabel=_("predicted"), ylabel=_("gold"), title=title)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return finish(fig)


def _size_axis(ax: Axes, sizes: Iterable[int], logx: bool) -> None:
    """A (log) x axis with one tick per training size, labelled with the size itself."""
    if logx:
        ax.set_xscale("log")
    ticks = sorted(set(sizes))
    if ticks:
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
    ax.grid(alpha=0.3)


def plot_learning_curves(results: dict[str, list[tuple[int, float]]],
                         xlabel: str | None = None, ylabel: str | None = None,
                         logx: bool = True) -> Figure:
    """One line with markers per method: score vs number of training examples (few-shot).
    Default axis labels: "training examples" and "entity F1"."""
    xlabel = _("training examples") if xlabel is None else _(xlabel)
    ylabel = _("entity F1") if ylabel is None else _(ylabel)
    fig, axes = new_figure()
    ax = axes[0][0]
    for name, points in results.items():
        points = sorted(points)
        ax.plot([n for n, _ in points], [s for _, s in points], marker="o", label=name)
    _size_axis(ax, (n for points in results.values() for n, _ in points), logx)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=_("{ylabel} vs {xlabel}").format(ylabel=ylabel, xlabel=xlabel))
    if results:
        ax.legend(fontsize="small")
    return finish(fig)


def _draw_bands(ax: Axes, results: Mapping[str, Mapping[int, Sequence[float]]], logx: bool) -> None:
    """Mean line and min-max band per series on ``ax``."""
    for name, by_size in results.items():
        xs = sorted(by_size)
        line, = ax.plot(xs, [sum(by_size[x]) / len(by_size[x]) for x in xs], marker="o", label=name)
        ax.fill_between(xs, [min(by_size[x]) for x in xs], [max(by_size[x]) for x in xs],
                        color=line.get_color(), alpha=0.2, linewidth=0)
    _size_axis(ax, (x for by_size in results.values() for x in by_size), logx)


def plot_curves_with_bands(results: Mapping[str, Mapping[int, Sequence[float]]],
                           xlabel: str | None = None, ylabel: str | None = None,
                           title: str | None = None, logx: bool = True) -> Figure:
    """Mean score per size (line) and the range over seeds (band): ``{name: {size: [scores]}}``.
    Default axis labels: "target training sentences" and "entity F1"."""
    xlabel = _("target training sentences") if xlabel is None else _(xlabel)
    ylabel = _("entity F1") if ylabel is None else _(ylabel)
    fig, axes = new_figure()
    ax = axes[0][0]
    _draw_bands(ax, results, logx)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=_(title) if title else _(
        "{ylabel} vs {xlabel} (band: min-max over seeds)").format(ylabel=ylabel, xlabel=xlabel))
    if results:
        ax.legend(fontsize="small")
    return finish(fig)


def plot_curve_panels(panels: Mapping[str, Mapping[str, Mapping[int, Sequence[float]]]],
                      xlabel: str | None = None, ylabel: str | None = None,
                      title: str | None = None, logx: bool = True) -> Figure:
    """:func:`plot_curves_with_bands` side by side, one panel per ``{panel title: results}``, one y scale.
    Default axis labels: "training sentences" and "entity F1"."""
    xlabel = _("training sentences") if xlabel is None else _(xlabel)
    ylabel = _("entity F1") if ylabel is None else _(ylabel)
    fig, axes = new_figure(1, len(panels), figsize=(3.2 * len(panels), 3.2))
    for ax, (name, results) in zip(axes[0], panels.items()):
        _draw_bands(ax, results, logx)
        ax.set(xlabel=xlabel, title=name)
    top = max(ax.get_ylim()[1] for ax in axes[0])
    for ax in axes[0]:
        ax.set_ylim(0, top)
    axes[0][0].set_ylabel(ylabel)
    axes[0][0].legend(fontsize="small")
    return finish(fig, title)


def plot_tradeoff(points: Mapping[str, tuple[float, float]], xlabel: str | None = None,
                  ylabel: str | None = None, title: str | None = None, logx: bool = True) -> Figure:
    """One labelled point per method: ``{name: (x, y)}``, e.g. trainable share against F1.
    Defaults: "trainable parameters (%)", "entity F1", "What you train vs what you get"."""
    xlabel = _("trainable parameters (%)") if xlabel is None else _(xlabel)
    ylabel = _("entity F1") if ylabel is None else _(ylabel)
    title = _("What you train vs what you get") if title is None else _(title)
    fig, axes = new_figure()
    ax = axes[0][0]
    for name, (x, y) in points.items():
        ax.scatter([x], [y], s=40)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 4), fontsize="small")
    if logx:
        ax.set_xscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.margins(x=0.25, y=0.15)
    return finish(fig)


def plot_bars(values: Mapping[str, float] | Mapping[str, Mapping[str, float]], title: str | None = None,
              xlabel: str | None = None) -> Figure:
    """Horizontal bars in the given order (first on top), each labelled with its value (default
    title "Comparison", axis label "value").

    With ``{name: {series: value}}`` the bars are grouped per name, one colour per series
    (e.g. the articles' token F1 next to the entity F1 of each recipe).
    """
    title = _("Comparison") if title is None else _(title)
    xlabel = _("value") if xlabel is None else _(xlabel)
    grouped = {k: (dict(v) if isinstance(v, Mapping) else {"": float(v)}) for k, v in values.items()}
    series = list(dict.fromkeys(s for group in grouped.values() for s in group))
    names = list(grouped)[::-1]
    height = 0.8 / len(series)
    fig, axes = new_figure(figsize=(FIGSIZE[0], max(2.0, 0.35 * len(names) * len(series) + 1)))
    ax = axes[0][0]
    palette = ["#4c72b0", "#dd8452", "#55a868", "#c44e52"]
    for j, name in enumerate(series):
        offsets = [i + ((len(series) - 1) / 2 - j) * height for i in range(len(names))]
        numbers = [float(grouped[n].get(name, float("nan"))) for n in names]
        bars = ax.barh(offsets, numbers, height=height, color=palette[j % len(palette)],
                       label=name or None)
        _bar_labels(ax, bars, [f"{v:.3f}" for v in numbers])
    ax.set_yticks(range(len(names)), names)
    ax.set(xlabel=xlabel, title=title)
    ax.margins(x=0.15)
    if len(series) > 1:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=len(series), fontsize="small",
                  frameon=False)
    return finish(fig)


