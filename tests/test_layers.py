"""course_utils.layers against PyTorch on random inputs."""

import random

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from course_utils.layers import (
    Conv2D,
    adaptive_pool1d,
    adaptive_pool_windows,
    conv1x1_as_matmul,
    conv2d_operation_count,
    conv2d_parameter_count,
    conv_output_shape,
    corr2d_multi_in,
    corr2d_multi_in_out,
    linear_parameter_count,
    receptive_field,
    uniform_window_geometry,
    uniform_window_pool1d,
)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("seed", range(5))
def test_corr2d_multi_in_out_matches_conv2d(seed):
    rng = random.Random(seed)
    c_i, c_o = rng.randint(1, 4), rng.randint(1, 4)
    h, w = rng.randint(1, 3), rng.randint(1, 3)
    X = torch.randn(c_i, rng.randint(h, 7), rng.randint(w, 7), generator=_gen(seed))
    K = torch.randn(c_o, c_i, h, w, generator=_gen(seed + 100))
    expected = F.conv2d(X[None], K)[0]
    torch.testing.assert_close(corr2d_multi_in_out(X, K), expected)
    torch.testing.assert_close(corr2d_multi_in(X, K[0]), expected[0])


def test_corr2d_multi_in_lecture_example():
    X = torch.tensor(
        [
            [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]],
            [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]],
        ]
    )
    K = torch.tensor([[[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]]])
    assert corr2d_multi_in(X, K).tolist() == [[56.0, 72.0], [104.0, 120.0]]
    K3 = torch.stack((K, K + 1, K + 2), 0)
    Y = corr2d_multi_in_out(X, K3)
    assert Y.shape == (3, 2, 2)
    assert Y[1].tolist() == [[76.0, 100.0], [148.0, 172.0]]


@pytest.mark.parametrize("seed", range(5))
def test_conv1x1_as_matmul_matches_conv2d(seed):
    rng = random.Random(seed)
    c_i, c_o, h, w = (rng.randint(1, 5) for _ in range(4))
    X = torch.randn(c_i, h, w, generator=_gen(seed))
    K = torch.randn(c_o, c_i, 1, 1, generator=_gen(seed + 1))
    torch.testing.assert_close(conv1x1_as_matmul(X, K), F.conv2d(X[None], K)[0])


def test_channel_functions_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="same c_i"):
        corr2d_multi_in(torch.zeros(2, 4, 4), torch.zeros(3, 2, 2))
    with pytest.raises(ValueError, match="c_o, c_i, h, w"):
        corr2d_multi_in_out(torch.zeros(2, 4, 4), torch.zeros(2, 2, 2))
    with pytest.raises(ValueError, match="1, 1"):
        conv1x1_as_matmul(torch.zeros(2, 4, 4), torch.zeros(3, 2, 3, 3))


def test_conv2d_module_has_weight_and_bias_and_learns_the_edge_kernel():
    torch.manual_seed(0)
    layer = Conv2D((1, 2))
    assert layer.weight.shape == (1, 2) and layer.bias.shape == (1,)
    assert {name for name, _ in layer.named_parameters()} == {"weight", "bias"}
    X = torch.ones(6, 8)
    X[:, 2:6] = 0
    Y = F.conv2d(X[None, None], torch.tensor([[[[1.0, -1.0]]]]))[0, 0]
    torch.testing.assert_close(
        layer(X), F.conv2d(X[None, None], layer.weight[None, None])[0, 0] + layer.bias
    )
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.01)
    for _ in range(150):
        loss = ((layer(X) - Y) ** 2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    torch.testing.assert_close(
        layer.weight.detach(), torch.tensor([[1.0, -1.0]]), atol=1e-2, rtol=0
    )


@pytest.mark.parametrize("seed", range(10))
def test_parameter_and_operation_counts_match_torch(seed):
    rng = random.Random(seed)
    c_i, c_o = rng.randint(1, 8), rng.randint(1, 8)
    k = (rng.randint(1, 5), rng.randint(1, 5))
    bias = rng.random() < 0.5
    layer = nn.Conv2d(c_i, c_o, k, bias=bias)
    assert conv2d_parameter_count(c_i, c_o, k, bias=bias) == sum(
        p.numel() for p in layer.parameters()
    )
    dense = nn.Linear(c_i * 3, c_o * 5, bias=bias)
    assert linear_parameter_count(c_i * 3, c_o * 5, bias=bias) == sum(
        p.numel() for p in dense.parameters()
    )
    from torch.utils.flop_counter import FlopCounterMode

    H, W = rng.randint(6, 12), rng.randint(6, 12)
    with FlopCounterMode(display=False) as counter:
        layer(torch.zeros(1, c_i, H, W))
    out_h, out_w = conv_output_shape(H, W, k)
    assert conv2d_operation_count(out_h, out_w, k, c_i, c_o) == counter.get_total_flops()


def test_lecture_counts():
    assert conv2d_parameter_count(3, 5, 3) == 5 * 3 * 3 * 3 + 5
    assert conv2d_operation_count(256, 256, 5, 128, 128) == 53_687_091_200


@pytest.mark.parametrize("seed", range(8))
def test_conv_output_shape_matches_torch(seed):
    rng = random.Random(seed)
    k = (rng.randint(1, 4), rng.randint(1, 4))
    s = (rng.randint(1, 3), rng.randint(1, 3))
    p = (rng.randint(0, 2), rng.randint(0, 2))
    d = (rng.randint(1, 2), rng.randint(1, 2))
    H, W = rng.randint(9, 15), rng.randint(9, 15)
    layer = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d)
    assert conv_output_shape(H, W, k, s, p, d) == tuple(layer(torch.zeros(1, 1, H, W)).shape[2:])


def _empirical_receptive_field(net, size=41):
    """Height of the input region whose pixels change the centre output (via the gradient)."""
    for layer in net:
        if isinstance(layer, nn.Conv2d):
            nn.init.constant_(layer.weight, 1.0)
            nn.init.zeros_(layer.bias)
    X = torch.rand(1, 1, size, size, requires_grad=True)
    Y = net(X)
    Y[0, 0, Y.shape[2] // 2, Y.shape[3] // 2].backward()
    rows = torch.nonzero(X.grad[0, 0].abs().sum(dim=1))
    return int(rows.max() - rows.min() + 1)


@pytest.mark.parametrize(
    "net",
    [
        nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU(), nn.Conv2d(1, 1, 3)),
        nn.Sequential(nn.Conv2d(1, 1, 3), nn.AvgPool2d(2), nn.Conv2d(1, 1, 3)),
        nn.Sequential(
            nn.Conv2d(1, 1, 5, stride=2),
            nn.Conv2d(1, 1, 3, dilation=2),
            nn.AvgPool2d(3, stride=2),
            nn.Conv2d(1, 1, 3),
        ),
    ],
)
def test_receptive_field_matches_the_gradient_footprint(net):
    assert receptive_field(net) == _empirical_receptive_field(net)


def test_receptive_field_of_tuples_and_bad_layers():
    assert receptive_field([(3, 1), (3, 1)]) == 5
    assert receptive_field([(3, 1)] * 3) == 7
    with pytest.raises(TypeError, match="receptive field"):
        receptive_field([nn.Linear(2, 2)])


@pytest.mark.parametrize("seed", range(10))
def test_adaptive_pool1d_matches_torch(seed):
    rng = random.Random(seed)
    n_in, n_out = rng.randint(1, 20), rng.randint(1, 20)
    x = torch.randn(2, 3, n_in, generator=_gen(seed))
    torch.testing.assert_close(adaptive_pool1d(x, n_out, "avg"), F.adaptive_avg_pool1d(x, n_out))
    torch.testing.assert_close(adaptive_pool1d(x, n_out, "max"), F.adaptive_max_pool1d(x, n_out))
    windows = adaptive_pool_windows(n_in, n_out)
    assert windows[0][0] == 0 and windows[-1][1] == n_in
    assert all(0 <= start < end <= n_in for start, end in windows)


def test_adaptive_pooling_examples_and_the_uniform_window_rule():
    x = torch.tensor([[1.0, 2.0, 3.0]])
    assert adaptive_pool1d(x, 8).tolist() == [[1.0, 1.0, 1.5, 2.0, 2.0, 2.5, 3.0, 3.0]]
    assert adaptive_pool1d(x, 10, "max").tolist() == [[1, 1, 1, 2, 2, 2, 3, 3, 3, 3]]
    assert uniform_window_pool1d(x, 8).tolist() == [[1.0, 1.0, 1.5, 2.0, 2.0, 2.5, 3.0, 3.0]]
    # The lecture's rule windows [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3] with kernel 3, stride 1.
    assert uniform_window_geometry(3, 10) == (4, 1, 3)
    assert uniform_window_pool1d(x, 10, "max").tolist() == [[1, 1, 2, 2, 2, 2, 3, 3, 3, 3]]
    # Where n_in is a multiple of n_out, both rules are plain pooling with kernel = stride.
    y = torch.randn(1, 12, generator=_gen(0))
    torch.testing.assert_close(uniform_window_pool1d(y, 4), F.adaptive_avg_pool1d(y, 4))


def test_adaptive_pooling_rejects_bad_sizes():
    with pytest.raises(ValueError, match="positive"):
        adaptive_pool_windows(0, 3)
    with pytest.raises(ValueError, match="mode"):
        adaptive_pool1d(torch.zeros(3), 2, mode="sum")
