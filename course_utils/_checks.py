"""Argument checks shared by the teaching code, so that each listing a chapter shows stays short.

Each check raises a ``TypeError`` (wrong kind of value) or ``ValueError`` (wrong shape or
content) in one sentence that names the argument, what is wrong and what to pass instead.
The dtype rules follow the peer libraries the functions are compared with (``torchvision.ops``,
``scipy.signal``, ``torch.nn.functional``).
"""

from __future__ import annotations

import numpy as np
import torch


def is_int(value) -> bool:
    """A Python or NumPy integer, but not a bool (``True`` is an int in Python)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def pair(value, name: str) -> tuple[int, int]:
    """``3 -> (3, 3)``; ``(3, 5) -> (3, 5)``; anything else is a ``TypeError``."""
    if is_int(value):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(is_int(v) for v in value):
        return int(value[0]), int(value[1])
    raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")


def require_tensor(
    x, name: str, ndim: int | None = None, shape_hint: str = "", non_empty: bool = False
) -> None:
    """``x`` is a tensor with ``ndim`` dimensions (and, if asked, at least one element)."""
    hint = f" {shape_hint}" if shape_hint else ""
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor{hint}, got {type(x).__name__}: "
            "wrap it with torch.as_tensor"
        )
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D tensor{hint}, got shape {tuple(x.shape)}")
    if non_empty and x.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}): pass at least one element")


def check_float(x: torch.Tensor, name: str, why: str = "") -> None:
    """``x`` holds real floating-point numbers (not integers, bool or complex)."""
    if not x.is_floating_point():
        because = f" ({why})" if why else ""
        raise TypeError(
            f"{name} must be a float tensor{because}, got {x.dtype}: "
            f"pass {name}.float() or {name}.double()"
        )


def check_real(x: torch.Tensor, name: str) -> None:
    """``x`` is not complex."""
    if x.is_complex():
        raise TypeError(f"{name} must be real, got {x.dtype}: pass {name}.real or {name}.abs()")


def check_not_bool(x: torch.Tensor, name: str, what: str) -> None:
    """``x`` is numbers, not a mask (PyTorch's own kernels refuse bool here too)."""
    if x.dtype == torch.bool:
        raise TypeError(
            f"{what} of a bool tensor is not defined (PyTorch refuses it too): "
            f"pass {name}.float() or {name}.to(torch.uint8)"
        )


def check_same_dtype(a: torch.Tensor, b: torch.Tensor, names: str) -> None:
    """``a`` and ``b`` share a dtype (``F.conv2d`` and ``@`` refuse a mix too)."""
    if a.dtype != b.dtype:
        first, second = names.split(" and ")
        raise TypeError(
            f"{names} must have the same dtype, got {a.dtype} and {b.dtype}: "
            f"pass {second}.to({first}.dtype)"
        )


def check_finite(x: torch.Tensor, name: str) -> None:
    """No NaN or infinity in ``x`` (for results that a single NaN would silently spoil)."""
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values: remove or replace them first")


def check_boxes(boxes, name: str) -> None:
    """``boxes`` is an ``(N, 4)`` tensor of real numbers."""
    require_tensor(boxes, name, ndim=2, shape_hint="of shape (N, 4)")
    if boxes.shape[-1] != 4:
        raise ValueError(f"{name} must have shape (N, 4), got {tuple(boxes.shape)}")
    check_real(boxes, name)
    check_not_bool(boxes, name, "a box")


def widen_boxes(boxes: torch.Tensor) -> torch.Tensor:
    """Boxes in a dtype whose areas cannot overflow, as ``torchvision.ops`` does (``_upcast``).

    A float16 box 900 px wide and 650 high has an area of 585,000, beyond float16's largest
    number (65,504), and an int16 box 200 x 200 wraps around to -25,536: floats narrower than
    float32 become float32, integers narrower than int32 become int32 (bool becomes int32 too).
    """
    if boxes.is_floating_point():
        return boxes if boxes.dtype in (torch.float32, torch.float64) else boxes.float()
    return boxes if boxes.dtype in (torch.int32, torch.int64) else boxes.int()


def fft_dtype(*tensors: torch.Tensor) -> torch.dtype:
    """The dtype an FFT convolution of ``tensors`` runs in, and returns (SciPy's choice).

    Integers and bool become float64 (as in ``scipy.signal.fftconvolve``); float16 and bfloat16
    become float32 (``torch.fft`` has no half-precision kernels on the CPU; SciPy also widens
    float16 to float32); float32, float64 and complex stay as they are.
    """
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    if dtype in (torch.float16, torch.bfloat16):
        return torch.float32
    if dtype == torch.complex32:
        return torch.complex64
    if not (dtype.is_floating_point or dtype.is_complex):
        return torch.float64
    return dtype
