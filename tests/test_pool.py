"""course_utils.conv.pool2d against nn.MaxPool2d / nn.AvgPool2d on random inputs."""

import random

import pytest
import torch
from torch import nn

from course_utils.conv import pool2d


def _reference(X, pool_size, stride, padding, mode):
    layer_type = nn.MaxPool2d if mode == "max" else nn.AvgPool2d
    layer = layer_type(pool_size, stride=stride, padding=padding)
    return layer(X[None, None])[0, 0]


def _random_case(rng):
    """A window, stride and padding that PyTorch accepts, possibly rectangular."""
    p = (rng.randint(1, 4), rng.randint(1, 4))
    if rng.random() < 0.3:
        p = p[0]
    pair = (p, p) if isinstance(p, int) else p
    stride = None if rng.random() < 0.3 else (rng.randint(1, 3), rng.randint(1, 3))
    padding = (rng.randint(0, pair[0] // 2), rng.randint(0, pair[1] // 2))
    H = rng.randint(pair[0], 9)
    W = rng.randint(pair[1], 9)
    return H, W, p, stride, padding


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("seed", range(25))
def test_pool2d_matches_torch_on_random_cases(mode, seed):
    rng = random.Random(seed * 7 + (mode == "avg"))
    H, W, p, stride, padding = _random_case(rng)
    X = torch.randn(H, W, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    expected = _reference(X, p, stride, padding, mode)
    actual = pool2d(X, p, stride=stride, padding=padding, mode=mode)
    torch.testing.assert_close(actual, expected)


def test_pool2d_lecture_examples():
    X = torch.arange(9.0).reshape(3, 3)
    assert pool2d(X, 2, stride=1).tolist() == [[4.0, 5.0], [7.0, 8.0]]
    assert pool2d(X, 2, stride=1, mode="avg").tolist() == [[2.0, 3.0], [5.0, 6.0]]
    X = torch.arange(16.0).reshape(4, 4)
    assert pool2d(X, 3).tolist() == [[10.0]]
    assert pool2d(X, 3, stride=2, padding=1).tolist() == [[5.0, 7.0], [13.0, 15.0]]
    assert pool2d(X, (2, 3), stride=(2, 3), padding=(0, 1)).tolist() == [[5.0, 7.0], [13.0, 15.0]]


def test_pool2d_max_ignores_padding_even_for_negative_inputs():
    X = -torch.rand(4, 4) - 1.0
    actual = pool2d(X, 3, stride=2, padding=1)
    assert bool((actual < -1.0).all())
    torch.testing.assert_close(actual, _reference(X, 3, 2, 1, "max"))


def test_pool2d_keeps_gradients():
    X = torch.rand(4, 4, requires_grad=True)
    pool2d(X, 2, mode="avg").sum().backward()
    torch.testing.assert_close(X.grad, torch.full((4, 4), 0.25))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(X=torch.zeros(1, 4, 4), pool_size=2), "2-D"),
        (dict(X=torch.zeros(4, 4), pool_size=2, mode="median"), "mode"),
        (dict(X=torch.zeros(4, 4), pool_size=2, padding=2), "half"),
        (dict(X=torch.zeros(4, 4), pool_size=2.5), "pool_size"),
        (dict(X=torch.zeros(2, 2), pool_size=3), "spans"),
    ],
)
def test_pool2d_rejects_bad_input_with_a_clear_message(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        pool2d(**kwargs)
