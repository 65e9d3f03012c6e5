"""The arithmetic of convolutional layers, written out by hand.

Chapter 3 derives each of these and checks it against PyTorch: cross-correlation with several
input and output channels, the 1x1 convolution as a matrix product, a convolutional layer with a
learnable kernel and bias, receptive fields of stacked layers, the windows of adaptive pooling,
and the formulas that count parameters and operations. They favour clarity over speed: use
``nn.Conv2d`` and ``nn.AdaptiveAvgPool1d`` for real work.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from course_utils._checks import check_float, check_not_bool, check_same_dtype, pair, require_tensor
from course_utils.conv import conv_output_size, corr2d

# --- channels -----------------------------------------------------------------------------------


def corr2d_multi_in(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Cross-correlation with several input channels, summed into one output channel.

    X: ``(c_i, H, W)``, K: ``(c_i, h, w)`` -> ``(H - h + 1, W - w + 1)``: each input channel is
    cross-correlated with its own kernel slice and the results are added.
    """
    require_tensor(X, "X")
    require_tensor(K, "K")
    if X.ndim != 3 or K.ndim != 3 or X.shape[0] != K.shape[0] or X.shape[0] == 0:
        raise ValueError(
            f"corr2d_multi_in needs X (c_i, H, W) and K (c_i, h, w) with the same c_i >= 1, "
            f"got {tuple(X.shape)} and {tuple(K.shape)}"
        )
    return sum(corr2d(x, k) for x, k in zip(X, K, strict=True))


def corr2d_multi_in_out(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Cross-correlation with ``c_i`` input and ``c_o`` output channels (``F.conv2d`` unbatched).

    X: ``(c_i, H, W)``, K: ``(c_o, c_i, h, w)`` -> ``(c_o, H - h + 1, W - w + 1)``: output
    channel ``o`` is ``corr2d_multi_in(X, K[o])``.
    """
    if K.ndim != 4:
        raise ValueError(f"K must have shape (c_o, c_i, h, w), got {tuple(K.shape)}")
    return torch.stack([corr2d_multi_in(X, k) for k in K], dim=0)


def conv1x1_as_matmul(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """A 1x1 convolution computed as one matrix product: a dense layer applied at every pixel.

    X: ``(c_i, H, W)``, K: ``(c_o, c_i, 1, 1)`` -> ``(c_o, H, W)``. The pixels become the
    columns of a ``(c_i, H*W)`` matrix, and ``K`` a ``(c_o, c_i)`` weight matrix.
    """
    require_tensor(X, "X")
    require_tensor(K, "K")
    if X.ndim != 3 or K.ndim != 4 or K.shape[2:] != (1, 1) or K.shape[1] != X.shape[0]:
        raise ValueError(
            f"conv1x1_as_matmul needs X (c_i, H, W) and K (c_o, c_i, 1, 1), "
            f"got {tuple(X.shape)} and {tuple(K.shape)}"
        )
    check_same_dtype(X, K, "X and K")
    c_i, h, w = X.shape
    c_o = K.shape[0]
    Y = K.reshape(c_o, c_i) @ X.reshape(c_i, h * w)
    return Y.reshape(c_o, h, w)


class Conv2D(nn.Module):
    """A single-channel convolutional layer from scratch: ``corr2d(x, weight) + bias``.

    ``weight``: ``(h, w)`` initialised uniformly in [0, 1) (simpler than PyTorch's scaled
    uniform), ``bias``: ``(1,)`` initialised to zero; both are learnable.
    Input ``(H, W)`` -> output ``(H - h + 1, W - w + 1)``.
    """

    def __init__(self, kernel_size):
        super().__init__()
        self.weight = nn.Parameter(torch.rand(pair(kernel_size, "kernel_size")))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return corr2d(x, self.weight) + self.bias


# --- counting -----------------------------------------------------------------------------------


def conv2d_parameter_count(
    in_channels: int, out_channels: int, kernel_size, bias: bool = True, groups: int = 1
) -> int:
    """Parameters of ``nn.Conv2d``: ``c_o * (c_i / groups) * k_h * k_w`` weights (+ ``c_o``)."""
    k_h, k_w = pair(kernel_size, "kernel_size")
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"groups={groups} must divide both {in_channels} and {out_channels}")
    return out_channels * (in_channels // groups) * k_h * k_w + (out_channels if bias else 0)


def linear_parameter_count(in_features: int, out_features: int, bias: bool = True) -> int:
    """Parameters of ``nn.Linear``: ``in * out`` weights (+ ``out`` biases)."""
    return in_features * out_features + (out_features if bias else 0)


def conv2d_operation_count(
    out_height: int, out_width: int, kernel_size, in_channels: int, out_channels: int
) -> int:
    """Floating-point operations of a convolution: 2 (a multiply and an add) per weight per pixel.

    ``2 * h_out * w_out * k_h * k_w * c_i * c_o``: the usual estimate O(h w k^2 c_i c_o).
    """
    k_h, k_w = pair(kernel_size, "kernel_size")
    return 2 * out_height * out_width * k_h * k_w * in_channels * out_channels


# --- receptive fields ---------------------------------------------------------------------------


def layer_geometry(layer) -> tuple[int, int, int] | None:
    """``(kernel, stride, dilation)`` along the height of a conv or pooling layer, else ``None``.

    Accepts ``nn.Conv2d``, ``nn.MaxPool2d``, ``nn.AvgPool2d`` or a tuple ``(kernel, stride)`` /
    ``(kernel, stride, dilation)``; layers that act pixel by pixel (ReLU, BatchNorm) give None.
    """
    if isinstance(layer, tuple):
        kernel, stride, *rest = layer
        return int(kernel), int(stride), int(rest[0]) if rest else 1
    if isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        kernel = pair(layer.kernel_size, "kernel_size")[0]
        stride = pair(layer.stride, "stride")[0]
        dilation = pair(getattr(layer, "dilation", 1), "dilation")[0]
        return kernel, stride, dilation
    if isinstance(layer, (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.BatchNorm2d, nn.Identity, nn.Dropout)):
        return None
    raise TypeError(f"cannot tell the receptive field of a {type(layer).__name__} layer")


def receptive_field(layers: Iterable) -> int:
    """Side of the input window that one output pixel of a stack of layers sees.

    Each layer widens the window by ``dilation * (kernel - 1)`` steps of the current *jump* (the
    input distance between neighbouring pixels of its input), and multiplies the jump by its
    stride: ``r <- r + d (k - 1) j``, ``j <- j s``, starting from ``r = j = 1``.
    """
    size, jump = 1, 1
    for layer in layers:
        geometry = layer_geometry(layer)
        if geometry is None:
            continue
        kernel, stride, dilation = geometry
        size += dilation * (kernel - 1) * jump
        jump *= stride
    return size


# --- adaptive pooling ---------------------------------------------------------------------------


def adaptive_pool_windows(n_in: int, n_out: int) -> list[tuple[int, int]]:
    """The windows ``[start, end)`` that PyTorch's adaptive pooling uses along one axis.

    ``start = floor(i * n_in / n_out)`` and ``end = ceil((i + 1) * n_in / n_out)`` for output
    ``i``: windows may overlap and differ in size by one, and together cover every input.
    """
    if n_in < 1 or n_out < 1:
        raise ValueError(f"sizes must be positive, got n_in={n_in}, n_out={n_out}")
    return [((i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)) for i in range(n_out)]


def adaptive_pool1d(x: torch.Tensor, n_out: int, mode: str = "avg") -> torch.Tensor:
    """Adaptive 1-D pooling over the last axis with PyTorch's windows.

    x: ``(..., n_in)`` -> ``(..., n_out)``; the same numbers as ``nn.AdaptiveAvgPool1d(n_out)``
    (``mode="avg"``) or ``nn.AdaptiveMaxPool1d(n_out)`` (``mode="max"``).
    """
    reduce = _reducer(mode, x)
    windows = adaptive_pool_windows(x.shape[-1], n_out)
    return torch.stack([reduce(x[..., start:end]) for start, end in windows], dim=-1)


def uniform_window_geometry(n_in: int, n_out: int) -> tuple[int, int, int]:
    """One stride and one kernel for adaptive pooling: ``(upsample factor, stride, kernel)``.

    The output-size formula of a pooling layer run backwards (a common rule of thumb, which
    ``adaptive_pool_windows`` shows PyTorch does not follow).

    If ``n_out > n_in`` the input is first repeated ``ceil(n_out / n_in)`` times element-wise;
    then, with ``L`` the (upsampled) length, ``stride = floor((L - n_out) / n_out + 1)`` and
    ``kernel = L - (n_out - 1) * stride``, with no padding.
    """
    if n_in < 1 or n_out < 1:
        raise ValueError(f"sizes must be positive, got n_in={n_in}, n_out={n_out}")
    factor = math.ceil(n_out / n_in) if n_out > n_in else 1
    length = n_in * factor
    stride = (length - n_out) // n_out + 1
    kernel = length - (n_out - 1) * stride
    return factor, stride, kernel


def uniform_window_pool1d(x: torch.Tensor, n_out: int, mode: str = "avg") -> torch.Tensor:
    """Adaptive pooling over the last axis with uniform windows (``uniform_window_geometry``).

    x: ``(..., n_in)`` -> ``(..., n_out)``. Agrees with PyTorch when ``n_in`` is a multiple of
    ``n_out`` and in some other cases, but not in general.
    """
    reduce = _reducer(mode, x)
    factor, stride, kernel = uniform_window_geometry(x.shape[-1], n_out)
    x = x.repeat_interleave(factor, dim=-1)
    return torch.stack(
        [reduce(x[..., i * stride : i * stride + kernel]) for i in range(n_out)], dim=-1
    )


# The names these two had before (chapter 3 used them).
seed_rule_geometry = uniform_window_geometry
seed_rule_pool1d = uniform_window_pool1d


def _reducer(mode: str, x: torch.Tensor):
    """The function that pools one window of ``x`` (checked: PyTorch's pools need numbers)."""
    require_tensor(x, "x", non_empty=True)
    check_not_bool(x, "x", f"{mode} pooling")
    if mode == "avg":
        check_float(x, "x", why="an integer mean would be rounded")
        return lambda window: window.mean(dim=-1)
    if mode == "max":
        return lambda window: window.amax(dim=-1)
    raise ValueError(f"mode must be 'avg' or 'max', got {mode!r}")


# --- shapes through a network -------------------------------------------------------------------


def conv_output_shape(
    height: int, width: int, kernel_size, stride=1, padding=0, dilation=1
) -> tuple[int, int]:
    """``(H_out, W_out)`` of a 2-D convolution or pooling: ``conv_output_size`` on each axis."""
    k, s, p, d = (
        pair(kernel_size, "kernel_size"),
        pair(stride, "stride"),
        pair(padding, "padding"),
        pair(dilation, "dilation"),
    )
    return (
        conv_output_size(height, k[0], s[0], p[0], d[0]),
        conv_output_size(width, k[1], s[1], p[1], d[1]),
    )


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """``(B, in_channels, H, W) -> (B, out_channels, H/stride, W/stride)``: a 3x3 convolution
    (no bias: batch norm has one), batch norm, ReLU; the building block of the course's small
    detectors, FCN and backbones."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )
