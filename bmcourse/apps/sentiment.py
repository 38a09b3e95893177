"""The sentiment alert monitor (notebook 04, section 2): a simulated stream of headlines with
injected bad-news periods, the rolling share of negative predictions, and the alert episodes it
raises scored against the injected periods (precision, recall, delay).
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import BmcourseError
from ..i18n import tr as _


@dataclass
class Stream:
    """A simulated stream of headlines: test-set row ids in arrival order, and the injected bad periods."""

    rows: list[int]
    periods: list[tuple[int, int]]           # [start, end) positions of injected bad news
    bad: list[bool] = field(default_factory=list)  # per position: inside a bad period

    def __len__(self) -> int:
        return len(self.rows)


def simulate_stream(labels: Sequence[str], *, length: int, periods: Sequence[tuple[int, int]],
                    negative: str = "negative", bad_share: float = 0.6, seed: int = 0) -> Stream:
    """Headlines drawn from a labelled set: outside ``periods`` at the set's own mix, inside them
    with ``bad_share`` negatives (the injected bad news). Rows may repeat when the set is small."""
    rng = random.Random(seed)
    negatives = [i for i, label in enumerate(labels) if label == negative]
    others = [i for i, label in enumerate(labels) if label != negative]
    if not negatives or not others:
        raise BmcourseError(_("the stream needs both {negative} and other headlines").format(negative=repr(negative)),
                            fix=_("pass the labels of a split that has every class"))
    for start, end in periods:
        if not 0 <= start < end <= length:
            raise BmcourseError(_("bad period ({start}, {end}) is not inside a stream of {length}").format(
                                start=start, end=end, length=length),
                                fix=_("use 0 <= start < end <= length"))
    bad = [any(s <= t < e for s, e in periods) for t in range(length)]
    base = len(negatives) / len(labels)
    rows = [rng.choice(negatives) if rng.random() < (bad_share if b else base) else rng.choice(others)
            for b in bad]
    return Stream(rows=rows, periods=list(periods), bad=bad)


def rolling_share(flags: Sequence[bool], window: int) -> list[float]:
    """The share of True among the last ``window`` items at each position (fewer at the start)."""
    if window < 1:
        raise BmcourseError(_("window must be at least 1, got {window}").format(window=window),
                            fix=_("use a positive window"))
    out, inside = [], 0
    for t, flag in enumerate(flags):
        inside += bool(flag)
        if t >= window:
            inside -= bool(flags[t - window])
        out.append(inside / min(t + 1, window))
    return out


def alert_episodes(alerts: Sequence[bool]) -> list[tuple[int, int]]:
    """Maximal runs of consecutive alerts as [start, end) positions."""
    runs, start = [], None
    for t, on in enumerate(list(alerts) + [False]):
        if on and start is None:
            start = t
        elif not on and start is not None:
            runs.append((start, t))
            start = None
    return runs


def alert_scores(alerts: Sequence[bool], periods: Sequence[tuple[int, int]], *, grace: int = 0
                 ) -> dict[str, Any]:
    """Alert episodes scored against the injected periods.

    An episode is right when it starts inside a period or within ``grace`` positions after it
    (a rolling window lags). Precision: right episodes / episodes; recall: periods with an alert;
    delay: positions from a period's start to its first alert (None if missed)."""
    episodes = alert_episodes(alerts)
    right = [any(s <= a < e + grace for s, e in periods) for a, _ in episodes]
    delays = []
    for s, e in periods:
        first = next((t for t in range(s, min(len(alerts), e + grace)) if alerts[t]), None)
        delays.append(None if first is None else first - s)
    found = [d for d in delays if d is not None]
    return {"episodes": len(episodes), "precision": sum(right) / len(episodes) if episodes else float("nan"),
            "recall": len(found) / len(periods) if periods else float("nan"),
            "delays": delays, "false_alarms": len(episodes) - sum(right)}
