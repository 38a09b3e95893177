"""Compare a hand-derived gradient with autograd's, and finite-difference gradients."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .i18n import tr as _


def _as_float64(value: Any) -> torch.Tensor:
    """A detached float64 CPU tensor from a tensor, array or number."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", torch.float64)
    return torch.as_tensor(np.asarray(value, dtype=np.float64))


# Decades a difference is reported against. Differences at the rounding floor (1e-17 on one CPU,
# 6e-17 on another) fall in the same tier, so printed lines are identical on every machine.
TIERS = (1e-12, 1e-8, 1e-5, 1e-3)


def format_diff(diff: float) -> str:
    """``agrees within 1e-12`` for the smallest tier that bounds ``diff``, else ``differs by up to 3e-02``."""
    for tier in TIERS:
        if diff <= tier:
            return _("agrees within {tier:.0e}").format(tier=tier)
    return _("differs by up to {diff:.0e}").format(diff=diff)


def compare(name: str, hand: Any, auto: Any, *, rtol: float = 1e-5, atol: float = 1e-8) -> dict[str, Any]:
    """Print one machine-independent line (allclose, and the tier of the max abs diff) and return the details.

    The returned dict keeps the raw numbers (``exact``, ``max_abs_diff``); the printed line does not,
    because bit-for-bit equality and the last digits depend on the CPU's kernels.
    """
    a, b = _as_float64(hand), _as_float64(auto)
    if a.shape != b.shape:
        raise ValueError(_("{name}: shapes differ, hand {hand} vs auto {auto}").format(
            name=name, hand=tuple(a.shape), auto=tuple(b.shape)))
    diff = float((a - b).abs().max()) if a.numel() else 0.0
    exact = bool(torch.equal(a, b))
    close = bool(torch.allclose(a, b, rtol=rtol, atol=atol))
    print(f"{name + ' ':<12}" + _("allclose: {close} | {diff}").format(close=close, diff=format_diff(diff)))
    return {"name": name, "exact": exact, "allclose": close, "max_abs_diff": diff}


def finite_difference_grad(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                           eps: float = 1e-6) -> torch.Tensor:
    """Central-difference gradient of the scalar ``f`` at ``x``, in float64, shaped like ``x``."""
    base = x.detach().to(torch.float64).clone()
    flat = base.reshape(-1)
    grad = torch.zeros_like(flat)
    with torch.no_grad():
        for i in range(flat.numel()):
            keep = float(flat[i])
            flat[i] = keep + eps
            up = float(f(base))
            flat[i] = keep - eps
            down = float(f(base))
            flat[i] = keep
            grad[i] = (up - down) / (2 * eps)
    return grad.reshape(base.shape)
