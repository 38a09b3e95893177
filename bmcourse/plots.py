"""Matplotlib figures for the notebooks, and HTML entity highlighting.

Every plot function returns its ``Figure`` and never calls ``plt.show()``. In Jupyter a
figure made through pyplot is shown once the cell ends: assign the result
(``fig = plot_history(h)``) or end the line with ``;`` so it is not shown twice.
"""
from __future__ import annotations

import html
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from .errors import BmcourseError
from .tagging import spans

if TYPE_CHECKING:  # matplotlib is imported lazily, inside the functions
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FIGSIZE = (6.0, 3.5)

#: Light background colours for entity highlighting (readable with black text).
PALETTE = ("#a6cee3", "#b2df8a", "#fdbf6f", "#cab2d6", "#fb9a99", "#ffff99",
           "#8dd3c7", "#bebada", "#fccde5", "#d9d9d9", "#ccebc5", "#ffed6f")

#: Fixed colours for the CoNLL types, so the most common ones never collide.
KNOWN_COLOURS = {"PER": PALETTE[0], "ORG": PALETTE[1], "LOC": PALETTE[2], "MISC": PALETTE[3]}


def _figure(nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] = FIGSIZE):
    """A new pyplot figure and its axes (imports pyplot only when a plot is made)."""
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)


def _finish(fig: Figure, title: str | None = None) -> Figure:
    """The figure with its suptitle (if any) and a tight layout."""
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------- training history

def _x_key(history: Sequence[Mapping]) -> str:
    """"step" if every record has one, otherwise "epoch"."""
    if all("step" in record for record in history):
        return "step"
    if all("epoch" in record for record in history):
        return "epoch"
    raise BmcourseError("every history record needs a 'step' or an 'epoch' key",
                        fix="use the history returned by bmcourse.train.fit()")


def _series(history: Sequence[Mapping], x: str, key: str) -> tuple[list[float], list[float]]:
    """The (x, y) points of one history key, skipping records that lack it."""
    points = [(r[x], r[key]) for r in history if r.get(key) is not None]
    return [p[0] for p in points], [p[1] for p in points]


def _metric_keys(history: Sequence[Mapping], metric: str, x: str) -> list[str]:
    """The numeric history keys that contain ``metric`` (train before dev, then by name)."""
    keys = {k for r in history for k, v in r.items()
            if metric in k and k not in (x, "epoch", "step") and isinstance(v, (int, float))}
    return sorted(keys, key=lambda k: (not k.startswith("train"), k))


def plot_history(history: list[dict], metrics: tuple[str, ...] = ("loss", "f1")) -> Figure:
    """Train/dev curves of each metric found in the history vs step (or epoch), one panel each."""
    if not history:
        raise BmcourseError("the history is empty", fix="train for at least one evaluation step")
    x = _x_key(history)
    found = [(m, keys) for m in metrics if (keys := _metric_keys(history, m, x))]
    if not found:
        names = sorted({k for r in history for k in r})
        raise BmcourseError(f"no history key contains any of {list(metrics)}",
                            fix=f"pass metrics= names found in the keys {names}")
    fig, axes = _figure(1, len(found), (FIGSIZE[0] * max(1, len(found)) / 1.6, FIGSIZE[1]))
    for ax, (metric, keys) in zip(axes[0], found):
        for key in keys:
            xs, ys = _series(history, x, key)
            ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, markersize=3, label=key)
        ax.set(xlabel=x, ylabel=metric, title=metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return _finish(fig)


# ---------------------------------------------------------------------------- data plots

def _bar_labels(ax: Axes, bars, texts: Iterable[str]) -> None:
    """Write a text just right of each horizontal bar."""
    for bar, text in zip(bars, texts):
        ax.annotate(text, (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                    xytext=(3, 0), textcoords="offset points", va="center", fontsize="small")


def plot_label_distribution(counts: Mapping[str, int], title: str = "Label distribution",
                            ) -> Figure:
    """Horizontal bars of the counts per label, the largest on top, with the counts written."""
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    fig, axes = _figure(figsize=(FIGSIZE[0], max(2.0, 0.3 * len(items) + 1)))
    ax = axes[0][0]
    bars = ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color="#4c72b0")
    _bar_labels(ax, bars, [str(v) for _, v in items][::-1])
    ax.set(xlabel="count", ylabel="label", title=title)
    ax.margins(x=0.15)
    return _finish(fig)


def _as_groups(lengths: Sequence[int] | Mapping[str, Sequence[int]]) -> dict[str, list[int]]:
    """Lengths as ``{name: lengths}`` (a plain list becomes one group named "all")."""
    if isinstance(lengths, Mapping):
        return {str(k): list(v) for k, v in lengths.items()}
    return {"all": list(lengths)}


def _exceeding(values: Sequence[int], max_length: int) -> str:
    """``"12 of 300 (4.0%) > 128"``: how many lengths are over the limit."""
    over = sum(v > max_length for v in values)
    share = 100 * over / len(values) if values else 0.0
    return f"{over} of {len(values)} ({share:.1f}%) > {max_length}"


def plot_length_distribution(lengths: list[int] | dict[str, list[int]],
                             title: str = "Sequence lengths",
                             max_length: int | None = None) -> Figure:
    """Histogram(s) of lengths; with ``max_length`` a dashed line and how many exceed it."""
    groups = _as_groups(lengths)
    values = [v for group in groups.values() for v in group]
    if not values:
        raise BmcourseError("there are no lengths to plot", fix="pass a non-empty list")
    low, high = min(values), max(values + ([max_length] if max_length else []))
    bins = min(50, high - low + 1)
    fig, axes = _figure()
    ax = axes[0][0]
    for name, group in groups.items():
        ax.hist(group, bins=bins, range=(low - 0.5, high + 0.5), alpha=0.6, label=name)
    if max_length is not None:
        ax.axvline(max_length, color="black", linestyle="--", linewidth=1)
        note = "\n".join(f"{name}: {_exceeding(g, max_length)}" if len(groups) > 1
                         else _exceeding(g, max_length) for name, g in groups.items())
        ax.text(0.98, 0.95, note, transform=ax.transAxes, ha="right", va="top",
                fontsize="small", bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
    ax.set(xlabel="length", ylabel="count", title=title)
    if len(groups) > 1:
        ax.legend(fontsize="small", loc="center right")
    return _finish(fig)


# ---------------------------------------------------------------------------- evaluation plots

def _normalised(matrix: Sequence[Sequence[float]]) -> list[list[float]]:
    """Each row divided by its sum (rows that sum to 0 stay 0)."""
    return [[v / sum(row) if sum(row) else 0.0 for v in row] for row in matrix]


def plot_confusion(labels: list[str], matrix: list[list[int]], title: str = "Confusion matrix",
                   normalise: bool = False) -> Figure:
    """A heat map with the value in each cell: gold labels on rows, predicted on columns."""
    n = len(labels)
    if len(matrix) != n or any(len(row) != n for row in matrix):
        raise BmcourseError(f"the matrix must be {n} x {n} for {n} labels",
                            fix="pass the (labels, matrix) pair of metrics.type_confusion()")
    values = _normalised(matrix) if normalise else [[float(v) for v in row] for row in matrix]
    side = max(FIGSIZE[1], 0.55 * n + 1.5)
    fig, axes = _figure(figsize=(side + 1, side))
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
    ax.set(xlabel="predicted", ylabel="gold", title=title)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return _finish(fig)


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
                         xlabel: str = "training examples", ylabel: str = "entity F1",
                         logx: bool = True) -> Figure:
    """One line with markers per method: score vs number of training examples (few-shot)."""
    fig, axes = _figure()
    ax = axes[0][0]
    for name, points in results.items():
        points = sorted(points)
        ax.plot([n for n, _ in points], [s for _, s in points], marker="o", label=name)
    _size_axis(ax, (n for points in results.values() for n, _ in points), logx)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=f"{ylabel} vs {xlabel}")
    if results:
        ax.legend(fontsize="small")
    return _finish(fig)


def _draw_bands(ax: Axes, results: Mapping[str, Mapping[int, Sequence[float]]], logx: bool) -> None:
    """Mean line and min-max band per series on ``ax``."""
    for name, by_size in results.items():
        xs = sorted(by_size)
        line, = ax.plot(xs, [sum(by_size[x]) / len(by_size[x]) for x in xs], marker="o", label=name)
        ax.fill_between(xs, [min(by_size[x]) for x in xs], [max(by_size[x]) for x in xs],
                        color=line.get_color(), alpha=0.2, linewidth=0)
    _size_axis(ax, (x for by_size in results.values() for x in by_size), logx)


def plot_curves_with_bands(results: Mapping[str, Mapping[int, Sequence[float]]],
                           xlabel: str = "target training sentences", ylabel: str = "entity F1",
                           title: str | None = None, logx: bool = True) -> Figure:
    """Mean score per size (line) and the range over seeds (band): ``{name: {size: [scores]}}``."""
    fig, axes = _figure()
    ax = axes[0][0]
    _draw_bands(ax, results, logx)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title or f"{ylabel} vs {xlabel} (band: min-max over seeds)")
    if results:
        ax.legend(fontsize="small")
    return _finish(fig)


def plot_curve_panels(panels: Mapping[str, Mapping[str, Mapping[int, Sequence[float]]]],
                      xlabel: str = "training sentences", ylabel: str = "entity F1",
                      title: str | None = None, logx: bool = True) -> Figure:
    """:func:`plot_curves_with_bands` side by side, one panel per ``{panel title: results}``, one y scale."""
    fig, axes = _figure(1, len(panels), figsize=(3.2 * len(panels), 3.2))
    for ax, (name, results) in zip(axes[0], panels.items()):
        _draw_bands(ax, results, logx)
        ax.set(xlabel=xlabel, title=name)
    top = max(ax.get_ylim()[1] for ax in axes[0])
    for ax in axes[0]:
        ax.set_ylim(0, top)
    axes[0][0].set_ylabel(ylabel)
    axes[0][0].legend(fontsize="small")
    return _finish(fig, title)


def plot_tradeoff(points: Mapping[str, tuple[float, float]], xlabel: str = "trainable parameters (%)",
                  ylabel: str = "entity F1", title: str = "What you train vs what you get",
                  logx: bool = True) -> Figure:
    """One labelled point per method: ``{name: (x, y)}``, e.g. trainable share against F1."""
    fig, axes = _figure()
    ax = axes[0][0]
    for name, (x, y) in points.items():
        ax.scatter([x], [y], s=40)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 4), fontsize="small")
    if logx:
        ax.set_xscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.margins(x=0.25, y=0.15)
    return _finish(fig)


def plot_bars(values: Mapping[str, float] | Mapping[str, Mapping[str, float]], title: str = "Comparison",
              xlabel: str = "value") -> Figure:
    """Horizontal bars in the given order (first on top), each labelled with its value.

    With ``{name: {series: value}}`` the bars are grouped per name, one colour per series
    (e.g. the articles' token F1 next to the entity F1 of each recipe).
    """
    grouped = {k: (dict(v) if isinstance(v, Mapping) else {"": float(v)}) for k, v in values.items()}
    series = list(dict.fromkeys(s for group in grouped.values() for s in group))
    names = list(grouped)[::-1]
    height = 0.8 / len(series)
    fig, axes = _figure(figsize=(FIGSIZE[0], max(2.0, 0.35 * len(names) * len(series) + 1)))
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
    return _finish(fig)


# ---------------------------------------------------------------------------- HTML highlighting

def entity_colour(kind: str, colours: Mapping[str, str] | None = None) -> str:
    """The colour of an entity type: the given one, a fixed CoNLL one, or a stable CRC32 pick."""
    if colours and kind in colours:
        return colours[kind]
    if kind in KNOWN_COLOURS:
        return KNOWN_COLOURS[kind]
    return PALETTE[zlib.crc32(kind.encode("utf-8")) % len(PALETTE)]


def _mark(text: str, kind: str, colour: str) -> str:
    """An HTML ``<mark>`` of already-escaped text with its type in small capitals."""
    return (f'<mark style="background: {html.escape(colour)}; padding: 0.1em 0.3em; '
            f'border-radius: 0.3em; line-height: 1.8;">{text} '
            f'<small style="font-weight: bold; font-size: 0.7em;">{html.escape(kind)}</small></mark>')


def highlight_entities(words: list[str], tags: list[str],
                       colours: dict[str, str] | None = None) -> str:
    """HTML of the words joined by spaces, each entity span in a coloured ``<mark>`` with its type.

    Words are HTML-escaped; a stray ``I-X`` starts a span (as in ``tagging.spans``).
    Show it in a notebook with ``IPython.display.HTML(...)``.
    """
    if len(words) != len(tags):
        raise BmcourseError(f"{len(words)} words but {len(tags)} tags",
                            fix="give one tag per word")
    starts = {s.start: s for s in spans(tags)}
    parts, i = [], 0
    while i < len(words):
        span = starts.get(i)
        if span is None:
            parts.append(html.escape(str(words[i])))
            i += 1
            continue
        text = " ".join(html.escape(str(w)) for w in words[span.start:span.end])
        parts.append(_mark(text, span.type, entity_colour(span.type, colours)))
        i = span.end
    return " ".join(parts)


def entity_legend(types: Iterable[str], colours: dict[str, str] | None = None) -> str:
    """HTML of one coloured ``<mark>`` per entity type (sorted), the key to highlight_entities."""
    return " ".join(f'<mark style="background: {html.escape(entity_colour(k, colours))}; '
                    f'padding: 0.1em 0.3em; border-radius: 0.3em;">{html.escape(k)}</mark>'
                    for k in sorted(set(types)))


# ---------------------------------------------------------------------------- applications (nb 04)

def plot_reliability(bins: Mapping[str, Sequence[Mapping[str, float]]],
                     title: str = "Reliability: is a 0.9 confidence right 90% of the time?") -> Figure:
    """Accuracy against mean confidence per bin (``apps.reliability_bins``), one line per model
    state, with the diagonal of perfect calibration; marker size follows the bin's count."""
    fig, axes = _figure(figsize=(FIGSIZE[0], FIGSIZE[1] + 0.5))
    ax = axes[0][0]
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfectly calibrated")
    for name, rows in bins.items():
        used = [r for r in rows if r["count"]]
        total = sum(r["count"] for r in used) or 1
        ax.plot([r["confidence"] for r in used], [r["accuracy"] for r in used], marker="o", label=name,
                markersize=3)
        ax.scatter([r["confidence"] for r in used], [r["accuracy"] for r in used],
                   s=[4 + 300 * r["count"] / total for r in used], alpha=0.3)
    ax.set(xlabel="mean confidence in bin", ylabel="accuracy in bin", title=title, xlim=(0, 1.02),
           ylim=(0, 1.02))
    ax.legend(fontsize="small", loc="upper left")
    ax.grid(alpha=0.3)
    return _finish(fig)


def plot_coverage(curves: Mapping[str, Sequence[Mapping[str, float]]], target: float | None = None,
                  chosen: Mapping[str, float] | None = None,
                  title: str = "Answer automatically, or hand over to a human") -> Figure:
    """Accuracy on the automatically answered share against that share (coverage), per curve
    (``apps.coverage_curve``); the accuracy target and the chosen operating point if given."""
    fig, axes = _figure()
    ax = axes[0][0]
    for name, rows in curves.items():
        ax.plot([r["coverage"] for r in rows], [r["accuracy"] for r in rows], label=name)
    if target is not None:
        ax.axhline(target, linestyle="--", color="grey", label=f"target accuracy {target:g}")
    if chosen is not None:
        ax.scatter([chosen["coverage"]], [chosen["accuracy"]], color="black", zorder=3,
                   label=f"threshold {chosen['threshold']:.2f}")
    ax.set(xlabel="coverage (share answered automatically)", ylabel="accuracy on that share", title=title)
    ax.legend(fontsize="small", loc="lower left")
    ax.grid(alpha=0.3)
    return _finish(fig)


def plot_stream(shares: Sequence[float], periods: Sequence[tuple[int, int]], alerts: Sequence[bool],
                threshold: float, title: str = "Negative share in the headline stream") -> Figure:
    """The rolling negative share over the stream, injected bad periods shaded, the alert
    threshold dashed and alert positions marked."""
    fig, axes = _figure(figsize=(FIGSIZE[0] + 2, FIGSIZE[1]))
    ax = axes[0][0]
    for i, (start, end) in enumerate(periods):
        ax.axvspan(start, end, color="#fb9a99", alpha=0.35, label="injected bad news" if i == 0 else None)
    ax.plot(range(len(shares)), shares, color="#4c72b0", label="rolling negative share")
    ax.axhline(threshold, linestyle="--", color="grey", label=f"alert threshold {threshold:g}")
    marks = [t for t, on in enumerate(alerts) if on]
    ax.scatter(marks, [1.02] * len(marks), marker="|", color="#c44e52", label="alert")
    ax.set(xlabel="headline number", ylabel="negative share", title=title, ylim=(0, 1.06))
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=4, frameon=False)
    return _finish(fig)


# ---------------------------------------------------------------------------- deployment (notebook 05)

def plot_variants(rows: Sequence[Mapping[str, float | str]], title: str = "Speed and quality per variant") -> Figure:
    """Batch-1 latency (p50 bar, p95 tick) and test F1 per variant (``deploy.Variant.row()`` dicts)."""
    fig, axes = _figure(1, 2, figsize=(FIGSIZE[0] + 4, FIGSIZE[1]))
    names = [str(r["name"]) for r in rows]
    ys = range(len(rows))
    left, right = axes[0]
    left.barh(ys, [float(r["p50_ms"]) for r in rows], color="#4c72b0", label="p50")
    left.scatter([float(r["p95_ms"]) for r in rows], ys, marker="|", s=200, color="black", label="p95")
    left.set(yticks=list(ys), yticklabels=names, xlabel="ms per sentence (batch 1)", title="latency")
    left.invert_yaxis()
    left.legend(fontsize="small")
    right.barh(ys, [float(r["test_f1"]) for r in rows], color="#55a868")
    low = min(float(r["test_f1"]) for r in rows)
    right.set(yticks=list(ys), yticklabels=[], xlabel="test entity F1", title="quality",
              xlim=(max(0.0, low - 0.05), min(1.0, max(float(r["test_f1"]) for r in rows) + 0.02)))
    right.invert_yaxis()
    for ax in (left, right):
        ax.grid(axis="x", alpha=0.3)
    return _finish(fig, title)


def plot_token_attributions(tokens: Sequence[str], scores: Mapping[str, Sequence[float]],
                            title: str = "Which tokens pushed the prediction") -> Figure:
    """Tokens coloured by attribution, one row per method: red pushes the prediction up, blue down
    (each row scaled by its own largest absolute value)."""
    import matplotlib.pyplot as plt

    fig, axes = _figure(len(scores), 1, figsize=(max(6.0, 0.75 * len(tokens)), 0.9 * len(scores) + 0.6))
    cmap = plt.get_cmap("RdBu_r")
    for ax, (method, values) in zip(axes[:, 0], scores.items()):
        top = max((abs(float(v)) for v in values), default=0.0) or 1.0
        for i, (token, value) in enumerate(zip(tokens, values)):
            ax.text(i + 0.5, 0.5, token, ha="center", va="center", fontsize=9,
                    bbox={"boxstyle": "round,pad=0.3", "facecolor": cmap(0.5 + 0.5 * float(value) / top),
                          "edgecolor": "none"})
        ax.set(xlim=(0, len(tokens)), ylim=(0, 1))
        ax.set_ylabel(method, rotation=0, ha="right", va="center")
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ax.spines.values():
            side.set_visible(False)
    return _finish(fig, title)


def plot_robustness(rows: Sequence[Mapping[str, float | str]], models: Sequence[str],
                    title: str = "Entity F1 under noisy input") -> Figure:
    """Grouped bars: test F1 per input condition (rows with a ``condition`` key and one key per model)."""
    import numpy as np

    fig, axes = _figure(figsize=(FIGSIZE[0] + 2, FIGSIZE[1]))
    ax = axes[0][0]
    x = np.arange(len(rows))
    width = 0.8 / max(1, len(models))
    for k, model in enumerate(models):
        ax.bar(x + (k - (len(models) - 1) / 2) * width, [float(r[model]) for r in rows], width, label=model)
    ax.set_xticks(x, [str(r["condition"]) for r in rows], rotation=20, ha="right")
    ax.set(ylabel="test entity F1", title=title, ylim=(0, 1))
    ax.legend(fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    return _finish(fig)
