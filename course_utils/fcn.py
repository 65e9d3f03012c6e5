"""The fully convolutional network (FCN) and the transposed convolution that upsamples in it.

Long, Shelhamer and Darrell (2015) turned a classification CNN into a segmenter by replacing its
fully connected layers with 1x1 convolutions (a class score per cell of a coarse map) and
*learning* the upsampling back to the image's size with transposed convolutions, initialised as
bilinear interpolation. FCN-8s adds the scores of finer maps on the way up.

``transposed_conv2d`` writes the operation out (every input pixel stamps a scaled copy of the
kernel onto the output); the tests check it, ``transposed_conv_output_size`` and
``bilinear_kernel`` against ``torch.nn.functional.conv_transpose2d``, ``nn.ConvTranspose2d`` and
``F.interpolate``.
"""

from __future__ import annotations

import torch
from torch import nn

from course_utils.layers import conv_bn_relu


def transposed_conv_output_size(
    n: int, kernel_size: int, stride: int = 1, padding: int = 0, output_padding: int = 0
) -> int:
    """Output length of a transposed convolution along one axis (PyTorch's formula).

    ``(n - 1) * stride - 2 * padding + kernel_size + output_padding``: the inverse of the
    convolution formula, so a stride-s convolution's output size is mapped back to its input's.
    """
    for name, value in (("n", n), ("kernel_size", kernel_size), ("stride", stride)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if padding < 0 or not 0 <= output_padding < stride:
        raise ValueError(
            f"need padding >= 0 and 0 <= output_padding < stride, got {padding}, {output_padding}"
        )
    size = (n - 1) * stride - 2 * padding + kernel_size + output_padding
    if size < 1:
        raise ValueError(f"padding {padding} leaves no output for n={n}, kernel {kernel_size}")
    return size


def transposed_conv2d(
    X: torch.Tensor, K: torch.Tensor, stride: int = 1, padding: int = 0
) -> torch.Tensor:
    """Transposed convolution of one channel, written as a scatter: X ``(H, W)``, K ``(h, w)``.

    Input pixel ``X[i, j]`` adds ``X[i, j] * K`` to the output window whose top-left corner is
    ``(i * stride, j * stride)``; ``padding`` then crops that many rows and columns off each
    side. Output ``((H-1) s - 2p + h, (W-1) s - 2p + w)``.
    """
    if X.ndim != 2 or K.ndim != 2:
        raise ValueError(
            f"transposed_conv2d needs two 2-D tensors, got {tuple(X.shape)} and {tuple(K.shape)}"
        )
    h, w = K.shape
    height, width = (X.shape[0] - 1) * stride + h, (X.shape[1] - 1) * stride + w
    Y = torch.zeros(height, width, dtype=torch.promote_types(X.dtype, K.dtype), device=X.device)
    for i in range(X.shape[0]):
        for j in range(X.shape[1]):
            Y[i * stride : i * stride + h, j * stride : j * stride + w] += X[i, j] * K
    if padding:
        Y = Y[padding : height - padding, padding : width - padding]
    return Y


def overlap_counts(n: int, kernel_size: int, stride: int) -> torch.Tensor:
    """How many input pixels write to each output pixel of a 1-D transposed convolution.

    Uneven counts (``kernel_size`` not a multiple of ``stride``) are the source of the
    checkerboard artefacts of Odena, Dumoulin and Olah (2016).
    """
    ones = torch.ones(1, n)
    return transposed_conv2d(ones, torch.ones(1, kernel_size), stride)[0]


def bilinear_kernel(factor: int) -> torch.Tensor:
    """The ``(2f - f % 2, 2f - f % 2)`` tent kernel of bilinear interpolation by a factor ``f``.

    Used as the weight of a stride-``f`` transposed convolution (``bilinear_upsampler``), it
    gives the same values as ``F.interpolate(..., mode="bilinear")`` away from the border.
    """
    size = 2 * factor - factor % 2
    centre = (size - 1) / 2 if size % 2 == 1 else factor - 0.5
    taps = 1 - (torch.arange(size, dtype=torch.float32) - centre).abs() / factor
    return taps[:, None] * taps[None, :]


def bilinear_upsampler(channels: int, factor: int) -> nn.ConvTranspose2d:
    """A per-channel transposed convolution that upsamples by ``factor`` (even) and starts out
    as bilinear interpolation (FCN's initialisation); it stays trainable."""
    if factor < 2 or factor % 2:
        raise ValueError(f"bilinear_upsampler needs an even factor >= 2, got {factor}")
    layer = nn.ConvTranspose2d(
        channels,
        channels,
        2 * factor,
        stride=factor,
        padding=factor // 2,
        groups=channels,
        bias=False,
    )
    with torch.no_grad():
        layer.weight.copy_(bilinear_kernel(factor).expand(channels, 1, -1, -1))
    return layer


class FCN(nn.Module):
    """``(B, 1, H, W) -> (B, classes, H, W)`` logits; ``H`` and ``W`` multiples of 8.

    A CNN down to stride 8 (three stride-2 stages), class scores by 1x1 convolutions, and
    bilinear-initialised transposed convolutions back up. ``skip=True`` is FCN-8s-style: the
    stride-8 scores are upsampled x2 and added to the stride-4 scores before the final x4;
    ``skip=False`` is FCN-32s-style: one x8 upsampling of the coarsest scores.
    """

    def __init__(self, classes: int = 1, width: int = 32, skip: bool = True):
        super().__init__()
        self.skip = skip
        self.stride4 = nn.Sequential(
            conv_bn_relu(1, width // 2),
            conv_bn_relu(width // 2, width, stride=2),
            conv_bn_relu(width, width, stride=2),
            conv_bn_relu(width, width),
        )
        self.stride8 = nn.Sequential(
            conv_bn_relu(width, 2 * width, stride=2), conv_bn_relu(2 * width, 2 * width)
        )
        self.score8 = nn.Conv2d(2 * width, classes, 1)
        if skip:
            self.score4 = nn.Conv2d(width, classes, 1)
            self.up2 = bilinear_upsampler(classes, 2)
            self.up_final = bilinear_upsampler(classes, 4)
        else:
            self.up_final = bilinear_upsampler(classes, 8)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        features4 = self.stride4(X)
        scores = self.score8(self.stride8(features4))
        if self.skip:
            scores = self.up2(scores) + self.score4(features4)
        return self.up_final(scores)
