"""Elastic weight consolidation (EWC, notebook 03): a regulariser against forgetting that keeps
no source sentences for training. It estimates how much each weight matters to the source task
(the diagonal Fisher information), then fine-tunes on the target with a penalty that pulls the
important weights back towards their source values: ``lam / 2 * sum F * (theta - theta*)**2``.

It runs on the same joint head, budget and seed as ``forgetting`` (plain fine-tuning and replay),
and its Fisher is estimated on the source sentences replay would mix in at the same ratio (or a
seeded share of them, at most as many as replay presents in one run).
"""
from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..errors import BmcourseError
from ..i18n import tr as _
from .forgetting import joint_labels, joint_tagger, relabelled, source_view
from .strategies import STRATEGY_LR

#: The penalty's strength the shipped continual_reference chose on validation data (refresh continual).
EWC_LAMBDA = 1e8


def fisher_diagonal(model: torch.nn.Module, features: Sequence[Any], *, batch_size: int = 16,
                    device: str | None = None, progress: bool = False) -> dict[str, torch.Tensor]:
    """Diagonal empirical Fisher of ``model`` on encoded ``features`` (gold labels), one tensor per
    trainable parameter: each batch's mean-loss gradient squared, averaged over the batches.

    Per batch, not per sentence (one backward pass per batch): the values come out smaller than a
    per-sentence Fisher, by up to the batch size, which the penalty's ``lam`` absorbs. Moves
    ``model`` to ``device`` and runs it in eval mode (no dropout); its ``.grad`` stays untouched."""
    from ..train import batch_indices, collate, pad_id_of
    from ..train.runtime import progress_bar, to_device

    if not features:
        raise BmcourseError(_("fisher_diagonal got no features"),
                            fix=_("pass encoded source sentences (encode_ner(split, tokenizer)), at least one"))
    if batch_size < 1:
        raise BmcourseError(f"fisher_diagonal: batch_size={batch_size}", fix=_("use 1 or more sentences per batch"))
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise BmcourseError(_("fisher_diagonal: the model has no trainable parameters"),
                            fix=_("unfreeze the parameters the penalty should protect (requires_grad=True)"))
    pad_id = pad_id_of(features)
    target = to_device(model, device)
    was_training = model.training
    model.eval()
    sums = {name: torch.zeros_like(p) for name, p in named}
    batches = batch_indices([len(f["input_ids"]) for f in features], batch_size, shuffle=False)
    used = 0
    bar = progress_bar(len(batches), _("Fisher"), progress)
    try:
        for indices in batches:
            batch = {k: v.to(target) for k, v in collate([features[i] for i in indices], pad_id).items()}
            bar.update(1)
            if not bool((batch["labels"] != -100).any()):
                continue  # no labelled word: no loss, no information
            grads = torch.autograd.grad(model(**batch).loss, [p for _, p in named], allow_unused=True)
            for (name, _param), grad in zip(named, grads):
                if grad is not None:
                    sums[name] += grad.detach() ** 2
            used += 1
    finally:
        bar.close()
        model.train(was_training)
    if not used:
        raise BmcourseError(_("fisher_diagonal: no batch has a labelled word"), fix=_("pass sentences with tags"))
    return {name: total / used for name, total in sums.items()}


def _checked(params: Mapping[str, torch.Tensor], anchor: Mapping[str, torch.Tensor],
             fisher: Mapping[str, torch.Tensor], lam: float) -> None:
    """Raise ``BmcourseError`` unless every Fisher entry has a parameter and an anchor of its shape."""
    if not isinstance(lam, (int, float)) or not lam >= 0 or lam == float("inf"):
        raise BmcourseError(_("EWC penalty: lam={lam}").format(lam=repr(lam)),
                            fix=_("use a finite number >= 0 (0 turns the penalty off)"))
    for name, f in fisher.items():
        for what, values in ((_("parameters"), params), (_("anchor (theta*)"), anchor)):
            if name not in values:
                raise BmcourseError(_("EWC penalty: the Fisher has {name} but the {what} do not").format(
                                        name=repr(name), what=what),
                                    fix=_("estimate the Fisher on the model whose parameters you pass "
                                          "(the same names: fisher_diagonal, then on_joint for a joint head)"))
            if tuple(values[name].shape) != tuple(f.shape):
                raise BmcourseError(_("EWC penalty: {name} has shape {shape} in the {what} "
                                      "but {fisher_shape} in the Fisher").format(
                                        name=repr(name), shape=tuple(values[name].shape), what=what,
                                        fisher_shape=tuple(f.shape)),
                                    fix=_("pass the Fisher, anchor and parameters of the same model"))


def ewc_penalty(params: Mapping[str, torch.Tensor], anchor: Mapping[str, torch.Tensor],
                fisher: Mapping[str, torch.Tensor], lam: float) -> torch.Tensor:
    """``lam / 2 * sum F * (theta - theta*)**2`` over the parameters named in ``fisher``: zero at
    the source weights, growing fastest for the weights the source task relies on most."""
    _checked(params, anchor, fisher, lam)
    terms = [(f * (params[name] - anchor[name]) ** 2).sum() for name, f in fisher.items()]
    return lam / 2 * sum(terms, torch.zeros(()))


def penalty_gradient(params: Mapping[str, torch.Tensor], anchor: Mapping[str, torch.Tensor],
                     fisher: Mapping[str, torch.Tensor], lam: float) -> dict[str, torch.Tensor]:
    """The penalty's gradient by hand, ``lam * F * (theta - theta*)`` per parameter (autograd agrees)."""
    _checked(params, anchor, fisher, lam)
    return {name: lam * f * (params[name].detach() - anchor[name]) for name, f in fisher.items()}


def on_joint(values: Mapping[str, torch.Tensor], source: Any, joint: Any) -> dict[str, torch.Tensor]:
    """Per-parameter ``values`` of the source tagger laid out on the joint tagger's parameters: the
    encoder's as they are, the head's rows moved to the joint label order, zeros for the target's
    new rows (nothing to protect there)."""
    known = source.config.label2id
    rows = [known.get(joint.config.id2label[i]) for i in range(joint.config.num_labels)]
    out = {}
    for name, param in joint.named_parameters():
        if name not in values:
            continue
        value = values[name]
        if name.split(".")[0] == "classifier":
            placed = torch.zeros(param.shape, dtype=value.dtype, device=value.device)
            for i, row in enumerate(rows):
                if row is not None:
                    placed[i] = value[row]
            value = placed
        elif tuple(value.shape) != tuple(param.shape):
            raise BmcourseError(_("on_joint: {name} has shape {shape} on the source tagger but "
                                  "{joint_shape} on the joint one").format(
                                    name=repr(name), shape=tuple(value.shape), joint_shape=tuple(param.shape)),
                                fix=_("build the joint tagger from this source tagger (tr.joint_tagger)"))
        out[name] = value
    return out


class Consolidated(torch.nn.Module):
    """``model`` whose training loss carries the EWC penalty (``fit`` trains it like any model);
    the Fisher and the anchor move with it as buffers."""

    def __init__(self, model: torch.nn.Module, anchor: Mapping[str, torch.Tensor],
                 fisher: Mapping[str, torch.Tensor], lam: float) -> None:
        super().__init__()
        params = dict(model.named_parameters())
        _checked(params, anchor, fisher, lam)
        self.model, self.lam, self.names = model, float(lam), list(fisher)
        for i, name in enumerate(self.names):
            self.register_buffer(f"fisher_{i}", fisher[name].detach().clone(), persistent=False)
            self.register_buffer(f"anchor_{i}", anchor[name].detach().clone(), persistent=False)

    def penalty(self) -> torch.Tensor:
        """The EWC penalty at the model's current weights."""
        params = dict(self.model.named_parameters())
        return ewc_penalty({n: params[n] for n in self.names},
                           {n: getattr(self, f"anchor_{i}") for i, n in enumerate(self.names)},
                           {n: getattr(self, f"fisher_{i}") for i, n in enumerate(self.names)}, self.lam)

    def forward(self, **batch: Any) -> Any:
        """The model's output, with the penalty added to its loss (when there is a loss and lam > 0)."""
        out = self.model(**batch)
        if self.lam and getattr(out, "loss", None) is not None:
            out.loss = out.loss + self.penalty().to(out.loss.dtype)
        return out


def fisher_rows(n_source: int, n_target: int, ratio: float, seed: int, at_most: int | None = None) -> list[int]:
    """The source rows ``forgetting(replay=ratio, seed=seed)`` mixes in (``ratio`` per target
    sentence), or a seeded ``at_most`` of them: the sentences the Fisher is estimated on."""
    n = min(int(round(ratio * n_target)), n_source)
    rows = random.Random(seed).sample(range(n_source), n) if n > 0 else []
    if at_most is not None and len(rows) > at_most:
        rows = random.Random(seed).sample(rows, max(0, at_most))
    return sorted(rows)


def ewc_forgetting(source: Any, tokenizer: Any, source_data: Any, target_data: Any, *, lam: float = EWC_LAMBDA,
                   fisher_ratio: float = 0.5, fisher_at_most: int | None = None, epochs: float = 3.0,
                   lr: float = STRATEGY_LR["full"], batch_size: int = 16, seed: int = 0,
                   evaluate_on: str = "test", eval_sample: int | None = None, device: str | None = None,
                   progress: bool = False) -> dict[str, Any]:
    """``forgetting`` with EWC instead of replay: the Fisher on the source rows replay would mix in
    (``fisher_ratio`` per target sentence, at most ``fisher_at_most``), then the target alone with the
    penalty; the same joint head, epochs, rate and seed (``lam=0`` is plain fine-tuning). Returns
    both tasks' F1 on ``evaluate_on`` (a fixed ``eval_sample`` of it, or all) and the seconds."""
    import copy

    from ..config import seed_everything
    from ..train import TrainConfig, encode_ner, evaluate, fit
    from .fewshot import fixed_sample

    if evaluate_on not in ("test", "validation"):
        raise BmcourseError(f"ewc_forgetting: evaluate_on={evaluate_on!r}",
                            fix=_("use 'validation' to choose lam, 'test' to report"))
    source_labels = source_data["train"].features["ner_tags"].feature.names
    labels = joint_labels(source_labels, target_data["train"].features["ner_tags"].feature.names)
    rows = fisher_rows(source_data["train"].num_rows, target_data["train"].num_rows, fisher_ratio, seed,
                       fisher_at_most)
    if not rows:
        raise BmcourseError(_("ewc_forgetting: fisher_ratio={ratio} (at most {at_most}) picks no "
                              "source sentence for the Fisher").format(ratio=fisher_ratio, at_most=fisher_at_most),
                            fix=_("use a ratio > 0 (0.5: half as many source sentences as target sentences)"))
    seed_everything(seed)
    model = joint_tagger(source, labels)  # the same fresh head rows as forgetting() draws
    started = time.perf_counter()
    fisher_features = encode_ner(source_data["train"].select(rows), tokenizer, quiet=True)
    fisher = fisher_diagonal(copy.deepcopy(source), fisher_features, batch_size=batch_size, device=device,
                             progress=progress)
    fisher_seconds = time.perf_counter() - started
    anchor = {name: p.detach().clone() for name, p in model.named_parameters()}  # theta*: the source weights
    train = encode_ner(relabelled(target_data["train"], labels), tokenizer, quiet=True)
    result = fit(Consolidated(model, anchor, on_joint(fisher, source, model), lam), train, None,
                 TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, progress=progress, device=device))
    target_scored = encode_ner(relabelled(fixed_sample(target_data[evaluate_on], eval_sample), labels), tokenizer,
                               training=False)
    source_scored = encode_ner(fixed_sample(source_data[evaluate_on], eval_sample), tokenizer, training=False)
    return {"target_f1": evaluate(model, target_scored, device=device, progress=False)["f1"],
            "source_f1": evaluate(source_view(model, source_labels), source_scored, device=device,
                                  progress=False)["f1"],
            "train_seconds": result.train_seconds, "fisher_seconds": fisher_seconds,
            "fisher_sentences": len(rows), "lam": lam}
