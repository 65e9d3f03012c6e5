"""corr2d, conv_output_size and the fast cross-correlations against PyTorch's real layers."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from course_utils.conv import conv_output_size, corr2d, corr2d_fft, corr2d_unfold
from course_utils.signals import fft_convolve

SHAPES = [((7, 7), (3, 3)), ((5, 9), (2, 4)), ((12, 6), (5, 1)), ((4, 4), (4, 4)), ((1, 8), (1, 3))]


def reference_corr2d(X, K):
    return F.conv2d(X[None, None], K[None, None])[0, 0]


@pytest.mark.parametrize(("x_shape", "k_shape"), SHAPES)
@pytest.mark.parametrize("implementation", [corr2d, corr2d_unfold, corr2d_fft])
def test_cross_correlations_match_conv2d(implementation, x_shape, k_shape):
    generator = torch.Generator().manual_seed(hash((x_shape, k_shape)) % 1000)
    X = torch.randn(x_shape, generator=generator, dtype=torch.float64)
    K = torch.randn(k_shape, generator=generator, dtype=torch.float64)
    Y = implementation(X, K)
    expected = reference_corr2d(X, K)
    assert Y.shape == expected.shape
    assert Y.dtype == torch.float64
    torch.testing.assert_close(Y, expected)


def test_corr2d_is_not_convolution():
    """An asymmetric kernel tells cross-correlation from convolution (the flip matters)."""
    X = torch.arange(16.0).reshape(4, 4)
    K = torch.tensor([[0.0, 1.0], [0.0, 0.0]])  # picks the right neighbour
    torch.testing.assert_close(corr2d(X, K), X[:3, 1:])
    torch.testing.assert_close(corr2d(X, K.flip(0, 1)), X[1:, :3])


def test_corr2d_keeps_gradients_like_conv2d():
    X = torch.randn(6, 5, dtype=torch.float64)
    K = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    corr2d(X, K).square().sum().backward()
    K2 = K.detach().clone().requires_grad_(True)
    reference_corr2d(X, K2).square().sum().backward()
    torch.testing.assert_close(K.grad, K2.grad)


@pytest.mark.parametrize("implementation", [corr2d, corr2d_unfold, corr2d_fft])
def test_bad_shapes_are_refused(implementation):
    with pytest.raises(ValueError, match="larger than the input"):
        implementation(torch.zeros(3, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="2-D"):
        implementation(torch.zeros(1, 3, 3), torch.zeros(2, 2))


def test_seed_example_7x7_with_3x3_gives_5x5():
    assert conv_output_size(7, 3) == 5
    layer = nn.Conv2d(1, 1, kernel_size=3)
    assert layer(torch.zeros(1, 1, 7, 7)).shape[-2:] == (5, 5)


def test_conv_output_size_matches_real_layers_on_random_settings():
    rng = np.random.default_rng(0)
    checked = 0
    while checked < 60:
        n = int(rng.integers(1, 40))
        k = int(rng.integers(1, 8))
        stride = int(rng.integers(1, 5))
        dilation = int(rng.integers(1, 4))
        padding = int(rng.integers(0, 4))
        if n + 2 * padding < dilation * (k - 1) + 1:
            with pytest.raises(ValueError):
                conv_output_size(n, k, stride, padding, dilation)
            continue
        layer = nn.Conv2d(1, 1, k, stride=stride, padding=padding, dilation=dilation)
        expected = layer(torch.zeros(1, 1, n, 3 + 2 * dilation * k)).shape[-2]
        assert conv_output_size(n, k, stride, padding, dilation) == expected, (
            n,
            k,
            stride,
            padding,
            dilation,
        )
        checked += 1


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_conv_output_size_refuses_bad_arguments(bad):
    with pytest.raises(ValueError):
        conv_output_size(bad, 3)
    with pytest.raises(ValueError):
        conv_output_size(7, 3, stride=bad)


def test_fft_convolve_2d_matches_scipy():
    from scipy.signal import convolve2d

    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((9, 14)), rng.standard_normal((4, 3))
    ours = fft_convolve(torch.tensor(a), torch.tensor(b)).numpy()
    np.testing.assert_allclose(ours, convolve2d(a, b, mode="full"), atol=1e-10)
