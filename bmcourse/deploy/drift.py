"""Drift monitoring after deployment (notebook 05): a stream of unlabelled sentences cut into
windows, statistics of the tagger's own outputs per window (mean confidence, share of entity
words, the predicted type mix and its population stability index against a reference window),
and a retraining trigger that fires once a statistic stays past a threshold for ``patience``
windows in a row. Labels are used only afterwards, to check what the monitor saw.
"""
from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import BmcourseError
from ..i18n import tr as _
from ..tagging import first_subword_positions, split_tag

#: Statistics the trigger can watch: PSI of the predicted type mix, and the fall in mean confidence.
STATISTICS = ("psi", "confidence_drop")
#: A share below this counts as this much in PSI, so an empty bin gives a large but finite term.
PSI_FLOOR = 1e-4

#: Per sentence: each word's top softmax probability and its argmax tag (read at the first sub-word);
#: a word the tokenizer turns into no sub-word at all (a stray control character) gets NaN and ``O``.
WordOutputs = tuple[list[float], list[str]]


def word_outputs(model: torch.nn.Module, features: Sequence[Any], *, batch_size: int = 64,
                 pad_id: int | None = None, progress: bool = True) -> list[WordOutputs]:
    """``(confidences, tags)`` per sentence from one pass of ``model`` (chunks of a long sentence joined):
    what a deployed tagger can log about its own answers without any label."""
    from ..train import length_sorted_batches, pad_id_of, progress_bar, to_device

    if not features:
        raise BmcourseError(_("word_outputs got no features"), fix=_("encode a non-empty split with encode_ner"))
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    target = to_device(model, None)
    model.eval()
    per_feature: dict[int, WordOutputs] = {}
    bar = progress_bar(len(features), _("monitoring"), progress)
    with torch.inference_mode():
        for indices, batch in length_sorted_batches(features, batch_size, pad_id_of(features, pad_id), target):
            batch.pop("labels", None)
            probs = model(**batch).logits.float().softmax(-1).cpu()
            for row, index in enumerate(indices):
                word_ids = features[index]["word_ids"]
                n = len(features[index].get("word_labels", [])) or 1 + max(w for w in word_ids if w is not None)
                confidence, tags = [math.nan] * n, ["O"] * n  # as evaluate(): a word without sub-words is O
                firsts = first_subword_positions(word_ids)
                top, best = probs[row, firsts].max(-1)
                for position, value, label in zip(firsts, top.tolist(), best.tolist()):
                    confidence[word_ids[position]], tags[word_ids[position]] = value, names[label]
                per_feature[index] = (confidence, tags)
            bar.update(len(indices))
    bar.close()
    sentences: dict[Any, WordOutputs] = {}
    for index, feature in enumerate(features):  # chunks of one sentence, in order
        confidence, tags = sentences.setdefault(feature.get("sentence", index), ([], []))
        confidence.extend(per_feature[index][0])
        tags.extend(per_feature[index][1])
    return [sentences[key] for key in sorted(sentences)]


def type_counts(tags: Sequence[Sequence[str]], types: Sequence[str]) -> list[int]:
    """Words per predicted type, in the order ``("O", *types)``: the bins PSI compares."""
    counts = Counter(split_tag(tag)[1] or "O" for sentence in tags for tag in sentence)
    unknown = set(counts) - {"O", *types}
    if unknown:
        raise BmcourseError(_("tags of types {unknown} are not among {types}").format(
                            unknown=sorted(unknown), types=list(types)),
                            fix=_("pass the tagger's entity types (bmcourse.tagging.types_of(labels))"))
    return [counts["O"], *(counts[kind] for kind in types)]


def psi(reference: Sequence[float], window: Sequence[float], *, floor: float = PSI_FLOOR) -> float:
    """Population stability index: sum over bins of (w - r) * ln(w / r), with r and w each bin's share
    of its total (counts or shares both work), a share below ``floor`` counted as ``floor``."""
    reference, window = list(reference), list(window)
    if len(reference) != len(window) or not reference:
        raise BmcourseError(_("psi needs two distributions over the same bins, got {reference} and {window} bins")
                            .format(reference=len(reference), window=len(window)),
                            fix=_("count both windows over the same bins (type_counts)"))
    for name, values in (("reference", reference), ("window", window)):
        if any(not math.isfinite(v) or v < 0 for v in values) or sum(values) <= 0:
            raise BmcourseError(_("psi: the {name} counts must be finite, non-negative and not all zero, got {values}")
                                .format(name=name, values=values),
                                fix=_("pass word counts (or shares) per bin of a non-empty window"))
    r_total, w_total = sum(reference), sum(window)
    total = 0.0
    for r, w in zip(reference, window):
        r, w = max(r / r_total, floor), max(w / w_total, floor)
        total += (w - r) * math.log(w / r)
    return total


def window_stats(outputs: Sequence[WordOutputs], types: Sequence[str]) -> dict[str, Any]:
    """A window's label-free statistics: sentences, words, mean confidence (over the words that have a
    sub-word), share of entity words and the word counts per predicted type (``("O", *types)``)."""
    words = sum(len(tags) for _, tags in outputs)
    confidence = [c for sentence, _ in outputs for c in sentence if not math.isnan(c)]
    if not confidence:
        raise BmcourseError(_("a window holds no words"), fix=_("give each window at least one non-empty sentence"))
    counts = type_counts([tags for _, tags in outputs], types)
    return {"sentences": len(outputs), "words": words, "confidence": sum(confidence) / len(confidence),
            "entity_share": 1 - counts[0] / words, "counts": counts}


def first_trigger(values: Sequence[float], threshold: float, patience: int) -> int | None:
    """The window at which ``values`` has been at or above ``threshold`` for ``patience`` windows in a row
    (retrain there), or None. Patience trades delay for fewer alarms on one noisy window."""
    if patience < 1:
        raise BmcourseError(_("patience must be at least 1 window, got {patience}").format(patience=patience),
                            fix=_("use patience >= 1"))
    if not math.isfinite(threshold):
        raise BmcourseError(_("threshold must be a finite number, got {threshold}").format(threshold=threshold),
                            fix=_("e.g. 0.1 for PSI"))
    run = 0
    for index, value in enumerate(values):
        run = run + 1 if value >= threshold else 0
        if run >= patience:
            return index
    return None


@dataclass
class DriftMonitor:
    """Compares each window with a reference window (the outputs at deployment time) and fires once:
    when ``statistic`` (``"psi"`` or ``"confidence_drop"``) has been ``>= threshold`` for ``patience``
    windows in a row. ``rows`` keeps every window's statistics, ``fired_at`` the trigger's window."""

    reference: Sequence[WordOutputs]
    types: Sequence[str]
    threshold: float = 0.1
    patience: int = 3
    statistic: str = "psi"
    rows: list[dict[str, Any]] = field(default_factory=list)
    fired_at: int | None = None

    def __post_init__(self) -> None:
        if self.statistic not in STATISTICS:
            raise BmcourseError(_("statistic={statistic} is not monitored").format(statistic=repr(self.statistic)),
                                fix=_("use one of {statistics}").format(statistics=STATISTICS))
        first_trigger([], self.threshold, self.patience)  # the same checks on threshold and patience
        self.baseline = window_stats(self.reference, self.types)

    def observe(self, window: Sequence[WordOutputs]) -> dict[str, Any]:
        """Add one window; returns its row (with ``"retrain": True`` on the window where the trigger fires)."""
        stats = window_stats(window, self.types)
        row = {"window": len(self.rows), **stats, "psi": psi(self.baseline["counts"], stats["counts"]),
               "confidence_drop": self.baseline["confidence"] - stats["confidence"]}
        self.rows.append(row)
        if self.fired_at is None:
            fired = first_trigger([r[self.statistic] for r in self.rows], self.threshold, self.patience)
            if fired == row["window"]:
                self.fired_at = fired
        row["retrain"] = self.fired_at == row["window"]
        return row


def drift_stream(in_domain: int, shifted: int, *, windows: int, size: int, shift_at: int | None,
                 ramp: int = 1, seed: int = 0) -> list[list[tuple[str, int]]]:
    """Windows of ``size`` sentences as ``("in", i)`` / ``("shifted", i)`` rows of two pools. Before window
    ``shift_at`` every sentence is in-domain; from there the shifted share grows by 1/``ramp`` a window up
    to all of it (``shift_at=None``: no shift). Sentences repeat only when a pool runs out."""
    if windows < 1 or size < 1 or ramp < 1:
        raise BmcourseError(_("windows, size and ramp must be at least 1, got {windows}, {size}, {ramp}").format(
                            windows=windows, size=size, ramp=ramp),
                            fix=_("e.g. drift_stream(..., windows=30, size=100, shift_at=10, ramp=10)"))
    if shift_at is not None and not 0 <= shift_at < windows:
        raise BmcourseError(_("shift_at={shift_at} is outside the stream's {windows} windows").format(
                            shift_at=shift_at, windows=windows),
                            fix=_("use 0 <= shift_at < windows, or shift_at=None for an in-domain stream"))
    if in_domain < 1 or (shift_at is not None and shifted < 1):
        raise BmcourseError(_("a pool is empty (in-domain {in_domain}, shifted {shifted} sentences)").format(
                            in_domain=in_domain, shifted=shifted),
                            fix=_("give the stream sentences from both domains"))
    rng = random.Random(seed)
    pools: dict[str, list[int]] = {"in": [], "shifted": []}

    def draw(pool: str) -> int:
        if not pools[pool]:  # a fresh shuffled pass over the pool
            pools[pool] = rng.sample(range(in_domain if pool == "in" else shifted), in_domain if pool == "in"
                                     else shifted)
        return pools[pool].pop()

    stream = []
    for w in range(windows):
        share = 0.0 if shift_at is None or w < shift_at else min(1.0, (w - shift_at + 1) / ramp)
        n_shifted = round(share * size)
        sources = ["shifted"] * n_shifted + ["in"] * (size - n_shifted)
        rng.shuffle(sources)
        stream.append([(source, draw(source)) for source in sources])
    return stream


def drift_experiment(model: torch.nn.Module, tokenizer: Any, reference: Any, in_domain: Any, shifted: Any, *,
                     windows: int, size: int, shift_at: int, ramp: int, threshold: float = 0.1,
                     patience: int = 3, statistic: str = "psi", seed: int = 0, progress: bool = True
                     ) -> dict[str, Any]:
    """The monitor on two streams from the same pools: in-domain only, and shifting to ``shifted`` from
    window ``shift_at``. Each row also gets the entity F1 of the window's sentences, scored with their
    labels (``shifted``'s types mapped onto the tagger's, ``transfer.DEFAULT_MAPPING``): what the monitor
    cannot see, to check whether it fired when quality fell."""
    from ..metrics import entity_scores
    from ..tagging import types_of
    from ..train import encode_ner
    from ..transfer import label_mapping, map_tags

    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    types = types_of(labels)
    target_labels = shifted.features["ner_tags"].feature.names
    mapping = label_mapping(target_labels, labels).mapped
    outputs, gold = {}, {}
    for name, split in (("reference", reference), ("in", in_domain), ("shifted", shifted)):
        features = encode_ner(list(split["tokens"]), tokenizer, training=False, quiet=True)
        outputs[name] = word_outputs(model, features, progress=progress)
        names = split.features["ner_tags"].feature.names
        gold[name] = [[names[t] for t in tags] for tags in split["ner_tags"]]
    gold["shifted"] = [map_tags(tags, mapping) for tags in gold["shifted"]]
    result: dict[str, Any] = {"types": types, "mapping": mapping, "windows": windows, "size": size,
                              "shift_at": shift_at, "ramp": ramp, "threshold": threshold, "patience": patience,
                              "statistic": statistic, "seed": seed, "streams": {}}
    for stream_name, start in (("in-domain", None), ("shifted", shift_at)):
        rows = drift_stream(len(outputs["in"]), len(outputs["shifted"]), windows=windows, size=size,
                            shift_at=start, ramp=ramp, seed=seed)
        monitor = DriftMonitor(outputs["reference"], types, threshold, patience, statistic)
        for window in rows:
            row = monitor.observe([outputs[pool][i] for pool, i in window])
            row["shifted_share"] = sum(pool == "shifted" for pool, _ in window) / len(window)
            row["f1"] = entity_scores([gold[pool][i] for pool, i in window],
                                      [outputs[pool][i][1] for pool, i in window])["f1"]
        result["streams"][stream_name] = {"rows": monitor.rows, "fired_at": monitor.fired_at}
    result["reference_window"] = {k: v for k, v in monitor.baseline.items()}
    return result


def drift_table(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The monitor's rows as a printable table (``metrics.format_table``)."""
    return [{"window": r["window"], "shifted": f"{r['shifted_share']:.0%}", "confidence": r["confidence"],
             "entity words": r["entity_share"], "PSI": r["psi"], "F1 (labels)": r["f1"],
             "retrain": _("<- retrain") if r["retrain"] else ""} for r in rows]
