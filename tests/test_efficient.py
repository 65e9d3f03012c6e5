"""Depthwise separable convolutions and MobileNet against nn.Conv2d, the flop counter and timm."""

import pytest
import timm
import torch
from torch import nn

from course_utils.architectures import count_flops
from course_utils.efficient import (
    DepthwiseSeparable,
    MobileNetV1,
    conv_costs,
    depthwise_conv2d,
)


@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (1, 1), (2, 1)])
def test_depthwise_conv2d_equals_grouped_conv(stride, padding):
    layer = nn.Conv2d(6, 6, 3, stride=stride, padding=padding, groups=6, bias=False).double()
    X = torch.randn(2, 6, 9, 10, dtype=torch.float64)
    ours = depthwise_conv2d(X, layer.weight[:, 0].detach(), stride, padding)
    torch.testing.assert_close(ours, layer(X).detach())


def test_depthwise_refuses_mismatched_channels():
    with pytest.raises(ValueError, match="same C"):
        depthwise_conv2d(torch.ones(1, 3, 5, 5), torch.ones(4, 3, 3))


@pytest.mark.parametrize(("c_in", "c_out", "size"), [(32, 64, 16), (128, 128, 8)])
def test_costs_match_measured_parameters_and_flops(c_in, c_out, size):
    costs = conv_costs(c_in, c_out, 3, size, size)
    standard = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
    separable = nn.Sequential(
        nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in, bias=False),
        nn.Conv2d(c_in, c_out, 1, bias=False),
    )
    for name, layer in (("standard", standard), ("separable", separable)):
        assert sum(p.numel() for p in layer.parameters()) == costs[name]["parameters"]
        assert count_flops(layer, (1, c_in, size, size)) == 2 * costs[name]["mult_adds"]


def test_mobilenet_v1_has_timms_parameters_and_the_papers_cost():
    ours = MobileNetV1()
    theirs = timm.create_model("mobilenetv1_100", pretrained=False)
    assert sorted(tuple(p.shape) for p in ours.parameters()) == sorted(
        tuple(p.shape) for p in theirs.parameters()
    )
    # Howard et al. (2017), Table 8: 1.0 MobileNet-224 has 569 million mult-adds
    assert round(count_flops(ours, (1, 3, 224, 224)) / 2 / 1e6) == 569


def test_separable_block_shape():
    assert DepthwiseSeparable(8, 16, stride=2)(torch.rand(1, 8, 10, 10)).shape == (1, 16, 5, 5)
