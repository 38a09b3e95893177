"""Adversarial training with the Fast Gradient Method (notebook 05): perturb the word embeddings
along their normalised gradient, add that loss's gradients, restore the embeddings exactly; it
works under gradient accumulation, one extra forward and backward pass per micro-batch.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ..errors import BmcourseError
from ..i18n import tr as _
from .runtime import autocast


def word_embeddings(model: torch.nn.Module) -> torch.nn.Parameter:
    """The model's word-embedding matrix (the table adversarial training perturbs)."""
    model = getattr(model, "module", model)  # a DistributedDataParallel wrapper holds the model as .module
    getter = getattr(model, "get_input_embeddings", None)
    if getter is None and hasattr(model, "encoder"):
        getter = getattr(model.encoder, "get_input_embeddings", None)
    if getter is None:
        raise BmcourseError(_("{model} has no get_input_embeddings()").format(model=type(model).__name__),
                            fix=_("adversarial training needs a Hugging Face model (or one with .encoder)"))
    return getter().weight


def fgm_delta(gradient: torch.Tensor, epsilon: float) -> torch.Tensor:
    """The FGM perturbation: ``epsilon`` times the gradient divided by its (whole-tensor) L2 norm."""
    return epsilon * gradient / gradient.norm()


def fgm_backward(model: torch.nn.Module, batch: dict[str, torch.Tensor] | Sequence[dict[str, torch.Tensor]],
                 epsilon: float, target: torch.device, bf16: bool = True,
                 backward: Callable[[torch.Tensor], None] | None = None) -> float:
    """Fast Gradient Method (Miyato et al. 2017): after the clean backward pass, move the word
    embeddings ``epsilon`` along their normalised gradient, add that loss's gradients, move back.

    ``batch`` may be the micro-batches of one optimizer step (gradient accumulation): the step is
    taken along their accumulated gradient and each adds its adversarial loss through ``backward``
    (``accelerator.backward`` divides by the accumulation steps), so it equals FGM on the whole
    batch. One extra forward and backward pass per micro-batch; returns the mean adversarial loss."""
    batches = [batch] if isinstance(batch, dict) else list(batch)
    backward = backward or (lambda loss: loss.backward())
    weight = word_embeddings(model)
    if weight.grad is None or not weight.requires_grad:
        raise BmcourseError(_("adversarial training needs gradients on the word embeddings"),
                            fix=_("unfreeze the embeddings, or set TrainConfig.adversarial=0"))
    norm = weight.grad.norm()
    if not torch.isfinite(norm) or norm == 0:
        return float("nan")
    rows = weight.grad.abs().sum(-1).nonzero().squeeze(-1)  # only the batch's tokens have a gradient
    delta = fgm_delta(weight.grad[rows], epsilon)  # the other rows are zero: same norm, no full-table copy
    losses = []
    with torch.no_grad():
        saved = weight[rows].clone()
        weight[rows] += delta
    try:
        for one in batches:
            with autocast(target, bf16):
                adversarial_loss = model(**one).loss
            backward(adversarial_loss)
            losses.append(float(adversarial_loss.detach()))
    finally:
        with torch.no_grad():
            weight[rows] = saved  # restored exactly, not by subtracting (rounding)
    return sum(losses) / len(losses)

