"""The architectures of chapter 4 against torchvision's published models and hand arithmetic."""

import pytest
import torch
import torchvision
from torch import nn

from course_utils.architectures import (
    VGG,
    VGG11_ARCH,
    AlexNet,
    Bottleneck,
    DenseBlock,
    DenseNet,
    NiN,
    Residual,
    ResNet,
    conv_block,
    count_flops,
    densenet_channels,
    init_cnn,
    layer_shapes,
    layer_summary,
    nin_block,
    transition_block,
    vgg_block,
)
from course_utils.conv import conv_output_size
from course_utils.training import count_parameters


def parameter_shapes(model):
    return [tuple(p.shape) for p in model.parameters()]


def on_meta(build):
    """Build a model without allocating its weights (shapes and counts only)."""
    with torch.device("meta"):
        return build()


def test_alexnet_matches_torchvision_layout_and_outputs():
    torch.manual_seed(0)
    reference = torchvision.models.alexnet(weights=None).eval()
    ours = AlexNet().eval()
    assert count_parameters(ours) == count_parameters(reference) == 61_100_840
    ours.load_state_dict(reference.state_dict())  # same names and shapes, or this raises
    X = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(X), reference(X))


def test_alexnet_layer_shapes_for_224_pixels():
    rows = layer_shapes(on_meta(torchvision.models.alexnet), (1, 3, 224, 224))
    convs_and_pools = [row.output_shape for row in rows if row.kind in ("Conv2d", "MaxPool2d")]
    side = 224
    expected = []
    for kind, channels in [
        ("conv11", 64),
        ("pool", 64),
        ("conv5", 192),
        ("pool", 192),
        ("conv3", 384),
        ("conv3", 256),
        ("conv3", 256),
        ("pool", 256),
    ]:
        if kind == "conv11":
            side = conv_output_size(side, 11, stride=4, padding=2)
        elif kind == "conv5":
            side = conv_output_size(side, 5, padding=2)
        elif kind == "conv3":
            side = conv_output_size(side, 3, padding=1)
        else:
            side = conv_output_size(side, 3, stride=2)
        expected.append((1, channels, side, side))
    assert convs_and_pools == expected
    assert expected[0] == (1, 64, 55, 55) and expected[-1] == (1, 256, 6, 6)
    assert rows[-1].output_shape == (1, 1000)
    assert sum(row.parameters for row in rows) == 61_100_840


def test_vgg11_matches_torchvision():
    ours = on_meta(lambda: VGG(VGG11_ARCH, in_channels=3, num_classes=1000, input_size=224))
    reference = on_meta(torchvision.models.vgg11)
    assert parameter_shapes(ours) == parameter_shapes(reference)
    assert count_parameters(ours) == count_parameters(reference) == 132_863_336


def test_vgg11_bn_matches_torchvision():
    ours = on_meta(lambda: VGG(VGG11_ARCH, 3, 1000, 224, norm_layer=nn.BatchNorm2d))
    reference = on_meta(torchvision.models.vgg11_bn)
    assert parameter_shapes(ours) == parameter_shapes(reference)
    assert [type(m) for m in ours.features.modules() if not isinstance(m, nn.Sequential)] == [
        type(m) for m in reference.features.modules() if not isinstance(m, nn.Sequential)
    ]


def test_init_cnn_uses_glorot_bounds_and_zero_biases():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(4, 8, 3), nn.BatchNorm2d(8), nn.Flatten(), nn.Linear(10, 6))
    model.apply(init_cnn)
    for layer, fan_in, fan_out in [(model[0], 4 * 9, 8 * 9), (model[3], 10, 6)]:
        bound = (6 / (fan_in + fan_out)) ** 0.5
        largest = float(layer.weight.detach().abs().max())
        assert 0.8 * bound < largest <= bound
        assert torch.equal(layer.bias, torch.zeros_like(layer.bias))
    assert torch.equal(model[1].weight, torch.ones(8))  # batch norm left alone


def test_resnet18_matches_torchvision():
    ours = on_meta(lambda: ResNet((2, 2, 2, 2), (64, 128, 256, 512), 3, 1000))
    reference = on_meta(torchvision.models.resnet18)
    assert sorted(parameter_shapes(ours)) == sorted(parameter_shapes(reference))
    assert count_parameters(ours) == 11_689_512


@pytest.mark.parametrize(
    ("model", "published_gflops"),
    # torchvision's model tables give multiply-adds ("GFLOPS"): 0.71, 7.61, 1.81.
    [
        (torchvision.models.alexnet, 0.71),
        (torchvision.models.vgg11, 7.61),
        (torchvision.models.resnet18, 1.81),
    ],
)
def test_count_flops_reproduces_published_figures(model, published_gflops):
    flops = count_flops(on_meta(model), (1, 3, 224, 224))
    assert flops / 2 / 1e9 == pytest.approx(published_gflops, abs=0.01)


def test_count_flops_of_one_convolution_and_one_linear_layer():
    conv = nn.Conv2d(3, 8, kernel_size=5, padding=1)
    out = conv_output_size(20, 5, padding=1)
    assert count_flops(conv, (2, 3, 20, 20)) == 2 * 2 * 8 * 3 * 5 * 5 * out * out
    assert count_flops(nn.Linear(7, 4), (5, 7)) == 2 * 5 * 7 * 4


@pytest.mark.parametrize(("num_convs", "c_in", "c_out", "side"), [(1, 1, 8, 16), (3, 4, 6, 9)])
def test_vgg_block_shape_and_parameters(num_convs, c_in, c_out, side):
    block = vgg_block(num_convs, c_in, c_out)
    assert block(torch.randn(2, c_in, side, side)).shape == (2, c_out, side // 2, side // 2)
    expected = (c_in * 9 + 1) * c_out + (num_convs - 1) * (c_out * 9 + 1) * c_out
    assert count_parameters(block) == expected
    assert sum(isinstance(m, nn.Conv2d) for m in block) == num_convs


def test_vgg_rejects_inputs_its_blocks_cannot_halve():
    with pytest.raises(ValueError, match="multiple of 32"):
        VGG(VGG11_ARCH, input_size=100)
    with pytest.raises(ValueError, match="at least one convolution"):
        vgg_block(0, 1, 8)


def test_nin_block_and_model():
    block = nin_block(3, 16, kernel_size=5, stride=2, padding=1)
    out = conv_output_size(17, 5, stride=2, padding=1)
    assert block(torch.randn(1, 3, 17, 17)).shape == (1, 16, out, out)
    assert count_parameters(block) == (3 * 25 + 1) * 16 + 2 * (16 + 1) * 16
    nin = NiN(in_channels=1, num_classes=10)
    assert nin(torch.randn(2, 1, 224, 224)).shape == (2, 10)
    assert not any(isinstance(m, nn.Linear) for m in nin.modules())
    small = NiN(((8, 3, 1, 1), (16, 3, 1, 1)), in_channels=1, num_classes=7)
    assert small(torch.randn(3, 1, 16, 16)).shape == (3, 7)


def test_residual_block_identity_and_projection():
    torch.manual_seed(0)
    same = Residual(8, 8)
    assert isinstance(same.shortcut, nn.Identity)
    X = torch.randn(2, 8, 10, 10)
    assert same(X).shape == X.shape
    # With F's last batch norm scaled to zero the block is ReLU(X): the shortcut carries X.
    nn.init.zeros_(same.bn2.weight)
    torch.testing.assert_close(same(X), torch.relu(X))

    down = Residual(8, 16, stride=2)
    assert isinstance(down.shortcut[0], nn.Conv2d) and down.shortcut[0].kernel_size == (1, 1)
    assert down(torch.randn(2, 8, 11, 11)).shape == (2, 16, 6, 6)
    conv1, conv2, projection = 8 * 9 * 16, 16 * 9 * 16, 8 * 16  # no biases; BN has 2 per channel
    assert count_parameters(down) == conv1 + conv2 + projection + 3 * 2 * 16
    with pytest.raises(ValueError, match="projection"):
        Residual(8, 16, use_1x1conv=False)


def test_small_resnet_output():
    model = ResNet((1, 1, 1), (8, 16, 32), in_channels=1, num_classes=10)
    assert model(torch.randn(4, 1, 32, 32)).shape == (4, 10)


def test_dense_block_concatenates_its_input_and_every_output():
    torch.manual_seed(0)
    block = DenseBlock(num_convs=3, in_channels=5, growth_rate=4)
    X = torch.randn(2, 5, 6, 6)
    Y = block(X)
    assert Y.shape == (2, 5 + 3 * 4, 6, 6) and block.out_channels == 17
    torch.testing.assert_close(Y[:, :5], X)  # the input passes through untouched
    first = block.net[0](X)
    torch.testing.assert_close(Y[:, 5:9], first)
    assert [blk[2].in_channels for blk in block.net] == [5, 9, 13]


def test_conv_and_transition_blocks():
    assert conv_block(3, 7)(torch.randn(2, 3, 5, 5)).shape == (2, 7, 5, 5)
    assert count_parameters(conv_block(3, 7)) == 2 * 3 + 3 * 9 * 7 + 7
    assert transition_block(10, 5)(torch.randn(2, 10, 8, 8)).shape == (2, 5, 4, 4)


def test_densenet_channel_arithmetic():
    # The seed's DenseNet: 64 channels + 4 blocks of 4 convs at growth 32.
    assert densenet_channels(64, 32, (4, 4, 4, 4)) == [(64, 192), (96, 224), (112, 240), (120, 248)]
    model = DenseNet()
    blocks = [m for m in model.modules() if isinstance(m, DenseBlock)]
    assert [b.out_channels for b in blocks] == [192, 224, 240, 248]
    assert model(torch.randn(2, 1, 96, 96)).shape == (2, 10)


def test_layer_summary_prints_every_layer(capsys):
    model = VGG(((1, 4), (1, 8)), in_channels=1, num_classes=3, input_size=16, hidden=12)
    model.train()
    layer_summary(model, (1, 1, 16, 16))
    printed = capsys.readouterr().out
    assert "(1, 8, 4, 4)" in printed and "(1, 3)" in printed
    assert f"{count_parameters(model):,}" in printed.splitlines()[-1]
    assert model.training  # the summary restores the mode it found


def copy_torchvision_bottleneck(reference):
    """Our ``Bottleneck`` with the weights and batch-norm statistics of torchvision's block."""
    conv2 = reference.conv2
    ours = Bottleneck(
        reference.conv1.in_channels,
        reference.conv1.out_channels,
        reference.conv3.out_channels,
        stride=conv2.stride[0],
        groups=conv2.groups,
    )
    state = {
        key.replace("downsample.", "shortcut."): value
        for key, value in reference.state_dict().items()
    }
    ours.load_state_dict(state)
    return ours


def randomize_batch_norm_statistics(module):
    """Non-trivial running statistics, so that a mix-up of the three batch norms shows."""
    for layer in module.modules():
        if isinstance(layer, nn.BatchNorm2d):
            layer.running_mean.uniform_(-0.5, 0.5)
            layer.running_var.uniform_(0.5, 2.0)
            nn.init.uniform_(layer.weight, 0.5, 1.5)
            nn.init.uniform_(layer.bias, -0.5, 0.5)


@pytest.mark.parametrize(
    ("in_channels", "planes", "stride", "groups", "base_width"),
    [
        (256, 64, 1, 1, 64),  # ResNet-50's stage 1, identity shortcut
        (64, 64, 1, 1, 64),  # the first block after the stem: 64 -> 256, projection at stride 1
        (256, 128, 2, 1, 64),  # stage 2's first block: stride 2 in the 3x3 convolution
        (256, 64, 2, 32, 4),  # ResNeXt-50 32x4d: 32 groups of 4 channels in the 3x3
    ],
)
def test_bottleneck_matches_torchvision_outputs_and_parameters(
    in_channels, planes, stride, groups, base_width
):
    torch.manual_seed(0)
    out_channels = planes * 4
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
            nn.BatchNorm2d(out_channels),
        )
    reference = torchvision.models.resnet.Bottleneck(
        in_channels, planes, stride, downsample, groups=groups, base_width=base_width
    )
    randomize_batch_norm_statistics(reference)
    reference.eval()
    ours = copy_torchvision_bottleneck(reference).eval()
    assert count_parameters(ours) == count_parameters(reference)
    assert isinstance(ours.shortcut, nn.Identity) == (downsample is None)
    X = torch.randn(2, in_channels, 9, 9)
    with torch.no_grad():
        expected = reference(X)
        torch.testing.assert_close(ours(X), expected)
    assert expected.shape == (2, out_channels, -(-9 // stride), -(-9 // stride))


def test_bottleneck_parameters_by_hand():
    block = Bottleneck(256, 64)  # ResNet-50's stage-1 block: 256 -> 64 -> 64 -> 256
    assert isinstance(block.shortcut, nn.Identity)
    convolutions = 256 * 64 + 64 * 9 * 64 + 64 * 256  # no biases
    batch_norms = 2 * (64 + 64 + 256)
    assert count_parameters(block) == convolutions + batch_norms == 70_400
    # A basic block at 256 channels would need 2 * 256 * 9 * 256 = 1,179,648 weights.
    grouped = Bottleneck(256, 128, 256, groups=32)
    assert grouped.conv2.weight.shape == (128, 128 // 32, 3, 3)
    with pytest.raises(ValueError, match="groups"):
        Bottleneck(256, 100, 256, groups=32)


def test_bottleneck_with_zero_last_scale_is_relu_of_its_input():
    block = Bottleneck(32, 8)
    nn.init.zeros_(block.bn3.weight)
    X = torch.randn(2, 32, 5, 5)
    torch.testing.assert_close(block(X), torch.relu(X))


def test_resnet50_matches_torchvision():
    ours = on_meta(
        lambda: ResNet(
            (3, 4, 6, 3),
            (256, 512, 1024, 2048),
            in_channels=3,
            num_classes=1000,
            bottleneck=True,
            stem_channels=64,
        )
    )
    reference = on_meta(torchvision.models.resnet50)
    assert sorted(parameter_shapes(ours)) == sorted(parameter_shapes(reference))
    assert count_parameters(ours) == count_parameters(reference) == 25_557_032
