"""``fit``: the training loop notebook 02 writes by hand, plus the practical parts: AdamW without
decay on bias and LayerNorm, warm-up and linear decay, gradient clipping, gradient accumulation
and data-parallel runs through Accelerate, bf16 on CUDA, early stopping on dev F1 with the best
weights kept, a progress bar, and a history returned as data.
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import BmcourseError
from ..i18n import tr as _
from .features import Feature, batch_indices, collate, pad_id_of, token_budget_batches
from .fgm import fgm_backward
from .predict import evaluate
from .runtime import autocast, processes, progress_bar, shard_batches, to_device


def no_decay(name: str) -> bool:
    """True for parameters that get no weight decay: biases and LayerNorm weights."""
    lowered = name.lower()
    return lowered.endswith("bias") or "layernorm" in lowered or "layer_norm" in lowered


#: Device kinds whose AdamW has a fused kernel in this torch (one pass over each tensor instead of
#: several): about 4x faster optimizer steps on the course's CPU (88 ms -> 19 ms for the 22.7 M
#: parameters of all-MiniLM-L6-v2), and on CUDA the kernel PyTorch recommends.
FUSED_ADAMW_DEVICES = ("cpu", "cuda", "mps", "xpu")


def fused_adamw_for(params: Sequence[torch.nn.Parameter]) -> bool:
    """True when AdamW can run fused on these parameters: all floating point, on one device kind that has the kernel."""
    kinds = {p.device.type for p in params}
    return (len(kinds) == 1 and kinds <= set(FUSED_ADAMW_DEVICES)
            and all(p.is_floating_point() for p in params))


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float = 0.01,
                   fused: bool | None = None) -> torch.optim.AdamW:
    """AdamW over the trainable parameters, without decay on biases and LayerNorm; fused where the
    device has the kernel (``fused=None``), the same update with less time between steps."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise BmcourseError(_("the model has no trainable parameters"),
                            fix=_("unfreeze some parameters (requires_grad=True) before fit()"))
    groups = [{"params": [p for n, p in named if not no_decay(n)], "weight_decay": weight_decay},
              {"params": [p for n, p in named if no_decay(n)], "weight_decay": 0.0}]
    fused = fused_adamw_for([p for _n, p in named]) if fused is None else fused
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, fused=fused or None)


def warmup_linear(step: int, total: int, warmup: int) -> float:
    """Learning-rate factor: linear warm-up to 1 over ``warmup`` steps, then linear decay to 0."""
    if step < warmup:
        return (step + 1) / max(1, warmup)
    return max(0.0, (total - step) / max(1, total - warmup))


#: Token budget per batch by device kind for ``TrainConfig(batch_tokens="auto")``: large enough to
#: keep a GPU's matrix units busy on short NER sentences; on a CPU more tokens per step buy no
#: throughput (the cores are busy at batch 16 already), so there ``batch_size`` sentences are kept.
TOKEN_BUDGET = {"cuda": 16384, "mps": 4096, "xpu": 8192}


def scaled_lr(lr: float, mean_batch: float, tuned_batch: int) -> float:
    """``lr`` for batches of ``mean_batch`` sentences when it was tuned at ``tuned_batch``: the
    square-root rule for Adam-type optimizers (the update's noise scales with 1/sqrt(batch))."""
    return lr * math.sqrt(max(mean_batch, 1e-9) / tuned_batch)


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
    eval_batch_size: int | None = None  # None: runtime.EVAL_BATCH for the device kind (64 on CPU)
    seed: int = 0
    bf16: bool = True              # autocast to bfloat16 on CUDA
    checkpoint_dir: str | None = None
    progress: bool = True
    device: str | None = None
    decode: str = "argmax"         # how dev predictions are decoded: "argmax" or "viterbi"
    adversarial: float = 0.0       # FGM: size of the word-embedding perturbation along the gradient (0 = off)
    grad_accum: int = 1            # micro-batches per optimizer step (global batch: batch_size x processes x grad_accum)
    # Batches by token budget instead of batch_size sentences: an int (padded tokens per batch) or
    # "auto" (TOKEN_BUDGET for the device kind; batch_size sentences where it has none, e.g. CPU).
    # lr stays the rate tuned at batch_size; fit scales it to the mean batch (scaled_lr, sqrt rule).
    batch_tokens: int | str | None = None
    compile: bool = False          # torch.compile the training forward (measured: bench/loopcost.py)


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
    lr: float = 0.0                # the peak learning rate used (scaled_lr of config.lr with a token budget)
    batches_per_epoch: int = 0

    @property
    def useful_tokens_per_second(self) -> float:
        """Non-padding tokens trained on per second of training."""
        return self.useful_tokens / self.train_seconds if self.train_seconds else 0.0

def accelerator_for(target: torch.device, bf16: bool, grad_accum: int, alone: bool) -> Any:
    """The ``accelerate.Accelerator`` of one ``fit``: bf16 on CUDA, gradient accumulation, DDP when launched.

    Alone (one process) the model stays where ``target`` says (no device placement by Accelerate), and
    the mixed-precision setting of an earlier ``fit`` in the same kernel is cleared, not refused."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    if grad_accum < 1:
        raise BmcourseError(f"grad_accum={grad_accum}", fix=_("use 1 or more micro-batches per optimizer step"))
    if alone:
        AcceleratorState._reset_state()  # keeps the process state; a notebook may fit with other settings later
    return Accelerator(mixed_precision="bf16" if bf16 and target.type == "cuda" else "no",
                       gradient_accumulation_steps=grad_accum, device_placement=not alone,
                       cpu=target.type == "cpu" and alone)


def token_budget_for(config: TrainConfig, target: torch.device) -> int | None:
    """Padded tokens per batch for ``config.batch_tokens`` on ``target`` (None: ``batch_size`` sentences)."""
    wanted = config.batch_tokens
    if wanted is None:
        return None
    if wanted == "auto":
        return TOKEN_BUDGET.get(target.type)
    if isinstance(wanted, bool) or not isinstance(wanted, int) or wanted < 1:
        raise BmcourseError(_("batch_tokens={value} is not a token budget").format(value=repr(wanted)),
                            fix=_("use a positive number of tokens per batch, 'auto', or None for batch_size sentences"))
    return wanted


def dev_score(metrics: dict[str, float]) -> float:
    """The number early stopping maximises: entity F1, else accuracy, else minus the loss."""
    for key in ("f1", "accuracy"):
        if key in metrics:
            return metrics[key]
    return -metrics["loss"]

def fit(model: torch.nn.Module, train: Sequence[Feature], dev: Sequence[Feature] | None = None,
        config: TrainConfig | None = None, *, pad_id: int | None = None, tokenizer: Any = None) -> FitResult:
    """Train ``model`` on encoded features; evaluate on ``dev`` and keep the best weights.

    With ``config.checkpoint_dir`` the best model is saved there with ``tokenizer``, so it loads.
    """
    config = config or TrainConfig()
    if not train:
        raise BmcourseError(_("no training features"), fix=_("encode a non-empty training split first"))
    if config.checkpoint_dir and tokenizer is None:
        raise BmcourseError(_("checkpoint_dir is set but no tokenizer was given: the checkpoint would not load"),
                            fix=_("call fit(..., tokenizer=tokenizer)"))
    pad_id = pad_id_of(train, pad_id)
    target = to_device(model, config.device)
    rank, world = processes()
    accelerator = accelerator_for(target, config.bf16, config.grad_accum, alone=world == 1)
    if world > 1:  # started with `accelerate launch`: this process's device (cuda:<local rank>, or cpu)
        target = accelerator.device
        model.to(target)
    torch.manual_seed(config.seed)
    lengths = [len(f["input_ids"]) for f in train]
    budget = token_budget_for(config, target)
    plan = (lambda e: token_budget_batches(lengths, budget, shuffle=True, seed=config.seed + e)) if budget else \
        (lambda e: batch_indices(lengths, config.batch_size, shuffle=True, group_by_length=config.group_by_length,
                                 seed=config.seed + e))
    first = plan(0)
    lr = scaled_lr(config.lr, len(train) / len(first), config.batch_size) if budget else config.lr
    optimizer = make_optimizer(model, lr, config.weight_decay)
    per_epoch = math.ceil(math.ceil(len(first) / world) / config.grad_accum)  # updates
    total = config.max_steps or max(1, math.ceil(per_epoch * config.epochs))
    warmup = int(config.warmup * total)
    factor = (lambda s: warmup_linear(s, total, warmup)) if config.schedule == "linear" else (lambda s: 1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)  # stepped once per optimizer update
    # DDP when launched; on CUDA with bf16 the forward pass runs under autocast; alone on CPU: as given
    model, optimizer = accelerator.prepare(model, optimizer)
    plain = accelerator.unwrap_model(model)  # the model itself (config, saving, evaluation)
    trainable = [p for p in model.parameters() if p.requires_grad]
    step_model = torch.compile(model, dynamic=True) if config.compile else model  # same weights
    eval_every = config.eval_every or per_epoch
    result = FitResult(lr=lr, batches_per_epoch=len(first))
    pin = target.type == "cuda"  # page-locked host memory: the copy to the GPU overlaps the step before
    best_score, best_state, waited = -math.inf, None, 0
    # No host synchronisation per step (it would leave an accelerator idle): the loss is summed on the
    # device in float64 (the same sum as adding float(loss) on the host), token counts come from the
    # features, and the clock is read, after one synchronisation, only where the history needs it.
    running, running_n = torch.zeros((), dtype=torch.float64, device=target), 0
    bar = progress_bar(total, _("training"), config.progress and rank == 0)
    show_every = max(1, min(eval_every, 50))  # steps between progress-bar loss updates (each one syncs)
    epoch, window = 0, []
    model.train()
    started = time.perf_counter()
    while result.steps < total and not result.stopped_early:
        batches = first if epoch == 0 else plan(epoch)
        epoch += 1
        for indices in shard_batches(batches, rank, world):
            members = [train[i] for i in indices]
            batch = {k: (v.pin_memory() if pin else v).to(target, non_blocking=True)
                     for k, v in collate(members, pad_id).items()}
            window.append(batch)  # the micro-batches of this optimizer step
            with accelerator.accumulate(model):
                with autocast(target, config.bf16):
                    loss = step_model(**batch).loss
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
            result.useful_tokens += sum(sum(f["attention_mask"]) for f in members)
            result.padded_tokens += batch["attention_mask"].numel()
            running += loss.detach().to(torch.float64)
            running_n += 1
            if not accelerator.sync_gradients:
                continue
            result.steps += 1
            bar.update(1)
            last = result.steps >= total
            if not bar.disable and (result.steps % show_every == 0 or last):
                bar.set_postfix(loss=f"{float(running) / running_n:.3f}")
            if result.steps % eval_every == 0 or last:
                if target.type == "cuda":
                    torch.cuda.synchronize()
                result.train_seconds += time.perf_counter() - started
                row = {"epoch": round(result.steps / per_epoch, 3), "step": result.steps,
                       "train_loss": float(running) / running_n, "lr": scheduler.get_last_lr()[0],
                       "train_seconds": result.train_seconds}
                running.zero_()
                running_n = 0
                if dev is not None:  # every process takes part: each scores its share, then all gather
                    metrics = evaluate(plain, dev, batch_size=config.eval_batch_size, pad_id=pad_id,
                                       progress=False, device=str(target), decode=config.decode,
                                       bf16=config.bf16)
                    row.update({f"dev_{k}": v for k, v in metrics.items()})
                    score = dev_score(metrics)
                    if score > best_score:
                        best_score, waited = score, 0
                        result.best = dict(row)
                        best_state = {k: v.detach().to("cpu", copy=True) for k, v in plain.state_dict().items()}
                        if config.checkpoint_dir and rank == 0:
                            from ..models import save_model

                            save_model(plain, tokenizer, config.checkpoint_dir)
                    else:
                        waited += 1
                        if config.patience is not None and waited >= config.patience:
                            result.stopped_early = True
                result.history.append(row)
                model.train()  # evaluation left it in eval mode
                started = time.perf_counter()  # the clock counts training, not evaluation
            if last or result.stopped_early:
                break
    bar.close()
    plain = accelerator.unwrap_model(model, keep_fp32_wrapper=False)  # the caller's model, forward as it was
    if best_state is not None:
        plain.load_state_dict(best_state)
    accelerator.free_memory()
    return result

