"""Entity-level evaluation for NER: seqeval scores, token scores, reports and error analysis.

Inputs are lists of sentences, each a list of string IOB2 tags, one tag per *word*
(decode sub-word predictions back to words first, see ``bmcourse.tagging``).

The point the course makes: token accuracy (and the token "F1" over all tags including
``O``) rewards predicting ``O`` everywhere; entity-level F1 does not.
"""
from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Sequence

from .errors import BmcourseError
from .i18n import tr as _
from .tagging import Span, spans, split_tag

Tags = Sequence[Sequence[str]]

#: The error categories of :func:`error_categories`, in the order they are returned.
CATEGORIES = ("correct", "wrong type", "wrong boundary", "wrong type and boundary",
              "missed", "spurious")


# ---------------------------------------------------------------------------- input checks

def check_tags(true: Tags, pred: Tags) -> tuple[list[list[str]], list[list[str]]]:
    """Both tag sequences as lists of lists, after checking that their shapes and tags agree."""
    if isinstance(true, str) or isinstance(pred, str) or \
            any(isinstance(s, str) for s in list(true)[:1] + list(pred)[:1]):
        raise BmcourseError(_("true and pred must be lists of sentences, each a list of tags"),
                            fix=_("wrap a single sentence in a list: [tags]"))
    true, pred = [list(s) for s in true], [list(s) for s in pred]
    if len(true) != len(pred):
        raise BmcourseError(_("true has {true} sentences but pred has {pred}").format(true=len(true), pred=len(pred)),
                            fix=_("predict one tag sequence per gold sentence, in the same order"))
    for i, (t, p) in enumerate(zip(true, pred)):
        if len(t) != len(p):
            raise BmcourseError(
                _("sentence {i}: true has {true} tags but pred has {pred}").format(i=i, true=len(t), pred=len(p)),
                fix=_("predict one tag per word (decode sub-word predictions back to words, "
                      "e.g. keep the first sub-word of each word)"))
        _check_sentence_tags(i, t, "true")
        _check_sentence_tags(i, p, "pred")
    return true, pred


def _check_sentence_tags(index: int, tags: list[str], which: str) -> None:
    """Raise a BmcourseError naming the sentence and position of the first non-IOB2 tag."""
    for j, tag in enumerate(tags):
        try:
            split_tag(tag)
        except (ValueError, AttributeError, TypeError):
            raise BmcourseError(
                _("sentence {index}, position {position}: {which} tag {tag} is not an IOB2 tag").format(
                    index=index, position=j, which=which, tag=repr(tag)),
                fix=_("map label ids to strings (O, B-TYPE, I-TYPE) before evaluating")) from None


def _flat(true: Tags, pred: Tags) -> tuple[list[str], list[str]]:
    """The checked tags of all sentences, flattened into two parallel lists."""
    true, pred = check_tags(true, pred)
    return [t for s in true for t in s], [p for s in pred for p in s]


def _ratio(num: float, den: float) -> float:
    """``num / den``, or 0.0 when ``den`` is 0 (sklearn's ``zero_division=0``)."""
    return num / den if den else 0.0


def _f1(precision: float, recall: float) -> float:
    """The harmonic mean of precision and recall (0.0 when both are 0)."""
    return _ratio(2 * precision * recall, precision + recall)


def precision_recall_f1(matched: int, predicted: int, gold: int) -> tuple[float, float, float]:
    """Precision, recall and F1 from counts: matched items, predicted items, gold items (0.0 for an
    empty denominator, sklearn's ``zero_division=0``): the one place these ratios are written."""
    precision, recall = _ratio(matched, predicted), _ratio(matched, gold)
    return precision, recall, _f1(precision, recall)


# ---------------------------------------------------------------------------- entity scores

def _seqeval_report(true: Tags, pred: Tags, strict: bool) -> dict[str, dict]:
    """seqeval's per-type report as a dict, for the default or the strict IOB2 mode."""
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    true, pred = check_tags(true, pred)
    options = {"mode": "strict", "scheme": IOB2} if strict else {}
    with warnings.catch_warnings():  # "mean of empty slice" when there are no entities at all
        warnings.simplefilter("ignore", RuntimeWarning)
        return classification_report(true, pred, output_dict=True, zero_division=0, **options)


def _row(key: str, name: str, scores: dict) -> dict:
    """One report row with plain Python numbers (seqeval gives numpy ones, NaN for no types)."""
    def clean(x: float) -> float:
        return 0.0 if math.isnan(float(x)) else float(x)
    return {key: name, "precision": clean(scores["precision"]), "recall": clean(scores["recall"]),
            "f1": clean(scores["f1-score"]), "support": int(scores["support"])}


def per_type_report(true: Tags, pred: Tags, strict: bool = False) -> list[dict]:
    """One row per entity type (sorted), then "micro avg" and "macro avg": the seqeval report."""
    report = _seqeval_report(true, pred, strict)
    averages = ("micro avg", "macro avg", "weighted avg")
    rows = [_row("type", name, report[name]) for name in sorted(report) if name not in averages]
    return rows + [_row("type", name, report[name]) for name in averages[:2]]


def entity_scores(true: Tags, pred: Tags, strict: bool = False) -> dict[str, float]:
    """Micro-averaged entity precision, recall, F1 and support (the number of gold entities).

    An entity counts only if its type and both boundaries are right. The default mode is
    seqeval's (like conlleval: a stray ``I-X`` starts an entity); ``strict=True`` uses
    seqeval's strict IOB2 mode, where only ``B-X`` can start an entity.
    """
    micro = per_type_report(true, pred, strict)[-2]
    return {"precision": micro["precision"], "recall": micro["recall"], "f1": micro["f1"],
            "support": micro["support"]}


# ---------------------------------------------------------------------------- token scores

def token_accuracy(true: Tags, pred: Tags, *, exclude_o: bool = False) -> float:
    """The fraction of words with the right tag (only words whose gold tag is not O if asked)."""
    t, p = _flat(true, pred)
    pairs = [(a, b) for a, b in zip(t, p) if not (exclude_o and a == "O")]
    return _ratio(sum(a == b for a, b in pairs), len(pairs))


def _token_counts(true: Tags, pred: Tags) -> tuple[Counter, Counter, Counter, Counter]:
    """Per-tag true positives, false positives, false negatives and support over all words."""
    t, p = _flat(true, pred)
    tp, fp, fn = Counter(), Counter(), Counter()
    for a, b in zip(t, p):
        if a == b:
            tp[a] += 1
        else:
            fn[a] += 1
            fp[b] += 1
    return tp, fp, fn, Counter(t)


def token_f1_with_o(true: Tags, pred: Tags) -> float:
    """Micro-averaged token F1 over *all* tags including O: the number some tutorials call "NER F1".

    This is sklearn's "micro avg" row for flattened tags. With one label per word every
    error is one false positive and one false negative, so micro precision = recall = F1 =
    token accuracy: it says nothing about entities.
    """
    tp, fp, fn, _ = _token_counts(true, pred)
    hits = sum(tp.values())
    return precision_recall_f1(hits, hits + sum(fp.values()), hits + sum(fn.values()))[2]


def token_report(true: Tags, pred: Tags, *, averages: bool = False) -> list[dict]:
    """One row per tag (sorted, as sklearn's report on flattened tags); optionally + averages."""
    tp, fp, fn, support = _token_counts(true, pred)
    rows = []
    for tag in sorted(set(support) | set(fp)):
        precision, recall, f1 = precision_recall_f1(tp[tag], tp[tag] + fp[tag], tp[tag] + fn[tag])
        rows.append({"tag": tag, "precision": precision, "recall": recall, "f1": f1, "support": support[tag]})
    if averages:
        total = sum(support.values())
        micro = token_f1_with_o(true, pred) if total else 0.0
        rows.append({"tag": "micro avg", "precision": micro, "recall": micro, "f1": micro,
                     "support": total})
        rows.append({"tag": "macro avg", **{k: _ratio(sum(r[k] for r in rows[:-1]), len(rows) - 1)
                                            for k in ("precision", "recall", "f1")},
                     "support": total})
    return rows


# ---------------------------------------------------------------------------- tables

def _cell(value: object, digits: int) -> str:
    """A table cell: floats with ``digits`` decimals, None as empty, the rest as ``str``."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def format_table(rows: list[dict], digits: int = 3) -> str:
    """A fixed-width plain-text table of rows that share their keys (text left, numbers right)."""
    if not rows:
        return _("(no rows)")
    keys = list(rows[0])
    for i, row in enumerate(rows):
        if list(row) != keys:
            raise BmcourseError(_("row {i} has keys {keys} but row 0 has {first}").format(
                                    i=i, keys=list(row), first=keys),
                                fix=_("give every row the same keys in the same order"))
    cells = [[_cell(row[k], digits) for k in keys] for row in rows]
    numeric = [all(isinstance(row[k], (int, float)) and not isinstance(row[k], bool)
                   for row in rows) for k in keys]
    widths = [max(len(str(k)), *(len(c[j]) for c in cells)) for j, k in enumerate(keys)]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric)).rstrip()

    header = line([str(k) for k in keys])
    return "\n".join([header, "-" * len(header)] + [line(c) for c in cells])


# ---------------------------------------------------------------------------- error analysis

def _overlaps(a: Span, b: Span) -> bool:
    """Whether two word ranges share at least one word."""
    return a.start < b.end and b.start < a.end


def _describe(words: Sequence[str], found: Sequence[Span]) -> str | None:
    """``"Bank of England (ORG)"`` for each span, joined by ``"; "``; None for no spans."""
    if not found:
        return None
    return "; ".join(f"{' '.join(words[s.start:s.end])} ({s.type})" for s in found)


def _sentence_errors(gold: list[Span], pred: list[Span]) -> list[tuple[str, list[Span], list[Span]]]:
    """(category, gold spans, predicted spans) events of one sentence: one per gold span,
    plus one per predicted span that overlaps no gold span."""
    exact = {(s.start, s.end): s for s in pred}
    events = []
    for g in gold:
        p = exact.get((g.start, g.end))
        if p is not None:
            events.append(("correct" if p.type == g.type else "wrong type", [g], [p]))
            continue
        near = [s for s in pred if _overlaps(s, g)]
        if any(s.type == g.type for s in near):
            events.append(("wrong boundary", [g], near))
        elif near:
            events.append(("wrong type and boundary", [g], near))
        else:
            events.append(("missed", [g], []))
    for p in pred:
        if not any(_overlaps(p, g) for g in gold):
            events.append(("spurious", [], [p]))
    return events


def error_categories(tokens: Sequence[Sequence[str]], true: Tags, pred: Tags,
                     max_examples: int = 3) -> dict[str, dict]:
    """Counts and first examples of each error category, comparing gold and predicted spans.

    Every gold span gets exactly one category: "correct" (same boundaries and type),
    "wrong type" (same boundaries), "wrong boundary" (overlapped by a prediction of its type),
    "wrong type and boundary" (overlapped only by predictions of other types) or "missed"
    (overlapped by nothing). Every predicted span that overlaps no gold span is "spurious".
    So the counts of all categories but "spurious" add up to the number of gold spans.
    Predictions may be invalid IOB2: a stray ``I-X`` starts a span. Each example is
    ``{"sentence", "text", "gold", "pred"}`` where gold/pred read like ``"Bank of England (ORG)"``
    (several overlapping predictions are joined by ``"; "``) or are None.
    """
    true, pred = check_tags(true, pred)
    if len(tokens) != len(true):
        raise BmcourseError(_("tokens has {tokens} sentences but the tags have {tags}").format(
                                tokens=len(tokens), tags=len(true)),
                            fix=_("pass the words of the same sentences, in the same order"))
    result = {name: {"count": 0, "examples": []} for name in CATEGORIES}
    for i, (words, t, p) in enumerate(zip(tokens, true, pred)):
        words = list(words)
        if len(words) != len(t):
            raise BmcourseError(_("sentence {i}: {words} words but {tags} tags").format(
                                    i=i, words=len(words), tags=len(t)),
                                fix=_("give one tag per word"))
        for name, g, s in _sentence_errors(spans(t), spans(p)):
            entry = result[name]
            entry["count"] += 1
            if len(entry["examples"]) < max_examples:
                entry["examples"].append({"sentence": i, "text": " ".join(words),
                                          "gold": _describe(words, g), "pred": _describe(words, s)})
    return result


def type_confusion(true: Tags, pred: Tags) -> tuple[list[str], list[list[int]]]:
    """(labels, matrix): gold types on rows, predicted types on columns, for exact-boundary spans.

    Labels are the sorted entity types of both sides plus ``"O"``. A gold span with no
    prediction of the same boundaries counts in its row's O column (missed); a predicted span
    with no gold span of the same boundaries counts in the O row (spurious).
    """
    true, pred = check_tags(true, pred)
    pairs: list[tuple[str, str]] = []
    for t, p in zip(true, pred):
        gold = {(s.start, s.end): s.type for s in spans(t)}
        guess = {(s.start, s.end): s.type for s in spans(p)}
        pairs += [(kind, guess.get(key, "O")) for key, kind in gold.items()]
        pairs += [("O", kind) for key, kind in guess.items() if key not in gold]
    labels = sorted({k for pair in pairs for k in pair} - {"O"}) + ["O"]
    index = {label: j for j, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for g, p in pairs:
        matrix[index[g]][index[p]] += 1
    return labels, matrix


# ---------------------------------------------------------------------------- summary

def ner_report(true: Tags, pred: Tags) -> dict[str, float]:
    """Entity P/R/F1 (default mode), strict entity F1, token accuracy and token F1 with O."""
    lenient = entity_scores(true, pred)
    return {"f1": lenient["f1"], "precision": lenient["precision"], "recall": lenient["recall"],
            "f1_strict": entity_scores(true, pred, strict=True)["f1"],
            "token_accuracy": token_accuracy(true, pred),
            "token_f1_with_o": token_f1_with_o(true, pred)}


# --------------------------------------------------------------------- sequence classification

def classification_scores(true: Sequence[int], pred: Sequence[int]) -> dict[str, float]:
    """Accuracy and macro-averaged F1 over the classes present in ``true`` or ``pred``."""
    if len(true) != len(pred):
        raise BmcourseError(_("true has {true} labels but pred has {pred}").format(true=len(true), pred=len(pred)),
                            fix=_("predict one label per example, in the same order"))
    classes = sorted(set(true) | set(pred))
    f1s = []
    for c in classes:
        tp = sum(t == c and p == c for t, p in zip(true, pred))
        fp = sum(t != c and p == c for t, p in zip(true, pred))
        fn = sum(t == c and p != c for t, p in zip(true, pred))
        f1s.append(_f1(_ratio(tp, tp + fp), _ratio(tp, tp + fn)))
    accuracy = _ratio(sum(t == p for t, p in zip(true, pred)), len(true))
    return {"accuracy": accuracy, "macro_f1": sum(f1s) / len(f1s) if f1s else 0.0}
