"""Intent routing (notebook 04, section 1): the classifier's scores, temperature scaling and the
reliability of its confidence, the coverage/accuracy trade-off of a handoff threshold that sends
unsure requests to a human, and the per-class report with the label pairs it confuses most.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch

from ..errors import BmcourseError
from ..i18n import tr as _
from ..metrics import precision_recall_f1


@torch.no_grad()
def class_logits(model: torch.nn.Module, features: Sequence[dict], *, batch_size: int = 64,
                 device: str | None = None) -> torch.Tensor:
    """The classifier's logits for encoded features (``encode_classification``), as a float CPU tensor [N, C].

    Calibration and thresholds need the scores themselves, not only the argmax ``predict`` gives."""
    from ..train import length_sorted_batches, pad_id_of, to_device

    if not features:
        raise BmcourseError(_("no features to score"), fix=_("encode a non-empty split first"))
    target = to_device(model, device)
    model.eval()
    out = torch.empty(len(features), model.config.num_labels)
    for indices, batch in length_sorted_batches(features, batch_size, pad_id_of(features), target):
        batch.pop("labels")
        out[indices] = model(**batch).logits.float().cpu()
    return out


def confidence_and_prediction(logits: torch.Tensor, temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The top softmax probability and the predicted class of each row, after dividing by ``temperature``."""
    if temperature <= 0:
        raise BmcourseError(_("temperature must be positive, got {temperature}").format(temperature=temperature),
                            fix=_("fit it with fit_temperature"))
    return (logits / temperature).softmax(-1).max(-1)


def fit_temperature(logits: torch.Tensor, labels: Sequence[int] | torch.Tensor, *, steps: int = 200) -> float:
    """The temperature T that minimises the negative log-likelihood of ``softmax(logits / T)``.

    Fit it on validation data (never test): it rescales confidence without changing any prediction."""
    labels = torch.as_tensor(labels)
    logits = logits.detach().clone().float()  # a plain tensor even if it was made under inference_mode
    log_t = torch.zeros(1, requires_grad=True)  # optimise log T so that T stays positive
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return float(log_t.detach().exp())


def reliability_bins(confidence: Sequence[float] | torch.Tensor, correct: Sequence[bool] | torch.Tensor,
                     bins: int = 10) -> list[dict[str, float]]:
    """Equal-width confidence bins: each with its count, mean confidence and accuracy (empty bins kept, count 0)."""
    conf = torch.as_tensor(confidence, dtype=torch.float64)
    hit = torch.as_tensor(correct, dtype=torch.float64)
    if conf.numel() != hit.numel() or conf.numel() == 0:
        raise BmcourseError(_("got {confidences} confidences and {flags} correctness flags").format(
                            confidences=conf.numel(), flags=hit.numel()),
                            fix=_("pass one confidence and one correct/incorrect flag per prediction"))
    rows = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = (conf > lo) & (conf <= hi) if b else (conf >= lo) & (conf <= hi)
        n = int(inside.sum())
        rows.append({"low": lo, "high": hi, "count": n,
                     "confidence": float(conf[inside].mean()) if n else float("nan"),
                     "accuracy": float(hit[inside].mean()) if n else float("nan")})
    return rows


def expected_calibration_error(confidence: Sequence[float] | torch.Tensor,
                               correct: Sequence[bool] | torch.Tensor, bins: int = 10) -> float:
    """ECE: the count-weighted mean gap between accuracy and confidence over ``reliability_bins``."""
    rows = reliability_bins(confidence, correct, bins)
    total = sum(r["count"] for r in rows)
    return sum(r["count"] * abs(r["accuracy"] - r["confidence"]) for r in rows if r["count"]) / total


def coverage_curve(confidence: Sequence[float] | torch.Tensor, correct: Sequence[bool] | torch.Tensor
                   ) -> list[dict[str, float]]:
    """For each distinct confidence used as threshold: the share answered automatically
    (coverage) and the accuracy on that share; the rest goes to a human."""
    pairs = sorted(zip(torch.as_tensor(confidence, dtype=torch.float64).tolist(),
                       torch.as_tensor(correct).tolist()), reverse=True)
    rows, hits = [], 0
    for i, (conf, ok) in enumerate(pairs):
        hits += bool(ok)
        if i + 1 == len(pairs) or pairs[i + 1][0] < conf:  # all predictions at >= conf are in
            rows.append({"threshold": conf, "coverage": (i + 1) / len(pairs), "accuracy": hits / (i + 1)})
    return rows[::-1]


def wilson_lower_bound(right: int, total: int, z: float = 1.645) -> float:
    """A lower confidence bound on an accuracy measured as ``right / total`` (Wilson score interval;
    z = 1.645: one-sided 95%). Small samples get a low bound, so a threshold is not chosen on luck."""
    if total == 0:
        return 0.0
    p = right / total
    centre = p + z * z / (2 * total)
    spread = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return (centre - spread) / (1 + z * z / total)


def pick_threshold(confidence: Sequence[float] | torch.Tensor, correct: Sequence[bool] | torch.Tensor,
                   target: float, *, cautious: bool = False) -> dict[str, float] | None:
    """The lowest threshold (most coverage) whose automatically answered share reaches ``target``
    accuracy, as a ``coverage_curve`` row; None when no threshold does.

    ``cautious``: the Wilson lower bound of that accuracy (``wilson_lower_bound``) must reach the
    target, not the measured accuracy itself, so the choice survives the noise of a small sample."""
    for row in coverage_curve(confidence, correct):
        n = round(row["coverage"] * len(confidence))
        score = wilson_lower_bound(round(row["accuracy"] * n), n) if cautious else row["accuracy"]
        if score >= target:
            return row
    return None


def round_threshold(confidence: Sequence[float] | torch.Tensor, threshold: float, margin: float = 1e-4) -> float:
    """The shortest decimal that answers exactly the same requests as ``threshold`` and stays ``margin``
    away from every confidence: a threshold picked from continuous scores, printable without its last
    digit flipping when another CPU moves the scores in their last bits."""
    conf = torch.as_tensor(confidence, dtype=torch.float64)
    below = conf[conf < threshold]
    low = float(below.max()) if below.numel() else 0.0
    if threshold - low <= 2 * margin:  # the scores are too close to leave a safe margin: keep the score itself
        return float(threshold)
    for digits in range(1, 8):
        scale = 10 ** digits
        candidate = math.ceil((low + margin) * scale) / scale
        if candidate <= threshold - margin:
            return candidate
    return (low + threshold) / 2


def routed_scores(confidence: Sequence[float] | torch.Tensor, correct: Sequence[bool] | torch.Tensor,
                  threshold: float) -> dict[str, float]:
    """Coverage and accuracy when requests at or above ``threshold`` are answered automatically."""
    conf = torch.as_tensor(confidence, dtype=torch.float64)
    hit = torch.as_tensor(correct, dtype=torch.float64)
    kept = conf >= threshold
    n = int(kept.sum())
    return {"threshold": threshold, "coverage": n / conf.numel(),
            "accuracy": float(hit[kept].mean()) if n else float("nan"), "to_human": conf.numel() - n}


def class_report(true: Sequence[int], pred: Sequence[int], names: Sequence[str]) -> list[dict[str, Any]]:
    """Precision, recall, F1 and support per class, then the macro average: rows for ``metrics.format_table``."""
    rows = []
    for c, name in enumerate(names):
        tp = sum(t == c and p == c for t, p in zip(true, pred))
        predicted, support = sum(p == c for p in pred), sum(t == c for t in true)
        precision, recall, f1 = precision_recall_f1(tp, predicted, support)
        rows.append({"class": name, "precision": precision, "recall": recall, "f1": f1, "support": support})
    mean = lambda key: sum(r[key] for r in rows) / len(rows)  # noqa: E731
    rows.append({"class": _("macro average"), "precision": mean("precision"), "recall": mean("recall"),
                 "f1": mean("f1"), "support": len(true)})
    return rows


def confused_pairs(true: Sequence[int], pred: Sequence[int], names: Sequence[str], top: int = 5
                   ) -> list[dict[str, Any]]:
    """The ``top`` unordered label pairs mixed up most often (both directions counted together)."""
    counts: Counter = Counter()
    ways: dict[tuple[int, int], Counter] = {}
    for t, p in zip(true, pred):
        if t != p:
            key = (min(t, p), max(t, p))
            counts[key] += 1
            ways.setdefault(key, Counter())[(t, p)] += 1
    rows = []
    for (a, b), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]:
        rows.append({"a": names[a], "b": names[b], "errors": n,
                     "a_as_b": ways[(a, b)][(a, b)], "b_as_a": ways[(a, b)][(b, a)]})
    return rows
