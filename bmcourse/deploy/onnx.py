"""Notebook 05 and ``bmcourse bench inference``: serving a tagger, versioned model folders, faster
variants (ONNX Runtime fp32 and int8) measured side by side, attributions, and robustness."""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import random
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import BmcourseError
from .tagging import spans, word_starts

Feature = dict[str, Any]


# ============================================================================================
# Serving: the transformers pipeline next to the course's word tags (section 1)
# ============================================================================================

def token_pipeline(model: Any, tokenizer: Any, aggregation: str = "first") -> Any:
    """A ``transformers`` token-classification pipeline on the model's own device (CPU or GPU) that groups
    sub-words into entities (``aggregation="first"``: a word takes its first sub-word's label, as in training)."""
    from transformers import pipeline

    return pipeline("token-classification", model=model, tokenizer=tokenizer,
                    aggregation_strategy=aggregation, device=next(model.parameters()).device)


def pipeline_spans(pipe: Any, sentences: Sequence[Sequence[str]], batch_size: int = 32
                   ) -> list[list[tuple[str, int, int]]]:
    """The pipeline's entities for word-split sentences as ``(type, start, end)`` character spans
    in ``" ".join(words)``."""
    texts = [" ".join(words) for words in sentences]
    found = pipe(texts, batch_size=batch_size) if texts else []
    return [[(e["entity_group"], int(e["start"]), int(e["end"])) for e in entities] for entities in found]


def tag_spans(sentences: Sequence[Sequence[str]], tags: Sequence[Sequence[str]]
              ) -> list[list[tuple[str, int, int]]]:
    """Word tags turned into ``(type, start, end)`` character spans in ``" ".join(words)``, the way
    ``pipeline_spans`` reports them (a stray ``I-`` starts an entity)."""
    from .apps import gold_entities
    from .tagging import repair_for_display

    return [[(e.type, e.start, e.end) for e in gold_entities(words, repair_for_display(list(sentence_tags)))[1]]
            for words, sentence_tags in zip(sentences, tags)]


def pipeline_word_tags(pipe: Any, sentences: Sequence[Sequence[str]], batch_size: int = 32) -> list[list[str]]:
    """Word tags from the pipeline's raw per-sub-word output (no aggregation, ``O`` kept): each
    word takes the label of the sub-word that starts at its first character, as ``bmcourse`` does."""
    texts = [" ".join(words) for words in sentences]
    found = pipe(texts, batch_size=batch_size, aggregation_strategy="none", ignore_labels=[]) if texts else []
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


# ============================================================================================
# Versioned model folders (section 1)
# ============================================================================================

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
    from . import __version__
    from .models import save_model
    from .reference import git_commit
    from .session import library_versions

    folder = Path(folder)
    save_model(model, tokenizer, folder)
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    manifest = {"version": version, "labels": [id2label[i] for i in sorted(id2label)],
                "metrics": metrics or {}, "notes": notes, "bmcourse": __version__, "commit": git_commit(),
                "libraries": library_versions(),
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "sha256": {"model.safetensors": file_sha256(folder / "model.safetensors")}}
    from .reference import write_json

    write_json(manifest, folder / MANIFEST)
    return folder


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """A versioned folder's manifest; a clear error when it is missing or not JSON."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise BmcourseError("no manifest: this folder was not saved as a versioned model", file=path,
                            fix=_VERSION_FIX)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise BmcourseError(f"the manifest is not valid JSON ({error.msg})", file=path, line=error.lineno,
                            fix=_VERSION_FIX) from None


def load_versioned(folder: str | Path, *, version: str | None = None) -> tuple[Any, Any, dict[str, Any]]:
    """Load a versioned token classifier after checking its weights' SHA-256 (and ``version`` if
    given) against the manifest: ``(model, tokenizer, manifest)``."""
    from .models import load_token_classifier

    folder = Path(folder)
    manifest = read_manifest(folder)
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise BmcourseError("no model.safetensors in a versioned folder", file=folder, fix=_VERSION_FIX)
    if file_sha256(weights) != manifest.get("sha256", {}).get("model.safetensors"):
        raise BmcourseError("the weights changed after the folder was saved (SHA-256 differs from the manifest)",
                            file=weights, fix=_VERSION_FIX)
    if version is not None and manifest.get("version") != version:
        raise BmcourseError(f"version {manifest.get('version')!r} is not the wanted {version!r}",
                            file=folder / MANIFEST, fix="load the folder of the version you want")
    model, tokenizer = load_token_classifier(manifest["labels"], name=str(folder))
    return model.eval(), tokenizer, manifest


# ============================================================================================
# Faster variants: one interface for eager PyTorch and ONNX Runtime (section 2)
# ============================================================================================

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


@contextlib.contextmanager
def _quiet() -> Any:
    """Silence the exporters' and quantiser's progress text and warnings (they write to stdout)."""
    import logging

    loggers = [logging.getLogger(name) for name in ("", "torch.onnx", "onnxscript", "onnx_ir")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def export_onnx(model: Any, path: str | Path, *, example_length: int = 16) -> Path:
    """Export a token classifier to ONNX with ``torch.onnx.export`` (the ``torch.export``-based
    exporter), batch size and sequence length dynamic, weights inside the one file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval().cpu()
    ids = torch.full((2, example_length), 1000, dtype=torch.long)
    mask = torch.ones_like(ids)
    dims = {0: torch.export.Dim("batch"), 1: torch.export.Dim("sequence")}
    try:
        with _quiet():
            torch.onnx.export(model, (), str(path), kwargs={"input_ids": ids, "attention_mask": mask},
                              input_names=["input_ids", "attention_mask"], output_names=["logits"],
                              dynamic_shapes={"input_ids": dims, "attention_mask": dims}, dynamo=True,
                              external_data=False)
    except Exception as error:  # the exporter raises many types; name the model and the way out
        raise BmcourseError(f"ONNX export of {type(model).__name__} failed: {error}",
                            fix="check that onnx and onnxscript are installed (pip install onnx onnxscript)") from None
    return path


def fuse_transformer(source: str | Path, target: str | Path, config: Any) -> Path:
    """ONNX Runtime's transformer graph optimiser (``model_type="bert"``): fuses the residual
    additions into LayerNorm and the bias into GELU, on top of the session's own optimisations."""
    from onnxruntime.transformers.optimizer import optimize_model

    with _quiet():
        optimized = optimize_model(str(source), model_type="bert", num_heads=int(config.num_attention_heads),
                                   hidden_size=int(config.hidden_size))
        optimized.save_model_to_file(str(target))
    return Path(target)


def quantize_int8(source: str | Path, target: str | Path, *, per_channel: bool = False) -> Path:
    """Dynamic int8 quantisation of the linear layers with ONNX Runtime's quantiser: 8-bit weights,
    activations quantised per batch at run time (no calibration data needed).

    The weights are unsigned bytes with a zero point (``QUInt8``), not ONNX Runtime's default
    signed ones: AVX2 multiplies u8 x s8 with ``vpmaddubsw``, which adds two products into 16 bits
    and saturates above 32,767, so signed weights give other logits on AVX2 than on VNNI or AMX
    CPUs. u8 x u8 kernels widen to 16 bits first and add in 32 bits: exact on every x86 CPU."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet():
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QUInt8, per_channel=per_channel)
    return Path(target)


INT16_MAX = 32767
"""The largest sum AVX2's ``vpmaddubsw`` holds: two u8 x s8 products beyond it saturate."""

INTEGER_MATMULS = ("MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "QAttention")


def int8_weights(path: str | Path) -> dict[str, np.ndarray]:
    """The 8-bit weight matrices of a quantised ONNX file (the constant inputs of its integer
    matmuls and attention), by initializer name."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    initializers = {t.name: t for t in graph.initializer}
    used = {node.input[1] for node in graph.node if node.op_type in INTEGER_MATMULS and len(node.input) > 1}
    weights = {name: numpy_helper.to_array(initializers[name]) for name in sorted(used) if name in initializers}
    return {name: w for name, w in weights.items() if w.dtype in (np.int8, np.uint8)}


def saturating_weights(path: str | Path) -> list[str]:
    """The weight matrices of a quantised file that AVX2 could compute inexactly: signed ones whose
    largest pair of products with a u8 activation (2 x 255 x max|w|) passes ``INT16_MAX``. Empty
    means the file's integer arithmetic is the same on every x86 CPU."""
    weights = int8_weights(path)
    if not weights:
        raise BmcourseError(f"{path} holds no 8-bit weight matrix", fix="pass a file written by quantize_int8")
    return [name for name, w in weights.items()
            if w.dtype == np.int8 and 2 * 255 * int(np.abs(w.astype(np.int32)).max()) > INT16_MAX]


def batch_logits(runner: Runner | Callable, features: Sequence[Feature], batch_size: int = 32,
                 pad_id: int = 0) -> list[torch.Tensor]:
    """Each feature's logits (its real positions only), computed in length-sorted padded batches."""
    from .train import length_sorted_batches

    out: list[torch.Tensor] = [torch.empty(0)] * len(features)
    for indices, batch in length_sorted_batches(features, batch_size, pad_id, torch.device("cpu")):
        logits = runner(batch["input_ids"], batch["attention_mask"])
        for row, i in enumerate(indices):
            out[i] = logits[row, :len(features[i]["input_ids"])]
    return out


def tags_from_logits(features: Sequence[Feature], logits: Sequence[torch.Tensor], labels: Sequence[str],
                     decode: str = "viterbi") -> tuple[list[list[str]], list[list[str]]]:
    """``(gold, predicted)`` word tags per sentence from per-feature logits (the same decoding as
    ``train.evaluate``)."""
    from .train import decode_logits, gold_and_predicted_tags

    preds = [decode_logits(row.unsqueeze(0), [feature], labels, decode)[0] for row, feature in zip(logits, features)]
    return gold_and_predicted_tags(features, preds, dict(enumerate(labels)))


def latency_ms(runner: Runner | Callable, features: Sequence[Feature], n: int = 200, warmup: int = 10
               ) -> dict[str, float]:
    """Batch-1 latency of the model call over the first ``n`` features (after ``warmup`` calls):
    median (p50) and 95th percentile in ms. Tokenising and decoding are not included (they are the
    same for every variant)."""
    chosen = list(features[:n])
    if not chosen:
        raise BmcourseError("no sentences to time", fix="pass at least one encoded sentence")
    tensors = [(torch.tensor([f["input_ids"]]), torch.ones(1, len(f["input_ids"]), dtype=torch.long))
               for f in chosen]
    for ids, mask in tensors[:warmup]:
        runner(ids, mask)
    times = []
    for ids, mask in tensors:
        start = time.perf_counter()
        runner(ids, mask)
        times.append((time.perf_counter() - start) * 1e3)
    return {"p50_ms": float(np.percentile(times, 50)), "p95_ms": float(np.percentile(times, 95)),
            "sentences": len(times)}


def latency_rounds(runners: Sequence[Runner | Callable], features: Sequence[Feature], n: int = 200,
                   rounds: int = 3) -> list[dict[str, float]]:
    """``latency_ms`` per runner in ``rounds`` rounds that take the runners in turn (a whole block of
    sentences each, not call by call: the thread pools of PyTorch and ONNX Runtime keep spinning
    after a call and would slow each other down); the median of the rounds' p50 and p95. A busy
    moment of the machine then hits one round, not one variant's only measurement."""
    pooled: list[list[dict[str, float]]] = [[] for _ in runners]
    for _ in range(rounds):
        for k, runner in enumerate(runners):
            pooled[k].append(latency_ms(runner, features, n))
    return [{"p50_ms": statistics.median(r["p50_ms"] for r in rows),
             "p95_ms": statistics.median(r["p95_ms"] for r in rows),
             "sentences": sum(r["sentences"] for r in rows), "rounds": rounds} for rows in pooled]


def logit_drift(reference: Sequence[torch.Tensor], other: Sequence[torch.Tensor]) -> float:
    """The largest absolute logit difference between two runs over all real positions."""
    return max((float((a - b).abs().max()) for a, b in zip(reference, other) if a.numel()), default=0.0)


def tag_agreement(reference: Sequence[Sequence[str]], other: Sequence[Sequence[str]]) -> float:
    """The share of words whose predicted tag is the same in both runs."""
    pairs = [(a, b) for ra, rb in zip(reference, other) for a, b in zip(ra, rb)]
    return sum(a == b for a, b in pairs) / max(1, len(pairs))


@dataclass
class Variant:
    """One way of running the model, measured: speed, size and agreement with fp32 eager."""

    name: str
    p50_ms: float
    p95_ms: float
    throughput_per_s: float
    size_mb: float
    test_f1: float
    max_logit_diff: float
    tag_agreement: float
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """The JSON row of ``bmcourse bench inference`` (rounded; the noise floor is not a result)."""
        return {"name": self.name, "p50_ms": round(self.p50_ms, 2), "p95_ms": round(self.p95_ms, 2),
                "throughput_per_s": round(self.throughput_per_s, 1), "size_mb": self.size_mb,
                "test_f1": round(self.test_f1, 4), "max_logit_diff": float(f"{self.max_logit_diff:.3g}"),
                "tag_agreement": round(self.tag_agreement, 5), "notes": self.notes, **self.extra}


def format_drift(value: float) -> str:
    """A logit difference for display: below 0.001 it is floating-point noise, not a result."""
    return "< 0.001" if value < 1e-3 else f"{value:.2f}"


def variant_table(variants: Sequence[Variant]) -> list[dict[str, str]]:
    """The variants as display rows: times in ms, speed-up over the first row, size, F1, drift."""
    fast = speedups(variants)
    # headers wider than any timing, so the column widths do not depend on how many digits a time has
    return [{"variant": v.name, "p50 (batch 1)": f"{v.p50_ms:.1f} ms", "p95 (batch 1)": f"{v.p95_ms:.1f} ms",
             "speed-up (p50)": f"{fast[v.name]:.1f}×", "batch-32 rate": f"{v.throughput_per_s:.0f}/s",
             "size": f"{v.size_mb:.0f} MB", "test F1": f"{v.test_f1:.3f}",
             "max logit diff": format_drift(v.max_logit_diff), "same tag": f"{v.tag_agreement:.2%}"}
            for v in variants]


def build_runners(model: Any, folder: str | Path, *, int8_variants: bool = True,
                  saved_weights: str | Path | None = None) -> list[Runner]:
    """fp32 eager PyTorch, then ONNX Runtime fp32 and int8 on an export in ``folder``; with
    ``int8_variants`` also int8 with one weight scale per output channel instead of per matrix,
    and int8 after ONNX Runtime's transformer fusions."""
    folder = Path(folder)
    fp32 = export_onnx(model, folder / "model_fp32.onnx")
    runners: list[Runner] = [TorchRunner(model, path=saved_weights), OrtRunner(fp32, "onnxruntime-fp32")]
    runners.append(OrtRunner(quantize_int8(fp32, folder / "model_int8.onnx"), "onnxruntime-int8"))
    if int8_variants:
        runners.append(OrtRunner(quantize_int8(fp32, folder / "model_int8_per_channel.onnx", per_channel=True),
                                 "onnxruntime-int8-per-channel"))
        fused = fuse_transformer(fp32, folder / "model_fused.onnx", model.config)
        runners.append(OrtRunner(quantize_int8(fused, folder / "model_fused_int8.onnx"), "onnxruntime-fused-int8"))
    return runners


def measure_variants(runners: Sequence[Runner], features: Sequence[Feature], labels: Sequence[str], *,
                     latency_sentences: int = 200, rounds: int = 3, batch_size: int = 32, pad_id: int = 0,
                     progress: bool = False) -> list[Variant]:
    """Measure every runner on the same encoded test sentences: latency (batch 1, the median of
    ``rounds`` rounds), throughput (batch ``batch_size``), size, entity F1, and drift from the
    first runner (fp32 eager)."""
    from tqdm.auto import tqdm

    from .metrics import ner_report

    rows, reference_logits, reference_tags = [], None, None
    latencies = latency_rounds(runners, features, n=latency_sentences, rounds=rounds)
    for runner, speed in zip(tqdm(runners, desc="variants", disable=not progress, leave=False), latencies):
        start = time.perf_counter()
        logits = batch_logits(runner, features, batch_size, pad_id)
        rate = len(features) / max(1e-9, time.perf_counter() - start)
        gold, pred = tags_from_logits(features, logits, labels)
        if reference_logits is None:
            reference_logits, reference_tags = logits, pred
        rows.append(Variant(runner.name, speed["p50_ms"], speed["p95_ms"], rate, runner.size_mb(),
                            ner_report(gold, pred)["f1"], logit_drift(reference_logits, logits),
                            tag_agreement(reference_tags, pred)))
    return rows


def speedups(variants: Sequence[Variant]) -> dict[str, float]:
    """Each variant's p50 speed-up over the first (fp32 eager): p50(first) / p50(variant)."""
    base = variants[0].p50_ms
    return {v.name: base / v.p50_ms for v in variants}


def best_within(variants: Sequence[Variant], f1_loss: float = 0.005) -> Variant | None:
    """The fastest variant (p50) that loses at most ``f1_loss`` test F1 against the first, if any."""
    base = variants[0].test_f1
    ok = [v for v in variants[1:] if base - v.test_f1 <= f1_loss + 1e-12]
    return min(ok, key=lambda v: v.p50_ms) if ok else None


def bench_inference(model_dir: str | Path | None = None, *, latency_sentences: int = 200,
                    batch_size: int = 32, work_dir: str | Path | None = None, progress: bool = True
                    ) -> dict[str, Any]:
    """``bmcourse bench inference``: every variant of the CoNLL-2003 tagger on the real test set."""
    import tempfile

    from . import reference
    from .apps import load_tagger
    from .data import load_ner, source_label
    from .models import loaded_model_info, save_model
    from .train import encode_ner, tokenizer_pad_id

    tagger = load_tagger(model_dir, progress=progress)
    model, tokenizer = tagger.model.eval().cpu(), tagger.tokenizer
    test = load_ner("conll2003")["test"]
    features = encode_ner(test, tokenizer, training=False, quiet=True)
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        saved = save_model(model, tokenizer, Path(tmp) / "pytorch")
        runners = build_runners(model, tmp, saved_weights=saved / "model.safetensors")
        variants = measure_variants(runners, features, tagger.labels, latency_sentences=latency_sentences,
                                    batch_size=batch_size, pad_id=tokenizer_pad_id(tokenizer), progress=progress)
        saturating = sorted({name for r in runners if "int8" in r.name for name in saturating_weights(r.path)})
    fast = speedups(variants)
    best = best_within(variants)
    return {
        "benchmark": "inference",
        "variants": [{**v.row(), "speedup_p50": round(fast[v.name], 2)} for v in variants],
        "best_within_half_point": best.name if best else None,
        "settings": {"latency_sentences": latency_sentences, "batch_size": batch_size,
                     "threads": torch.get_num_threads(), "latency": "model call only, batch 1, after 10 warm-up calls; median of 3 rounds that take "
                                "the variants in turn",
                     "int8": "ONNX Runtime dynamic quantisation (onnxruntime.quantization.quantize_dynamic), "
                             "u8 weights with a zero point (QUInt8): u8 x u8 integer kernels, exact on every "
                             "x86 CPU (signed weights saturate AVX2's 16-bit pair sums)",
                     "int8_weights_that_could_saturate_avx2": saturating,
                     "export": "torch.onnx.export(dynamo=True)", "decode": "viterbi"},
        "data": {"test_sentences": len(test), "test_features": len(features)},
        "libraries": _runtime_versions(),
        **reference.provenance(model=loaded_model_info(model, tokenizer),
                               data_source=source_label("conll2003", kind="ner"), command=reference.command_line()),
    }


def _runtime_versions() -> dict[str, str]:
    import onnx
    import onnxruntime

    return {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__, "torch": torch.__version__}


# ============================================================================================
# Attributions (section 3)
# ============================================================================================

def baseline_ids(input_ids: torch.Tensor, tokenizer: Any) -> torch.Tensor:
    """The usual baseline: every token replaced by ``[PAD]`` except ``[CLS]`` and ``[SEP]``."""
    special = {tokenizer.cls_token_id, tokenizer.sep_token_id}
    keep = torch.tensor([[int(t) in special for t in row] for row in input_ids])
    return torch.where(keep, input_ids, torch.full_like(input_ids, tokenizer.pad_token_id))


def target_function(model: Any, attention_mask: torch.Tensor, label: int, position: int | None = None
                    ) -> Callable[[torch.Tensor], torch.Tensor]:
    """``f(input_embeds) -> logit`` of ``label`` (at token ``position`` for a tagger): the scalar
    an attribution explains. Gradients flow through the word embeddings."""
    def forward(embeds: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.expand(embeds.shape[0], -1)
        logits = model(inputs_embeds=embeds, attention_mask=mask).logits
        return logits[:, position, label] if position is not None else logits[:, label]
    return forward


def integrated_gradients(forward: Callable[[torch.Tensor], torch.Tensor], embeds: torch.Tensor,
                         baseline: torch.Tensor, steps: int = 64) -> tuple[torch.Tensor, float]:
    """Captum's Integrated Gradients per token (summed over the embedding dimensions) and Captum's
    convergence delta: sum of attributions minus ``f(x) - f(baseline)``."""
    from captum.attr import IntegratedGradients

    attributions, delta = IntegratedGradients(forward).attribute(
        embeds, baselines=baseline, n_steps=steps, return_convergence_delta=True, internal_batch_size=16)
    return attributions.sum(-1)[0].detach(), float(delta.abs().max())


def completeness_gap(per_token: torch.Tensor, forward: Callable[[torch.Tensor], torch.Tensor],
                     embeds: torch.Tensor, baseline: torch.Tensor) -> dict[str, float]:
    """How far the attributions' sum is from ``f(x) - f(baseline)``, computed with two fresh forward passes."""
    with torch.no_grad():
        difference = float(forward(embeds)[0] - forward(baseline)[0])
    total = float(per_token.sum())
    return {"sum": total, "difference": difference, "gap": total - difference}


# ============================================================================================
# Robustness: noisy copies of a test set (section 4)
# ============================================================================================

_KEYBOARD = "qwertyuiopasdfghjklzxcvbnm"


def typo(word: str, rng: random.Random) -> str:
    """One character-level typo in ``word``: swap two neighbours, drop, double or replace a letter
    (words shorter than 2 letters get a replacement only, so no word disappears)."""
    letters = [i for i, ch in enumerate(word) if ch.isalpha()]
    if not letters:
        return word
    i = rng.choice(letters)
    kind = rng.choice(("swap", "drop", "double", "replace")) if len(word) > 1 else "replace"
    if kind == "swap" and i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == "drop":
        return word[:i] + word[i + 1:]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    new = rng.choice(_KEYBOARD)
    return word[:i] + (new.upper() if word[i].isupper() else new) + word[i + 1:]


def add_typos(tokens: Sequence[str], rate: float, rng: random.Random) -> list[str]:
    """A copy of ``tokens`` where each word with letters gets one typo with probability ``rate``."""
    return [typo(word, rng) if rng.random() < rate else word for word in tokens]


def noisy_split(split: Any, kind: str, *, rate: float = 0.0, seed: int = 0, pool: dict | None = None) -> Any:
    """A copy of a NER split with the same tags and the words changed: ``"lower"`` (lower-cased),
    ``"typos"`` (``add_typos`` at ``rate``) or ``"swap"`` (every entity replaced by a mention of the
    same type from ``pool``)."""
    from .transfer import replace_mentions

    rng = random.Random(seed)
    names = split.features["ner_tags"].feature.names
    rows = {"tokens": [], "ner_tags": []}
    for tokens, tags in zip(split["tokens"], split["ner_tags"]):
        if kind == "lower":
            new_tokens, new_tags = [t.lower() for t in tokens], list(tags)
        elif kind == "typos":
            new_tokens, new_tags = add_typos(tokens, rate, rng), list(tags)
        elif kind == "swap":
            if pool is None:
                raise BmcourseError("an entity swap needs a pool of mentions", fix="pass pool=unseen_mentions(...)")
            words, named = replace_mentions(tokens, [names[t] for t in tags], pool, rng)
            new_tokens, new_tags = words, [names.index(t) for t in named]
        else:
            raise BmcourseError(f"unknown noise {kind!r}", fix="use 'lower', 'typos' or 'swap'")
        rows["tokens"].append(new_tokens)
        rows["ner_tags"].append(new_tags)
    from datasets import Dataset, Features

    return Dataset.from_dict(rows, features=Features({k: split.features[k] for k in ("tokens", "ner_tags")}))


def unseen_mentions(pool_split: Any, seen_split: Any) -> dict[str, list[list[str]]]:
    """Entity mentions of ``pool_split`` by type that never occur (same words) in ``seen_split``:
    names the model was not trained on."""
    from .transfer import mentions_by_type

    seen = {tuple(m) for mentions in mentions_by_type(seen_split).values() for m in mentions}
    return {kind: [m for m in mentions if tuple(m) not in seen]
            for kind, mentions in mentions_by_type(pool_split).items()}


def leaked_entities(gold: Sequence[str], pred: Sequence[str]) -> list[Any]:
    """One sentence's gold entities (``tagging.Span``) that redaction would leave partly visible:
    at least one of their words is outside every predicted entity, whatever its type."""
    from .tagging import repair_for_display

    hidden = {i for span in spans(repair_for_display(list(pred))) for i in range(span.start, span.end)}
    return [span for span in spans(list(gold)) if any(i not in hidden for i in range(span.start, span.end))]


def leak_rate(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, float]:
    """Per gold entity type, the share of entities that leak (``leaked_entities``)."""
    counts: dict[str, list[int]] = {}
    for g, p in zip(gold, pred):
        leaked = leaked_entities(g, p)
        for span in spans(list(g)):
            counts.setdefault(span.type, []).append(span in leaked)
    return {kind: statistics.fmean(flags) for kind, flags in sorted(counts.items())}
