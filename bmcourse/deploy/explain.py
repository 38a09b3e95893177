"""Attributions (notebook 05, section 3): which input tokens a prediction rests on, by Captum's
Integrated Gradients through the word embeddings, with the usual ``[PAD]`` baseline and a check
that the attributions add up to the change of the explained logit (completeness).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


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
