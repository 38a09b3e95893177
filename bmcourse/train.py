"""``fit`` / ``evaluate`` / ``predict``: the training loop notebook 02 writes by hand, plus the
practical parts: dynamic padding, length-grouped batches, AdamW without decay on bias and
LayerNorm, warm-up and linear decay, gradient clipping, bf16 autocast on CUDA, early stopping
on dev F1 with the best checkpoint kept, progress bars, and a history returned as data.

``fit`` and ``evaluate`` run through Hugging Face Accelerate: bf16 autocast on CUDA, gradient
accumulation (``TrainConfig.grad_accum``) and, started with ``accelerate launch``, data-parallel
training and evaluation across processes (``batch_size`` is per process; see README, "Scaling up").

Works for token classification (features from ``encode_ner``) and sequence classification
(features from ``encode_classification``), also for frozen or partly trainable models.
"""
from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .errors import BmcourseError
from .models import save_model  # noqa: F401  (kept importable from here; it lives with the loaders)
from .tagging import (
    IGNORE_INDEX,
    align_labels,
    first_subword_positions,
    inside_label_ids,
    viterbi_iob2,
    word_chunks,
    word_predictions,
)

Feature = dict[str, Any]


# --- encoding --------------------------------------------------------------------------------

def _max_length(tokenizer: Any, max_length: int | None) -> int:
    limit = min(int(getattr(tokenizer, "model_max_length", 512) or 512), 512)
    return min(max_length, limit) if max_length else limit


def encode_ner(split: Any, tokenizer: Any, *, label_all_subwords: bool = False,
               max_length: int | None = None, training: bool = True,
               label_names: Sequence[str] | None = None, quiet: bool = False) -> list[Feature]:
    """Tokenise word-tagged sentences and align labels to sub-words (first sub-word labelled).

    ``split`` is a dataset split (``tokens``, ``ner_tags``) or a list of word lists. With
    ``training=True`` over-long sentences are truncated to ``max_length`` and counted in a
    notice; with ``training=False`` they are cut into word chunks, so no word is lost.
    """
    if isinstance(split, (list, tuple)):
        sentences, tags = [list(s) for s in split], [[0] * len(s) for s in split]
    else:
        sentences, tags = split["tokens"], split["ner_tags"]
        if label_names is None:
            label_names = split.features["ner_tags"].feature.names
    inside = inside_label_ids(label_names) if label_all_subwords and label_names else None
    limit = _max_length(tokenizer, max_length)
    pad_id = tokenizer_pad_id(tokenizer)
    features: list[Feature] = []
    truncated = 0
    for start in range(0, len(sentences), 1000):
        words_batch = sentences[start:start + 1000]
        enc = tokenizer(words_batch, is_split_into_words=True, truncation=False)
        for k, words in enumerate(words_batch):
            index = start + k
            word_ids = enc.word_ids(k)
            if len(word_ids) <= limit:
                features.append(_ner_feature(enc["input_ids"][k], word_ids, tags[index], index, 0,
                                             label_all_subwords, inside, pad_id))
                continue
            if training:
                truncated += 1
                ids = enc["input_ids"][k][:limit - 1] + [enc["input_ids"][k][-1]]
                wids = word_ids[:limit - 1] + [None]
                kept = 1 + max(w for w in wids if w is not None)  # words whose first sub-word survived
                feature = _ner_feature(ids, wids, tags[index][:kept], index, 0, label_all_subwords,
                                       inside, pad_id)
                feature["words_cut"] = len(words) - kept
                features.append(feature)
                continue
            counts = [0] * len(words)
            for w in word_ids:
                if w is not None:
                    counts[w] += 1
            for lo, hi in word_chunks(counts, limit - 2):
                sub = tokenizer(words[lo:hi], is_split_into_words=True, truncation=True, max_length=limit)
                features.append(_ner_feature(sub["input_ids"], sub.word_ids(), tags[index][lo:hi],
                                             index, lo, label_all_subwords, inside, pad_id))
    if truncated and not quiet:
        print(f"bmcourse: truncated {truncated} of {len(sentences)} training sentences to "
              f"{limit} sub-words (their tail words are not trained on)")
    return features


def tokenizer_pad_id(tokenizer: Any) -> int:
    """The tokenizer's own pad id (BERT pads with 0, RoBERTa with 1): never a guessed default."""
    pad_id = getattr(tokenizer, "pad_token_id", None)
    if pad_id is None:
        raise BmcourseError(f"the tokenizer {type(tokenizer).__name__} has no pad token",
                            fix="set one first, e.g. tokenizer.pad_token = tokenizer.eos_token")
    return int(pad_id)


def _ner_feature(input_ids: list[int], word_ids: list[int | None], word_labels: Sequence[int],
                 sentence: int, offset: int, label_all_subwords: bool,
                 inside: Sequence[int] | None, pad_id: int) -> Feature:
    return {"input_ids": list(input_ids), "attention_mask": [1] * len(input_ids),
            "labels": align_labels(word_ids, word_labels, label_all_subwords, inside),
            "word_ids": list(word_ids), "word_labels": list(word_labels),
            "sentence": sentence, "offset": offset, "pad_id": pad_id}


def encode_classification(split: Any, tokenizer: Any, *, max_length: int | None = 128,
                          quiet: bool = False) -> list[Feature]:
    """Tokenise texts (``text``, ``label``) for sequence classification; truncation is counted."""
    texts = list(split["text"]) if not isinstance(split, (list, tuple)) else list(split)
    labels = list(split["label"]) if not isinstance(split, (list, tuple)) else [0] * len(texts)
    limit = _max_length(tokenizer, max_length)
    enc = tokenizer(texts, truncation=True, max_length=limit)
    full = sum(len(ids) >= limit for ids in enc["input_ids"])
    if full and not quiet:
        print(f"bmcourse: {full} of {len(texts)} texts reach {limit} sub-words and may be truncated")
    pad_id = tokenizer_pad_id(tokenizer)
    return [{"input_ids": ids, "attention_mask": [1] * len(ids), "labels": label, "sentence": i,
             "pad_id": pad_id} for i, (ids, label) in enumerate(zip(enc["input_ids"], labels))]


# --- batching --------------------------------------------------------------------------------

def pad_id_of(features: Sequence[Feature], pad_id: int | None = None) -> int:
    """``pad_id`` if given, else the tokenizer's pad id recorded in the features by ``encode_*``."""
    if pad_id is not None:
        return pad_id
    recorded = features[0].get("pad_id") if features else None
    if recorded is None:
        raise BmcourseError("no pad id: these features were not made by encode_ner/encode_classification",
                            fix="pass pad_id=tokenizer.pad_token_id")
    return int(recorded)


def collate(features: Sequence[Feature], pad_id: int | None = None) -> dict[str, torch.Tensor]:
    """Pad a batch to its longest member: ids with the tokenizer's pad id, mask with 0, token labels with -100."""
    pad_id = pad_id_of(features, pad_id)
    width = max(len(f["input_ids"]) for f in features)
    pad = lambda seq, value: list(seq) + [value] * (width - len(seq))  # noqa: E731
    batch = {"input_ids": torch.tensor([pad(f["input_ids"], pad_id) for f in features]),
             "attention_mask": torch.tensor([pad(f["attention_mask"], 0) for f in features])}
    first = features[0]["labels"]
    if isinstance(first, list):
        batch["labels"] = torch.tensor([pad(f["labels"], IGNORE_INDEX) for f in features])
    else:
        batch["labels"] = torch.tensor([f["labels"] for f in features])
    return batch


def batch_indices(lengths: Sequence[int], batch_size: int, *, shuffle: bool = True,
                  group_by_length: bool = True, seed: int = 0) -> list[list[int]]:
    """Batches of indices; grouped by length (little padding) within shuffled pools of 50 batches."""
    order = list(range(len(lengths)))
    rng = random.Random(seed)
    if shuffle:
        rng.shuffle(order)
    if group_by_length:
        pool = batch_size * 50
        order = [i for s in range(0, len(order), pool)
                 for i in sorted(order[s:s + pool], key=lambda j: -lengths[j])]
    batches = [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
    if shuffle and group_by_length:
        rng.shuffle(batches)
    return batches


# --- optimisation ----------------------------------------------------------------------------

def no_decay(name: str) -> bool:
    """True for parameters that get no weight decay: biases and LayerNorm weights."""
    lowered = name.lower()
    return lowered.endswith("bias") or "layernorm" in lowered or "layer_norm" in lowered


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float = 0.01) -> torch.optim.AdamW:
    """AdamW over the trainable parameters, without decay on biases and LayerNorm."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise BmcourseError("the model has no trainable parameters",
                            fix="unfreeze some parameters (requires_grad=True) before fit()")
    groups = [{"params": [p for n, p in named if not no_decay(n)], "weight_decay": weight_decay},
              {"params": [p for n, p in named if no_decay(n)], "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr)


def warmup_linear(step: int, total: int, warmup: int) -> float:
    """Learning-rate factor: linear warm-up to 1 over ``warmup`` steps, then linear decay to 0."""
    if step < warmup:
        return (step + 1) / max(1, warmup)
    return max(0.0, (total - step) / max(1, total - warmup))


@dataclass
class TrainConfig:
    """Settings of ``fit``; the defaults are the course's recommended recipe."""

    epochs: float = 1.0
    lr: float = 5e-5
    batch_size: int = 16
    weight_decay: float = 0.01
    warmup: float = 0.1            # fraction of the steps
    schedule: str = "linear"       # "linear" (warm-up + decay) or "constant"
    clip: float | None = 1.0       # max gradient norm; None = no clipping
    group_by_length: bool = True
    eval_every: int | None = None  # steps between dev evaluations; None = once per epoch
    patience: int | None = None    # evaluations without dev improvement before stopping
    max_steps: int | None = None
    eval_batch_size: int = 64
    seed: int = 0
    bf16: bool = True              # autocast to bfloat16 on CUDA
    checkpoint_dir: str | None = None
    progress: bool = True
    device: str | None = None
    decode: str = "argmax"         # how dev predictions are decoded: "argmax" or "viterbi"
    adversarial: float = 0.0       # FGM: size of the word-embedding perturbation along the gradient (0 = off)
    grad_accum: int = 1            # micro-batches per optimizer step (global batch: batch_size x processes x grad_accum)


@dataclass
class FitResult:
    """What ``fit`` returns: the history (one row per evaluation) and the training figures."""

    history: list[dict[str, float]] = field(default_factory=list)
    best: dict[str, float] = field(default_factory=dict)
    steps: int = 0
    train_seconds: float = 0.0
    useful_tokens: int = 0
    padded_tokens: int = 0
    stopped_early: bool = False

    @property
    def useful_tokens_per_second(self) -> float:
        """Non-padding tokens trained on per second of training."""
        return self.useful_tokens / self.train_seconds if self.train_seconds else 0.0


def progress_bar(total: int, desc: str, enabled: bool) -> Any:
    """A tqdm bar (off when ``enabled`` is false or ``TQDM_DISABLE`` is set; it leaves no line behind)."""
    from tqdm.auto import tqdm

    disabled = not enabled or os.environ.get("TQDM_DISABLE", "") in ("1", "true", "True")
    return tqdm(total=total, desc=desc, disable=disabled, leave=False)


def to_device(model: torch.nn.Module, wanted: str | None) -> torch.device:
    """Move ``model`` to ``wanted`` (default: ``config.device()``) and return that device."""
    from .config import device as default_device

    target = torch.device(wanted or default_device())
    model.to(target)
    return target


def _autocast(target: torch.device, bf16: bool) -> Any:
    enabled = bf16 and target.type == "cuda"
    return torch.autocast(device_type=target.type, dtype=torch.bfloat16, enabled=enabled)


def processes() -> tuple[int, int]:
    """``(this process's rank, number of processes)``: (0, 1) unless started with ``accelerate launch``."""
    from accelerate import PartialState

    # cpu=True where there is no GPU: processes started by `accelerate launch` then join with gloo
    # (Accelerate's MULTI_CPU); without it they would each run alone
    cpu = not torch.cuda.is_available() or os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
    state = PartialState(cpu=cpu)
    return state.process_index, state.num_processes


def is_main_process() -> bool:
    """True in the process that writes files and shows progress (the only one without ``accelerate launch``)."""
    return processes()[0] == 0


def _accelerator(target: torch.device, bf16: bool, grad_accum: int, alone: bool) -> Any:
    """The ``accelerate.Accelerator`` of one ``fit``: bf16 on CUDA, gradient accumulation, DDP when launched.

    Alone (one process) the model stays where ``target`` says (no device placement by Accelerate), and
    the mixed-precision setting of an earlier ``fit`` in the same kernel is cleared, not refused."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    if grad_accum < 1:
        raise BmcourseError(f"grad_accum={grad_accum}", fix="use 1 or more micro-batches per optimizer step")
    if alone:
        AcceleratorState._reset_state()  # keeps the process state; a notebook may fit with other settings later
    return Accelerator(mixed_precision="bf16" if bf16 and target.type == "cuda" else "no",
                       gradient_accumulation_steps=grad_accum, device_placement=not alone,
                       cpu=target.type == "cpu" and alone)


def shard_batches(batches: list[list[int]], rank: int, world: int) -> list[list[int]]:
    """This process's share of ``batches`` (every ``world``-th); the list is first padded from its start
    so every process takes the same number of steps (DDP needs that). One process: ``batches`` itself."""
    if world == 1:
        return batches
    padded = batches + batches[:(-len(batches)) % world]
    return padded[rank::world]


def _dev_score(metrics: dict[str, float]) -> float:
    for key in ("f1", "accuracy"):
        if key in metrics:
            return metrics[key]
    return -metrics["loss"]


def word_embeddings(model: torch.nn.Module) -> torch.nn.Parameter:
    """The model's word-embedding matrix (the table adversarial training perturbs)."""
    model = getattr(model, "module", model)  # a DistributedDataParallel wrapper holds the model as .module
    getter = getattr(model, "get_input_embeddings", None)
    if getter is None and hasattr(model, "encoder"):
        getter = getattr(model.encoder, "get_input_embeddings", None)
    if getter is None:
        raise BmcourseError(f"{type(model).__name__} has no get_input_embeddings()",
                            fix="adversarial training needs a Hugging Face model (or one with .encoder)")
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
        raise BmcourseError("adversarial training needs gradients on the word embeddings",
                            fix="unfreeze the embeddings, or set TrainConfig.adversarial=0")
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
            with _autocast(target, bf16):
                adversarial_loss = model(**one).loss
            backward(adversarial_loss)
            losses.append(float(adversarial_loss.detach()))
    finally:
        with torch.no_grad():
            weight[rows] = saved  # restored exactly, not by subtracting (rounding)
    return sum(losses) / len(losses)


def fit(model: torch.nn.Module, train: Sequence[Feature], dev: Sequence[Feature] | None = None,
        config: TrainConfig | None = None, *, pad_id: int | None = None, tokenizer: Any = None) -> FitResult:
    """Train ``model`` on encoded features; evaluate on ``dev`` and keep the best weights.

    With ``config.checkpoint_dir`` the best model is saved there with ``tokenizer``, so it loads.
    """
    config = config or TrainConfig()
    if not train:
        raise BmcourseError("no training features", fix="encode a non-empty training split first")
    if config.checkpoint_dir and tokenizer is None:
        raise BmcourseError("checkpoint_dir is set but no tokenizer was given: the checkpoint would not load",
                            fix="call fit(..., tokenizer=tokenizer)")
    pad_id = pad_id_of(train, pad_id)
    target = to_device(model, config.device)
    rank, world = processes()
    accelerator = _accelerator(target, config.bf16, config.grad_accum, alone=world == 1)
    if world > 1:  # started with `accelerate launch`: this process's device (cuda:<local rank>, or cpu)
        target = accelerator.device
        model.to(target)
    torch.manual_seed(config.seed)
    optimizer = make_optimizer(model, config.lr, config.weight_decay)
    lengths = [len(f["input_ids"]) for f in train]
    per_epoch = math.ceil(math.ceil(len(train) / config.batch_size / world) / config.grad_accum)  # updates
    total = config.max_steps or max(1, math.ceil(per_epoch * config.epochs))
    warmup = int(config.warmup * total)
    factor = (lambda s: warmup_linear(s, total, warmup)) if config.schedule == "linear" else (lambda s: 1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)  # stepped once per optimizer update
    # DDP when launched; on CUDA with bf16 the forward pass runs under autocast; alone on CPU: as given
    model, optimizer = accelerator.prepare(model, optimizer)
    plain = accelerator.unwrap_model(model)  # the model itself (config, saving, evaluation)
    trainable = [p for p in model.parameters() if p.requires_grad]
    eval_every = config.eval_every or per_epoch
    result = FitResult()
    best_score, best_state, waited = -math.inf, None, 0
    running, running_n = 0.0, 0
    bar = progress_bar(total, "training", config.progress and rank == 0)
    epoch, window = 0, []
    while result.steps < total and not result.stopped_early:
        batches = batch_indices(lengths, config.batch_size, shuffle=True,
                                group_by_length=config.group_by_length, seed=config.seed + epoch)
        epoch += 1
        for indices in shard_batches(batches, rank, world):
            model.train()
            start = time.perf_counter()
            batch = {k: v.to(target) for k, v in collate([train[i] for i in indices], pad_id).items()}
            window.append(batch)  # the micro-batches of this optimizer step
            with accelerator.accumulate(model):
                with _autocast(target, config.bf16):
                    loss = model(**batch).loss
                accelerator.backward(loss)  # divided by grad_accum
                if config.adversarial and accelerator.sync_gradients:  # FGM on the whole step's gradient
                    fgm_backward(model, window, config.adversarial, target, config.bf16, backward=accelerator.backward)
                if config.clip and accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(trainable, config.clip)
                optimizer.step()  # a no-op until grad_accum micro-batches have added up
                if accelerator.sync_gradients:
                    scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            if accelerator.sync_gradients:
                window = []
            if target.type == "cuda":
                torch.cuda.synchronize()
            result.train_seconds += time.perf_counter() - start
            result.useful_tokens += int(batch["attention_mask"].sum())
            result.padded_tokens += int(batch["attention_mask"].numel())
            running += float(loss.detach())
            running_n += 1
            if not accelerator.sync_gradients:
                continue
            result.steps += 1
            bar.update(1)
            bar.set_postfix(loss=f"{running / running_n:.3f}")
            last = result.steps >= total
            if result.steps % eval_every == 0 or last:
                row = {"epoch": round(result.steps / per_epoch, 3), "step": result.steps,
                       "train_loss": running / running_n, "lr": scheduler.get_last_lr()[0],
                       "train_seconds": result.train_seconds}
                running, running_n = 0.0, 0
                if dev is not None:  # every process takes part: each scores its share, then all gather
                    metrics = evaluate(plain, dev, batch_size=config.eval_batch_size, pad_id=pad_id,
                                       progress=False, device=str(target), decode=config.decode,
                                       bf16=config.bf16)
                    row.update({f"dev_{k}": v for k, v in metrics.items()})
                    score = _dev_score(metrics)
                    if score > best_score:
                        best_score, waited = score, 0
                        result.best = dict(row)
                        best_state = {k: v.detach().to("cpu", copy=True) for k, v in plain.state_dict().items()}
                        if config.checkpoint_dir and rank == 0:
                            from .models import save_model

                            save_model(plain, tokenizer, config.checkpoint_dir)
                    else:
                        waited += 1
                        if config.patience is not None and waited >= config.patience:
                            result.stopped_early = True
                result.history.append(row)
            if last or result.stopped_early:
                break
    bar.close()
    plain = accelerator.unwrap_model(model, keep_fp32_wrapper=False)  # the caller's model, forward as it was
    if best_state is not None:
        plain.load_state_dict(best_state)
    accelerator.free_memory()
    return result


# --- inference -------------------------------------------------------------------------------

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
        yield indices, {k: v.to(target) for k, v in collate([features[i] for i in indices], pad_id).items()}


@torch.inference_mode()
def subword_predictions(model: torch.nn.Module, features: Sequence[Feature], *, batch_size: int = 64,
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
        raise BmcourseError(f"decode={decode!r} is not a decoding", fix="use 'argmax' or 'viterbi'")
    _refuse_cut_words(features)
    pad_id = pad_id_of(features, pad_id) if features else 0
    rank, world = processes() if split else (0, 1)
    target = to_device(model, device)
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    model.eval()
    pairs: list[tuple[int, Any]] = []
    loss_sum = 0.0
    bar = progress_bar(len(features), "predicting", progress and rank == 0)
    for indices, batch in length_sorted_batches(features, batch_size, pad_id, target, part=(rank, world)):
        with _autocast(target, bf16):
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
        raise BmcourseError(f"evaluation saw {twice} features more than once and {missing} not at all",
                            fix="every process must call evaluate() on the same features")
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
        raise BmcourseError(f"{len(cut)} of these features were truncated for training ({words} words cut); "
                            "scoring them would leave those words out of the evaluation",
                            fix="encode evaluation data with encode_ner(..., training=False): long "
                                "sentences are then split into chunks and no word is lost")


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
    return {int(k): v for k, v in model.config.id2label.items()}


def predict(model: torch.nn.Module, features: Sequence[Feature], *, batch_size: int = 64,
            pad_id: int | None = None, device: str | None = None, progress: bool = True,
            decode: str = "argmax", bf16: bool = True) -> list[Any]:
    """Word tags per sentence (token classification) or label names (sequence classification)."""
    preds, _ = subword_predictions(model, features, batch_size=batch_size, pad_id=pad_id,
                                   device=device, progress=progress, decode=decode, bf16=bf16)
    id2label = _id2label(model)
    if features and "word_ids" in features[0]:
        return gold_and_predicted_tags(features, preds, id2label)[1]
    return [id2label[p] for p in preds]


def evaluate(model: torch.nn.Module, features: Sequence[Feature], *, batch_size: int = 64,
             pad_id: int | None = None, device: str | None = None, progress: bool = True,
             decode: str = "argmax", bf16: bool = True, split: bool = True) -> dict[str, float]:
    """Loss plus entity-level scores (NER) or accuracy and macro F1 (classification); under
    ``accelerate launch`` the processes share the work and all get the same scores."""
    from . import metrics

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
