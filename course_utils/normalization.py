"""Batch normalization and layer normalization from scratch, with PyTorch's conventions.

``batch_norm`` normalizes each channel with the statistics of the current mini-batch while
training, and with running averages of them at evaluation time; ``BatchNorm`` wraps it in a
module with learnable scale and shift. ``layer_norm`` normalizes each sample on its own, so it
does the same thing in training and evaluation and for any batch size. Both give the same
numbers as ``nn.BatchNorm1d/2d`` and ``nn.LayerNorm``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from course_utils._checks import check_float, require_tensor


def batch_norm(
    X: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    running_mean: torch.Tensor,
    running_var: torch.Tensor,
    training: bool,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Batch normalization of ``X``: ``(N, C)`` (after a linear layer) or ``(N, C, H, W)``
    (after a convolution, one mean and variance per channel over batch and positions).

    ``gamma``, ``beta``, ``running_mean``, ``running_var`` have shape ``(C,)``. In training the
    batch mean and biased variance normalize ``X``, and the running statistics are updated in
    place: ``running = (1 - momentum) * running + momentum * batch`` (with the unbiased batch
    variance, as PyTorch does). In evaluation the running statistics normalize ``X``.
    """
    require_tensor(X, "X")
    if X.ndim not in (2, 4):
        raise ValueError(f"batch_norm expects (N, C) or (N, C, H, W), got shape {tuple(X.shape)}")
    check_float(X, "X", why="a mean and variance are real numbers")
    axes = (0,) if X.ndim == 2 else (0, 2, 3)
    shape = (1, -1) if X.ndim == 2 else (1, -1, 1, 1)  # broadcast (C,) against X
    if training:
        count = X.numel() // X.shape[1]
        if count < 2:
            raise ValueError(
                "batch_norm needs more than one value per channel to estimate a variance in "
                f"training, got input of shape {tuple(X.shape)}"
            )
        mean = X.mean(dim=axes)
        var = X.var(dim=axes, unbiased=False)
        with torch.no_grad():
            running_mean.mul_(1 - momentum).add_(momentum * mean)
            running_var.mul_(1 - momentum).add_(momentum * var * count / (count - 1))
    else:
        mean, var = running_mean, running_var
    X_hat = (X - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + eps)
    return gamma.reshape(shape) * X_hat + beta.reshape(shape)


class BatchNorm(nn.Module):
    """Batch normalization layer for ``(N, C)`` or ``(N, C, H, W)`` inputs.

    Learnable scale ``weight`` (ones) and shift ``bias`` (zeros), and the buffers
    ``running_mean`` (zeros) and ``running_var`` (ones), all of shape ``(num_features,)``, and
    ``num_batches_tracked``, named as in ``nn.BatchNorm2d``, so a state dict moves between the
    two. ``model.train()`` / ``model.eval()`` choose batch or running statistics.
    ``momentum=None`` averages all batches seen so far equally (momentum ``1 / batches``).
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        require_tensor(X, "X")
        if X.ndim in (2, 4) and X.shape[1] != self.weight.numel():
            raise ValueError(
                f"BatchNorm({self.weight.numel()}) got {X.shape[1]} channels in input of shape "
                f"{tuple(X.shape)}"
            )
        momentum = self.momentum
        if self.training:
            self.num_batches_tracked += 1
            if momentum is None:  # a cumulative average: every batch weighs the same
                momentum = 1.0 / float(self.num_batches_tracked)
        return batch_norm(
            X,
            self.weight,
            self.bias,
            self.running_mean,
            self.running_var,
            self.training,
            momentum,
            self.eps,
        )

    def extra_repr(self) -> str:
        return f"{self.weight.numel()}, eps={self.eps}, momentum={self.momentum}"


def layer_norm(
    X: torch.Tensor,
    normalized_ndim: int,
    gamma: torch.Tensor | None = None,
    beta: torch.Tensor | None = None,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Layer normalization: each sample normalized by the mean and (biased) variance of its
    own last ``normalized_ndim`` dimensions, e.g. all of ``(C, H, W)`` for an image batch.

    ``gamma`` and ``beta`` (optional) have the shape of those dimensions. Nothing depends on
    the other samples in the batch, so training and evaluation compute the same thing.
    """
    require_tensor(X, "X")
    if not 1 <= normalized_ndim <= X.ndim:
        raise ValueError(
            f"cannot normalize the last {normalized_ndim} dimensions of a "
            f"{X.ndim}-dimensional input"
        )
    check_float(X, "X", why="a mean and variance are real numbers")
    axes = tuple(range(X.ndim - normalized_ndim, X.ndim))
    mean = X.mean(dim=axes, keepdim=True)
    var = ((X - mean) ** 2).mean(dim=axes, keepdim=True)  # biased, as nn.LayerNorm
    Y = (X - mean) / torch.sqrt(var + eps)
    if gamma is not None:
        Y = Y * gamma
    if beta is not None:
        Y = Y + beta
    return Y


class LayerNorm(nn.Module):
    """Layer normalization over the trailing ``normalized_shape`` (e.g. ``(C, H, W)``), with an
    element-wise learnable scale and shift, as ``nn.LayerNorm(normalized_shape)``."""

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(self.normalized_shape))
        self.bias = nn.Parameter(torch.zeros(self.normalized_shape))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        require_tensor(X, "X")
        if tuple(X.shape[-len(self.normalized_shape) :]) != self.normalized_shape:
            raise ValueError(
                f"LayerNorm{self.normalized_shape} got input of shape "
                f"{tuple(X.shape)}: its last dimensions must match"
            )
        return layer_norm(X, len(self.normalized_shape), self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"
