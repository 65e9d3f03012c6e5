"""Depthwise separable convolutions and MobileNet (Howard et al., 2017).

A standard k x k convolution mixes space and channels at once: ``k*k*C_in*C_out`` weights. A
depthwise separable convolution splits the two jobs: a **depthwise** k x k convolution filters
each channel on its own (``groups=C_in``: ``k*k*C_in`` weights), then a **pointwise** 1x1
convolution mixes the channels (``C_in*C_out``). The cost falls by a factor
``1/C_out + 1/k**2``, about 8-9 times for 3x3 kernels.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

# MobileNet v1 (Table 1 of the paper): (output channels, stride) of the 13 separable layers.
MOBILENET_V1_LAYERS = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)


def depthwise_conv2d(
    X: torch.Tensor, K: torch.Tensor, stride: int = 1, padding: int = 0
) -> torch.Tensor:
    """Each channel cross-correlated with its own kernel: X ``(B, C, H, W)``, K ``(C, h, w)``.

    Written as one single-channel convolution per channel; ``nn.Conv2d(C, C, k, groups=C)``
    computes the same in one call.
    """
    if X.ndim != 4 or K.ndim != 3 or X.shape[1] != K.shape[0]:
        raise ValueError(
            f"need X (B, C, H, W) and K (C, h, w) with the same C, got "
            f"{tuple(X.shape)} and {tuple(K.shape)}"
        )
    return torch.cat(
        [
            F.conv2d(X[:, c : c + 1], K[c][None, None], stride=stride, padding=padding)
            for c in range(X.shape[1])
        ],
        dim=1,
    )


def conv_costs(
    c_in: int, c_out: int, kernel_size: int, out_height: int, out_width: int
) -> dict[str, dict[str, int]]:
    """Weights and multiply-adds of a standard and a depthwise separable convolution (no bias).

    ``{"standard": {"parameters", "mult_adds"}, "separable": {...}}``.
    """
    positions = out_height * out_width
    k2 = kernel_size * kernel_size
    standard = k2 * c_in * c_out
    separable = k2 * c_in + c_in * c_out
    return {
        "standard": {"parameters": standard, "mult_adds": standard * positions},
        "separable": {"parameters": separable, "mult_adds": separable * positions},
    }


class DepthwiseSeparable(nn.Module):
    """``(B, c_in, H, W) -> (B, c_out, H/stride, W/stride)``: depthwise 3x3 (with ``stride``),
    batch norm, ReLU, then pointwise 1x1, batch norm, ReLU: one MobileNet layer."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.depthwise = nn.Conv2d(c_in, c_in, 3, stride=stride, padding=1, groups=c_in, bias=False)
        self.bn1 = nn.BatchNorm2d(c_in)
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        X = F.relu(self.bn1(self.depthwise(X)))
        return F.relu(self.bn2(self.pointwise(X)))


class MobileNetV1(nn.Module):
    """``(B, in_channels, H, W) -> (B, num_classes)``: MobileNet v1.

    A standard 3x3 stem of stride 2, the 13 depthwise separable layers of
    ``MOBILENET_V1_LAYERS`` (strides total 32), global average pooling and one linear layer.
    ``width`` multiplies every channel count (the paper's width multiplier alpha).
    """

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        width: float = 1.0,
        layers=MOBILENET_V1_LAYERS,
    ):
        super().__init__()

        def w(c):
            return max(8, int(c * width))

        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, w(32), 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(w(32)),
            nn.ReLU(),
        )
        blocks, c_in = [], w(32)
        for c_out, stride in layers:
            blocks.append(DepthwiseSeparable(c_in, w(c_out), stride))
            c_in = w(c_out)
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes)
        )

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(X)))
