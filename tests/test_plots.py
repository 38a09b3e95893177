"""Plots return figures; entity highlighting is escaped, right and stable."""
from __future__ import annotations

import zlib
from collections import Counter

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from bmcourse import plots  # noqa: E402
from bmcourse.errors import BmcourseError  # noqa: E402

HISTORY = [{"epoch": 1, "step": 10, "train_loss": 0.9, "lr": 1e-4},
           {"epoch": 1, "step": 20, "train_loss": 0.6, "dev_loss": 0.5, "dev_f1": 0.7, "lr": 5e-5},
           {"epoch": 2, "step": 30, "train_loss": 0.4, "dev_loss": 0.4, "dev_f1": 0.8, "lr": 0.0}]


@pytest.fixture(autouse=True)
def close_figures():
    """Close every figure a test made."""
    yield
    plt.close("all")


def _check(fig: object) -> Figure:
    assert isinstance(fig, Figure)
    assert fig.axes
    return fig


def test_plot_history() -> None:
    fig = _check(plots.plot_history(HISTORY))
    loss, f1 = fig.axes[:2]
    assert [line.get_label() for line in loss.get_lines()] == ["train_loss", "dev_loss"]
    assert loss.get_xlabel() == "step" and f1.get_title() == "f1"
    assert list(f1.get_lines()[0].get_xdata()) == [20, 30]
    no_steps = [{k: v for k, v in r.items() if k != "step"} for r in HISTORY]
    assert _check(plots.plot_history(no_steps, metrics=("loss",))).axes[0].get_xlabel() == "epoch"
    with pytest.raises(BmcourseError, match="no history key"):
        plots.plot_history(HISTORY, metrics=("accuracy",))


def test_plot_label_distribution() -> None:
    fig = _check(plots.plot_label_distribution(Counter({"O": 90, "B-PER": 5, "I-PER": 3}),
                                               title="labels"))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["I-PER", "B-PER", "O"]
    assert ax.get_title() == "labels"


def test_plot_length_distribution() -> None:
    _check(plots.plot_length_distribution([3, 5, 8, 8, 20]))
    fig = _check(plots.plot_length_distribution({"train": [3, 5, 200], "dev": [4, 150]},
                                                max_length=128))
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any("train: 1 of 3" in t and "dev: 1 of 2" in t for t in texts)


def test_plot_confusion() -> None:
    labels, matrix = ["LOC", "PER", "O"], [[3, 1, 0], [0, 2, 1], [1, 0, 0]]
    fig = _check(plots.plot_confusion(labels, matrix))
    ax = fig.axes[0]
    assert ax.get_ylabel() == "gold" and ax.get_xlabel() == "predicted"
    assert "3" in [t.get_text() for t in ax.texts]
    fig = _check(plots.plot_confusion(labels, matrix, normalise=True))
    assert "0.75" in [t.get_text() for t in fig.axes[0].texts]
    with pytest.raises(BmcourseError):
        plots.plot_confusion(labels, [[1, 2], [3, 4]])


def test_plot_learning_curves_and_bars() -> None:
    fig = _check(plots.plot_learning_curves({"full": [(100, 0.5), (10, 0.2), (1000, 0.8)],
                                             "lora": [(10, 0.3), (100, 0.55)]}))
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and len(ax.get_lines()) == 2
    assert list(ax.get_lines()[0].get_xdata()) == [10, 100, 1000]
    fig = _check(plots.plot_bars({"full": 0.91, "lora": 0.89}, title="recipes"))
    assert [t.get_text() for t in fig.axes[0].texts] == ["0.890", "0.910"]


def test_curves_with_bands_draw_the_mean_and_the_seed_range() -> None:
    results = {"init=source": {10: [0.2, 0.4], 50: [0.5, 0.7]}, "init=pretrained": {10: [0.0, 0.1], 50: [0.3, 0.3]}}
    fig = _check(plots.plot_curves_with_bands(results, title="few-shot"))
    ax = fig.axes[0]
    assert [list(line.get_ydata()) for line in ax.lines] == [pytest.approx([0.3, 0.6]), pytest.approx([0.05, 0.3])]
    assert len(ax.collections) == 2 and [t.get_text() for t in ax.get_xticklabels()] == ["10", "50"]
    panels = _check(plots.plot_curve_panels({"a": results, "b": results}, title="two targets"))
    assert len(panels.axes) == 2 and panels.axes[0].get_ylim() == panels.axes[1].get_ylim()


def test_plot_tradeoff_labels_each_point() -> None:
    fig = _check(plots.plot_tradeoff({"lora": (0.4, 0.5), "full": (100.0, 0.55)}))
    assert sorted(t.get_text() for t in fig.axes[0].texts) == ["full", "lora"]
    assert fig.axes[0].get_xscale() == "log"


def test_highlight_entities_escapes_and_wraps() -> None:
    words = ["<script>", "met", "Bank", "of", "England", "&", "co"]
    tags = ["B-PER", "O", "B-ORG", "I-ORG", "I-ORG", "O", "O"]
    out = plots.highlight_entities(words, tags)
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert out.count("<mark") == 2
    assert "Bank of England <small" in out and ">ORG</small></mark>" in out
    assert "&lt;script&gt; <small" in out and "</mark> met <mark" in out
    assert out.endswith("</mark> &amp; co")
    assert plots.highlight_entities(["a", "b"], ["I-LOC", "I-LOC"]).count("<mark") == 1
    with pytest.raises(BmcourseError):
        plots.highlight_entities(["a"], ["O", "O"])


def test_colours_are_deterministic() -> None:
    words, tags = ["Ada", "in", "Paris"], ["B-PER", "O", "B-LOC"]
    assert plots.highlight_entities(words, tags) == plots.highlight_entities(words, tags)
    assert plots.entity_colour("PER") != plots.entity_colour("LOC")
    # CRC32, not Python's salted hash(): the same value in every process
    assert plots.entity_colour("Disease") == plots.PALETTE[zlib.crc32(b"Disease") % 12]
    assert "#123456" in plots.highlight_entities(words, tags, colours={"PER": "#123456"})
    legend = plots.entity_legend(["PER", "LOC", "PER"])
    assert legend.index("LOC") < legend.index("PER") and legend.count("<mark") == 2
