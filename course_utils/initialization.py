"""Weight initialisation (Xavier/Glorot, Kaiming/He) and dropout, written out.

A layer ``y = W x`` with ``fan_in`` inputs and weights of variance ``s**2`` multiplies the
variance of its input by ``fan_in * s**2`` (for zero-mean, independent entries). Keeping that
factor at 1 layer after layer keeps activations from vanishing or exploding:

* **Xavier/Glorot** (linear or tanh layers): ``s**2 = 2 / (fan_in + fan_out)``, a compromise
  between the forward pass (``1 / fan_in``) and the backward pass (``1 / fan_out``);
* **Kaiming/He** (ReLU layers): ``s**2 = 2 / fan_in``, since a ReLU keeps half the variance.

The functions agree with ``torch.nn.init`` (``xavier_normal_``, ``kaiming_normal_``) and
``torch.nn.functional.dropout``; the tests check that.
"""

from __future__ import annotations

import math

import torch
from torch import nn

INIT_SCHEMES = ("xavier", "kaiming")


def fans(weight: torch.Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a linear ``(out, in)`` or conv ``(out, in, h, w)`` weight.

    A conv output sums over ``in * h * w`` inputs; an input feeds ``out * h * w`` outputs.
    """
    if weight.ndim < 2:
        raise ValueError(f"fans need a weight with at least 2 dimensions, got {weight.ndim}")
    receptive = math.prod(weight.shape[2:])
    return weight.shape[1] * receptive, weight.shape[0] * receptive


def init_std(weight: torch.Tensor, scheme: str) -> float:
    """Standard deviation of ``scheme`` (``"xavier"`` or ``"kaiming"``) for this weight's shape."""
    fan_in, fan_out = fans(weight)
    if scheme == "xavier":
        return math.sqrt(2.0 / (fan_in + fan_out))
    if scheme == "kaiming":
        return math.sqrt(2.0 / fan_in)
    raise ValueError(f"unknown initialisation {scheme!r}: use one of {INIT_SCHEMES}")


def init_normal_(module: nn.Module, scheme: str | float) -> None:
    """Normal weights for every conv and linear layer of ``module``, zero biases.

    ``scheme`` is ``"xavier"``, ``"kaiming"`` or a fixed standard deviation (e.g. 0.01).
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            std = scheme if isinstance(scheme, float) else init_std(layer.weight, scheme)
            with torch.no_grad():
                layer.weight.normal_(0.0, std)
                if layer.bias is not None:
                    layer.bias.zero_()


@torch.no_grad()
def activation_stds(layers: nn.Sequential, X: torch.Tensor) -> list[float]:
    """Standard deviation of the output of every conv/linear layer of ``layers`` on ``X``."""
    stds = []
    for layer in layers:
        X = layer(X)
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            stds.append(float(X.std()))
    return stds


def dropout(
    X: torch.Tensor, p: float, training: bool = True, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Inverted dropout: zero each entry with probability ``p``, scale survivors by ``1/(1-p)``.

    The scaling keeps the expectation, ``E[dropout(X)] = X``, so nothing changes at test time
    (``training=False`` returns ``X``). Same shape and dtype as ``X``.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return X
    if p == 1.0:
        return torch.zeros_like(X)
    keep = torch.rand(X.shape, generator=generator, device=X.device) >= p
    return X * keep / (1.0 - p)
