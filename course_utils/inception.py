"""GoogLeNet (Szegedy et al., 2015) and its Inception block.

An Inception block runs four branches side by side on the same input and concatenates their
channels: a 1x1 convolution; a 1x1 "reduction" then a 3x3; a 1x1 reduction then a 5x5; a 3x3
max pool then a 1x1 projection. The 1x1 reductions (NiN's idea) keep the 3x3 and 5x5 branches
cheap. Every convolution is followed by a ReLU, as in the paper (no batch normalization).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

# The channel plan of the paper's Table 1: (1x1, (3x3 reduce, 3x3), (5x5 reduce, 5x5), pool proj)
GOOGLENET_BLOCKS = {
    "3a": (64, (96, 128), (16, 32), 32),
    "3b": (128, (128, 192), (32, 96), 64),
    "4a": (192, (96, 208), (16, 48), 64),
    "4b": (160, (112, 224), (24, 64), 64),
    "4c": (128, (128, 256), (24, 64), 64),
    "4d": (112, (144, 288), (32, 64), 64),
    "4e": (256, (160, 320), (32, 128), 128),
    "5a": (256, (160, 320), (32, 128), 128),
    "5b": (384, (192, 384), (48, 128), 128),
}


def _conv_relu(c_in: int, c_out: int, kernel_size: int, **kwargs) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel_size, **kwargs), nn.ReLU(inplace=True))


class Inception(nn.Module):
    """``(B, in_channels, H, W) -> (B, c1 + c2[1] + c3[1] + c4, H, W)``: four parallel branches.

    ``c1``: 1x1 branch; ``c2 = (reduce, out)``: 1x1 then 3x3; ``c3 = (reduce, out)``: 1x1 then
    5x5; ``c4``: 3x3 max pool (stride 1) then 1x1. Padding keeps every branch at ``H x W``.
    """

    def __init__(self, in_channels: int, c1: int, c2: Sequence[int], c3: Sequence[int], c4: int):
        super().__init__()
        self.branch1 = _conv_relu(in_channels, c1, 1)
        self.branch2 = nn.Sequential(
            _conv_relu(in_channels, c2[0], 1), _conv_relu(c2[0], c2[1], 3, padding=1)
        )
        self.branch3 = nn.Sequential(
            _conv_relu(in_channels, c3[0], 1), _conv_relu(c3[0], c3[1], 5, padding=2)
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1), _conv_relu(in_channels, c4, 1)
        )

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [self.branch1(X), self.branch2(X), self.branch3(X), self.branch4(X)], dim=1
        )


def inception_out_channels(c1: int, c2: Sequence[int], c3: Sequence[int], c4: int) -> int:
    """Channels an Inception block outputs: the sum of its four branches' outputs."""
    return c1 + c2[1] + c3[1] + c4


class GoogLeNet(nn.Module):
    """``(B, in_channels, H, W) -> (B, num_classes)`` logits; the paper's network at ``scale=1``.

    Stem (7x7/2 conv, pool, 1x1 conv, 3x3 conv, pool), Inception 3a-3b, pool, 4a-4e, pool,
    5a-5b, global average pooling, one linear layer (no auxiliary classifiers). ``scale``
    divides every channel count, for a narrow version that trains on a CPU.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, scale: int = 1):
        super().__init__()

        def s(c):
            return max(1, c // scale)

        def block(name, c_in):
            c1, c2, c3, c4 = GOOGLENET_BLOCKS[name]
            return Inception(c_in, s(c1), (s(c2[0]), s(c2[1])), (s(c3[0]), s(c3[1])), s(c4))

        def out(name):
            c1, c2, c3, c4 = GOOGLENET_BLOCKS[name]
            return inception_out_channels(s(c1), (0, s(c2[1])), (0, s(c3[1])), s(c4))

        pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.stem = nn.Sequential(
            _conv_relu(in_channels, s(64), 7, stride=2, padding=3),
            nn.MaxPool2d(3, 2, padding=1),
            _conv_relu(s(64), s(64), 1),
            _conv_relu(s(64), s(192), 3, padding=1),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        names, c_in, layers = list(GOOGLENET_BLOCKS), s(192), []
        for name in names:
            if name in ("4a", "5a"):
                layers.append(pool)
            layers.append(block(name, c_in))
            c_in = out(name)
        self.blocks = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes)
        )

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(X)))
