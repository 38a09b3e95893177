"""Serving a tagger (notebook 05, section 1): the ``transformers`` token-classification pipeline
next to the course's word tags, model folders saved with a versioned manifest and checked on load,
and the runners that put eager PyTorch and ONNX Runtime behind one call.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..errors import BmcourseError
from ..i18n import tr as _
from ..tagging import word_starts


def token_pipeline(model: Any, tokenizer: Any, aggregation: str = "first") -> Any:
    """A ``transformers`` token-classification pipeline on the model's own device (CPU or GPU) that groups
    sub-words into entities (``aggregation="first"``: a word takes its first sub-word's label, as in training)."""
    from transformers import pipeline

    return pipeline("token-classification", model=model, tokenizer=tokenizer,
                    aggregation_strategy=aggregation, device=next(model.parameters()).device)


def _in_chunks(pipe: Any, texts: list[str], batch_size: int, progress: bool, **kwargs: Any) -> list[Any]:
    """``pipe(texts, ...)`` a few batches at a time, so a progress bar can follow a long test set."""
    from ..train import progress_bar

    found: list[Any] = []
    bar = progress_bar(len(texts), _("pipeline"), progress)
    for start in range(0, len(texts), 8 * batch_size):
        chunk = texts[start:start + 8 * batch_size]
        found.extend(pipe(chunk, batch_size=batch_size, **kwargs))
        bar.update(len(chunk))
    bar.close()
    return found


def pipeline_spans(pipe: Any, sentences: Sequence[Sequence[str]], batch_size: int = 32, progress: bool = False
                   ) -> list[list[tuple[str, int, int]]]:
    """The pipeline's entities for word-split sentences as ``(type, start, end)`` character spans
    in ``" ".join(words)``."""
    texts = [" ".join(words) for words in sentences]
    found = _in_chunks(pipe, texts, batch_size, progress)
    return [[(e["entity_group"], int(e["start"]), int(e["end"])) for e in entities] for entities in found]


def tag_spans(sentences: Sequence[Sequence[str]], tags: Sequence[Sequence[str]]
              ) -> list[list[tuple[str, int, int]]]:
    """Word tags turned into ``(type, start, end)`` character spans in ``" ".join(words)``, the way
    ``pipeline_spans`` reports them (a stray ``I-`` starts an entity)."""
    from ..apps import gold_entities

    return [[(e.type, e.start, e.end) for e in gold_entities(words, list(sentence_tags))[1]]
            for words, sentence_tags in zip(sentences, tags)]


def pipeline_word_tags(pipe: Any, sentences: Sequence[Sequence[str]], batch_size: int = 32, progress: bool = False
                       ) -> list[list[str]]:
    """Word tags from the pipeline's raw per-sub-word output (no aggregation, ``O`` kept): each
    word takes the label of the sub-word that starts at its first character, as ``bmcourse`` does."""
    texts = [" ".join(words) for words in sentences]
    found = _in_chunks(pipe, texts, batch_size, progress, aggregation_strategy="none", ignore_labels=[])
    return [word_tags_from_subwords(words, tokens) for words, tokens in zip(sentences, found)]


def word_tags_from_subwords(words: Sequence[str], subwords: Sequence[dict[str, Any]]) -> list[str]:
    """One tag per word of ``" ".join(words)``: the ``"entity"`` of the sub-word whose ``"start"``
    is the word's first character (``"O"`` when none starts there)."""
    by_start: dict[int, str] = {}
    for token in subwords:
        by_start.setdefault(int(token["start"]), token["entity"])
    return [by_start.get(start, "O") for start in word_starts(words)]


def span_disagreements(sentences: Sequence[Sequence[str]], first: Sequence[Sequence[tuple[str, int, int]]],
                       second: Sequence[Sequence[tuple[str, int, int]]]) -> list[dict[str, Any]]:
    """The sentences whose two span lists differ, with the spans only one side found (as text)."""
    def show(text: str, found: set[tuple[str, int, int]]) -> list[str]:
        return [f"{text[s:e]} ({kind})" for kind, s, e in sorted(found, key=lambda x: x[1])]

    out = []
    for i, (words, a, b) in enumerate(zip(sentences, first, second)):
        if set(a) != set(b):
            text = " ".join(words)
            out.append({"sentence": i, "text": text, "only_first": show(text, set(a) - set(b)),
                        "only_second": show(text, set(b) - set(a))})
    return out


# --- versioned model folders ---------------------------------------------------------------

MANIFEST = "bmcourse_model.json"
_VERSION_FIX = "save it again with deploy.save_versioned(model, tokenizer, folder, version=...)"


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file (hex), read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_versioned(model: Any, tokenizer: Any, folder: str | Path, *, version: str,
                   metrics: dict[str, Any] | None = None, notes: str = "") -> Path:
    """Save a model folder (safetensors, config with label maps, tokenizer) with a manifest that
    records its version, labels, metrics, library versions and the weights' SHA-256."""
    import bmcourse  # for bmcourse.__version__

    from ..models import label_names, save_model
    from ..reference import git_commit, write_json
    from ..session import library_versions

    folder = Path(folder)
    save_model(model, tokenizer, folder)
    manifest = {"version": version, "labels": label_names(model),
                "metrics": metrics or {}, "notes": notes, "bmcourse": bmcourse.__version__, "commit": git_commit(),
                "libraries": library_versions(),
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "sha256": {"model.safetensors": file_sha256(folder / "model.safetensors")}}
    write_json(manifest, folder / MANIFEST)
    return folder


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """A versioned folder's manifest; a clear error when it is missing or not JSON."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise BmcourseError(_("no manifest: this folder was not saved as a versioned model"), file=path,
                            fix=_(_VERSION_FIX))
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise BmcourseError(_("the manifest is not valid JSON ({error})").format(error=error.msg), file=path,
                            line=error.lineno,
                            fix=_(_VERSION_FIX)) from None


def load_versioned(folder: str | Path, *, version: str | None = None) -> tuple[Any, Any, dict[str, Any]]:
    """Load a versioned token classifier after checking its weights' SHA-256 (and ``version`` if
    given) against the manifest: ``(model, tokenizer, manifest)``."""
    from ..models import load_token_classifier

    folder = Path(folder)
    manifest = read_manifest(folder)
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise BmcourseError(_("no model.safetensors in a versioned folder"), file=folder, fix=_(_VERSION_FIX))
    if file_sha256(weights) != manifest.get("sha256", {}).get("model.safetensors"):
        raise BmcourseError(_("the weights changed after the folder was saved (SHA-256 differs from the manifest)"),
                            file=weights, fix=_(_VERSION_FIX))
    if version is not None and manifest.get("version") != version:
        raise BmcourseError(_("version {found} is not the wanted {wanted}").format(
                            found=repr(manifest.get("version")), wanted=repr(version)),
                            file=folder / MANIFEST, fix=_("load the folder of the version you want"))
    model, tokenizer = load_token_classifier(manifest["labels"], name=str(folder))
    return model.eval(), tokenizer, manifest


# --- runners: eager PyTorch and ONNX Runtime behind one call ---------------------------------

class Runner:
    """Something that turns a padded batch (``input_ids``, ``attention_mask``) into logits."""

    name = "runner"
    path: Path | None = None

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def size_mb(self) -> float:
        """Size on disk of the files this variant needs (MB = 10^6 bytes)."""
        return round(self.path.stat().st_size / 1e6, 1) if self.path else float("nan")


class TorchRunner(Runner):
    """Eager PyTorch (the reference: fp32 on the CPU)."""

    def __init__(self, model: Any, name: str = "pytorch-fp32", path: str | Path | None = None) -> None:
        self.model, self.name = model.eval(), name
        self.path = Path(path) if path else None

    @torch.inference_mode()
    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits.float()


class OrtRunner(Runner):
    """An ONNX Runtime session on the CPU with as many threads as torch uses (a fair comparison)."""

    def __init__(self, path: str | Path, name: str, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.path, self.name = Path(path), name
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        feed = {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()}
        return torch.from_numpy(self.session.run(["logits"], feed)[0])
