"""Transposed convolution, its output size, bilinear upsampling and the FCN against PyTorch."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from course_utils.fcn import (
    FCN,
    bilinear_upsampler,
    overlap_counts,
    transposed_conv2d,
    transposed_conv_output_size,
)


@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (2, 0), (2, 1), (3, 1), (4, 2)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_transposed_conv2d_matches_conv_transpose2d(stride, padding, dtype):
    generator = torch.Generator().manual_seed(stride * 10 + padding)
    X = torch.randn(4, 5, generator=generator, dtype=dtype)
    K = torch.randn(3, 4, generator=generator, dtype=dtype)
    ours = transposed_conv2d(X, K, stride, padding)
    assert ours.dtype == dtype
    torch.testing.assert_close(
        ours, F.conv_transpose2d(X[None, None], K[None, None], stride=stride, padding=padding)[0, 0]
    )


@pytest.mark.parametrize(
    ("n", "k", "s", "p", "op"),
    [(4, 3, 1, 0, 0), (8, 4, 2, 1, 0), (7, 3, 2, 1, 1), (8, 16, 8, 4, 0), (5, 5, 3, 2, 2)],
)
def test_output_size_is_pytorchs(n, k, s, p, op):
    layer = nn.ConvTranspose2d(1, 1, k, stride=s, padding=p, output_padding=op)
    assert layer(torch.zeros(1, 1, n, n)).shape[-1] == transposed_conv_output_size(n, k, s, p, op)


def test_output_size_refuses_impossible_arguments():
    with pytest.raises(ValueError, match="output_padding"):
        transposed_conv_output_size(4, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="no output"):
        transposed_conv_output_size(1, 1, padding=1)


def test_overlap_counts_are_even_only_when_the_kernel_is_a_multiple_of_the_stride():
    uneven, even = overlap_counts(8, 3, 2), overlap_counts(8, 4, 2)
    assert set(uneven[2:-2].tolist()) == {1.0, 2.0}
    assert set(even[2:-2].tolist()) == {2.0}


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_bilinear_upsampler_interpolates_like_f_interpolate(factor):
    X = torch.rand(2, 3, 5, 6)
    ours = bilinear_upsampler(3, factor)(X)
    reference = F.interpolate(X, scale_factor=factor, mode="bilinear", align_corners=False)
    assert ours.shape == reference.shape
    inner = (..., slice(factor, -factor), slice(factor, -factor))
    torch.testing.assert_close(ours[inner], reference[inner])


@pytest.mark.parametrize("skip", [True, False])
def test_fcn_returns_a_score_map_of_the_input_size(skip):
    model = FCN(classes=3, width=8, skip=skip)
    assert model(torch.rand(2, 1, 32, 48)).shape == (2, 3, 32, 48)
