"""Faster variants of a tagger (notebook 05, section 2): export to ONNX, ONNX Runtime's fusions
and int8 quantisation (with a check that the int8 arithmetic is exact on every x86 CPU), and every
variant measured side by side on the same sentences: latency, throughput, size, F1 and drift.
"""
from __future__ import annotations

import contextlib
import io
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..errors import BmcourseError
from ..i18n import tr as _
from .serve import OrtRunner, Runner, TorchRunner

if TYPE_CHECKING:
    from ..train import Feature


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
        raise BmcourseError(_("ONNX export of {model} failed: {error}").format(model=type(model).__name__, error=error),
                            fix=_("check that onnx and onnxscript are installed (pip install onnx onnxscript)")
                            ) from None
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
        raise BmcourseError(_("{path} holds no 8-bit weight matrix").format(path=path),
                            fix=_("pass a file written by quantize_int8"))
    return [name for name, w in weights.items()
            if w.dtype == np.int8 and 2 * 255 * int(np.abs(w.astype(np.int32)).max()) > INT16_MAX]


def batch_logits(runner: Runner | Callable, features: Sequence[Feature], batch_size: int = 32,
                 pad_id: int = 0) -> list[torch.Tensor]:
    """Each feature's logits (its real positions only), computed in length-sorted padded batches."""
    from ..train import length_sorted_batches

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
    from ..train import decode_logits, gold_and_predicted_tags

    preds = [decode_logits(row.unsqueeze(0), [feature], labels, decode)[0] for row, feature in zip(logits, features)]
    return gold_and_predicted_tags(features, preds, dict(enumerate(labels)))


def latency_ms(runner: Runner | Callable, features: Sequence[Feature], n: int = 200, warmup: int = 10
               ) -> dict[str, float]:
    """Batch-1 latency of the model call over the first ``n`` features (after ``warmup`` calls):
    median (p50) and 95th percentile in ms. Tokenising and decoding are not included (they are the
    same for every variant)."""
    chosen = list(features[:n])
    if not chosen:
        raise BmcourseError(_("no sentences to time"), fix=_("pass at least one encoded sentence"))
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
                   rounds: int = 3, tick: Callable[[], Any] | None = None) -> list[dict[str, float]]:
    """``latency_ms`` per runner in ``rounds`` rounds that take the runners in turn (a whole block of
    sentences each, not call by call: the thread pools of PyTorch and ONNX Runtime keep spinning
    after a call and would slow each other down); the median of the rounds' p50 and p95. A busy
    moment of the machine then hits one round, not one variant's only measurement."""
    pooled: list[list[dict[str, float]]] = [[] for _ in runners]
    for _round in range(rounds):
        for k, runner in enumerate(runners):
            pooled[k].append(latency_ms(runner, features, n))
            if tick is not None:  # e.g. a progress bar's update
                tick()
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

    def row(self) -> dict[str, Any]:
        """The JSON row of ``bmcourse bench inference`` (rounded; the noise floor is not a result)."""
        return {"name": self.name, "p50_ms": round(self.p50_ms, 2), "p95_ms": round(self.p95_ms, 2),
                "throughput_per_s": round(self.throughput_per_s, 1), "size_mb": self.size_mb,
                "test_f1": round(self.test_f1, 4), "max_logit_diff": float(f"{self.max_logit_diff:.3g}"),
                "tag_agreement": round(self.tag_agreement, 5)}


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
    from ..metrics import ner_report
    from ..train import progress_bar

    rows, reference_logits, reference_tags = [], None, None
    bar = progress_bar(len(runners) * (rounds + 1), _("variants (latency rounds, then the test set)"), progress)
    latencies = latency_rounds(runners, features, n=latency_sentences, rounds=rounds, tick=lambda: bar.update(1))
    for runner, speed in zip(runners, latencies):
        start = time.perf_counter()
        logits = batch_logits(runner, features, batch_size, pad_id)
        rate = len(features) / max(1e-9, time.perf_counter() - start)
        gold, pred = tags_from_logits(features, logits, labels)
        if reference_logits is None:
            reference_logits, reference_tags = logits, pred
        rows.append(Variant(runner.name, speed["p50_ms"], speed["p95_ms"], rate, runner.size_mb(),
                            ner_report(gold, pred)["f1"], logit_drift(reference_logits, logits),
                            tag_agreement(reference_tags, pred)))
        bar.update(1)
    bar.close()
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
