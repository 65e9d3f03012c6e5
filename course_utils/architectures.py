"""The modern CNN architectures of the course, as small readable PyTorch modules.

Every builder takes its input channels explicitly (no lazy layers), so that a model has all its
parameters the moment it is built: the chapter counts them before it ever runs an image.

* AlexNet (torchvision's layout, with widths you can shrink), VGG (``vgg_block``), NiN
  (``nin_block`` and global average pooling), ResNet (``Residual`` with a 1x1 projection when
  the shape changes; ``Bottleneck``, the 1x1-3x3-1x1 block of ResNet-50), DenseNet
  (``conv_block``, ``DenseBlock``, ``transition_block``).
* ``layer_shapes`` / ``layer_summary``: the output shape of every layer for one input shape.
* ``count_flops``: floating-point operations of one forward pass (``torch.utils.flop_counter``).

Images are ``(N, C, H, W)``; every model returns logits ``(N, num_classes)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_utils.training import count_parameters

# (number of 3x3 convolutions, output channels) for each of VGG-11's five blocks.
VGG11_ARCH = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))
# (output channels, kernel size, stride, padding) of NiN's three first blocks for 224x224 inputs, as
# in d2l (AlexNet's first layers; the NiN paper itself trained on CIFAR, SVHN and MNIST).
NIN_ARCH = ((96, 11, 4, 0), (256, 5, 1, 2), (384, 3, 1, 1))
ALEXNET_WIDTHS = (64, 192, 384, 256, 256)


class AlexNet(nn.Module):
    """AlexNet laid out exactly as ``torchvision.models.alexnet`` (same names, same shapes).

    Five convolutions (11x11 stride 4, 5x5, then three 3x3) with three 3x3 stride-2 max pools,
    an adaptive average pool to 6x6, and three fully connected layers with dropout. The
    defaults give torchvision's 61,100,840 parameters; ``widths`` and ``hidden`` shrink it.
    The input must be at least 63x63 pixels: smaller ones vanish in the stride-4 stem and pools.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        widths: Sequence[int] = ALEXNET_WIDTHS,
        hidden: int = 4096,
        dropout: float = 0.5,
    ):
        super().__init__()
        c1, c2, c3, c4, c5 = widths
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c1, c2, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c2, c3, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c4, c5, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(c5 * 6 * 6, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(X)), 1))


# --- VGG ---------------------------------------------------------------------------------------


def vgg_block(
    num_convs: int,
    in_channels: int,
    out_channels: int,
    norm_layer: Callable[[int], nn.Module] | None = None,
) -> nn.Sequential:
    """``num_convs`` 3x3 convolutions (padding 1) with ReLUs, then a 2x2 max pool of stride 2.

    ``(N, in_channels, H, W) -> (N, out_channels, H // 2, W // 2)``. With a ``norm_layer``
    (e.g. ``nn.BatchNorm2d``), each convolution is followed by ``norm_layer(out_channels)``
    before its ReLU, as in torchvision's ``vgg11_bn``.
    """
    if num_convs < 1:
        raise ValueError(f"a VGG block needs at least one convolution, got num_convs={num_convs}")
    layers: list[nn.Module] = []
    for _ in range(num_convs):
        layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))
        if norm_layer is not None:
            layers.append(norm_layer(out_channels))
        layers.append(nn.ReLU())
        in_channels = out_channels
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """VGG: a stack of ``vgg_block``s, then three fully connected layers with dropout.

    ``arch`` lists ``(num_convs, out_channels)`` per block (``VGG11_ARCH`` is VGG-11). Each block
    halves the resolution, so ``input_size`` must be divisible by ``2 ** len(arch)``; the first
    linear layer sees ``out_channels * (input_size / 2**len(arch))**2`` features.
    With ``in_channels=3, num_classes=1000, input_size=224`` and ``VGG11_ARCH`` this is
    torchvision's ``vgg11`` (132,863,336 parameters); ``norm_layer=nn.BatchNorm2d`` makes it
    ``vgg11_bn``.
    """

    def __init__(
        self,
        arch: Sequence[tuple[int, int]] = VGG11_ARCH,
        in_channels: int = 1,
        num_classes: int = 10,
        input_size: int = 224,
        hidden: int = 4096,
        dropout: float = 0.5,
        norm_layer: Callable[[int], nn.Module] | None = None,
    ):
        super().__init__()
        side = input_size // 2 ** len(arch)
        if side < 1 or side * 2 ** len(arch) != input_size:
            raise ValueError(
                f"input_size={input_size} cannot pass {len(arch)} VGG blocks that each halve it: "
                f"use a multiple of {2 ** len(arch)}"
            )
        blocks = []
        for num_convs, out_channels in arch:
            blocks.append(vgg_block(num_convs, in_channels, out_channels, norm_layer))
            in_channels = out_channels
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_channels * side * side, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(X))


# --- NiN ---------------------------------------------------------------------------------------


def nin_block(
    in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int
) -> nn.Sequential:
    """One ordinary convolution, then two 1x1 convolutions: an MLP applied at every pixel.

    ``(N, in_channels, H, W) -> (N, out_channels, H', W')`` with ``H'`` given by the first
    convolution (``conv_output_size(H, kernel_size, stride, padding)``); each conv has a ReLU.
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1),
        nn.ReLU(),
    )


class NiN(nn.Module):
    """Network in Network: ``nin_block``s with 3x3 stride-2 max pools, and no dense layer.

    The last block has one channel per class; global average pooling turns each of those
    feature maps into one logit. ``arch`` lists ``(out_channels, kernel, stride, padding)`` of
    the blocks before it (``NIN_ARCH``: d2l's, for 224x224 inputs).
    """

    def __init__(
        self,
        arch: Sequence[tuple[int, int, int, int]] = NIN_ARCH,
        in_channels: int = 1,
        num_classes: int = 10,
        dropout: float = 0.5,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        for out_channels, kernel_size, stride, padding in arch:
            layers += [
                nin_block(in_channels, out_channels, kernel_size, stride, padding),
                nn.MaxPool2d(kernel_size=3, stride=2),
            ]
            in_channels = out_channels
        layers += [
            nn.Dropout(dropout),
            nin_block(in_channels, num_classes, kernel_size=3, stride=1, padding=1),
            nn.AdaptiveAvgPool2d((1, 1)),
            nn.Flatten(),
        ]
        self.net = nn.Sequential(*layers)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.net(X)


# --- ResNet ------------------------------------------------------------------------------------


class Residual(nn.Module):
    """The residual block of ResNet-18/34: ``ReLU(F(X) + shortcut(X))``.

    ``F`` is conv3x3(stride) -> BN -> ReLU -> conv3x3 -> BN. The shortcut is the identity when
    the shapes already match, else a 1x1 convolution with the block's stride followed by BN (the
    "projection"), which brings ``X`` to ``out_channels`` and the new resolution.
    The convolutions have no bias: the batch norm after each would subtract it again.
    ``(N, in_channels, H, W) -> (N, out_channels, ceil(H / stride), ceil(W / stride))``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, stride: int = 1, use_1x1conv: bool | None = None
    ):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if use_1x1conv is None:
            use_1x1conv = stride != 1 or in_channels != out_channels
        if not use_1x1conv and (stride != 1 or in_channels != out_channels):
            raise ValueError(
                f"an identity shortcut cannot take {in_channels} channels at stride {stride} to "
                f"{out_channels} channels: use the 1x1 projection (use_1x1conv=True)"
            )
        self.shortcut = nn.Identity()
        if use_1x1conv:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        Y = torch.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        return torch.relu(Y + self.shortcut(X))


class Bottleneck(nn.Module):
    """The bottleneck block of ResNet-50/101/152: ``ReLU(F(X) + shortcut(X))`` where ``F`` is
    1x1 conv -> BN -> ReLU -> 3x3 conv (stride, groups) -> BN -> ReLU -> 1x1 conv -> BN.

    The first 1x1 convolution squeezes ``in_channels`` to ``mid_channels``, the 3x3 convolution
    works at that narrow width (with the block's stride, as torchvision's "ResNet v1.5"), and the
    last 1x1 convolution expands to ``out_channels``. In ResNet-50, ``out_channels`` is
    ``expansion * mid_channels`` with ``expansion = 4`` (e.g. 256 -> 64 -> 64 -> 256): the
    expensive 3x3 convolution sees a quarter of the channels. ``groups > 1`` splits the 3x3
    convolution into that many independent groups of channels (ResNeXt); ``mid_channels`` must
    then be divisible by ``groups``. The shortcut is the identity when the shapes match, else a
    1x1 projection with the block's stride followed by BN (as ``Residual``).
    ``(N, in_channels, H, W) -> (N, out_channels, ceil(H / stride), ceil(W / stride))``.
    Raises ``ValueError`` if ``mid_channels`` is not a multiple of ``groups``.
    """

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int | None = None,
        stride: int = 1,
        groups: int = 1,
    ):
        super().__init__()
        if out_channels is None:
            out_channels = self.expansion * mid_channels
        if mid_channels % groups:
            raise ValueError(
                f"the 3x3 convolution's {mid_channels} channels cannot be split into "
                f"{groups} equal groups"
            )
        self.conv1 = nn.Conv2d(in_channels, mid_channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.conv2 = nn.Conv2d(
            mid_channels, mid_channels, 3, stride=stride, padding=1, groups=groups, bias=False
        )
        self.bn2 = nn.BatchNorm2d(mid_channels)
        self.conv3 = nn.Conv2d(mid_channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        Y = torch.relu(self.bn1(self.conv1(X)))
        Y = torch.relu(self.bn2(self.conv2(Y)))
        Y = self.bn3(self.conv3(Y))
        return torch.relu(Y + self.shortcut(X))


class ResNet(nn.Module):
    """A ResNet: a 7x7 stride-2 stem with a max pool, stages of ``Residual`` blocks, then
    global average pooling and one linear layer.

    ``stage_sizes[i]`` blocks of ``widths[i]`` output channels; every stage after the first
    starts with a stride-2 block (with projection). ``stage_sizes=(2, 2, 2, 2)``, ``widths=(64,
    128, 256, 512)``, ``in_channels=3``, ``num_classes=1000`` is ResNet-18 (11,689,512
    parameters, as torchvision's ``resnet18``).

    ``bottleneck=True`` builds the stages from ``Bottleneck`` blocks (``widths[i] // 4`` channels
    inside) and the stem from ``stem_channels``
    (default ``widths[0]``): ``stage_sizes=(3, 4, 6, 3)``, ``widths=(256, 512, 1024, 2048)``,
    ``stem_channels=64``, ``bottleneck=True`` is ResNet-50 (25,557,032 parameters, as
    torchvision's ``resnet50``).
    """

    def __init__(
        self,
        stage_sizes: Sequence[int] = (2, 2, 2, 2),
        widths: Sequence[int] = (64, 128, 256, 512),
        in_channels: int = 1,
        num_classes: int = 10,
        bottleneck: bool = False,
        stem_channels: int | None = None,
    ):
        super().__init__()
        if len(stage_sizes) != len(widths):
            raise ValueError(f"got {len(stage_sizes)} stage sizes but {len(widths)} widths")
        stem_channels = widths[0] if stem_channels is None else stem_channels
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem_channels, kernel_size=7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(stem_channels),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        )
        stages = []
        channels = stem_channels
        for index, (num_blocks, width) in enumerate(zip(stage_sizes, widths, strict=True)):
            blocks = []
            for block in range(num_blocks):
                stride = 2 if index > 0 and block == 0 else 1
                if bottleneck:
                    mid = width // Bottleneck.expansion
                    blocks.append(Bottleneck(channels, mid, width, stride=stride))
                else:
                    blocks.append(Residual(channels, width, stride=stride))
                channels = width
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(channels, num_classes)
        )

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(X)))


# --- DenseNet ----------------------------------------------------------------------------------


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """DenseNet's "pre-activation" unit: BN -> ReLU -> 3x3 conv (padding 1).

    ``(N, in_channels, H, W) -> (N, out_channels, H, W)``.
    """
    return nn.Sequential(
        nn.BatchNorm2d(in_channels),
        nn.ReLU(),
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
    )


class DenseBlock(nn.Module):
    """``num_convs`` ``conv_block``s, each fed the concatenation of the input and every earlier
    block's output along the channels.

    Each conv block adds ``growth_rate`` channels, so
    ``(N, in_channels, H, W) -> (N, in_channels + num_convs * growth_rate, H, W)``
    (``self.out_channels``).
    """

    def __init__(self, num_convs: int, in_channels: int, growth_rate: int):
        super().__init__()
        self.net = nn.Sequential(
            *[conv_block(in_channels + i * growth_rate, growth_rate) for i in range(num_convs)]
        )
        self.out_channels = in_channels + num_convs * growth_rate

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        for block in self.net:
            X = torch.cat((X, block(X)), dim=1)
        return X


def transition_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """BN -> ReLU -> 1x1 conv to ``out_channels`` -> 2x2 average pool of stride 2.

    Keeps a DenseNet small: ``(N, in_channels, H, W) -> (N, out_channels, H // 2, W // 2)``.
    """
    return nn.Sequential(
        nn.BatchNorm2d(in_channels),
        nn.ReLU(),
        nn.Conv2d(in_channels, out_channels, kernel_size=1),
        nn.AvgPool2d(kernel_size=2, stride=2),
    )


def densenet_channels(
    stem_channels: int, growth_rate: int, arch: Sequence[int]
) -> list[tuple[int, int]]:
    """The channel arithmetic of a DenseNet: ``(into, out of)`` each dense block.

    Every dense block adds ``num_convs * growth_rate`` channels; every transition block between
    two dense blocks halves them (rounding down).
    """
    channels, plan = stem_channels, []
    for index, num_convs in enumerate(arch):
        out = channels + num_convs * growth_rate
        plan.append((channels, out))
        channels = out // 2 if index < len(arch) - 1 else out
    return plan


class DenseNet(nn.Module):
    """DenseNet: a ResNet-like stem, dense blocks joined by transition blocks that halve the
    channels and the resolution, then BN -> ReLU -> global average pooling -> linear.

    ``arch`` gives the number of conv blocks per dense block (``densenet_channels`` shows the
    channels in and out of each).
    """

    def __init__(
        self,
        stem_channels: int = 64,
        growth_rate: int = 32,
        arch: Sequence[int] = (4, 4, 4, 4),
        in_channels: int = 1,
        num_classes: int = 10,
    ):
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, stem_channels, kernel_size=7, stride=2, padding=3),
            nn.BatchNorm2d(stem_channels),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        ]
        plan = densenet_channels(stem_channels, growth_rate, arch)
        for index, (num_convs, (into, out)) in enumerate(zip(arch, plan, strict=True)):
            layers.append(DenseBlock(num_convs, into, growth_rate))
            if index < len(arch) - 1:
                layers.append(transition_block(out, out // 2))
        channels = plan[-1][1]
        layers += [
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d((1, 1)),
            nn.Flatten(),
            nn.Linear(channels, num_classes),
        ]
        self.net = nn.Sequential(*layers)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.net(X)


def init_cnn(module: nn.Module) -> None:
    """Glorot (Xavier) uniform weights and zero biases for every convolution and linear layer.

    Use as ``model.apply(init_cnn)``. It keeps the variance of activations and gradients
    roughly constant from layer to layer, which helps networks without batch normalization
    (AlexNet, VGG, NiN) start learning within a few epochs.
    """
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


# --- looking inside a model --------------------------------------------------------------------


@dataclass(frozen=True)
class LayerRow:
    """One line of a layer summary: where the layer sits, what it is, what it outputs."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    parameters: int


def _summary_layers(module: nn.Module, prefix: str = ""):
    """Yield ``(name, layer)`` in order: ``nn.Sequential`` opened up, anything else whole."""
    for name, child in module.named_children():
        full_name = f"{prefix}.{name}" if prefix else name
        if isinstance(child, nn.Sequential):
            yield from _summary_layers(child, full_name)
        else:
            yield full_name, child


def layer_shapes(
    model: nn.Module, input_shape: Sequence[int], device: torch.device | str | None = None
) -> list[LayerRow]:
    """Run one input of ``input_shape`` (e.g. ``(1, 1, 224, 224)``) and record every layer.

    Sequential containers are opened; other modules (a ``Residual``, a ``DenseBlock``) count as
    one layer. The model runs in evaluation mode without gradients and is put back afterwards.
    """
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    rows: list[LayerRow] = []
    handles = []
    for name, layer in _summary_layers(model):

        def record(module, inputs, output, name=name):
            rows.append(
                LayerRow(name, type(module).__name__, tuple(output.shape), count_parameters(module))
            )

        handles.append(layer.register_forward_hook(record))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(tuple(input_shape), device=device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return rows


def layer_summary(
    model: nn.Module, input_shape: Sequence[int], device: torch.device | str | None = None
) -> None:
    """Print each layer's output shape and parameter count for an input of ``input_shape``."""
    rows = layer_shapes(model, input_shape, device)
    width = max(len(f"{row.name} {row.kind}") for row in rows)
    print(f"{'layer':<{width}}  {'output shape':<22}{'parameters':>12}")
    for row in rows:
        print(
            f"{row.name + ' ' + row.kind:<{width}}  {str(row.output_shape):<22}"
            f"{row.parameters:>12,}"
        )
    total = count_parameters(model)
    print(f"{'total':<{width}}  {'':<22}{total:>12,}")


def count_flops(
    model: nn.Module, input_shape: Sequence[int], device: torch.device | str | None = None
) -> int:
    """Floating-point operations of one forward pass on an input of ``input_shape``.

    Counted by ``torch.utils.flop_counter.FlopCounterMode``: matrix products and convolutions,
    two operations per multiply-add (element-wise work such as ReLU, pooling and batch norm is
    not counted; it is small next to them).
    """
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    was_training = model.training
    counter = FlopCounterMode(display=False)
    try:
        model.eval()
        with torch.no_grad(), counter:
            model(torch.zeros(tuple(input_shape), device=device))
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())
