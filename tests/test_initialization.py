"""Xavier/Kaiming initialisation and dropout against torch.nn.init and F.dropout."""

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from course_utils.initialization import activation_stds, dropout, fans, init_normal_, init_std


@pytest.mark.parametrize("shape", [(30, 20), (16, 8, 3, 3), (4, 6, 5, 1)])
def test_fans_match_torch(shape):
    weight = torch.empty(shape)
    assert fans(weight) == nn.init._calculate_fan_in_and_fan_out(weight)


@pytest.mark.parametrize(
    ("scheme", "torch_init"),
    [
        ("xavier", nn.init.xavier_normal_),
        ("kaiming", lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu")),
    ],
)
def test_init_std_matches_torch_nn_init_empirically(scheme, torch_init):
    weight = torch.empty(256, 64, 3, 3)
    torch.manual_seed(0)
    torch_std = float(torch_init(weight).std())
    assert init_std(weight, scheme) == pytest.approx(torch_std, rel=0.01)
    layer = nn.Conv2d(64, 256, 3)
    init_normal_(layer, scheme)
    assert float(layer.weight.detach().std()) == pytest.approx(torch_std, rel=0.01)
    assert float(layer.bias.detach().abs().max()) == 0.0


def test_kaiming_keeps_relu_activations_and_small_init_does_not():
    torch.manual_seed(0)
    layers = nn.Sequential(
        *[m for _ in range(12) for m in (nn.Conv2d(16, 16, 3, padding=1), nn.ReLU())]
    )
    X = torch.randn(8, 16, 12, 12)
    init_normal_(layers, "kaiming")
    kaiming = activation_stds(layers, X)
    init_normal_(layers, 0.01)
    small = activation_stds(layers, X)
    assert len(kaiming) == 12
    assert 0.3 < kaiming[-1] / kaiming[0] < 3
    assert small[-1] < 1e-3 * small[0]


def test_unknown_scheme_is_refused():
    with pytest.raises(ValueError, match="unknown initialisation"):
        init_std(torch.empty(3, 3), "lecun")


def test_dropout_zeros_and_rescales_like_torch():
    torch.manual_seed(1)
    X = torch.rand(200, 300) + 0.5
    ours = dropout(X, 0.3)
    theirs = F.dropout(X, 0.3)
    for Y in (ours, theirs):  # survivors are X / (1 - p), the rest exactly 0
        kept = Y != 0
        torch.testing.assert_close(Y[kept], X[kept] / 0.7)
    assert abs(float((ours == 0).float().mean()) - 0.3) < 0.01
    assert abs(float((ours == 0).float().mean()) - float((theirs == 0).float().mean())) < 0.01
    assert float(ours.mean()) == pytest.approx(float(X.mean()), rel=0.01)


def test_dropout_edge_cases():
    X = torch.randn(5, 5, dtype=torch.float64)
    assert dropout(X, 0.5, training=False) is X
    assert torch.equal(dropout(X, 0.0), X)
    assert torch.equal(dropout(X, 1.0), torch.zeros_like(X))
    assert dropout(X, 0.5).dtype == torch.float64
    with pytest.raises(ValueError, match="probability"):
        dropout(X, 1.5)
    assert math.isclose(init_std(torch.empty(10, 10), "kaiming"), math.sqrt(0.2))
