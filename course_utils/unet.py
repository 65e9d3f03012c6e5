"""U-Net (Ronneberger, Fischer and Brox, 2015): a fully convolutional network for segmentation.

* ``UNetBlock``: two 3x3 convolutions with ReLU, the original paper's building block.
* ``Down``: one step of the contracting path (2x2 max pooling, then a block): half the size,
  more channels.
* ``Up``: one step of the expansive path (upsample by 2, concatenate the skip connection from the
  contracting path, then a block): twice the size, fewer channels.
* ``UNet``: the whole network, ``(N, C_in, H, W) -> (N, num_classes, H, W)`` logits.
* ``train_segmenter`` / ``predict_masks``: a short training loop for binary masks and its use.
"""

from __future__ import annotations

import time

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from course_utils.runtime import get_device
from course_utils.training import progress


class UNetBlock(nn.Module):
    """Two 3x3 convolutions (padding 1), each followed by ReLU.

    ``(N, C_in, H, W) -> (N, C_out, H, W)``.
    The padding keeps the height and width, so that the skip connections of ``UNet`` line up
    without cropping. ``batch_norm=True`` adds batch normalisation after each convolution (as
    most modern U-Nets do: it trains faster); the 2015 paper's block has none.
    """

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not batch_norm)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=not batch_norm)
        self.norm1 = nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity()
        self.norm2 = nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.norm1(self.conv1(x)))
        return self.relu(self.norm2(self.conv2(x)))


class Down(nn.Module):
    """Contracting step: 2x2 max pooling, then a ``UNetBlock``.

    ``(N, C_in, H, W) -> (N, C_out, H/2, W/2)``.
    """

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool = False):
        super().__init__()
        self.pool = nn.MaxPool2d(2)
        self.block = UNetBlock(in_channels, out_channels, batch_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(self.pool(x))


class Up(nn.Module):
    """Expansive step: upsample by 2, concatenate the skip, then a ``UNetBlock``.

    ``x: (N, C_in, H, W)`` and ``skip: (N, C_skip, 2H, 2W)`` give ``(N, C_out, 2H, 2W)``.
    ``mode="transpose"`` learns the upsampling with a 2x2 transposed convolution of stride 2
    that also halves the channels; ``mode="bilinear"`` interpolates and then halves the channels
    with a 1x1 convolution. Either way the block sees ``C_in / 2 + C_skip`` channels.
    """

    def __init__(
        self,
        in_channels: int,
        skip_channels: int,
        out_channels: int,
        mode: str = "transpose",
        batch_norm: bool = False,
    ):
        super().__init__()
        if mode == "transpose":
            self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
        elif mode == "bilinear":
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(in_channels, in_channels // 2, kernel_size=1),
            )
        else:
            raise ValueError(f"mode must be 'transpose' or 'bilinear', got {mode!r}")
        self.block = UNetBlock(in_channels // 2 + skip_channels, out_channels, batch_norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        # The skip connection: fine detail from the contracting path, stacked as channels.
        return self.block(torch.cat([skip, x], dim=1))


class UNet(nn.Module):
    """A U-Net with ``depth`` down and up steps.

    ``(N, in_channels, H, W) -> (N, num_classes, H, W)`` logits.
    Channels double at every contracting step (``base_channels``, ``2 base``, ``4 base``, ...)
    and halve at every expansive step; a final 1x1 convolution gives one logit per class and
    pixel. ``H`` and ``W`` must be divisible by ``2 ** depth``. The original network has
    ``depth=4`` and ``base_channels=64`` (31 million parameters); the course's default is small
    enough to train on a CPU in seconds.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 1,
        base_channels: int = 16,
        depth: int = 3,
        mode: str = "transpose",
        batch_norm: bool = True,
    ):
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.depth = depth
        widths = [base_channels * 2**level for level in range(depth + 1)]
        self.stem = UNetBlock(in_channels, widths[0], batch_norm)
        self.downs = nn.ModuleList(
            Down(widths[level], widths[level + 1], batch_norm) for level in range(depth)
        )
        self.ups = nn.ModuleList(
            Up(widths[level + 1], widths[level], widths[level], mode, batch_norm)
            for level in reversed(range(depth))
        )
        self.head = nn.Conv2d(widths[0], num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = 2**self.depth
        if x.ndim != 4 or x.shape[-1] % factor or x.shape[-2] % factor:
            raise ValueError(
                f"UNet of depth {self.depth} needs input (N, C, H, W) with H and W divisible by "
                f"{factor}, got shape {tuple(x.shape)}"
            )
        skips = [self.stem(x)]
        for down in self.downs:  # contracting path: remember every resolution's features
            skips.append(down(skips[-1]))
        x = skips.pop()
        for up in self.ups:  # expansive path: the deepest skip is used first
            x = up(x, skips.pop())
        return self.head(x)


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """``1 - Dice`` computed on probabilities, per image and averaged: differentiable.

    ``logits`` and ``target`` (0/1 floats) have shape ``(N, 1, H, W)``.
    """
    probs = torch.sigmoid(logits).flatten(1)
    target = target.flatten(1)
    overlap = (probs * target).sum(dim=1)
    dice = (2 * overlap + eps) / (probs.sum(dim=1) + target.sum(dim=1) + eps)
    return 1 - dice.mean()


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Pixel-wise binary cross-entropy plus soft Dice loss: the usual pair for binary masks.

    Cross-entropy gives every pixel a gradient; the Dice term keeps a small foreground from
    being drowned by the many background pixels.
    """
    return F.binary_cross_entropy_with_logits(logits, target) + soft_dice_loss(logits, target)


@torch.no_grad()
def predict_masks(
    model: nn.Module,
    images: torch.Tensor,
    threshold: float = 0.5,
    batch_size: int = 64,
    device=None,
) -> torch.Tensor:
    """Boolean masks ``(N, H, W)`` on the CPU for images ``(N, 1, H, W)``.

    A pixel is foreground when its predicted probability exceeds ``threshold``.
    """
    device = device or get_device()
    model.to(device).eval()
    masks = []
    for start in range(0, len(images), batch_size):
        logits = model(images[start : start + batch_size].to(device))
        masks.append((torch.sigmoid(logits[:, 0]) > threshold).cpu())
    return torch.cat(masks)


def mean_iou(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Mean over images of the IoU of boolean masks ``(N, H, W)`` (empty and empty counts as 1)."""
    pred, target = pred.bool().flatten(1), target.bool().flatten(1)
    intersection = (pred & target).sum(dim=1).double()
    union = (pred | target).sum(dim=1).double()
    iou = torch.where(union > 0, intersection / union.clamp(min=1), torch.ones_like(union))
    return float(iou.mean())


def train_segmenter(
    model: nn.Module,
    train_loader: DataLoader,
    val_images=None,
    val_masks=None,
    epochs: int = 5,
    lr: float = 3e-3,
    device=None,
    show_progress=None,
) -> dict[str, list[float]]:
    """Train a binary segmenter with Adam on ``segmentation_loss``; return its history.

    The learning rate starts at ``lr`` and decays to zero along a cosine over all the batches,
    so that the last epochs settle rather than jump around a minimum.

    Batches are ``(images (B, 1, H, W), masks (B, 1, H, W) of 0/1 floats)``. With validation
    images and masks, each epoch also records ``val_iou`` (the mean IoU of ``predict_masks``).
    The history holds ``train_loss``, ``epoch_seconds`` and maybe ``val_iou``, one per epoch.
    """
    device = device or get_device()
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * len(train_loader))
    history: dict[str, list[float]] = {"train_loss": [], "epoch_seconds": []}
    if val_images is not None:
        history["val_iou"] = []
    for epoch in range(epochs):
        model.train()
        started = time.perf_counter()
        total, count = 0.0, 0
        for images, masks in progress(
            train_loader, f"epoch {epoch + 1}/{epochs}", enabled=show_progress
        ):
            images, masks = images.to(device), masks.to(device)
            loss = segmentation_loss(model(images), masks)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(images)
            count += len(images)
        history["epoch_seconds"].append(time.perf_counter() - started)
        history["train_loss"].append(total / count)
        if val_images is not None:
            predicted = predict_masks(model, val_images, device=device)
            history["val_iou"].append(
                mean_iou(predicted, torch.as_tensor(val_masks).reshape(predicted.shape))
            )
    return history
