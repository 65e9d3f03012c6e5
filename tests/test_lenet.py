"""LeNet and the adaptive-pooling network: shapes, parameter counts, and a loss that falls."""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils.architectures import layer_shapes
from course_utils.lenet import AdaptivePoolNet, lenet
from course_utils.training import count_parameters, fit


@pytest.mark.parametrize("modern", [False, True])
def test_lenet_shapes_and_parameters(modern):
    model = lenet(modern=modern)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    # 156 + 2,416 + 48,120 + 10,164 + 850: LeNet-5's 61,706 parameters.
    assert count_parameters(model) == 61_706
    shapes = [row.output_shape for row in layer_shapes(model, (1, 1, 28, 28))]
    assert shapes[0] == (1, 6, 28, 28) and (1, 16, 5, 5) in shapes and shapes[-1] == (1, 10)
    kinds = {type(layer) for layer in model}
    assert (nn.ReLU in kinds) == modern and (nn.MaxPool2d in kinds) == modern
    assert (nn.Sigmoid in kinds) != modern and (nn.AvgPool2d in kinds) != modern


def test_adaptive_pool_net_accepts_any_input_size():
    model = AdaptivePoolNet(in_channels=3, num_classes=7)
    # conv 3->16 (448) + conv 16->32 (4,640) + linear 512->128 (65,664) + linear 128->7 (903)
    assert count_parameters(model) == 448 + 4_640 + 65_664 + 903
    for size in (8, 28, 32, 57):
        assert model(torch.zeros(2, 3, size, size)).shape == (2, 7)
    rows = layer_shapes(model, (1, 3, 32, 32))
    assert [row.output_shape for row in rows][:6] == [
        (1, 16, 32, 32),
        (1, 16, 32, 32),
        (1, 16, 16, 16),
        (1, 32, 16, 16),
        (1, 32, 16, 16),
        (1, 32, 4, 4),
    ]


def test_lenet_learns_a_separable_toy_problem():
    torch.manual_seed(0)
    X = torch.rand(128, 1, 28, 28) * 0.1
    y = torch.randint(0, 2, (128,))
    X[y == 1, :, :14] += 0.9  # class 1: bright top half
    loader = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True)
    model = lenet(num_classes=2, modern=True)
    history = fit(
        model,
        loader,
        loader,
        epochs=4,
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
        device=torch.device("cpu"),
    )
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["test_acc"][-1] > 0.9
