"""Backpropagation through a convolution, written out: the two gradients of a conv layer.

For a valid cross-correlation ``Y = corr2d(X, K)`` and an upstream gradient ``dL/dY``:

* the gradient with respect to the **input** is the *full* convolution of ``dL/dY`` with ``K``,
  i.e. a cross-correlation of ``dL/dY`` padded by ``kernel - 1`` on every side with the kernel
  flipped in both directions;
* the gradient with respect to the **kernel** is the valid cross-correlation of ``X`` with
  ``dL/dY``.

The tests check both against autograd and ``torch.nn.grad.conv2d_input`` / ``conv2d_weight``.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from course_utils.conv import corr2d


def corr2d_input_grad(grad_Y: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """``dL/dX`` of ``Y = corr2d(X, K)``: grad_Y ``(H', W')``, K ``(h, w)`` -> ``(H'+h-1, W'+w-1)``.

    Each ``X[a, b]`` met ``K[a - i, b - j]`` in output ``Y[i, j]``, so its gradient sums
    ``grad_Y[i, j] * K[a - i, b - j]``: a full convolution, computed as a cross-correlation of
    the zero-padded ``grad_Y`` with the flipped kernel.
    """
    if grad_Y.ndim != 2 or K.ndim != 2:
        raise ValueError(
            f"corr2d_input_grad needs two 2-D tensors, got {tuple(grad_Y.shape)} "
            f"and {tuple(K.shape)}"
        )
    h, w = K.shape
    padded = F.pad(grad_Y, (w - 1, w - 1, h - 1, h - 1))
    return corr2d(padded, K.flip(0, 1))


def corr2d_kernel_grad(X: torch.Tensor, grad_Y: torch.Tensor) -> torch.Tensor:
    """``dL/dK`` of ``Y = corr2d(X, K)``: X ``(H, W)``, grad_Y ``(H', W')`` -> ``(H-H'+1, W-W'+1)``.

    ``K[u, v]`` multiplied ``X[i + u, j + v]`` in every output ``Y[i, j]``: a valid
    cross-correlation of the input with the upstream gradient.
    """
    if X.ndim != 2 or grad_Y.ndim != 2:
        raise ValueError(
            f"corr2d_kernel_grad needs two 2-D tensors, got {tuple(X.shape)} and "
            f"{tuple(grad_Y.shape)}"
        )
    return corr2d(X, grad_Y)


def conv2d_input_grad(grad_Y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``dL/dX`` of ``F.conv2d(X, weight)`` (stride 1, no padding), for whole layers.

    grad_Y ``(B, C_out, H', W')``, weight ``(C_out, C_in, h, w)`` -> ``(B, C_in, H'+h-1, W'+w-1)``:
    the same full convolution with the flipped kernel, with the roles of the in and out channels
    exchanged (every input channel collects from every output channel).
    """
    if grad_Y.ndim != 4 or weight.ndim != 4 or grad_Y.shape[1] != weight.shape[0]:
        raise ValueError(
            f"grad_Y (B, C_out, H', W') {tuple(grad_Y.shape)} and weight "
            f"(C_out, C_in, h, w) {tuple(weight.shape)} do not fit together"
        )
    h, w = weight.shape[-2:]
    padded = F.pad(grad_Y, (w - 1, w - 1, h - 1, h - 1))
    return F.conv2d(padded, weight.flip(-2, -1).transpose(0, 1))
