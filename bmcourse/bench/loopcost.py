"""What the training loop costs on top of the maths: ``fit`` against a plain PyTorch loop and against a
microbenchmark of the same steps, on the same model, batches and device (``bmcourse bench ner`` reports it).

* **plain loop**: the loop a tutorial writes, with the same maths as ``fit`` (AdamW with the same
  parameter groups, warm-up and linear decay, gradient clipping): collate, move, forward, backward,
  clip, step. Nothing else.
* **microbenchmark**: the same steps with every batch collated and moved beforehand: forward, backward,
  clip and the AdamW step, timed alone. The throughput no loop around these shapes can beat.

Each runs the first ``steps`` batches of the same shuffled, length-grouped order from the same initial
weights, so the three times compare like with like; the three take turns, ``repeats`` times in rotated
order, and each one's fastest run counts (a machine's noise only ever adds time). Ratios above 1 are
what the loop adds.
"""
from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from typing import Any

import torch

from ..train.features import Feature, batch_indices, collate
from ..train.loop import TrainConfig, fit, make_optimizer, warmup_linear
from ..train.runtime import autocast


def first_batches(train: Sequence[Feature], config: TrainConfig, steps: int | None = None) -> list[list[int]]:
    """The first ``steps`` batches ``fit`` trains on (its first epoch's order, seed ``config.seed``; all
    of them when ``steps`` is None)."""
    lengths = [len(f["input_ids"]) for f in train]
    batches = batch_indices(lengths, config.batch_size, shuffle=True, group_by_length=config.group_by_length,
                            seed=config.seed)
    return batches[:steps]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def plain_steps(model: torch.nn.Module, train: Sequence[Feature], batches: list[list[int]], config: TrainConfig,
                pad_id: int, total: int, *, prepared: bool = False) -> dict[str, float]:
    """Seconds and useful tokens of ``batches`` trained by a bare loop (``prepared``: tensors made and moved
    before the clock starts, the microbenchmark). ``total`` is the schedule's length, as in ``fit``."""
    device = next(model.parameters()).device
    torch.manual_seed(config.seed)
    optimizer = make_optimizer(model, config.lr, config.weight_decay)
    warmup = int(config.warmup * total)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_linear(s, total, warmup))
    trainable = [p for p in model.parameters() if p.requires_grad]
    ready = [{k: v.to(device) for k, v in collate([train[i] for i in b], pad_id).items()} for b in batches] \
        if prepared else None
    useful = sum(sum(train[i]["attention_mask"]) for b in batches for i in b)  # counted as fit counts them
    model.train()
    _sync(device)
    start = time.perf_counter()
    for step, indices in enumerate(batches):
        batch = ready[step] if ready else {k: v.to(device) for k, v in collate([train[i] for i in indices], pad_id).items()}
        with autocast(device, config.bf16):
            loss = model(**batch).loss
        loss.backward()
        if config.clip:
            torch.nn.utils.clip_grad_norm_(trainable, config.clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    _sync(device)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "useful_tokens": useful, "useful_tokens_per_second": useful / seconds}


def loop_cost(model: torch.nn.Module, train: Sequence[Feature], config: TrainConfig, pad_id: int,
              steps: int = 60, repeats: int = 3, compiled: bool = False) -> dict[str, Any]:
    """``fit``, the plain loop and the microbenchmark on the first ``steps`` batches, each from a copy of
    ``model`` as given (its weights are not changed), ``repeats`` times in rotated order (so none always
    runs first or last); each one's fastest run counts. Seconds, useful tokens/s and the ratios.

    ``compiled``: also ``fit`` with ``torch.compile`` (``TrainConfig.compile``), after one untimed-for-speed
    warm-up run whose extra seconds are reported as the compile cost."""
    epoch = first_batches(train, config)
    steps = min(steps, len(epoch))
    total = config.max_steps or max(1, int(len(epoch) * config.epochs))
    batches = epoch[:steps]
    names = ["microbenchmark", "plain_loop", "fit"] + (["fit_compiled"] if compiled else [])
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    warmup_seconds = None
    if compiled:
        try:
            warmup_seconds = _fit_run(model, train, config, pad_id, steps, compiled=True)["seconds"]
        except Exception as err:  # noqa: BLE001 - a missing compiler is a result to report, not a crash
            names.remove("fit_compiled")
            runs.pop("fit_compiled")
            warmup_seconds = f"torch.compile failed: {type(err).__name__}: {str(err).splitlines()[0][:200]}"
    for repeat in range(repeats):
        for name in names[repeat % len(names):] + names[:repeat % len(names)]:
            if name.startswith("fit"):
                runs[name].append(_fit_run(model, train, config, pad_id, steps, compiled=name == "fit_compiled"))
            else:
                runs[name].append(plain_steps(copy.deepcopy(model), train, batches, config, pad_id, total,
                                              prepared=name == "microbenchmark"))
    best = {name: min(rs, key=lambda r: r["seconds"]) for name, rs in runs.items()}
    return {
        "steps": steps, "repeats": repeats,
        **{name: {**{k: round(v, 3 if k == "seconds" else 1) for k, v in best[name].items()},
                  "all_seconds": [round(r["seconds"], 3) for r in runs[name]]} for name in names},
        "fit_time_vs_plain_loop": round(best["fit"]["seconds"] / best["plain_loop"]["seconds"], 3),
        "fit_share_of_microbenchmark": round(best["fit"]["useful_tokens_per_second"]
                                             / best["microbenchmark"]["useful_tokens_per_second"], 3),
        "plain_loop_share_of_microbenchmark": round(best["plain_loop"]["useful_tokens_per_second"]
                                                    / best["microbenchmark"]["useful_tokens_per_second"], 3),
        **({"compiled_time_vs_fit": round(best["fit_compiled"]["seconds"] / best["fit"]["seconds"], 3),
            "compile_warmup_extra_seconds": round(warmup_seconds - best["fit_compiled"]["seconds"], 1)}
           if "fit_compiled" in best and isinstance(warmup_seconds, float) else {}),
        **({"compile": warmup_seconds} if isinstance(warmup_seconds, str) else {}),
    }


def _fit_run(model: torch.nn.Module, train: Sequence[Feature], config: TrainConfig, pad_id: int, steps: int,
             *, compiled: bool) -> dict[str, float]:
    """``fit`` on a copy of ``model`` for ``steps`` steps (its schedule spans them: the same cost per step)."""
    capped = copy.copy(config)
    capped.max_steps, capped.progress, capped.compile = steps, False, compiled
    result = fit(copy.deepcopy(model), train, None, capped, pad_id=pad_id)
    return {"seconds": result.train_seconds, "useful_tokens": result.useful_tokens,
            "useful_tokens_per_second": result.useful_tokens_per_second}
