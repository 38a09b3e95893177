"""bmcourse.compare: the hand-vs-autograd line (tolerance tiers, the same on every CPU) and
finite-difference gradients."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bmcourse.compare import compare, finite_difference_grad, format_diff


def test_exact_match_prints_the_smallest_tier(capsys: pytest.CaptureFixture[str]) -> None:
    x = torch.tensor([1.0, 2.0, 3.0])
    result = compare("dW", x, x.clone())
    assert result == {"name": "dW", "exact": True, "allclose": True, "max_abs_diff": 0.0}
    assert capsys.readouterr().out == "dW          allclose: True | agrees within 1e-12\n"


def test_rounding_difference_prints_like_an_exact_match(capsys: pytest.CaptureFixture[str]) -> None:
    a = torch.tensor([0.1 + 0.2, 1.0], dtype=torch.float64)
    b = torch.tensor([0.3, 1.0], dtype=torch.float64)
    result = compare("db", a, b)
    assert not result["exact"] and result["allclose"]  # the dict keeps the raw facts
    assert result["max_abs_diff"] == pytest.approx(5.55e-17, rel=0.01)
    same = compare("db", b, b.clone())
    assert same["exact"]
    out = capsys.readouterr().out.splitlines()
    assert out == ["db          allclose: True | agrees within 1e-12"] * 2  # no CPU-dependent digits


@pytest.mark.parametrize("diff, line", [(1e-17, "agrees within 1e-12"), (6e-17, "agrees within 1e-12"),
                                        (1e-12, "agrees within 1e-12"), (3e-11, "agrees within 1e-08"),
                                        (2e-6, "agrees within 1e-05"), (4e-4, "agrees within 1e-03")])
def test_tiers(capsys: pytest.CaptureFixture[str], diff: float, line: str) -> None:
    zeros = torch.zeros(2, dtype=torch.float64)
    compare("g", zeros, torch.tensor([0.0, diff], dtype=torch.float64), atol=1.0)
    assert capsys.readouterr().out.endswith(f"| {line}\n")


def test_real_difference_and_tolerances(capsys: pytest.CaptureFixture[str]) -> None:
    assert not compare("x", torch.tensor([1.0]), torch.tensor([1.1]))["allclose"]
    assert compare("x", torch.tensor([1.0]), torch.tensor([1.1]), atol=0.2)["allclose"]
    out = capsys.readouterr().out.splitlines()
    assert out == ["x           allclose: False | differs by up to 1e-01",
                   "x           allclose: True | differs by up to 1e-01"]


def test_accepts_arrays_numbers_and_mixed_dtypes(capsys: pytest.CaptureFixture[str]) -> None:
    assert compare("n", np.array([0.5, 2.0]), torch.tensor([0.5, 2.0], dtype=torch.float32))["exact"]
    assert compare("s", 1.5, torch.tensor(1.5))["exact"]
    long_name = compare("finite diff", [1.0], [1.0])
    assert long_name["exact"] and "finite diff allclose: True" in capsys.readouterr().out


def test_tensors_needing_grad_are_detached() -> None:
    w = torch.ones(2, requires_grad=True)
    assert compare("w", w * 2, torch.full((2,), 2.0))["exact"]


def test_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        compare("dW", torch.zeros(2, 3), torch.zeros(3, 2))


def test_format_diff() -> None:
    assert format_diff(0.0) == "agrees within 1e-12"
    assert format_diff(2.2e-16) == "agrees within 1e-12"
    assert format_diff(1e-3) == "agrees within 1e-03"
    assert format_diff(0.0011) == "differs by up to 1e-03"
    assert format_diff(0.4) == "differs by up to 4e-01"


def test_finite_difference_matches_autograd() -> None:
    x = torch.tensor([[0.3, -1.2], [2.0, 0.7]], dtype=torch.float64)

    def f(t: torch.Tensor) -> torch.Tensor:
        return (t.sin() * t.pow(2)).sum()

    xg = x.clone().requires_grad_()
    f(xg).backward()
    fd = finite_difference_grad(f, x)
    assert fd.shape == x.shape and fd.dtype == torch.float64
    assert torch.allclose(fd, xg.grad, atol=1e-8)
    assert torch.equal(x, torch.tensor([[0.3, -1.2], [2.0, 0.7]], dtype=torch.float64))  # input untouched


def test_finite_difference_upcasts_float32_and_ignores_requires_grad() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    fd = finite_difference_grad(lambda t: (t ** 3).sum(), x)
    assert fd.dtype == torch.float64
    assert torch.allclose(fd, torch.tensor([3.0, 12.0], dtype=torch.float64), atol=1e-6)
