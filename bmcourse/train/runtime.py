"""Where and how training and inference run: the device a model moves to, bf16 autocast on
CUDA, the processes of ``accelerate launch`` and each one's share of the batches, and progress
bars that leave nothing behind in stored notebook outputs.
"""
from __future__ import annotations

import os
from typing import Any

import torch

#: Evaluation batch size by device kind (64 elsewhere): inference keeps no activations for a
#: backward pass, so a GPU takes far larger length-sorted batches than training does.
EVAL_BATCH = {"cuda": 512, "mps": 128, "xpu": 256}


def eval_batch_size(wanted: int | None, target: torch.device) -> int:
    """``wanted``, or the evaluation batch size for ``target``'s device kind (:data:`EVAL_BATCH`, else 64)."""
    return wanted or EVAL_BATCH.get(target.type, 64)


def progress_bar(total: int, desc: str, enabled: bool) -> Any:
    """A tqdm bar (off when ``enabled`` is false or ``TQDM_DISABLE`` is set; it leaves no line behind)."""
    from tqdm.auto import tqdm

    disabled = not enabled or os.environ.get("TQDM_DISABLE", "") in ("1", "true", "True")
    return tqdm(total=total, desc=desc, disable=disabled, leave=False)


def to_device(model: torch.nn.Module, wanted: str | None) -> torch.device:
    """Move ``model`` to ``wanted`` (default: ``config.device()``) and return that device."""
    from ..config import device as default_device

    target = torch.device(wanted or default_device())
    model.to(target)
    return target


def autocast(target: torch.device, bf16: bool) -> Any:
    """bf16 autocast on CUDA when ``bf16`` is set; a no-op context elsewhere."""
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

def shard_batches(batches: list[list[int]], rank: int, world: int) -> list[list[int]]:
    """This process's share of ``batches`` (every ``world``-th); the list is first padded from its start
    so every process takes the same number of steps (DDP needs that). One process: ``batches`` itself."""
    if world == 1:
        return batches
    padded = batches + batches[:(-len(batches)) % world]
    return padded[rank::world]

