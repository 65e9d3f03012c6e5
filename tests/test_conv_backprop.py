"""The gradients of a convolution against autograd and torch.nn.grad."""

import pytest
import torch
from torch.nn import functional as F
from torch.nn.grad import conv2d_input, conv2d_weight

from course_utils.conv import corr2d
from course_utils.conv_backprop import (
    conv2d_input_grad,
    corr2d_input_grad,
    corr2d_kernel_grad,
)


@pytest.mark.parametrize(
    ("x_shape", "k_shape"), [((6, 7), (3, 2)), ((5, 5), (5, 5)), ((4, 9), (1, 4)), ((3, 3), (1, 1))]
)
def test_corr2d_gradients_match_autograd(x_shape, k_shape):
    generator = torch.Generator().manual_seed(sum(x_shape) * 10 + sum(k_shape))
    X = torch.randn(x_shape, generator=generator, dtype=torch.float64, requires_grad=True)
    K = torch.randn(k_shape, generator=generator, dtype=torch.float64, requires_grad=True)
    Y = corr2d(X, K)
    grad_Y = torch.randn(Y.shape, generator=generator, dtype=torch.float64)
    Y.backward(grad_Y)
    torch.testing.assert_close(corr2d_input_grad(grad_Y, K.detach()), X.grad)
    torch.testing.assert_close(corr2d_kernel_grad(X.detach(), grad_Y), K.grad)


def test_input_gradient_is_not_a_plain_correlation():
    """Without the flip the answer is wrong for an asymmetric kernel: the flip is the point."""
    K = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    grad_Y = torch.ones(3, 3)
    padded = F.pad(grad_Y, (1, 1, 1, 1))
    assert not torch.allclose(corr2d(padded, K), corr2d_input_grad(grad_Y, K))


@pytest.mark.parametrize(("c_in", "c_out", "kernel"), [(1, 1, 3), (3, 5, 3), (4, 2, (2, 5))])
def test_layer_input_gradient_matches_torch_nn_grad(c_in, c_out, kernel):
    generator = torch.Generator().manual_seed(c_in * 7 + c_out)
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    X = torch.randn(2, c_in, 8, 9, generator=generator, dtype=torch.float64)
    weight = torch.randn(c_out, c_in, kh, kw, generator=generator, dtype=torch.float64)
    grad_Y = torch.randn(2, c_out, 9 - kh, 10 - kw, generator=generator, dtype=torch.float64)
    ours = conv2d_input_grad(grad_Y, weight)
    assert ours.shape == X.shape
    torch.testing.assert_close(ours, conv2d_input(X.shape, weight, grad_Y))
    # and the kernel gradient of channel pair (0, 0) is corr2d_kernel_grad summed over the batch
    expected = conv2d_weight(X, weight.shape, grad_Y)[0, 0]
    summed = sum(corr2d_kernel_grad(X[b, 0], grad_Y[b, 0]) for b in range(2))
    torch.testing.assert_close(summed, expected)


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="2-D"):
        corr2d_input_grad(torch.ones(1, 3, 3), torch.ones(2, 2))
    with pytest.raises(ValueError, match="do not fit"):
        conv2d_input_grad(torch.ones(1, 3, 4, 4), torch.ones(2, 1, 3, 3))
