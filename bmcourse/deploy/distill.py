"""Knowledge distillation of a tagger (notebook 05): a fine-tuned teacher's temperature-softened
per-token distributions train a smaller student (the same checkpoint cut to its first layers),
and teacher and students are measured side by side: entity F1, parameters, size on disk, latency.
"""
from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from ..errors import BmcourseError
from ..i18n import tr as _

if TYPE_CHECKING:
    from ..train import Feature, FitResult, TrainConfig

IGNORE_INDEX = -100  # label of the positions no loss is taken on (padding, special tokens, continuation sub-words)


def _check_settings(temperature: float, alpha: float) -> None:
    """Refuse a temperature that is not positive or a weight outside [0, 1]."""
    if not temperature > 0:
        raise BmcourseError(_("temperature={temperature} must be positive").format(temperature=temperature),
                            fix=_("use T = 1 (the teacher's own distribution) or more (softer)"))
    if not 0.0 <= alpha <= 1.0:
        raise BmcourseError(_("alpha={alpha} must lie in [0, 1]").format(alpha=alpha),
                            fix=_("alpha weighs the teacher's term, 1 - alpha the gold labels' term"))


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor, *,
            temperature: float = 2.0, alpha: float = 0.5) -> torch.Tensor:
    """``alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(gold)``, averaged over the
    positions whose label is not -100 (``*_T``: softmax of the logits divided by T).

    The T^2 keeps the soft term's gradients the size of the gold term's whatever T is (Hinton et
    al., 2015): softening by T shrinks them by about 1/T^2."""
    _check_settings(temperature, alpha)
    if student_logits.shape != teacher_logits.shape:
        raise BmcourseError(_("student logits {student} and teacher logits {teacher} differ in shape").format(
                            student=tuple(student_logits.shape), teacher=tuple(teacher_logits.shape)),
                            fix=_("give both models the same batch, and the same labels in the same order"))
    if labels.shape != student_logits.shape[:-1]:
        raise BmcourseError(_("labels {labels} do not match the logits {logits}").format(
                            labels=tuple(labels.shape), logits=tuple(student_logits.shape)),
                            fix=_("pass one label per position (-100 where no loss is taken)"))
    kept = labels != IGNORE_INDEX
    if not bool(kept.any()):  # nothing to learn from: a zero that still belongs to the graph
        return student_logits.sum() * 0.0
    dtype = torch.promote_types(student_logits.dtype, torch.float32)  # bf16 logits: the loss in fp32
    student, teacher, gold = student_logits[kept].to(dtype), teacher_logits[kept].to(dtype), labels[kept]
    soft = F.kl_div(F.log_softmax(student / temperature, dim=-1), F.log_softmax(teacher / temperature, dim=-1),
                    log_target=True, reduction="batchmean")  # sum over labels, mean over positions
    hard = F.cross_entropy(student, gold)
    return alpha * temperature ** 2 * soft + (1.0 - alpha) * hard


@torch.inference_mode()
def soft_labels(teacher: torch.nn.Module, feature: Feature, temperature: float = 2.0) -> torch.Tensor:
    """The teacher's softened distribution (softmax of logits / T) on each word's first sub-word of
    one encoded sentence: ``[words, labels]``, rows in word order."""
    _check_settings(temperature, 0.0)
    device = next(teacher.parameters()).device
    teacher.eval()
    ids = torch.tensor([feature["input_ids"]], device=device)
    logits = teacher(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0].float().cpu()
    kept = torch.tensor(feature["labels"]) != IGNORE_INDEX
    return torch.softmax(logits[kept] / temperature, dim=-1)


def checkpoint_layers(name: str = "auto") -> int:
    """How many transformer layers the checkpoint ``name`` has (read from its config, nothing loaded)."""
    from transformers import AutoConfig

    from ..models import resolve_model

    return int(AutoConfig.from_pretrained(resolve_model(name), trust_remote_code=False).num_hidden_layers)


def truncated_student(labels: Sequence[str] | Any, layers: int, name: str = "auto", **overrides: Any
                      ) -> tuple[Any, Any]:
    """A tagger built from the pre-trained checkpoint ``name`` (safetensors) keeping only its first
    ``layers`` transformer layers (embeddings and those layers' weights as pre-trained), with a
    fresh token-classification head; and its tokenizer."""
    from ..models import load_token_classifier

    total = checkpoint_layers(name)
    if not 1 <= layers < total:
        raise BmcourseError(_("a student with {layers} layer(s) from a {total}-layer checkpoint").format(
                            layers=layers, total=total),
                            fix=_("keep between 1 and {most} layers: fewer than the checkpoint has").format(
                                most=total - 1))
    return load_token_classifier(labels, name=name, num_hidden_layers=layers, **overrides)


class Distiller(torch.nn.Module):
    """The student with a frozen teacher beside it: called like a Hugging Face tagger (so ``fit``
    trains it), its loss is :func:`kd_loss` on the teacher's logits for the same batch."""

    def __init__(self, student: torch.nn.Module, teacher: torch.nn.Module, *, temperature: float = 2.0,
                 alpha: float = 0.5) -> None:
        super().__init__()
        _check_settings(temperature, alpha)
        _check_pair(student, teacher)
        self.student, self.teacher = student, teacher
        self.temperature, self.alpha = temperature, alpha
        self.config = student.config  # what fit and evaluate read (labels)

    def train(self, mode: bool = True) -> Distiller:
        """Train mode for the student only: the teacher stays in eval mode (no dropout in its soft labels)."""
        super().train(mode)
        self.teacher.eval()
        return self

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, **kwargs: Any) -> Any:
        """The student's logits; with ``labels``, the distillation loss as ``.loss``."""
        from transformers.modeling_outputs import TokenClassifierOutput

        out = self.student(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        if labels is None:
            return out
        with torch.no_grad():
            teacher = self.teacher(input_ids=input_ids, attention_mask=attention_mask, **kwargs).logits
        loss = kd_loss(out.logits, teacher, labels, temperature=self.temperature, alpha=self.alpha)
        return TokenClassifierOutput(loss=loss, logits=out.logits)


def _check_pair(student: Any, teacher: Any) -> None:
    """Refuse a student and teacher that do not share labels and vocabulary (soft labels would not line up)."""
    from ..models import label_names

    if label_names(student) != label_names(teacher):
        raise BmcourseError(_("the student's labels {student} are not the teacher's {teacher}").format(
                            student=label_names(student), teacher=label_names(teacher)),
                            fix=_("build the student with the teacher's labels: "
                                  "truncated_student(label_names(teacher), ...)"))
    if student.config.vocab_size != teacher.config.vocab_size:
        raise BmcourseError(_("the student's vocabulary ({student}) is not the teacher's ({teacher}): "
                              "their token ids mean different things").format(
                            student=student.config.vocab_size, teacher=teacher.config.vocab_size),
                            fix=_("build the student from the teacher's checkpoint, so they share the tokenizer"))


def distil(student: torch.nn.Module, teacher: torch.nn.Module, train: Sequence[Feature],
           dev: Sequence[Feature] | None = None, config: TrainConfig | None = None, *,
           temperature: float = 2.0, alpha: float = 0.5) -> FitResult:
    """Train ``student`` in place with ``fit`` on :func:`kd_loss` against ``teacher`` (frozen for the
    run, its ``requires_grad`` flags restored after); the same recipe as a gold-only ``fit``."""
    from ..train import fit

    wrapped = Distiller(student, teacher, temperature=temperature, alpha=alpha)
    flags = [p.requires_grad for p in teacher.parameters()]
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    try:
        return fit(wrapped, train, dev, config)
    finally:
        for parameter, flag in zip(teacher.parameters(), flags):
            parameter.requires_grad_(flag)


def size_on_disk_mb(model: Any) -> float:
    """Size of the model's weights saved as safetensors (MB = 10^6 bytes), as a service would load them."""
    with tempfile.TemporaryDirectory(prefix="bmcourse-size-") as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        return round(sum(p.stat().st_size for p in Path(tmp).glob("*.safetensors")) / 1e6, 1)


def measure_taggers(models: Mapping[str, Any], features: Sequence[Feature], *, latency_sentences: int = 200,
                    rounds: int = 3, decode: str = "viterbi", progress: bool = False) -> list[dict[str, Any]]:
    """Per tagger: layers, parameters, size on disk, entity F1 on ``features``, and batch-1 CPU latency
    per sentence (``onnx.latency_rounds``: the model call only, rounds taking the taggers in turn).
    Measured on the CPU (``progress``: a bar per tagger scored); each model goes back to its own device."""
    from ..models import count_parameters
    from ..train import evaluate
    from .onnx import latency_rounds
    from .serve import TorchRunner

    if not models:
        raise BmcourseError(_("no taggers to measure"), fix=_("pass {'name': model, ...}"))
    if not features:
        raise BmcourseError(_("no sentences to measure on"),
                            fix=_("pass encoded test sentences (encode_ner(..., training=False))"))
    devices = {name: next(model.parameters()).device for name, model in models.items()}
    rows = []
    for name, model in models.items():
        scores = evaluate(model, features, progress=progress, decode=decode, device="cpu")
        rows.append({"model": name, "layers": int(model.config.num_hidden_layers),
                     "parameters": count_parameters(model)[1], "size_mb": size_on_disk_mb(model),
                     "test_f1": round(float(scores["f1"]), 4)})
    speeds = latency_rounds([TorchRunner(model.eval(), name=name) for name, model in models.items()], features,
                            n=latency_sentences, rounds=rounds)
    for row, speed in zip(rows, speeds):
        row.update({"p50_ms": round(speed["p50_ms"], 2), "p95_ms": round(speed["p95_ms"], 2)})
    for name, model in models.items():  # back where the caller had them
        model.to(devices[name])
    return rows


def size_table(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Display rows without timings (they vary from run to run): layers, parameters, size, F1."""
    return [{"tagger": r["model"], "layers": str(r["layers"]), "parameters": f"{r['parameters'] / 1e6:.1f} M",
             "size": f"{r['size_mb']:.0f} MB", "test F1": f"{r['test_f1']:.3f}"} for r in rows]


def speed_table(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Display rows of the timings: p50 and p95 per sentence and the speed-up over the first row."""
    base = rows[0]["p50_ms"]
    return [{"tagger": r["model"], "p50 (batch 1, CPU)": f"{r['p50_ms']:.1f} ms",
             "p95 (batch 1, CPU)": f"{r['p95_ms']:.1f} ms", "speed-up (p50)": f"{base / r['p50_ms']:.1f}×"}
            for r in rows]
