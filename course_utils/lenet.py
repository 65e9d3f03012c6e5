"""LeNet and a small convolutional network that takes images of any size.

* ``lenet``: LeNet-5 (LeCun et al., 1998) as d2l writes it for 28x28 inputs, with the classic
  sigmoid and average pooling or the modern ReLU and max pooling.
* ``AdaptivePoolNet``: conv-ReLU-pool-conv-ReLU-adaptive-max-pool-flatten-linear, whose adaptive
  pooling makes it accept any input size.

``course_utils.architectures.layer_shapes`` lists their layers' output shapes and parameters.
"""

from __future__ import annotations

import torch
from torch import nn


def lenet(num_classes: int = 10, in_channels: int = 1, modern: bool = False) -> nn.Sequential:
    """LeNet-5 for ``(N, in_channels, 28, 28)`` inputs -> ``(N, num_classes)`` logits.

    Two 5x5 convolutions (6 and 16 channels, the first padded by 2 so 28x28 stays 28x28), each
    followed by an activation and 2x2 pooling, then dense layers of 120, 84 and ``num_classes``.
    ``modern=False``: sigmoid and average pooling, as in 1998; ``modern=True``: ReLU and max
    pooling, which train much faster with plain SGD.
    """
    activation = nn.ReLU if modern else nn.Sigmoid
    pool = nn.MaxPool2d if modern else nn.AvgPool2d
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, kernel_size=5, padding=2),
        activation(),
        pool(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5),
        activation(),
        pool(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120),
        activation(),
        nn.Linear(120, 84),
        activation(),
        nn.Linear(84, num_classes),
    )


class AdaptivePoolNet(nn.Module):
    """A small example network: a feature extractor and a classifier.

    ``features``: conv 3x3 (16) - ReLU - max-pool 2 - conv 3x3 (32) - ReLU - adaptive max-pool to
    4x4 - flatten; ``classifier``: linear 512 -> 128 - ReLU - linear 128 -> ``num_classes``.
    Input ``(N, in_channels, H, W)`` with H, W >= 8 (any size: the adaptive pooling always gives
    4x4) -> ``(N, num_classes)``.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 16, kernel_size=3, stride=1, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2),
            nn.Conv2d(16, 32, kernel_size=3, stride=1, padding=1),
            nn.ReLU(),
            nn.AdaptiveMaxPool2d(output_size=(4, 4)),
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(32 * 4 * 4, 128),
            nn.ReLU(),
            nn.Linear(128, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


#: The name this network had before (a chapter may still use it; the class is the same).
SmallConvNet = AdaptivePoolNet
