"""Convolution arithmetic written out by hand: cross-correlation, output sizes and pooling.

These are the loops the chapters derive; the tests check them against ``torch.nn.functional``.
They favour clarity over speed: use ``F.conv2d`` and ``nn.MaxPool2d`` for real work.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from course_utils._checks import check_float, check_not_bool, check_real, pair, require_tensor
from course_utils.signals import fft_convolve


def _check_image_and_kernel(X, K, name: str, floats: str = "") -> None:
    """Two non-empty 2-D tensors, the kernel no larger than the image (as ``F.conv2d`` needs);
    with ``floats`` (the reason) both must be floating point."""
    for tensor, label in ((X, "X"), (K, "K")):
        require_tensor(tensor, f"{name}'s {label}", ndim=2, non_empty=True)
        check_not_bool(tensor, label, "a cross-correlation")
        check_real(tensor, label)
        if floats:
            check_float(tensor, label, why=floats)
    if K.shape[0] > X.shape[0] or K.shape[1] > X.shape[1]:
        raise ValueError(f"kernel {tuple(K.shape)} is larger than the input {tuple(X.shape)}")


def corr2d(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Valid 2-D cross-correlation (what ``nn.Conv2d`` computes, without the flip).

    X: ``(H, W)``, K: ``(h, w)`` -> ``(H - h + 1, W - w + 1)``, where
    ``Y[i, j] = sum(X[i:i+h, j:j+w] * K)``. Works on any device and keeps gradients.
    """
    _check_image_and_kernel(X, K, "corr2d")
    h, w = K.shape
    out_h, out_w = X.shape[0] - h + 1, X.shape[1] - w + 1
    dtype = torch.promote_types(X.dtype, K.dtype)
    Y = torch.zeros((out_h, out_w), dtype=dtype, device=X.device)
    for i in range(out_h):
        for j in range(out_w):
            Y[i, j] = (X[i : i + h, j : j + w] * K).sum()
    return Y


def conv_output_size(
    n: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """Output length of a convolution or pooling along one axis (PyTorch's formula).

    ``floor((n + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1``.
    A 7-pixel input and a 3-tap kernel give 5; padding 1 keeps 7; stride 2 gives 3.
    """
    for name, value in (
        ("n", n),
        ("kernel_size", kernel_size),
        ("stride", stride),
        ("dilation", dilation),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not isinstance(padding, int) or isinstance(padding, bool) or padding < 0:
        raise ValueError(f"padding must be a non-negative int, got {padding!r}")
    span = dilation * (kernel_size - 1) + 1
    if n + 2 * padding < span:
        raise ValueError(
            f"the kernel spans {span} but the padded input has only {n + 2 * padding} elements"
        )
    return (n + 2 * padding - span) // stride + 1


def pool2d(
    X: torch.Tensor,
    pool_size,
    stride=None,
    padding=0,
    mode: str = "max",
) -> torch.Tensor:
    """Max or average pooling of a 2-D tensor, with the numbers of ``nn.MaxPool2d``/``AvgPool2d``.

    X: ``(H, W)``; ``pool_size``, ``stride`` and ``padding`` are ints or ``(h, w)`` pairs;
    ``stride`` defaults to the window (non-overlapping windows, as in PyTorch). Max pooling pads
    with -inf or the smallest integer (padding never wins); average pooling needs a float X and
    pads with zeros that count in the mean (``count_include_pad=True``). Returns
    ``(H_out, W_out)``.
    """
    _check_pooling_input(X, mode)
    p_h, p_w = pair(pool_size, "pool_size")
    s_h, s_w = pair(pool_size if stride is None else stride, "stride")
    pad_h, pad_w = pair(padding, "padding")
    if pad_h > p_h // 2 or pad_w > p_w // 2:
        raise ValueError("padding may be at most half of the window, as in PyTorch")
    fill = _lowest(X.dtype) if mode == "max" else 0
    padded = torch.full(
        (X.shape[0] + 2 * pad_h, X.shape[1] + 2 * pad_w), fill, dtype=X.dtype, device=X.device
    )
    padded[pad_h : pad_h + X.shape[0], pad_w : pad_w + X.shape[1]] = X
    out_h = conv_output_size(X.shape[0], p_h, s_h, pad_h)
    out_w = conv_output_size(X.shape[1], p_w, s_w, pad_w)
    Y = torch.zeros((out_h, out_w), dtype=X.dtype, device=X.device)
    for i in range(out_h):
        for j in range(out_w):
            window = padded[i * s_h : i * s_h + p_h, j * s_w : j * s_w + p_w]
            Y[i, j] = window.max() if mode == "max" else window.mean()
    return Y


def _check_pooling_input(X, mode: str) -> None:
    require_tensor(X, "X", ndim=2, shape_hint="(H, W)", non_empty=True)
    if mode not in ("max", "avg"):
        raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")
    check_not_bool(X, "X", f"{mode} pooling")
    check_real(X, "X")
    if mode == "avg":
        check_float(X, "X", why="an integer mean would be rounded")


def _lowest(dtype: torch.dtype):
    """The padding value that never wins a maximum: -inf, or the smallest integer."""
    return float("-inf") if dtype.is_floating_point else torch.iinfo(dtype).min


def corr2d_unfold(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """``corr2d`` as one matrix product (im2col): the same numbers, no Python loop.

    ``F.unfold`` copies every ``h x w`` window of X into a column, giving a
    ``(h*w, L)`` matrix for the ``L = out_h * out_w`` positions; the flattened kernel
    ``(1, h*w)`` times that matrix is every window's weighted sum at once.
    X: ``(H, W)``, K: ``(h, w)`` float -> ``(H - h + 1, W - w + 1)``.
    """
    _check_image_and_kernel(X, K, "corr2d_unfold", floats="F.unfold has no integer version")
    dtype = torch.promote_types(X.dtype, K.dtype)
    h, w = K.shape
    out_h, out_w = X.shape[0] - h + 1, X.shape[1] - w + 1
    columns = F.unfold(X.to(dtype)[None, None], kernel_size=(h, w))[0]  # (h*w, L)
    return (K.to(dtype).reshape(1, h * w) @ columns).reshape(out_h, out_w)


def corr2d_fft(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """``corr2d`` through the convolution theorem: the cost hardly depends on the kernel size.

    Cross-correlation is convolution with the flipped kernel; the full FFT convolution
    ``(H + h - 1, W + w - 1)`` is cropped to the positions where the kernel fits inside X.
    X: ``(H, W)``, K: ``(h, w)`` -> ``(H - h + 1, W - w + 1)`` in ``fft_convolve``'s dtype.
    """
    _check_image_and_kernel(X, K, "corr2d_fft")
    h, w = K.shape
    full = fft_convolve(X, K.flip(0, 1))
    return full[h - 1 : X.shape[0], w - 1 : X.shape[1]]
