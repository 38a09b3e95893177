"""Inference and scoring: batches sorted by length, per-sub-word predictions (argmax or Viterbi
over valid IOB2), words put back together from chunks and sub-words, and ``evaluate``'s entity
scores (NER) or accuracy and macro F1 (classification), shared across ``accelerate`` processes.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch

from ..errors import BmcourseError
from ..i18n import tr as _
from ..models import label_names
from ..tagging import first_subword_positions, viterbi_iob2, word_predictions
from .features import Feature, collate, pad_id_of
from .runtime import autocast, eval_batch_size, processes, progress_bar, to_device


def length_sorted_batches(features: Sequence[Feature], batch_size: int, pad_id: int, target: torch.device,
                          part: tuple[int, int] = (0, 1)) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
    """``(feature indices, collated batch on target)`` over the features sorted by length (little padding);
    with ``part=(rank, processes)`` only every ``processes``-th batch, starting at ``rank`` (no padding, no repeats)."""
    rank, world = part
    order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
    for number, s in enumerate(range(0, len(order), batch_size)):
        if number % world != rank:
            continue
        indices = order[s:s + batch_size]
        batch = collate([features[i] for i in indices], pad_id)
        pin = target.type == "cuda"  # page-locked: the copy overlaps the GPU's work on the batch before
        yield indices, {k: (v.pin_memory() if pin else v).to(target, non_blocking=pin) for k, v in batch.items()}


@torch.inference_mode()
def subword_predictions(model: torch.nn.Module, features: Sequence[Feature], *, batch_size: int | None = None,
                        pad_id: int | None = None, device: str | None = None, progress: bool = True,
                        decode: str = "argmax", bf16: bool = True, split: bool = True
                        ) -> tuple[list[Any], float]:
    """Predictions per feature (a list per sub-word position, or a class id) and the mean loss.

    ``decode="viterbi"`` (token classification): the first sub-words of the words get the best
    *valid* IOB2 sequence (``tagging.viterbi_iob2``) instead of each position's own argmax.
    Under ``accelerate launch`` each process scores every N-th batch and all gather the rest
    (``split=False``: this process scores everything itself).
    """
    if decode not in ("argmax", "viterbi"):
        raise BmcourseError(_("decode={decode} is not a decoding").format(decode=repr(decode)),
                            fix=_("use 'argmax' or 'viterbi'"))
    _refuse_cut_words(features)
    pad_id = pad_id_of(features, pad_id) if features else 0
    rank, world = processes() if split else (0, 1)
    target = to_device(model, device)
    batch_size = eval_batch_size(batch_size, target)
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    model.eval()
    pairs: list[tuple[int, Any]] = []
    loss_sum = 0.0
    bar = progress_bar(len(features), _("predicting"), progress and rank == 0)
    for indices, batch in length_sorted_batches(features, batch_size, pad_id, target, part=(rank, world)):
        with autocast(target, bf16):
            output = model(**batch)
        loss_sum += float(output.loss) * len(indices)
        pairs.extend(zip(indices, decode_logits(output.logits, [features[i] for i in indices], names, decode)))
        bar.update(len(indices) * world)
    bar.close()
    if world > 1:  # every process gets every process's share (Accelerate's gather)
        from accelerate.utils import gather_object

        shares = gather_object([(pairs, loss_sum)])
        pairs = [pair for share, _ in shares for pair in share]
        loss_sum = sum(part for _, part in shares)
    return _in_feature_order(pairs, len(features)), loss_sum / max(1, len(features))


def _in_feature_order(pairs: Sequence[tuple[int, Any]], n: int) -> list[Any]:
    """The predictions of ``(feature index, prediction)`` pairs in feature order; every index exactly once."""
    out: list[Any] = [None] * n
    seen = [0] * n
    for i, prediction in pairs:
        out[i] = prediction
        seen[i] += 1
    if any(count != 1 for count in seen):
        twice, missing = sum(c > 1 for c in seen), sum(c == 0 for c in seen)
        raise BmcourseError(_("evaluation saw {twice} features more than once and {missing} not at all").format(
                                twice=twice, missing=missing),
                            fix=_("every process must call evaluate() on the same features"))
    return out


def decode_logits(logits: torch.Tensor, features: Sequence[Feature], names: Sequence[str],
                  decode: str = "argmax") -> list[Any]:
    """One prediction per row of a padded batch of logits: a label id per real sub-word (token
    classification; Viterbi over the words' first sub-words with ``decode="viterbi"``) or a class id."""
    logits = logits.float()
    best = logits.argmax(-1).cpu()
    log_probs = logits.log_softmax(-1).cpu() if decode == "viterbi" and best.dim() == 2 else None
    out: list[Any] = []
    for row, feature in enumerate(features):
        n = len(feature["input_ids"])
        prediction = best[row, :n].tolist() if best.dim() == 2 else int(best[row])
        if log_probs is not None and "word_ids" in feature:
            firsts = first_subword_positions(feature["word_ids"])
            path = viterbi_iob2(log_probs[row, firsts].tolist(), names)
            for position, label in zip(firsts, path):
                prediction[position] = label
        out.append(prediction)
    return out


def _refuse_cut_words(features: Sequence[Feature]) -> None:
    """Scoring truncated training features would drop the cut words from gold: refuse, say why."""
    cut = [f for f in features if f.get("words_cut")]
    if cut:
        words = sum(f["words_cut"] for f in cut)
        raise BmcourseError(_("{cut} of these features were truncated for training ({words} words cut); "
                              "scoring them would leave those words out of the evaluation").format(
                                cut=len(cut), words=words),
                            fix=_("encode evaluation data with encode_ner(..., training=False): long "
                                  "sentences are then split into chunks and no word is lost"))


def gold_and_predicted_tags(features: Sequence[Feature], preds: Sequence[list[int]], id2label: dict[int, str]
               ) -> tuple[list[list[str]], list[list[str]]]:
    """Gold and predicted word tags per sentence (chunks put back together) from sub-word predictions."""
    gold: dict[int, list[str]] = {}
    pred: dict[int, list[str]] = {}
    for feature, sub in zip(features, preds):
        n = len(feature["word_labels"])
        words = word_predictions(feature["word_ids"], sub, n_words=n)
        gold.setdefault(feature["sentence"], []).extend(id2label[t] for t in feature["word_labels"])
        pred.setdefault(feature["sentence"], []).extend(id2label[t] for t in words)
    keys = sorted(gold)
    return [gold[k] for k in keys], [pred[k] for k in keys]


def _id2label(model: torch.nn.Module) -> dict[int, str]:
    return dict(enumerate(label_names(model)))


def predict(model: torch.nn.Module, features: Sequence[Feature], *, batch_size: int | None = None,
            pad_id: int | None = None, device: str | None = None, progress: bool = True,
            decode: str = "argmax", bf16: bool = True) -> list[Any]:
    """Word tags per sentence (token classification) or label names (sequence classification)."""
    preds, _ = subword_predictions(model, features, batch_size=batch_size, pad_id=pad_id,
                                   device=device, progress=progress, decode=decode, bf16=bf16)
    id2label = _id2label(model)
    if features and "word_ids" in features[0]:
        return gold_and_predicted_tags(features, preds, id2label)[1]
    return [id2label[p] for p in preds]


def evaluate(model: torch.nn.Module, features: Sequence[Feature], *, batch_size: int | None = None,
             pad_id: int | None = None, device: str | None = None, progress: bool = True,
             decode: str = "argmax", bf16: bool = True, split: bool = True) -> dict[str, float]:
    """Loss plus entity-level scores (NER) or accuracy and macro F1 (classification); under
    ``accelerate launch`` the processes share the work and all get the same scores."""
    from .. import metrics

    preds, loss = subword_predictions(model, features, batch_size=batch_size, pad_id=pad_id,
                                      device=device, progress=progress, decode=decode, bf16=bf16, split=split)
    if features and "word_ids" in features[0]:
        gold, pred = gold_and_predicted_tags(features, preds, _id2label(model))
        return {"loss": loss, **metrics.ner_report(gold, pred)}
    gold_ids = [f["labels"] for f in features]
    return {"loss": loss, **metrics.classification_scores(gold_ids, preds)}


def word_tags(model: torch.nn.Module, features: Sequence[Feature], **kwargs: Any
              ) -> tuple[list[list[str]], list[list[str]]]:
    """``(gold, predicted)`` word tags per sentence, for reports and error analysis."""
    preds, _ = subword_predictions(model, features, **kwargs)
    return gold_and_predicted_tags(features, preds, _id2label(model))
