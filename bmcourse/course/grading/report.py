"""What ``bmcourse grade`` hands the instructor: ``grades.csv`` (one row per student and notebook:
the points per exercise, total, maximum, status), ``summary.png`` (the score distribution and
each exercise's pass rate per notebook) and the same table printed in the terminal.
"""
from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bmcourse.reference import atomic_open


def exercise_keys(rows: Sequence[Any]) -> list[str]:
    """Every exercise key that appears in the rows, in course order."""
    keys = {key for row in rows for key in (*row.maximum, *row.points)}
    return sorted(keys, key=lambda k: tuple(int(p) if p.isdigit() else p for p in k.split(".")))


def _number(value: float) -> str:
    """Points as the gradebook would print them: ``2`` not ``2.0``."""
    return f"{value:g}"


def write_csv(rows: Sequence[Any], path: Path) -> Path:
    """``grades.csv``: student, notebook, one column per exercise, total, max, status."""
    keys = exercise_keys(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "w") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "notebook", *keys, "total", "max", "status"])
        for row in rows:
            cells = [_number(row.points[k]) if k in row.points else "" for k in keys]
            maximum = _number(row.max_total) if row.maximum else ""
            writer.writerow([row.student, row.notebook, *cells, _number(row.total), maximum, row.status])
    return path


def table(rows: Sequence[Any], width: int = 70) -> str:
    """The terminal table: student, notebook, score and status (cut to ``width`` characters)."""
    lines = [f"{'student':<16} {'notebook':<26} {'score':>9}  status", "-" * (56 + width // 2)]
    for row in rows:
        score = f"{_number(row.total)}/{_number(row.max_total)}" if row.maximum else "-"
        status = row.status if len(row.status) <= width else row.status[:width - 1] + "…"
        lines.append(f"{row.student:<16} {row.notebook:<26} {score:>9}  {status}")
    graded = [r for r in rows if r.maximum]
    if graded:
        share = sum(r.total for r in graded) / sum(r.max_total for r in graded)
        lines.append(f"{len(rows)} rows, {len(graded)} with scores; {share:.0%} of the available points scored")
    return "\n".join(lines)


def plot_summary(rows: Sequence[Any], path: Path) -> Path:
    """``summary.png``: per notebook, the distribution of totals and each exercise's pass rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    notebooks = sorted({r.notebook for r in rows if r.maximum})
    fig, axes = plt.subplots(len(notebooks) or 1, 2, figsize=(10, 3.2 * max(1, len(notebooks))), squeeze=False)
    for (left, right), notebook in zip(axes, notebooks):
        mine = [r for r in rows if r.notebook == notebook and r.maximum]
        top = max(r.max_total for r in mine)
        left.hist([r.total for r in mine], bins=[x - 0.5 for x in range(int(top) + 2)], color="tab:blue",
                  edgecolor="white")
        left.set(title=f"{notebook}: total points ({len(mine)} students)", xlabel=f"points (of {top:g})",
                 ylabel="students", xticks=range(int(top) + 1))
        keys = exercise_keys(mine)
        rates = [sum(r.points.get(k, 0) >= r.maximum[k] for r in mine) / len(mine) for k in keys]
        bars = right.bar(keys, rates, color="tab:green")
        right.bar_label(bars, labels=[f"{x:.0%}" for x in rates], fontsize="small")
        right.set(title="full points per exercise", ylim=(0, 1.15), ylabel="share of students")
    if not notebooks:
        axes[0][0].text(0.5, 0.5, "no submission could be graded", ha="center")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
