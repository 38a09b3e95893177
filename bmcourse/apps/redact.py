"""PII redaction with the NER tagger (notebook 04, section 4, and ``bmcourse redact``): load a
tagger, replace the entities it finds in free text by placeholders while every other character
stays, and score a redaction against annotated sentences at span level.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import BmcourseError
from ..i18n import tr as _
from ..metrics import precision_recall_f1
from ..tagging import spans, split_words_with_offsets, types_of, word_starts

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


def _entities(text: str, words: Sequence[tuple[str, int, int]], tags: Sequence[str]) -> list[Entity]:
    """The entities of one sentence's word ``tags`` (``tagging.spans``: a stray ``I-X`` starts one) as
    character ranges of ``text``, from each word's ``(word, start, end)``: first word's start to last word's end."""
    found = []
    for span in spans(tags):
        start, end = words[span.start][1], words[span.end - 1][2]
        found.append(Entity(span.type, start, end, text[start:end]))
    return found


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
        from ..models import label_names

        return label_names(self.model)

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
        from ..hub import quiet_transformers
        from ..train import encode_ner, predict

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
            raise ValueError(_("no entity type"))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise BmcourseError(_("config.json does not describe an IOB2 NER tagger ({error})").format(error=error),
                            file=folder,
                            fix=_(_TAGGER_FIX)) from None
    return labels


def load_tagger(folder: str | Path | None = None, *, progress: bool = True) -> Tagger:
    """A saved NER tagger from ``folder`` (safetensors, local files only), or without a folder the
    course's CoNLL-2003 tagger (``transfer.source_tagger``: from the cache, or trained first)."""
    if folder is None:
        from ..transfer import source_tagger

        model, tokenizer, info = source_tagger(progress=progress)
        return Tagger(model, tokenizer, info=info)
    from ..models import load_token_classifier

    path = Path(folder).expanduser()
    if not path.is_dir():
        raise BmcourseError(_("no such model folder"), file=path, fix=_(_TAGGER_FIX))
    missing = [name for name in ("config.json", "model.safetensors") if not (path / name).is_file()]
    if missing:
        raise BmcourseError(_("not a saved tagger: no {files}").format(files=_(" and no ").join(missing)), file=path,
                            fix=_(_TAGGER_FIX))
    try:
        model, tokenizer = load_token_classifier(_saved_labels(path), name=str(path))
    except OSError as error:  # e.g. the tokenizer files are missing
        raise BmcourseError(_("the tagger does not load: {error}").format(error=error), file=path, fix=_(_TAGGER_FIX)) from None
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
        raise BmcourseError(_("unknown entity type(s) {unknown}; this tagger knows {known}").format(
                            unknown=", ".join(unknown), known=", ".join(known)),
                            fix=_("choose types from {known}").format(known=", ".join(known)))
    return set(types)


def _check_placeholder(placeholder: str) -> None:
    try:
        placeholder.format(type="PER")
    except (KeyError, IndexError, ValueError) as error:
        raise BmcourseError(_("placeholder {placeholder} is not a format string with only {{type}} ({error})").format(
                            placeholder=repr(placeholder), error=error),
                            fix=_("use e.g. '[{type}]' or '<redacted>'")) from None


def _redaction(text: str, words: Sequence[tuple[str, int, int]], tags: Sequence[str],
               wanted: set[str] | None, placeholder: str) -> Redaction:
    """Replace each wanted entity's character span (first word's start to last word's end)."""
    entities = [entity for entity in _entities(text, words, tags) if wanted is None or entity.type in wanted]
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
    words = [split_words_with_offsets(text) for text in texts]
    todo = [i for i, found in enumerate(words) if found]  # empty / whitespace-only texts skip the model
    tags = tagger.tag([[w for w, _, _ in words[i]] for i in todo], batch_size=batch_size) if todo else []
    if len(tags) != len(todo) or any(len(t) != len(words[i]) for i, t in zip(todo, tags)):
        raise BmcourseError(_("the tagger did not return one tag per word"), fix=_("check Tagger.tag"))
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
    words = [(token, start, start + len(token)) for token, start in zip(tokens, word_starts(tokens))]
    return text, _entities(text, words, tags)


def _key(entity: Entity) -> tuple[str, int, int]:
    return entity.type, entity.start, entity.end


def _score_row(kind: str, matched: int, support: int, predicted: int) -> dict[str, Any]:
    precision, recall, f1 = precision_recall_f1(matched, predicted, support)
    return {"type": kind, "precision": precision, "recall": recall, "f1": f1, "support": support,
            "predicted": predicted}


def span_report(gold: Sequence[Sequence[Entity]], pred: Sequence[Sequence[Entity]]) -> list[dict[str, Any]]:
    """Exact-match (type, start, end) precision, recall and F1 per type, then an ``overall`` (micro) row."""
    if len(gold) != len(pred):
        raise BmcourseError(_("{gold} gold texts but {pred} predicted ones").format(gold=len(gold), pred=len(pred)),
                            fix=_("pass one entity list per text to both"))

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
