"""Checks for exercise test cells: clear one-line failures, nothing written to stderr.

A test cell compares the student's answer with a reference the test computes itself (never with
the student's own function), on fixed and on random inputs::

    from course_utils.testing import check_tensor, check_close, random_tensor
    X = random_tensor(5, 7, seed=1)
    check_tensor(corr2d(X, K), reference, name="corr2d(X, K)")

Every check raises ``AssertionError`` with one sentence that names what differs, so that
``course check`` can show it as the first line of the failure. Tolerances hold on CPU and GPU
(cuDNN convolutions may use TF32 on a GPU, so float32 results on CUDA get a looser tolerance).
"""

from __future__ import annotations

import math

import numpy as np
import torch

FLOAT32_TOLERANCE = {"cpu": (1e-4, 1e-5), "cuda": (2e-3, 2e-3), "mps": (2e-3, 2e-3)}


def tolerances(dtype: torch.dtype, device: torch.device | str = "cpu") -> tuple[float, float]:
    """``(rtol, atol)`` for comparing results of ``dtype`` computed on ``device``."""
    device_type = torch.device(device).type
    if dtype == torch.float64:
        return 1e-7, 1e-9
    if dtype in (torch.float16, torch.bfloat16):
        return 1e-2, 1e-2
    return FLOAT32_TOLERANCE.get(device_type, FLOAT32_TOLERANCE["cuda"])


def random_tensor(*shape: int, seed: int = 0, low: float = -1.0, high: float = 1.0,
                  dtype=torch.float32) -> torch.Tensor:
    """A reproducible uniform random tensor on the CPU (tests move it where they need it)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=generator, dtype=dtype) * (high - low) + low


def check_type(value, expected_type, name: str = "the result") -> None:
    """Fail unless ``value`` is an instance of ``expected_type`` (subclasses of tensors refused)."""
    if expected_type is torch.Tensor:
        if type(value) is not torch.Tensor and not isinstance(value, torch.nn.Parameter):
            raise AssertionError(f"{name} should be a torch.Tensor, got {type(value).__name__}")
        return
    if not isinstance(value, expected_type):
        wanted = getattr(expected_type, "__name__", str(expected_type))
        raise AssertionError(f"{name} should be a {wanted}, got {type(value).__name__}")


def check_tensor(actual, expected, name: str = "the result", rtol: float | None = None,
                 atol: float | None = None, check_dtype: bool = True,
                 check_device: bool = False) -> None:
    """Fail unless ``actual`` is a plain tensor with ``expected``'s shape, dtype and values.

    ``expected`` is a tensor (or array) the test computed independently. Values are compared on
    the CPU in float64, with ``tolerances`` for the dtype and device unless given.
    """
    expected = torch.as_tensor(expected)
    check_type(actual, torch.Tensor, name)
    actual = actual.detach()
    if tuple(actual.shape) != tuple(expected.shape):
        raise AssertionError(
            f"{name} has shape {tuple(actual.shape)}, expected {tuple(expected.shape)}"
        )
    if check_dtype and actual.dtype != expected.dtype:
        raise AssertionError(f"{name} has dtype {actual.dtype}, expected {expected.dtype}")
    if check_device and actual.device.type != expected.device.type:
        raise AssertionError(f"{name} is on {actual.device}, expected {expected.device}")
    default_rtol, default_atol = tolerances(expected.dtype, actual.device)
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    if actual.is_complex() or expected.is_complex():
        a = torch.view_as_real(actual.to("cpu", torch.complex128))
        e = torch.view_as_real(expected.detach().to("cpu", torch.complex128))
    else:
        a = actual.to("cpu", torch.float64)
        e = expected.detach().to("cpu", torch.float64)
    nan_mismatch = torch.isnan(a) != torch.isnan(e)
    if bool(nan_mismatch.any()):
        raise AssertionError(f"{name} has NaN where the reference has none (or the reverse)")
    a, e = torch.nan_to_num(a), torch.nan_to_num(e)
    bad = (a - e).abs() > atol + rtol * e.abs()
    if bool(bad.any()):
        index = tuple(int(i) for i in torch.nonzero(bad)[0])
        raise AssertionError(
            f"{name} differs from the reference at {int(bad.sum())} of {bad.numel()} places, "
            f"e.g. at index {index}: got {float(a[index]):.6g}, expected {float(e[index]):.6g}"
        )


def check_close(actual, expected: float, name: str = "the result", rtol: float = 1e-6,
                atol: float = 1e-8) -> None:
    """Fail unless the real number ``actual`` is close to ``expected``."""
    if isinstance(actual, torch.Tensor):
        if actual.numel() != 1:
            raise AssertionError(
                f"{name} should be a single number, got shape {tuple(actual.shape)}"
            )
        actual = actual.item()
    if isinstance(actual, np.generic):
        actual = actual.item()
    if isinstance(actual, bool) or not isinstance(actual, (int, float)):
        raise AssertionError(f"{name} should be a number, got {type(actual).__name__}")
    if not math.isclose(float(actual), float(expected), rel_tol=rtol, abs_tol=atol):
        raise AssertionError(f"{name} is {actual!r}, expected {expected!r}")


def check_equal(actual, expected, name: str = "the result") -> None:
    """Fail unless ``actual == expected`` for exact things (ints, tuples, strings)."""
    if type(actual) is not type(expected) and not (
        isinstance(actual, (int, np.integer)) and isinstance(expected, int)
        and not isinstance(actual, bool)
    ):
        raise AssertionError(
            f"{name} should be a {type(expected).__name__}, got {type(actual).__name__}"
        )
    if not bool(actual == expected):
        raise AssertionError(f"{name} is {actual!r}, expected {expected!r}")
