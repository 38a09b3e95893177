"""The conclusions notebook 03 draws from a ``bench transfer`` payload, computed the way its reference
cells compute them, and two payloads side by side (``bmcourse bench transfer-compare OLD NEW``): a
faster benchmark must leave every one of them standing.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _f1(payload: dict[str, Any]) -> dict[tuple[str, str, str], float]:
    return {(r["target"], r["strategy"], r["init"]): r["test_f1"] for r in payload["rows"]}


def strategy_conclusions(payload: dict[str, Any]) -> dict[str, str]:
    """The strategy table's conclusions: which start wins, the ranking per start, runs with F1 0, BitFit's gap."""
    settings = payload["settings"]
    targets, strategies, inits = settings["targets"], settings["strategies"], settings["inits"]
    f1 = _f1(payload)
    pairs = len(targets) * len(strategies)
    out = {"init=source beats init=pretrained":
           f"{sum(f1[(t, s, 'source')] > f1[(t, s, 'pretrained')] for t in targets for s in strategies)} of {pairs} pairs"}
    for init in inits:
        mean = {s: sum(f1[(t, s, init)] for t in targets) / len(targets) for s in strategies}
        out[f"ranking by mean test F1 (init={init})"] = ", ".join(sorted(strategies, key=lambda s: -mean[s]))
        out[f"runs with F1 0 (init={init})"] = f"{sum(f1[(t, s, init)] == 0 for t in targets for s in strategies)} of {pairs}"
    if "bitfit" in strategies and "full" in strategies:
        gaps = [f1[(t, "full", i)] - f1[(t, "bitfit", i)] for t in targets for i in inits]
        out["bitfit within 3 F1 points of full"] = f"{sum(g <= 0.03 for g in gaps)} of {len(gaps)} (target, init) pairs"
    return out


def few_shot_conclusions(payload: dict[str, Any]) -> dict[str, str]:
    """Per target: in how many paired runs (n <= 50) the source start is ahead, and the sign of augmentation's mean."""
    from ..transfer import mean_and_spread, paired_differences

    settings, out = payload["settings"], {}
    for t in settings["targets"]:
        diffs = paired_differences(payload["few_shot"], t, up_to=50)
        aug = paired_differences(payload["few_shot"], t, up_to=settings["augment_up_to"],
                                 a=("source", "mention_replacement"), b=("source", "none"))
        out[f"{t}: source ahead (n <= 50)"] = f"{sum(d > 0 for d in diffs)} of {len(diffs)} pairs"
        mean = mean_and_spread(aug)[0] if aug else 0.0
        out[f"{t}: augmentation"] = "helps" if mean > 0 else "hurts" if mean < 0 else "no change"
    return out


def forgetting_conclusions(payload: dict[str, Any]) -> dict[str, str]:
    """Per target: whether adapting forgot CoNLL-2003 and replay won some back; where replay cost the target most."""
    forget, out = payload["forgetting"], {}
    for t, f in forget.items():
        out[f"{t}: forgot CoNLL, replay won some back"] = (
            f"{'yes' if f['after'] < f['before'] else 'no'}, {'yes' if f['after_replay'] > f['after'] else 'no'}")
    cost = {t: f["target_f1"] - f["target_f1_replay"] for t, f in forget.items()}
    out["replay lowered the target F1"] = (f"on {sum(c > 0 for c in cost.values())} of {len(forget)} targets; "
                                           f"most on {max(cost, key=lambda t: cost[t])}")
    return out


def zero_shot_conclusions(payload: dict[str, Any]) -> dict[str, str]:
    """Per target: whether some adapted run beats zero-shot on the mapped types (or on its own types)."""
    out = {}
    for t, z in payload["zero_shot"].items():
        if z["test_f1"] is None:
            out[f"{t}: zero-shot"] = "nothing to score"
            continue
        rows = [r for r in payload["rows"] if r["target"] == t]
        own = sum(r["test_f1"] > z["test_f1"] for r in rows)
        out[f"{t}: adapted runs above zero-shot (own types)"] = f"{own} of {len(rows)}"
    return out


def transfer_conclusions(payload: dict[str, Any]) -> dict[str, str]:
    """Every conclusion above, one line each, keyed by what it says."""
    return {**zero_shot_conclusions(payload), **strategy_conclusions(payload), **few_shot_conclusions(payload),
            **forgetting_conclusions(payload)}


def compare_table(old: dict[str, Any], new: dict[str, Any]) -> tuple[str, int]:
    """A markdown table of both payloads' conclusions side by side, and how many differ."""
    a, b = transfer_conclusions(old), transfer_conclusions(new)
    lines = ["| conclusion | old | new | same |", "|---|---|---|---|"]
    differ = 0
    for key in dict.fromkeys([*a, *b]):
        same = a.get(key) == b.get(key)
        differ += not same
        lines.append(f"| {key} | {a.get(key, '-')} | {b.get(key, '-')} | {'yes' if same else '**no**'} |")
    return "\n".join(lines), differ


def numbers_table(old: dict[str, Any], new: dict[str, Any]) -> str:
    """Markdown: where the time went (per phase) and the strategy table's test F1, old beside new."""
    lines = ["| phase | old s | new s |", "|---|---|---|"]
    for phase in dict.fromkeys([*old["seconds_per_phase"], *new["seconds_per_phase"]]):
        lines.append(f"| {phase} | {old['seconds_per_phase'].get(phase, '-')} | {new['seconds_per_phase'].get(phase, '-')} |")
    lines.append(f"| **total** | **{old['total_seconds']}** | **{new['total_seconds']}** |")
    a, b = _f1(old), _f1(new)
    lines += ["", "| target | strategy | init | old test F1 | new test F1 |", "|---|---|---|---|---|"]
    lines += [f"| {t} | {s} | {i} | {a[(t, s, i)]:.4f} | {b[(t, s, i)]:.4f} |" for t, s, i in a if (t, s, i) in b]
    diffs = [abs(a[k] - b[k]) for k in a if k in b]
    if diffs:
        lines.append(f"\nmean |new - old| over {len(diffs)} runs: {sum(diffs) / len(diffs):.4f}; largest {max(diffs):.4f}")
    return "\n".join(lines)


def load_payload(path: str | Path) -> dict[str, Any]:
    """A ``bench transfer`` JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
