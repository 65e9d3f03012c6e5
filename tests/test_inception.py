"""The Inception block and GoogLeNet against torchvision's GoogLeNet."""

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.googlenet import Inception as TorchvisionInception

from course_utils.inception import GOOGLENET_BLOCKS, GoogLeNet, Inception, inception_out_channels


def plain_conv(c_in, c_out, **kwargs):
    return nn.Sequential(nn.Conv2d(c_in, c_out, **kwargs), nn.ReLU())


@pytest.mark.parametrize("name", ["3a", "4d", "5b"])
def test_block_differs_from_torchvision_only_by_its_5x5_kernel(name):
    """torchvision's block uses 3x3 where the paper has 5x5 (a documented deviation)."""
    c1, c2, c3, c4 = GOOGLENET_BLOCKS[name]
    ours = Inception(192, c1, c2, c3, c4)
    theirs = TorchvisionInception(192, c1, *c2, *c3, c4, conv_block=plain_conv)
    count = sum(p.numel() for p in ours.parameters())
    assert count - sum(p.numel() for p in theirs.parameters()) == (25 - 9) * c3[0] * c3[1]
    X = torch.randn(1, 192, 9, 9)
    assert ours(X).shape == theirs(X).shape == (1, inception_out_channels(c1, c2, c3, c4), 9, 9)


def test_googlenet_block_outputs_match_torchvision():
    ours = GoogLeNet(num_classes=1000, in_channels=3)
    theirs = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False)
    shapes = {}

    def record(name):
        def hook(module, args, output):
            shapes[name] = output.shape  # returns None: the output stays as it is

        return hook

    for name in GOOGLENET_BLOCKS:
        getattr(theirs, f"inception{name}").register_forward_hook(record(name))
    theirs.eval()
    with torch.no_grad():
        theirs(torch.zeros(1, 3, 224, 224))
        X = ours.stem(torch.zeros(1, 3, 224, 224))
        ours_shapes = []
        for module in ours.blocks:
            X = module(X)
            if isinstance(module, Inception):
                ours_shapes.append(X.shape)
    assert ours_shapes == [shapes[name] for name in GOOGLENET_BLOCKS]
    assert ours(torch.zeros(2, 3, 224, 224)).shape == (2, 1000)


def test_narrow_googlenet_runs_on_small_images():
    assert GoogLeNet(num_classes=10, in_channels=1, scale=8)(torch.rand(2, 1, 32, 32)).shape == (
        2,
        10,
    )
