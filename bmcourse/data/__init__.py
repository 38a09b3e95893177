"""Datasets for the course: ``load_ner`` and ``load_classification`` return a ``DatasetDict``.

Sources, first that exists: the local data folder (``BMCOURSE_DATA_DIR``), the Hugging Face Hub
(parquet/JSON repositories only), then the small samples shipped inside the package. The smoke
profile always uses the samples so stored notebook outputs are the same on every machine.
"""
from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datasets import DatasetDict

from ..config import data_dir, is_offline, is_smoke
from ..errors import BmcourseError
from ..hub import hub_reachable
from ..i18n import tr as _
from ..tagging import labels_for_types, split_tag
from .readers import read_classification_jsonl, read_conll, read_ner_jsonl
from .registry import REGISTRY, DatasetInfo, HubSource

__all__ = ["load_ner", "load_classification", "stratified_split", "resolve_source",
           "sources_summary", "data_name", "known_datasets", "REGISTRY", "DatasetInfo", "HubSource",
           "SAMPLES_DIR"]

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"
SPLITS = ("train", "validation", "test")
_SPLIT_ALIASES = {"train": ("train",), "validation": ("validation", "valid", "dev"), "test": ("test",)}
_EXTENSIONS = (".jsonl", ".conll", ".txt")
SOURCES = ("auto", "local", "hub", "sample")
def _source_name(where: str) -> str:
    """A source kind as the setup banner groups datasets by it, in the learner's language."""
    return {"local": _("local folder"), "sample": _("embedded samples"),
            "hub": _("the Hugging Face Hub")}.get(where, where)
#: Datasets whose Hub load failed in this process and fell back to their embedded sample: ``{name: why}``.
#: ``resolve_source`` (so ``source_label``, ``sources_summary`` and every later ``source="auto"`` load)
#: then says "embedded sample", never the Hub, for the rest of the process.
_HUB_FAILURES: dict[str, str] = {}


def notice(message: str) -> None:
    """A one-line notice for the learner (stdout, so notebooks show it)."""
    print(f"bmcourse: {message}")


def known_datasets() -> list[str]:
    """Registry names plus any folder of the data directory in the same layout."""
    names = set(REGISTRY)
    root = data_dir()
    if root is not None:
        names |= {p.name for p in root.iterdir() if _split_files(p)}
    return sorted(names)


def _split_files(folder: Path) -> dict[str, Path]:
    """The split files found in ``folder``: ``{split: path}``."""
    found: dict[str, Path] = {}
    if not folder.is_dir():
        return found
    for split, stems in _SPLIT_ALIASES.items():
        for stem in stems:
            for ext in _EXTENSIONS:
                if (folder / f"{stem}{ext}").is_file() and split not in found:
                    found[split] = folder / f"{stem}{ext}"
    return found


def _info(name: str, kind: str) -> DatasetInfo:
    """The registry row for ``name``, or a minimal row for a folder of the data directory."""
    info = REGISTRY.get(name)
    if info is None:
        root = data_dir()
        if root is not None and _split_files(root / name):
            return DatasetInfo(name, kind, "local", name)
        raise BmcourseError(_("unknown dataset {name}").format(name=repr(name)),
                            fix=_("use one of: {names}; or put a folder "
                                  "<name>/train.jsonl under BMCOURSE_DATA_DIR").format(names=", ".join(known_datasets())))
    if info.kind != kind:
        other = "load_ner" if info.kind == "ner" else "load_classification"
        raise BmcourseError(_("{name} is a {kind} dataset").format(name=repr(name), kind=info.kind),
                            fix=_("load it with {call}").format(call=f"{other}({name!r})"))
    return info


def source_label(name: str, kind: str | None = None) -> str:
    """Where ``name`` comes from, without machine paths (what a committed result file may record)."""
    where, description = resolve_source(name, kind=kind)
    if where in ("local", "hub"):  # provenance stays English in every language (a record, not a message)
        info = REGISTRY.get(name) or _info(name, kind or "ner")
        if where == "local":
            return f"{name} from a local folder ($BMCOURSE_DATA_DIR/{info.folder})"
        assert info.hub is not None
        return f"{name} from the Hugging Face Hub {info.hub.repo}"
    return f"{name} from the {description}"


def data_name(name: str, kind: str | None = None) -> str:
    """A dataset's name as a result line should say it: ``name`` itself for the real data (local
    folder or Hub), "the embedded sample of NAME" when it comes from the package's samples."""
    return f"the embedded sample of {name}" if is_sample(name, kind) else name


def is_sample(name: str, kind: str | None = None) -> bool:
    """True when ``name`` would come from the embedded samples now (no local folder, no Hub)."""
    return resolve_source(name, kind=kind)[0] == "sample"


def resolve_source(name: str, source: str = "auto", kind: str | None = None) -> tuple[str, str]:
    """Decide where ``name`` comes from: returns ``(source, description)`` without loading."""
    if source not in SOURCES:
        raise BmcourseError(_("source={source} is not a source").format(source=repr(source)),
                            fix=_("use one of {sources}").format(sources=SOURCES))
    info = REGISTRY.get(name) or _info(name, kind or "ner")
    if source == "auto" and is_smoke() and not info.sample:
        raise BmcourseError(_("{name} has no embedded sample, and the smoke profile uses only the "
                              "embedded samples (so outputs match on every machine)").format(name=repr(name)),
                            fix=_("set BMCOURSE_PROFILE=full, or pass source='local' or source='hub'"))
    root = data_dir()
    local = root / info.folder if root is not None else None
    has_local = local is not None and bool(_split_files(local))
    if source == "local" or (source == "auto" and has_local and not (is_smoke() and info.sample)):
        if local is None:
            raise BmcourseError(_("no local folder for {name}: BMCOURSE_DATA_DIR is not set").format(name=repr(name)),
                                fix=_("set BMCOURSE_DATA_DIR to the folder holding "
                                      "{folder}/train.jsonl (e.g. ../shared/data)").format(folder=info.folder))
        if not has_local:
            raise BmcourseError(_("no train/validation/test files in {path}").format(path=local), file=local,
                                fix=_("add {folder}/train.jsonl (JSON lines) or train.txt "
                                      "(CoNLL columns), or unset BMCOURSE_DATA_DIR").format(folder=info.folder))
        return "local", _("local folder {path}").format(path=local)
    if source == "sample" or (source == "auto" and is_smoke() and info.sample):
        if not info.sample:
            raise BmcourseError(_("{name} has no embedded sample").format(name=repr(name)),
                                fix=_("set BMCOURSE_DATA_DIR to a folder with "
                                      "{folder}/train.jsonl, or go online for the Hub").format(folder=info.folder))
        why = _("smoke profile") if source == "auto" else _("asked for")
        return "sample", _("embedded sample '{sample}' ({why}; illustration-sized)").format(sample=info.sample, why=why)
    no_local = (_("no BMCOURSE_DATA_DIR") if root is None
                else _("no {folder}/ in BMCOURSE_DATA_DIR").format(folder=info.folder))
    if source == "auto" and info.sample and name in _HUB_FAILURES:
        return "sample", _fallback_description(info, _HUB_FAILURES[name], no_local)
    if source == "hub" or (info.hub is not None and hub_reachable()):
        if info.hub is None:
            raise BmcourseError(_("{name} has no Hub repository in the registry").format(name=repr(name)),
                                fix=_("set BMCOURSE_DATA_DIR to a folder holding it"))
        return "hub", _("Hugging Face Hub {repo}").format(repo=info.hub.repo)
    if info.sample:
        return "sample", _fallback_description(info, _("offline") if is_offline() else _("Hub unreachable"), no_local)
    why = (_("BMCOURSE_OFFLINE/HF_HUB_OFFLINE is set") if is_offline()
           else _("the Hugging Face Hub is unreachable"))
    fix = (_("set BMCOURSE_DATA_DIR to a folder holding {folder}/train.jsonl (e.g. ../shared/data), "
             "or unset BMCOURSE_OFFLINE/HF_HUB_OFFLINE") if is_offline()
           else _("set BMCOURSE_DATA_DIR to a folder holding {folder}/train.jsonl (e.g. ../shared/data)"))
    raise BmcourseError(_("{name} is not available: no local folder, {why}, and no embedded sample").format(
                        name=repr(name), why=why), fix=fix.format(folder=info.folder))


def _fallback_description(info: DatasetInfo, why: str, no_local: str) -> str:
    """What a load that could not use the Hub says: the embedded sample, why, and that it is small."""
    return _("embedded sample '{sample}' ({why}, {no_local}; illustration-sized)").format(
        sample=info.sample, why=why, no_local=no_local)


def sources_summary() -> dict[str, list[str]]:
    """Where each registry dataset would come from now, grouped: ``{where: [names]}``."""
    groups: dict[str, list[str]] = defaultdict(list)
    for name, info in REGISTRY.items():
        try:
            where, _description = resolve_source(name, kind=info.kind)
        except BmcourseError:
            where = (_("nowhere in the smoke profile (no embedded sample)") if is_smoke()
                     else _("nowhere yet (set BMCOURSE_DATA_DIR)"))
        groups[_source_name(where)].append(name)
    return dict(groups)


def _rows_from_folder(folder: Path, reader: Callable[[Path], tuple[list[dict], int]]
                      ) -> tuple[dict[str, list[dict]], dict[str, int]]:
    files = _split_files(folder)
    if "train" not in files:
        raise BmcourseError(_("no train split"), file=folder,
                            fix=_("add train.jsonl (JSON lines) or train.txt (CoNLL columns)"))
    rows, repaired = {}, {}
    for split, path in files.items():
        rows[split], repaired[str(path)] = reader(path)
    return rows, repaired


def stratified_split(rows: Sequence[dict[str, Any]], fractions: dict[str, float], seed: int = 0,
                     key: str | None = "label") -> dict[str, list[dict[str, Any]]]:
    """Split rows deterministically: per label (``key``), shuffle with ``seed`` and cut ``fractions``.

    Returns ``{"train": rest, **{split: part}}``; each label keeps its share in every split, rows
    keep their original ids, and a label too rare to reach some split gets a notice naming it.
    """
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row[key] if key else None].append(row)
    out: dict[str, list[dict[str, Any]]] = {"train": [], **{s: [] for s in fractions}}
    rng = random.Random(seed)
    for label in sorted(groups, key=str):
        group = list(groups[label])
        rng.shuffle(group)
        start = 0
        missed = []
        for split, fraction in fractions.items():
            take = round(len(group) * fraction)
            if take == 0:
                missed.append(split)
            out[split] += group[start:start + take]
            start += take
        out["train"] += group[start:]
        if missed and key:
            notice(_("label {label} has only {count} example(s): none reaches the generated "
                     "{splits} split (kept in train)").format(label=repr(label), count=len(group),
                                                              splits=_(" and ").join(missed)))
    for split in out:
        out[split].sort(key=lambda r: (0, int(r["id"])) if str(r["id"]).isdigit() else (1, str(r["id"])))
    return out


def _fill_missing_splits(rows: dict[str, list[dict]], seed: int, key: str | None) -> dict[str, list[dict]]:
    missing = {s: 0.1 for s in ("validation", "test") if s not in rows}
    if not missing:
        return rows
    made = stratified_split(rows["train"], missing, seed=seed, key=key)
    return {**rows, **made}


def _local_types(rows: dict[str, list[dict]]) -> list[str]:
    found = {split_tag(t)[1] for part in rows.values() for r in part for t in r["ner_tags"]}
    return sorted(t for t in found if t)


def load_ner(name: str, *, source: str = "auto", repair: bool = False, seed: int = 0) -> "DatasetDict":
    """Load an NER dataset as a ``DatasetDict`` (``tokens``, ``ner_tags`` as ``ClassLabel``).

    Labels are ``O`` then ``B-``/``I-`` per type in the registry's order (sorted for other
    folders). Invalid IOB2 (an ``I-X`` that follows neither ``B-X`` nor ``I-X``) fails with the
    file (or Hub repository and split), the line (or row) and the fix; ``repair=True`` turns those
    ``I-X`` into ``B-X`` instead and reports how many, for local files and Hub rows alike. A
    missing validation or test split is cut from train (10% each, seeded).
    """
    info = _info(name, "ner")
    where, description = resolve_source(name, source, "ner")
    types = info.types or None

    def reader(path: Path) -> tuple[list[dict], int]:
        read = read_ner_jsonl if path.suffix == ".jsonl" else read_conll
        return read(path, types=types, repair=repair)

    rows, repaired = _load_rows(name, info, where, description, reader, "ner", source, repair=repair)
    for path, count in repaired.items():
        if count:
            notice(_("repaired {count} invalid I- tags into B- tags in {path}").format(count=count, path=path))
    rows = _fill_missing_splits(rows, seed, key=None)
    labels = labels_for_types(info.types or _local_types(rows))
    return _to_dataset_dict(rows, "ner", labels)


def load_classification(name: str, *, source: str = "auto", seed: int = 0) -> "DatasetDict":
    """Load a text-classification dataset as a ``DatasetDict`` (``text``, ``label`` as ``ClassLabel``).

    Missing validation/test splits are cut from train by ``stratified_split`` (10% each, per
    label, seeded by ``seed``), so every run and machine gets the same split.
    """
    info = _info(name, "classification")
    where, description = resolve_source(name, source, "classification")
    allowed = info.labels or None

    def reader(path: Path) -> tuple[list[dict], int]:
        if path.suffix != ".jsonl":
            raise BmcourseError(_("classification data must be JSON lines"), file=path,
                                fix=_('write rows like {"text": "...", "label": "..."} to a .jsonl file'))
        return read_classification_jsonl(path, labels=allowed), 0

    rows, _repaired = _load_rows(name, info, where, description, reader, "classification", source)
    rows = _fill_missing_splits(rows, seed, key="label")
    labels = list(info.labels) or sorted({r["label"] for part in rows.values() for r in part})
    return _to_dataset_dict(rows, "classification", labels)


def _hub_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean "the network or the Hub failed" (the only ones a fallback may catch)."""
    import httpx
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    errors: list[type[BaseException]] = [OSError, httpx.HTTPError, HfHubHTTPError, OfflineModeIsEnabled]
    try:
        from datasets.exceptions import DatasetNotFoundError

        errors.append(DatasetNotFoundError)
    except ImportError:  # older datasets
        pass
    return tuple(errors)


def _load_rows(name: str, info: DatasetInfo, where: str, description: str,
               reader: Callable[[Path], tuple[list[dict], int]], kind: str, source: str = "auto",
               repair: bool = False) -> tuple[dict[str, list[dict]], dict[str, int]]:
    """The rows of ``name`` from ``where``, with one notice saying where they really came from.

    A Hub load that fails on the network or the Hub falls back to the embedded sample (unless
    ``source="hub"`` or there is none): the notice then names the sample and the failure, and the
    fallback is remembered so later source reports say the same. Hub rows are announced only
    after they passed validation.
    """
    if where == "hub":
        from .hub import load_hub_rows

        assert info.hub is not None
        try:
            raw = load_hub_rows(info.hub, kind)
        except _hub_errors() as err:  # the network or the Hub failed; anything else is a bug to see
            if source == "hub" or not info.sample:
                raise BmcourseError(_("could not load {name} from the Hub ({error}: {message})").format(
                                        name=repr(name), error=type(err).__name__, message=err),
                                    fix=_("check the network or HF_ENDPOINT, or set BMCOURSE_DATA_DIR to a "
                                          "folder holding {folder}/train.jsonl").format(folder=info.folder)) from err
            _HUB_FAILURES[name] = _("Hub failed ({error})").format(error=type(err).__name__)
            where, description = resolve_source(name, source, kind)  # the sample, saying why
        else:
            rows, repaired = _validate_hub_rows(raw, info, kind, repair=repair)
            notice(f"{name}: {description}")
            return rows, repaired
    if where == "local":
        root = data_dir()
        assert root is not None
        notice(f"{name}: {description}")
        return _rows_from_folder(root / info.folder, reader)
    if where == "sample":
        notice(f"{name}: {description}")
        return _rows_from_folder(SAMPLES_DIR / str(info.sample), reader)
    raise AssertionError(where)


def _validate_hub_rows(raw: dict[str, list[dict]], info: DatasetInfo, kind: str, *, repair: bool = False
                       ) -> tuple[dict[str, list[dict]], dict[str, int]]:
    """Check Hub rows with the same rules as local files: an error names the dataset, the repository,
    the split and the row (1-based), and the fix.

    Invalid ``I-X`` tags fail like they do in a local file, unless ``repair`` (``load_ner``'s
    ``repair=True``): then they become ``B-X`` and are counted per split.
    """
    from .readers import InvalidIOB2, check_ner_tags

    assert info.hub is not None
    repaired: dict[str, int] = {}
    for split, part in raw.items():
        where = Path(f"hub:{info.hub.repo}/{split}")
        repaired[str(where)] = 0
        for i, row in enumerate(part, start=1):
            if kind == "ner":
                try:
                    row["ner_tags"], fixed = check_ner_tags(row["tokens"], row["ner_tags"], file=where, line=i,
                                                            types=info.types or None, repair=repair)
                except BmcourseError as err:  # the Hub's copy cannot be edited: repair=True is the fix
                    fix = (_("load it with {call}: each stray I-X becomes B-X, and the count is reported").format(
                           call=f"load_ner({info.name!r}, repair=True)") if isinstance(err, InvalidIOB2) else err.fix)
                    raise BmcourseError(_("{name} from the Hub ({repo}), split {split}, row {row}: {problem}").format(
                                        name=info.name, repo=info.hub.repo, split=repr(split), row=i,
                                        problem=err.problem), fix=fix) from None
                repaired[str(where)] += fixed
            elif info.labels and row["label"] not in info.labels:
                raise BmcourseError(_("unknown label {label}").format(label=repr(row["label"])), file=where, line=i,
                                    fix=_("update the registry labels for this dataset"))
    return raw, repaired


def _to_dataset_dict(rows: dict[str, list[dict]], kind: str, labels: list[str]) -> "DatasetDict":
    from datasets import ClassLabel, Dataset, DatasetDict, Features, List, Value

    if kind == "ner":
        features = Features({"id": Value("string"), "tokens": List(Value("string")),
                             "ner_tags": List(ClassLabel(names=labels))})
        index = {label: i for i, label in enumerate(labels)}
        encode = lambda r: {"id": r["id"], "tokens": r["tokens"], "ner_tags": [index[t] for t in r["ner_tags"]]}  # noqa: E731
        columns = ("id", "tokens", "ner_tags")
    else:
        features = Features({"id": Value("string"), "text": Value("string"),
                             "label": ClassLabel(names=labels)})
        index = {label: i for i, label in enumerate(labels)}
        encode = lambda r: {"id": r["id"], "text": r["text"], "label": index[r["label"]]}  # noqa: E731
        columns = ("id", "text", "label")
    parts = {}
    for split in SPLITS:
        if split in rows:
            encoded = [encode(r) for r in rows[split]]
            parts[split] = Dataset.from_dict({c: [r[c] for r in encoded] for c in columns},
                                             features=features)
    return DatasetDict(parts)
