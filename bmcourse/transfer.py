"""Domain transfer (notebook 03 and ``bmcourse bench transfer``): the cached CoNLL-2003 source
tagger, an explicit label mapping for zero-shot evaluation, the adaptation strategies
(``linear_probe``, ``partial``, ``full``, ``bitfit``, ``lora``), few-shot samples that cover every
type, mention-replacement augmentation, and forgetting measured on the source task.
"""
from __future__ import annotations

import hashlib
import json
import random
import shutil
import sys
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from .errors import BmcourseError
from .tagging import split_tag

STRATEGIES = ("linear_probe", "partial", "full", "bitfit", "lora")
INITS = ("pretrained", "source")

#: Target entity type -> CoNLL-2003 type, for zero-shot evaluation of the source tagger. Types
#: not listed have no CoNLL-2003 counterpart (e.g. Disease, protein): they are reported, and
#: scored as outside any entity.
DEFAULT_MAPPING: dict[str, str] = {
    "person": "PER", "politician": "PER", "scientist": "PER",
    "location": "LOC", "country": "LOC",
    "organisation": "ORG", "corporation": "ORG", "politicalparty": "ORG", "university": "ORG",
    "group": "ORG",
    "misc": "MISC", "event": "MISC", "election": "MISC", "award": "MISC", "product": "MISC",
    "creative-work": "MISC",
}


# --- the source model ------------------------------------------------------------------------

@dataclass(frozen=True)
class SourceRecipe:
    """How the CoNLL-2003 source tagger is trained: the tuned recipe of ``bmcourse bench ner``."""

    epochs: float = 1.0
    lr: float = 2e-4
    batch_size: int = 16
    warmup: float = 0.1
    dropout: float = 0.0
    seed: int = 0


def data_fingerprint(data: Any) -> str:
    """A short hash of every split's tokens and tags (what the source model was trained on)."""
    digest = hashlib.sha256()
    for split in sorted(data):
        digest.update(split.encode())
        for tokens, tags in zip(data[split]["tokens"], data[split]["ner_tags"]):
            digest.update(json.dumps([tokens, tags]).encode())
    return digest.hexdigest()[:16]


def source_cache_key(model: dict[str, Any], fingerprint: str, recipe: SourceRecipe) -> str:
    """The cache key of a source model: the encoder, the data and the recipe."""
    payload = json.dumps({"model": model, "data": fingerprint, "recipe": asdict(recipe)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def source_tagger(recipe: SourceRecipe | None = None, *, name: str = "auto", progress: bool = True,
                  device: str | None = None) -> tuple[Any, Any, dict[str, Any]]:
    """The CoNLL-2003 (news) tagger every transfer experiment starts from: loaded from the cache
    (safetensors) when this model, data and recipe were trained before, else trained and cached.

    Returns ``(model, tokenizer, info)``; ``info`` has the cache folder and whether it was cached."""
    from .config import cache_dir, seed_everything
    from .data import load_ner, source_label
    from .models import load_token_classifier, model_info, save_model
    from .train import TrainConfig, encode_ner, fit

    recipe = recipe or SourceRecipe()
    data = load_ner("conll2003")
    labels = data["train"].features["ner_tags"].feature.names
    key = source_cache_key(model_info(name), data_fingerprint(data), recipe)
    folder = cache_dir() / "source_models" / f"conll2003-{key}"
    info = {"folder": str(folder), "key": key, "data_source": source_label("conll2003", kind="ner"),
            "recipe": asdict(recipe), "train_sentences": data["train"].num_rows}
    if (folder / "model.safetensors").is_file():
        model, tokenizer = load_token_classifier(labels, name=str(folder))
        return model, tokenizer, {**info, "cached": True}
    print(f"bmcourse: training the CoNLL-2003 source tagger ({data['train'].num_rows} sentences, "
          f"{recipe.epochs:g} epoch(s)); it is cached for next time in {folder}", file=sys.stderr)
    seed_everything(recipe.seed)
    model, tokenizer = load_token_classifier(labels, name=name, hidden_dropout_prob=recipe.dropout,
                                             attention_probs_dropout_prob=recipe.dropout)
    train = encode_ner(data["train"], tokenizer, quiet=True)
    fit(model, train, None, TrainConfig(epochs=recipe.epochs, lr=recipe.lr, batch_size=recipe.batch_size,
                                        warmup=recipe.warmup, seed=recipe.seed, progress=progress,
                                        device=device))
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    save_model(model.cpu(), tokenizer, partial)
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)  # a cache folder is complete or absent, never half-written
    return model, tokenizer, {**info, "cached": False}


# --- label mapping and zero-shot evaluation ---------------------------------------------------

def entity_types(labels: Sequence[str]) -> list[str]:
    """The entity types of a label list, in order of first appearance."""
    seen: list[str] = []
    for label in labels:
        kind = split_tag(label)[1]
        if kind and kind not in seen:
            seen.append(kind)
    return seen


@dataclass
class Mapping:
    """Which target types the source tagger is scored on (``mapped``) and which it cannot know."""

    mapped: dict[str, str]
    unmapped: list[str]

    def describe(self) -> str:
        """One line per mapped type, then the unmapped ones."""
        lines = [f"  {t:>20} -> {s}" for t, s in self.mapped.items()]
        lines.append(f"  not mapped (no source type; scored as O): {', '.join(self.unmapped) or 'none'}")
        return "\n".join(lines)


def label_mapping(target_labels: Sequence[str], source_labels: Sequence[str],
                  table: dict[str, str] | None = None) -> Mapping:
    """Map the target's entity types onto the source's with ``table`` (default :data:`DEFAULT_MAPPING`);
    types the table does not know, or maps to a type the source lacks, are listed as unmapped."""
    table = DEFAULT_MAPPING if table is None else table
    source_types = set(entity_types(source_labels))
    mapped, unmapped = {}, []
    for kind in entity_types(target_labels):
        target = table.get(kind, kind if kind in source_types else None)
        if target in source_types:
            mapped[kind] = target
        else:
            unmapped.append(kind)
    return Mapping(mapped, unmapped)


def map_tags(tags: Sequence[str], mapping: dict[str, str]) -> list[str]:
    """Rewrite target tags into source types; unmapped entities become ``O`` (kept valid IOB2)."""
    out = []
    for tag in tags:
        prefix, kind = split_tag(tag)
        out.append(f"{prefix}-{mapping[kind]}" if kind in mapping else "O")
    return out


def zero_shot(model: Any, tokenizer: Any, split: Any, mapping: Mapping, *, device: str | None = None,
              progress: bool = False) -> dict[str, Any]:
    """Score the source tagger on a target split, on the mapped types only (gold mapped into source
    types; predictions of a source type no target type maps to are dropped)."""
    from . import metrics
    from .train import encode_ner, predict

    names = split.features["ner_tags"].feature.names
    features = encode_ner(list(split["tokens"]), tokenizer, training=False)  # words only: the target's
    predicted = predict(model, features, device=device, progress=progress)  # label ids mean nothing here
    kept = set(mapping.mapped.values())
    gold = [map_tags([names[t] for t in tags], mapping.mapped) for tags in split["ner_tags"]]
    pred = [[t if split_tag(t)[1] in kept else "O" for t in tags] for tags in predicted]
    counts = Counter(split_tag(names[t])[1] for tags in split["ner_tags"] for t in tags
                     if names[t].startswith("B-"))
    # no shared type: nothing to score (None, which JSON can hold; NaN it cannot)
    scores = metrics.entity_scores(gold, pred) if kept else {"f1": None, "precision": None, "recall": None}
    return {"test_f1": scores["f1"], "precision": scores["precision"], "recall": scores["recall"],
            "mapping": mapping.mapped, "unmapped": {k: counts[k] for k in mapping.unmapped},
            "mapped_entities": sum(counts[k] for k in mapping.mapped)}


# --- strategies -------------------------------------------------------------------------------

#: Learning rate per strategy, chosen on validation data by ``bmcourse bench transfer-lr`` (the
#: best mean dev F1 over its targets in ``LR_GRID``; result shipped as ``reference/transfer_lr.json``
#: and checked by a test). Frozen or nearly frozen models need far larger steps than ``full``.
STRATEGY_LR = {"linear_probe": 0.092, "partial": 0.0015, "full": 0.0005, "bitfit": 0.005, "lora": 0.005}
#: The candidates ``bench transfer-lr`` tries per strategy (about x2.5 apart around common practice).
LR_GRID = {"linear_probe": (2e-3, 5e-3, 1.5e-2), "partial": (2e-4, 5e-4, 1.5e-3), "full": (1e-4, 2e-4, 5e-4),
           "bitfit": (2e-3, 5e-3, 1.5e-2), "lora": (8e-4, 2e-3, 5e-3)}
PARTIAL_LAYERS = 2
LORA_RANK = 8


def _encoder_layers(model: Any) -> list[Any]:
    base = getattr(model, model.base_model_prefix)
    return list(base.encoder.layer)


def _head_names(model: Any) -> list[str]:
    return [n for n, _ in model.named_parameters() if n.startswith("classifier")]


def bitfit_parameters(model: Any) -> list[str]:
    """Names of the parameters BitFit trains: every bias, and the task head."""
    return [n for n, _ in model.named_parameters() if n.endswith(".bias") or n.startswith("classifier")]


def apply_strategy(model: Any, strategy: str, *, layers: int = PARTIAL_LAYERS, rank: int = LORA_RANK) -> Any:
    """Make only ``strategy``'s parameters trainable (``lora`` wraps the model with ``peft``);
    returns the model to train."""
    if strategy not in STRATEGIES:
        raise BmcourseError(f"unknown strategy {strategy!r}", fix=f"use one of {', '.join(STRATEGIES)}")
    if strategy == "lora":
        return _lora(model, rank)
    if strategy == "full":
        trainable = {n for n, _ in model.named_parameters()}
    elif strategy == "linear_probe":
        trainable = set(_head_names(model))
    elif strategy == "bitfit":
        trainable = set(bitfit_parameters(model))
    else:  # partial: the top `layers` transformer blocks and the head
        top = _encoder_layers(model)[-layers:]
        ids = {id(p) for block in top for p in block.parameters()}
        trainable = {n for n, p in model.named_parameters() if id(p) in ids} | set(_head_names(model))
    for name, p in model.named_parameters():
        p.requires_grad_(name in trainable)
    return model


def _lora(model: Any, rank: int) -> Any:
    try:
        from peft import LoraConfig, TaskType, get_peft_model
    except ImportError as err:  # pragma: no cover - peft is a declared dependency
        raise BmcourseError("LoRA needs the peft package", fix="pip install peft") from err
    config = LoraConfig(task_type=TaskType.TOKEN_CLS, r=rank, lora_alpha=2 * rank, lora_dropout=0.0,
                        target_modules=["query", "value"])
    return get_peft_model(model, config)


def trainable_share(model: Any) -> tuple[int, int, float]:
    """``(trainable, total, percent)`` parameters; LoRA's total counts the frozen base model too."""
    from .models import count_parameters

    trainable, total = count_parameters(model)
    return trainable, total, 100.0 * trainable / total


# --- data for adaptation ----------------------------------------------------------------------

def _types_in(tags: Sequence[int], names: Sequence[str]) -> set[str]:
    return {split_tag(names[t])[1] for t in tags if names[t].startswith("B-")}


def few_shot_indices(split: Any, n: int, seed: int) -> list[int]:
    """``n`` sentence indices sampled with ``seed`` so that every entity type of the split appears
    (when ``n`` allows); ``n`` at or above the split's size means all of it."""
    total = split.num_rows
    if n >= total:
        return list(range(total))
    names = split.features["ner_tags"].feature.names
    order = list(range(total))
    random.Random(seed).shuffle(order)
    types = [_types_in(tags, names) for tags in split["ner_tags"]]
    chosen: list[int] = []
    missing = set().union(*types)
    # Walk the seeded shuffle and keep each sentence that has a type not covered yet, until every type
    # is covered (or n are kept); then fill up to n with the rest of the shuffle, in its order.
    for i in order:
        if not missing or len(chosen) == n:
            break
        if types[i] & missing:
            chosen.append(i)
            missing -= types[i]
    rest = [i for i in order if i not in set(chosen)]
    return sorted(chosen + rest[:n - len(chosen)])


def fixed_sample(split: Any, n: int | None, seed: int = 0) -> Any:
    """The same ``n`` sentences of ``split`` for every run (all of it when ``n`` is None or larger):
    scores many small runs on one cheaper, shared evaluation set."""
    if n is None or n >= split.num_rows:
        return split
    return split.select(sorted(random.Random(seed).sample(range(split.num_rows), n)))


def few_shot(split: Any, n: int, seed: int, *, quiet: bool = False) -> Any:
    """The few-shot subset of :func:`few_shot_indices`; says so when ``n`` exceeds the split."""
    if n > split.num_rows and not quiet:
        print(f"bmcourse: asked for {n} sentences, the training split has {split.num_rows}: using all of them")
    return split.select(few_shot_indices(split, n, seed))


def mentions_by_type(split: Any) -> dict[str, list[list[str]]]:
    """Every entity mention of the split (its words), grouped by type."""
    names = split.features["ner_tags"].feature.names
    found: dict[str, list[list[str]]] = defaultdict(list)
    for tokens, tags in zip(split["tokens"], split["ner_tags"]):
        start, kind = None, None
        for i, t in enumerate([*tags, 0]):
            prefix, k = split_tag(names[t]) if i < len(tags) else ("O", None)
            if start is not None and prefix != "I":
                found[kind].append(list(tokens[start:i]))
                start = None
            if prefix == "B":
                start, kind = i, k
    return dict(found)


def replace_mentions(tokens: Sequence[str], tags: Sequence[str], pool: dict[str, list[list[str]]],
                     rng: random.Random) -> tuple[list[str], list[str]]:
    """One augmented copy of a sentence: each mention swapped for a random mention of its type
    from ``pool`` (tags follow the new mention's length, so the copy stays valid IOB2)."""
    out_tokens: list[str] = []
    out_tags: list[str] = []
    i = 0
    while i < len(tags):
        prefix, kind = split_tag(tags[i])
        if prefix != "B":
            out_tokens.append(tokens[i])
            out_tags.append(tags[i])
            i += 1
            continue
        end = i + 1
        while end < len(tags) and tags[end] == f"I-{kind}":
            end += 1
        choices = pool.get(kind) or [list(tokens[i:end])]
        new = rng.choice(choices)
        out_tokens += new
        out_tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(new) - 1)
        i = end
    return out_tokens, out_tags


def augment_with_mentions(split: Any, copies: int = 1, seed: int = 0) -> Any:
    """The split plus ``copies`` mention-replaced copies of each sentence that has an entity."""
    from datasets import Dataset

    names = split.features["ner_tags"].feature.names
    index = {n: i for i, n in enumerate(names)}
    pool = mentions_by_type(split)
    rng = random.Random(seed)
    rows = {"tokens": list(split["tokens"]), "ner_tags": list(split["ner_tags"])}
    for _ in range(copies):
        for tokens, tags in zip(split["tokens"], split["ner_tags"]):
            words = [names[t] for t in tags]
            if all(w == "O" for w in words):
                continue
            new_tokens, new_tags = replace_mentions(tokens, words, pool, rng)
            rows["tokens"].append(new_tokens)
            rows["ner_tags"].append([index[t] for t in new_tags])
    features = split.features.copy()
    return Dataset.from_dict({k: rows[k] for k in ("tokens", "ner_tags")},
                             features=type(features)({k: features[k] for k in ("tokens", "ner_tags")}))


# --- measuring --------------------------------------------------------------------------------

@contextmanager
def peak_memory() -> Iterator[dict[str, float]]:
    """Measure the peak extra memory of the block: CUDA's allocator peak on a GPU, else the
    process's resident-set growth sampled every 20 ms (``result["peak_memory_mb"]``)."""
    import torch

    result: dict[str, float] = {}
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
        yield result
        result["peak_memory_mb"] = (torch.cuda.max_memory_allocated() - start) / 2**20
        return
    import psutil

    process = psutil.Process()
    start = process.memory_info().rss
    peak = [start]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], process.memory_info().rss)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        done.set()
        thread.join()
        peak[0] = max(peak[0], process.memory_info().rss)
        result["peak_memory_mb"] = (peak[0] - start) / 2**20


@dataclass
class AdaptResult:
    """One adaptation run: what was trained, how well, how fast, with how much memory.

    Entity F1 is in ``test_f1`` for a run scored on the test split and in ``dev_f1`` for one scored
    on validation (choosing settings); the other is None, so a dev F1 is never read as a test F1.
    Either may come from a fixed sample of its split (``adapt``'s ``scored_split``).
    """

    target: str
    strategy: str
    init: str
    trainable_params: int
    trainable_pct: float
    test_f1: float | None
    train_seconds: float
    peak_memory_mb: float
    lr: float
    epochs: float
    train_sentences: int
    dev_f1: float | None = None


def target_model(labels: Sequence[str], init: str, *, source_folder: str | None = None,
                 name: str = "auto") -> tuple[Any, Any]:
    """A token classifier for the target's labels: from the raw pre-trained encoder
    (``init="pretrained"``) or from the source tagger's encoder with a new head (``init="source"``)."""
    from .models import load_token_classifier

    if init == "pretrained":  # a checkpoint that already has a head of another size gets a fresh one
        return load_token_classifier(labels, name=name, ignore_mismatched_sizes=True)
    if init == "source":
        if not source_folder:
            raise BmcourseError("init='source' needs the source tagger's folder",
                                fix="pass source_folder=source_tagger()[2]['folder']")
        return load_token_classifier(labels, name=source_folder, ignore_mismatched_sizes=True)
    raise BmcourseError(f"unknown init {init!r}", fix=f"use one of {', '.join(INITS)}")


def adapt(target: str, data: Any, strategy: str, init: str, *, source_folder: str | None = None,
          train_split: Any = None, epochs: float = 3.0, lr: float | None = None, batch_size: int = 16,
          seed: int = 0, name: str = "auto", device: str | None = None, progress: bool = False,
          evaluate_on: str = "test", scored_split: Any = None) -> tuple[AdaptResult, Any, Any]:
    """Adapt to ``target`` with one strategy from one starting point; score entity F1 on
    ``evaluate_on`` (``"validation"`` when choosing settings), or on ``scored_split`` (a fixed
    sample of that split) when given. Returns the result (its ``test_f1`` or ``dev_f1``, by the
    split scored), model, tokenizer."""
    from .config import seed_everything
    from .train import TrainConfig, encode_ner, evaluate, fit

    if evaluate_on not in ("test", "validation"):
        raise BmcourseError(f"evaluate_on={evaluate_on!r} is not a split adapt scores",
                            fix="use 'test', or 'validation' when choosing settings")
    labels = data["train"].features["ner_tags"].feature.names
    split = data["train"] if train_split is None else train_split
    lr = STRATEGY_LR[strategy] if lr is None else lr
    seed_everything(seed)
    model, tokenizer = target_model(labels, init, source_folder=source_folder, name=name)
    model = apply_strategy(model, strategy)
    trainable, _, pct = trainable_share(model)
    train = encode_ner(split, tokenizer, quiet=True)
    scored = encode_ner(data[evaluate_on] if scored_split is None else scored_split, tokenizer, training=False)
    config = TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, progress=progress,
                         device=device)
    with peak_memory() as memory:
        result = fit(model, train, None, config)
    scores = evaluate(model, scored, device=device, progress=False)
    on_test = evaluate_on == "test"
    return (AdaptResult(target, strategy, init, trainable, round(pct, 4),
                        test_f1=scores["f1"] if on_test else None, dev_f1=None if on_test else scores["f1"],
                        train_seconds=result.train_seconds, peak_memory_mb=memory["peak_memory_mb"], lr=lr,
                        epochs=epochs, train_sentences=split.num_rows), model, tokenizer)


def joint_labels(source_labels: Sequence[str], target_labels: Sequence[str]) -> list[str]:
    """``O``, the source's B-/I- labels, then the target's labels not already there: one head that
    can be trained on target sentences and replayed source sentences together."""
    out = ["O"] + [label for label in source_labels if label != "O"]
    out += [label for label in target_labels if label not in out]
    return out


def _relabelled(split: Any, names: Sequence[str], rows: Sequence[int] | None = None) -> Any:
    """``split`` (or some ``rows`` of it) with its tags re-indexed into the label list ``names``."""
    from datasets import ClassLabel, Dataset, Features, Value
    from datasets import Sequence as Seq

    own = split.features["ner_tags"].feature.names
    index = {n: i for i, n in enumerate(names)}
    chosen = split if rows is None else split.select(rows)
    tags = [[index[own[t]] for t in sentence] for sentence in chosen["ner_tags"]]
    features = Features({"tokens": Seq(Value("string")), "ner_tags": Seq(ClassLabel(names=list(names)))})
    return Dataset.from_dict({"tokens": list(chosen["tokens"]), "ner_tags": tags}, features=features)


def _with_head(model: Any, labels: Sequence[str], rows: Sequence[int | None]) -> Any:
    """A copy of ``model`` whose head predicts ``labels``: output ``i`` copies the old head's row
    ``rows[i]``, or starts fresh where that is None."""
    import copy

    import torch

    out = copy.deepcopy(model)
    old = out.classifier
    new = torch.nn.Linear(old.in_features, len(labels))
    with torch.no_grad():
        for i, row in enumerate(rows):
            if row is not None:
                new.weight[i] = old.weight[row]
                new.bias[i] = old.bias[row]
    out.classifier = new
    out.num_labels = out.config.num_labels = len(labels)
    out.config.id2label = dict(enumerate(labels))
    out.config.label2id = {label: i for i, label in enumerate(labels)}
    return out


def joint_tagger(source: Any, labels: Sequence[str]) -> Any:
    """A copy of the source tagger whose head covers ``labels`` (the joint set): the source's
    rows are kept, the target's new rows start fresh."""
    known = source.config.label2id
    return _with_head(source, labels, [known.get(label) for label in labels])


def source_view(joint: Any, source_labels: Sequence[str]) -> Any:
    """The joint tagger restricted to the source's labels: scores it on the source task."""
    return _with_head(joint, source_labels, [joint.config.label2id[label] for label in source_labels])


def forgetting(source: Any, tokenizer: Any, source_data: Any, target_data: Any, *, replay: float = 0.0,
               epochs: float = 3.0, lr: float = STRATEGY_LR["full"], batch_size: int = 16, seed: int = 0,
               device: str | None = None, progress: bool = False) -> dict[str, float]:
    """Fully fine-tune the source tagger on the target (one joint head over both label sets), with
    ``replay`` times as many source sentences as target sentences mixed in; return the target's
    test F1, the source's test F1 after adaptation, and the training seconds."""
    from .config import seed_everything
    from .train import TrainConfig, encode_ner, evaluate, fit

    source_labels = source_data["train"].features["ner_tags"].feature.names
    labels = joint_labels(source_labels, target_data["train"].features["ner_tags"].feature.names)
    seed_everything(seed)
    model = joint_tagger(source, labels)
    train = encode_ner(_relabelled(target_data["train"], labels), tokenizer, quiet=True)
    n_replay = min(int(round(replay * target_data["train"].num_rows)), source_data["train"].num_rows)
    if n_replay:
        rows = sorted(random.Random(seed).sample(range(source_data["train"].num_rows), n_replay))
        train += encode_ner(_relabelled(source_data["train"], labels, rows), tokenizer, quiet=True)
    result = fit(model, train, None, TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                                                 progress=progress, device=device))
    target_test = encode_ner(_relabelled(target_data["test"], labels), tokenizer, training=False)
    source_test = encode_ner(source_data["test"], tokenizer, training=False)
    return {"target_f1": evaluate(model, target_test, device=device, progress=False)["f1"],
            "source_f1": evaluate(source_view(model, source_labels), source_test, device=device,
                                  progress=False)["f1"],
            "train_seconds": result.train_seconds, "replayed_sentences": n_replay}


# --- summaries of runs (notebook 03 and the bench JSON) -----------------------------------------

def scores_by_size(few: Sequence[dict[str, Any]], target: str, *, augmentation: str = "none"
                   ) -> dict[str, dict[int, list[float]]]:
    """Few-shot F1 per init and size, one entry per seed: ``{init: {n: [f1, ...]}}``."""
    out: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in few:
        if row["target"] == target and row.get("augmentation", "none") == augmentation:
            out[row["init"]][row["n"]].append(row["test_f1"])
    return {init: dict(sorted(sizes.items())) for init, sizes in out.items()}


def paired_differences(few: Sequence[dict[str, Any]], target: str, *, up_to: int = 50,
                       a: tuple[str, str] = ("source", "none"), b: tuple[str, str] = ("pretrained", "none")
                       ) -> list[float]:
    """F1 of setting ``a`` minus setting ``b`` (``(init, augmentation)``), paired by size and seed
    (the same sampled sentences), for sizes up to ``up_to``."""
    index = {(r["init"], r.get("augmentation", "none"), r["n"], r["seed"]): r["test_f1"]
             for r in few if r["target"] == target}
    return [index[(*a, n, seed)] - f1 for (init, aug, n, seed), f1 in sorted(index.items())
            if (init, aug) == b and n <= up_to and (*a, n, seed) in index]


def mean_and_spread(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for fewer than two values)."""
    import statistics

    if not values:
        raise BmcourseError("no values to summarise", fix="check the target and sizes asked for")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def replay_recovery(before: float, after: float, after_replay: float) -> float | None:
    """Share of the forgotten source F1 that replay wins back (None when nothing was forgotten)."""
    lost = before - after
    return None if lost <= 0 else (after_replay - after) / lost
