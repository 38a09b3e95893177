"""The source side of domain transfer (notebook 03): the CoNLL-2003 news tagger every transfer
experiment starts from (trained once with the tuned recipe, cached as safetensors), the explicit
mapping of a target's entity types onto the source's, and zero-shot scores on the mapped types.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ..i18n import tr as _
from ..tagging import split_tag, types_of

if TYPE_CHECKING:
    from ..train import TrainConfig

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



@dataclass(frozen=True)
class SourceRecipe:
    """How the CoNLL-2003 source tagger is trained: the tuned recipe of ``bmcourse bench ner``."""

    epochs: float = 1.0
    lr: float = 2e-4
    batch_size: int = 16
    warmup: float = 0.1
    dropout: float | None = 0.0  # None: the model's own dropout
    seed: int = 0


    def config(self, **settings: Any) -> TrainConfig:
        """This recipe as ``fit``'s settings; ``settings`` adds the rest (device, decode, progress, ...)."""
        from ..train import TrainConfig

        return TrainConfig(epochs=self.epochs, lr=self.lr, batch_size=self.batch_size, warmup=self.warmup,
                           seed=self.seed, **settings)

    def dropout_overrides(self) -> dict[str, float]:
        """The model-config overrides that set this recipe's dropout (empty for the model's own)."""
        if self.dropout is None:
            return {}
        return {"hidden_dropout_prob": self.dropout, "attention_probs_dropout_prob": self.dropout}


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
    from ..config import cache_dir, seed_everything
    from ..data import load_ner, source_label
    from ..models import load_token_classifier, model_info, save_model
    from ..train import encode_ner, fit

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
    print(_("bmcourse: training the CoNLL-2003 source tagger ({sentences} sentences, "
            "{epochs:g} epoch(s)); it is cached for next time in {folder}").format(
                sentences=data["train"].num_rows, epochs=recipe.epochs, folder=folder), file=sys.stderr)
    seed_everything(recipe.seed)
    model, tokenizer = load_token_classifier(labels, name=name, **recipe.dropout_overrides())
    train = encode_ner(data["train"], tokenizer, quiet=True)
    fit(model, train, None, recipe.config(progress=progress, device=device))
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    save_model(model.cpu(), tokenizer, partial)
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)  # a cache folder is complete or absent, never half-written
    return model, tokenizer, {**info, "cached": False}



@dataclass
class Mapping:
    """Which target types the source tagger is scored on (``mapped``) and which it cannot know."""

    mapped: dict[str, str]
    unmapped: list[str]

    def describe(self) -> str:
        """One line per mapped type, then the unmapped ones."""
        lines = [f"  {t:>20} -> {s}" for t, s in self.mapped.items()]
        lines.append("  " + _("not mapped (no source type; scored as O): {types}").format(
            types=", ".join(self.unmapped) or _("none")))
        return "\n".join(lines)


def label_mapping(target_labels: Sequence[str], source_labels: Sequence[str],
                  table: dict[str, str] | None = None) -> Mapping:
    """Map the target's entity types onto the source's with ``table`` (default :data:`DEFAULT_MAPPING`);
    types the table does not know, or maps to a type the source lacks, are listed as unmapped."""
    table = DEFAULT_MAPPING if table is None else table
    source_types = set(types_of(source_labels))
    mapped, unmapped = {}, []
    for kind in types_of(target_labels):
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


def mapped_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], mapping: dict[str, str]
                  ) -> dict[str, float]:
    """Entity scores of a tagger trained on the target's own types, on the mapped types only: gold and
    predicted tags are both rewritten into source types (:func:`map_tags`; unmapped entities become
    ``O``), so an adapted tagger is scored on the same coarse task as :func:`zero_shot`."""
    from .. import metrics

    return metrics.entity_scores([map_tags(tags, mapping) for tags in gold],
                                 [map_tags(tags, mapping) for tags in pred])


def zero_shot(model: Any, tokenizer: Any, split: Any, mapping: Mapping, *, device: str | None = None,
              progress: bool = False) -> dict[str, Any]:
    """Score the source tagger on a target split, on the mapped types only (gold mapped into source
    types; predictions of a source type no target type maps to are dropped)."""
    from .. import metrics
    from ..train import encode_ner, predict

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

