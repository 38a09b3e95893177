"""Applications of an adapted encoder (notebook 04): intent routing with calibration and a handoff
threshold, a sentiment alert monitor, semantic search with sentence embeddings, and PII redaction."""
from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch

from .errors import BmcourseError
from .metrics import precision_recall_f1
from .tagging import repair_for_display, spans, split_words_with_offsets, types_of, word_starts

# ============================================================================================
# Intent routing, calibration, the sentiment monitor and semantic search (sections 1-3)
# ============================================================================================


@torch.no_grad()
def class_logits(model: torch.nn.Module, features: Sequence[dict], *, batch_size: int = 64,
                 device: str | None = None) -> torch.Tensor:
    """The classifier's logits for encoded features (``encode_classification``), as a float CPU tensor [N, C].

    Calibration and thresholds need the scores themselves, not only the argmax ``predict`` gives."""
    from .train import length_sorted_batches, pad_id_of, to_device

    if not features:
        raise BmcourseError("no features to score", fix="encode a non-empty split first")
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
        raise BmcourseError(f"temperature must be positive, got {temperature}", fix="fit it with fit_temperature")
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
        raise BmcourseError(f"got {conf.numel()} confidences and {hit.numel()} correctness flags",
                            fix="pass one confidence and one correct/incorrect flag per prediction")
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
    rows.append({"class": "macro average", "precision": mean("precision"), "recall": mean("recall"),
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


# --- the sentiment monitor ---------------------------------------------------------------------

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
        raise BmcourseError(f"the stream needs both {negative!r} and other headlines",
                            fix="pass the labels of a split that has every class")
    for start, end in periods:
        if not 0 <= start < end <= length:
            raise BmcourseError(f"bad period ({start}, {end}) is not inside a stream of {length}",
                                fix="use 0 <= start < end <= length")
    bad = [any(s <= t < e for s, e in periods) for t in range(length)]
    base = len(negatives) / len(labels)
    rows = [rng.choice(negatives) if rng.random() < (bad_share if b else base) else rng.choice(others)
            for b in bad]
    return Stream(rows=rows, periods=list(periods), bad=bad)


def rolling_share(flags: Sequence[bool], window: int) -> list[float]:
    """The share of True among the last ``window`` items at each position (fewer at the start)."""
    if window < 1:
        raise BmcourseError(f"window must be at least 1, got {window}", fix="use a positive window")
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


# --- sentence embeddings and semantic search ---------------------------------------------------

@torch.no_grad()
def sentence_embeddings(model: torch.nn.Module, tokenizer: Any, texts: Sequence[str], *,
                        batch_size: int = 64, device: str | None = None, normalise: bool = True,
                        max_length: int = 128, progress: bool = False) -> torch.Tensor:
    """Mean-pooled last hidden states (padding excluded), L2-normalised: one row per text.

    Mean pooling is how all-MiniLM-L6-v2 was trained, so cosine similarity is meaningful."""
    from .models import mean_pool
    from .train import progress_bar, to_device

    target = to_device(model, device)
    model.eval()
    rows = []
    bar = progress_bar(len(texts), "embedding", progress)
    for s in range(0, len(texts), batch_size):
        batch = tokenizer(list(texts[s:s + batch_size]), padding=True, truncation=True,
                          max_length=max_length, return_tensors="pt").to(target)
        hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        rows.append(mean_pool(hidden, batch["attention_mask"]).float().cpu())
        bar.update(len(batch["input_ids"]))
    bar.close()
    out = torch.cat(rows) if rows else torch.empty(0, model.config.hidden_size)
    return torch.nn.functional.normalize(out, dim=-1) if normalise else out


def nearest(queries: torch.Tensor, index: torch.Tensor, k: int, *, exclude_self: bool = False
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine scores and row ids of the ``k`` nearest index rows per query (rows L2-normalised).

    ``exclude_self`` (queries are the index) skips each row's own match."""
    scores = queries @ index.T
    if exclude_self:
        scores.fill_diagonal_(-math.inf)
    k = min(k, index.shape[0] - int(exclude_self))
    return scores.topk(k, dim=-1)


def recall_at_k(query_labels: Sequence[int], neighbour_labels: Sequence[Sequence[int]], k: int) -> float:
    """Share of queries with at least one of their first ``k`` neighbours in the same class."""
    if len(query_labels) != len(neighbour_labels):
        raise BmcourseError(f"{len(query_labels)} queries but {len(neighbour_labels)} neighbour lists",
                            fix="pass one neighbour list per query")
    hits = sum(label in list(row)[:k] for label, row in zip(query_labels, neighbour_labels))
    return hits / len(query_labels)


def knn_vote(neighbour_labels: Sequence[Sequence[int]], neighbour_scores: Sequence[Sequence[float]],
             k: int) -> list[int]:
    """The class of each query by a similarity-weighted vote of its ``k`` nearest neighbours
    (ties: the class of the nearer neighbour)."""
    out = []
    for labels, scores in zip(neighbour_labels, neighbour_scores):
        votes: dict[int, float] = {}
        for rank, (label, score) in enumerate(zip(list(labels)[:k], list(scores)[:k])):
            votes[int(label)] = votes.get(int(label), 0.0) + float(score) - 1e-9 * rank
        out.append(max(votes, key=votes.get))
    return out


def per_class_sample(labels: Sequence[int], n: int, seed: int = 0) -> list[int]:
    """Row ids of ``n`` examples per class (all of a class that has fewer), seeded, in row order."""
    rng = random.Random(seed)
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(int(label), []).append(i)
    picked = []
    for label in sorted(by_class):
        rows = by_class[label]
        picked += rows if len(rows) <= n else rng.sample(rows, n)
    return sorted(picked)



# ============================================================================================
# PII redaction with the NER tagger (section 4; `bmcourse redact`)
# ============================================================================================

_TAGGER_FIX = ("save one with `bmcourse bench ner --save-model DIR` and pass that DIR, or omit --model "
               "to use the course's CoNLL-2003 tagger")


class Entity(NamedTuple):
    """An entity in a text: its type and character range ``[start, end)``; ``text`` is that slice."""

    type: str
    start: int
    end: int
    text: str


@dataclass
class Redaction:
    """A redacted text and the entities taken out of it (offsets into the original text)."""

    text: str
    entities: list[Entity] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """``{"text", "entities": [{"type", "start", "end", "text"}]}``: one line of ``bmcourse redact --json``."""
        return {"text": self.text, "entities": [entity._asdict() for entity in self.entities]}


def words_with_offsets(text: str) -> list[tuple[str, int, int]]:
    """The words of ``tagging.split_words`` with their character ranges, so word tags become text spans."""
    return split_words_with_offsets(text)


@dataclass
class Tagger:
    """A token-classification model and its tokenizer that tag word lists with IOB2 tags."""

    model: Any
    tokenizer: Any
    progress: bool = False               # a progress bar (stderr) while predicting
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        """The model's label names in id order."""
        id2label = {int(k): v for k, v in self.model.config.id2label.items()}
        return [id2label[i] for i in sorted(id2label)]

    @property
    def types(self) -> list[str]:
        """The entity types the tagger knows, e.g. ``['PER', 'ORG', 'LOC', 'MISC']``."""
        return types_of(self.labels)

    def _max_length(self) -> int:
        """Sub-words per chunk: the model's position limit (RoBERTa-style models reserve two)."""
        config = self.model.config
        positions = int(getattr(config, "max_position_embeddings", 512) or 512)
        return min(512, positions - (2 if "roberta" in str(getattr(config, "model_type", "")) else 0))

    def tag(self, sentences: list[list[str]], batch_size: int = 32) -> list[list[str]]:
        """Word-level IOB2 tags (Viterbi-decoded); long sentences are tagged in chunks, no word is lost."""
        from .hub import quiet_transformers
        from .train import encode_ner, predict

        quiet_transformers()  # not the tokenizer's "longer than the maximum" warning: long sentences are chunked
        todo = [i for i, words in enumerate(sentences) if len(words)]
        tags: list[list[str]] = [[] for _ in sentences]
        if not todo:
            return tags
        features = encode_ner([list(sentences[i]) for i in todo], self.tokenizer, training=False,
                              max_length=self._max_length(), quiet=True)
        predicted = predict(self.model, features, batch_size=batch_size, progress=self.progress,
                            decode="viterbi")
        for i, sentence_tags in zip(todo, predicted):
            tags[i] = list(sentence_tags)
        return tags


def _saved_labels(folder: Path) -> list[str]:
    """The IOB2 label names recorded in a saved model's ``config.json``."""
    import json

    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        labels = [config["id2label"][k] for k in sorted(config["id2label"], key=int)]
        if not types_of(labels):
            raise ValueError("no entity type")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise BmcourseError(f"config.json does not describe an IOB2 NER tagger ({error})", file=folder,
                            fix=_TAGGER_FIX) from None
    return labels


def load_tagger(folder: str | Path | None = None, *, progress: bool = True) -> Tagger:
    """A saved NER tagger from ``folder`` (safetensors, local files only), or without a folder the
    course's CoNLL-2003 tagger (``transfer.source_tagger``: from the cache, or trained first)."""
    if folder is None:
        from .transfer import source_tagger

        model, tokenizer, info = source_tagger(progress=progress)
        return Tagger(model, tokenizer, info=info)
    from .models import load_token_classifier

    path = Path(folder).expanduser()
    if not path.is_dir():
        raise BmcourseError("no such model folder", file=path, fix=_TAGGER_FIX)
    missing = [name for name in ("config.json", "model.safetensors") if not (path / name).is_file()]
    if missing:
        raise BmcourseError(f"not a saved tagger: no {' and no '.join(missing)}", file=path, fix=_TAGGER_FIX)
    try:
        model, tokenizer = load_token_classifier(_saved_labels(path), name=str(path))
    except OSError as error:  # e.g. the tokenizer files are missing
        raise BmcourseError(f"the tagger does not load: {error}", file=path, fix=_TAGGER_FIX) from None
    return Tagger(model, tokenizer, info={"folder": str(path)})


def _wanted_types(types: Sequence[str] | str | None, tagger: Tagger) -> set[str] | None:
    """The entity types to redact (None: all); unknown names are an error that lists the known ones."""
    if types is None:
        return None
    if isinstance(types, str):
        types = [t.strip() for t in types.split(",") if t.strip()]
    known = tagger.types
    unknown = [t for t in types if t not in known]
    if unknown:
        raise BmcourseError(f"unknown entity type(s) {', '.join(unknown)}; this tagger knows {', '.join(known)}",
                            fix=f"choose types from {', '.join(known)}")
    return set(types)


def _check_placeholder(placeholder: str) -> None:
    try:
        placeholder.format(type="PER")
    except (KeyError, IndexError, ValueError) as error:
        raise BmcourseError(f"placeholder {placeholder!r} is not a format string with only {{type}} ({error})",
                            fix="use e.g. '[{type}]' or '<redacted>'") from None


def _redaction(text: str, words: Sequence[tuple[str, int, int]], tags: Sequence[str],
               wanted: set[str] | None, placeholder: str) -> Redaction:
    """Replace each wanted entity's character span (first word's start to last word's end)."""
    entities = []
    for span in spans(repair_for_display(tags)):
        if wanted is None or span.type in wanted:
            start, end = words[span.start][1], words[span.end - 1][2]
            entities.append(Entity(span.type, start, end, text[start:end]))
    pieces, at = [], 0
    for entity in entities:
        pieces += [text[at:entity.start], placeholder.format(type=entity.type)]
        at = entity.end
    pieces.append(text[at:])
    return Redaction("".join(pieces), entities)


def redact_many(texts: Sequence[str], tagger: Tagger, *, types: Sequence[str] | None = None,
                placeholder: str = "[{type}]", batch_size: int = 32) -> list[Redaction]:
    """``redact`` for many texts, tagged in batches: one ``Redaction`` per text, in order."""
    wanted = _wanted_types(types, tagger)
    _check_placeholder(placeholder)
    words = [words_with_offsets(text) for text in texts]
    todo = [i for i, found in enumerate(words) if found]  # empty / whitespace-only texts skip the model
    tags = tagger.tag([[w for w, _, _ in words[i]] for i in todo], batch_size=batch_size) if todo else []
    if len(tags) != len(todo) or any(len(t) != len(words[i]) for i, t in zip(todo, tags)):
        raise BmcourseError("the tagger did not return one tag per word", fix="check Tagger.tag")
    results = [Redaction(text, []) for text in texts]
    for i, sentence_tags in zip(todo, tags):
        results[i] = _redaction(texts[i], words[i], sentence_tags, wanted, placeholder)
    return results


def redact(text: str, tagger: Tagger, *, types: Sequence[str] | None = None,
           placeholder: str = "[{type}]") -> Redaction:
    """Replace the entities the tagger finds (of ``types``; None = all) by ``placeholder``; everything
    else, whitespace and newlines included, stays as it was. Entity offsets index ``text``."""
    return redact_many([text], tagger, types=types, placeholder=placeholder)[0]


# --- scoring redaction against annotated sentences -----------------------------------------

def gold_entities(tokens: Sequence[str], tags: Sequence[str]) -> tuple[str, list[Entity]]:
    """An annotated sentence as text (tokens joined by single spaces) and its gold entities with
    character offsets in that text, to score ``redact`` on it at span level."""
    text = " ".join(tokens)
    starts = word_starts(tokens)
    entities = []
    for span in spans(tags):
        start, end = starts[span.start], starts[span.end - 1] + len(tokens[span.end - 1])
        entities.append(Entity(span.type, start, end, text[start:end]))
    return text, entities


def _key(entity: Entity) -> tuple[str, int, int]:
    return entity.type, entity.start, entity.end


def _score_row(kind: str, matched: int, support: int, predicted: int) -> dict[str, Any]:
    precision, recall, f1 = precision_recall_f1(matched, predicted, support)
    return {"type": kind, "precision": precision, "recall": recall, "f1": f1, "support": support,
            "predicted": predicted}


def span_report(gold: Sequence[Sequence[Entity]], pred: Sequence[Sequence[Entity]]) -> list[dict[str, Any]]:
    """Exact-match (type, start, end) precision, recall and F1 per type, then an ``overall`` (micro) row."""
    if len(gold) != len(pred):
        raise BmcourseError(f"{len(gold)} gold texts but {len(pred)} predicted ones",
                            fix="pass one entity list per text to both")

    matched: Counter = Counter()
    support: Counter = Counter()
    predicted: Counter = Counter()
    for gold_entities_, pred_entities in zip(gold, pred):
        g, p = Counter(map(_key, gold_entities_)), Counter(map(_key, pred_entities))
        for counts, found in ((matched, g & p), (support, g), (predicted, p)):
            for key, n in found.items():
                counts[key[0]] += n
    rows = [_score_row(kind, matched[kind], support[kind], predicted[kind])
            for kind in sorted(set(support) | set(predicted))]
    rows.append(_score_row("overall", sum(matched.values()), sum(support.values()), sum(predicted.values())))
    return rows


def missed_and_spurious(texts: Sequence[str], gold: Sequence[Sequence[Entity]],
                        pred: Sequence[Sequence[Entity]], limit: int = 5) -> list[dict[str, Any]]:
    """The first ``limit`` texts where redaction went wrong: the entities it missed and the spurious
    ones, each shown as ``'text (TYPE)'``."""
    cases = []
    for text, g, p in zip(texts, gold, pred):
        gold_keys, pred_keys = set(map(_key, g)), set(map(_key, p))
        missed = [f"{e.text} ({e.type})" for e in g if _key(e) not in pred_keys]
        spurious = [f"{e.text} ({e.type})" for e in p if _key(e) not in gold_keys]
        if missed or spurious:
            cases.append({"text": text, "missed": missed, "spurious": spurious})
            if len(cases) >= limit:
                break
    return cases
