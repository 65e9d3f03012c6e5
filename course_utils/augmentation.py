"""Data augmentation for image batches: random shifts and flips, applied on the fly.

Augmentation trains on transformed copies of the images that keep their labels: the network
sees a new variant of each image every epoch, which acts as a regulariser and teaches it the
invariances we know the task has (a digit shifted by two pixels is the same digit; a shirt
mirrored left-right is still a shirt, a mirrored 3 is not).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def shift_images(X: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Move the images ``(..., H, W)`` by ``dy`` rows down and ``dx`` columns right, zero fill.

    The same as ``torchvision.transforms.v2.functional.affine`` with an integer translation.
    """
    height, width = X.shape[-2:]
    padded = F.pad(X, (abs(dx), abs(dx), abs(dy), abs(dy)))
    top, left = abs(dy) - dy, abs(dx) - dx
    return padded[..., top : top + height, left : left + width]


def augment_batch(
    X: torch.Tensor,
    max_shift: int = 2,
    flip: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A random shift of up to ``max_shift`` pixels per image (and a left-right flip with
    probability 1/2 if ``flip``): ``(B, C, H, W) -> (B, C, H, W)``, a new tensor."""
    if X.ndim != 4:
        raise ValueError(f"augment_batch needs a batch (B, C, H, W), got {tuple(X.shape)}")
    shifts = torch.randint(-max_shift, max_shift + 1, (len(X), 2), generator=generator)
    flips = torch.rand(len(X), generator=generator) < 0.5
    out = torch.empty_like(X)
    for i, (dy, dx) in enumerate(shifts.tolist()):
        image = X[i].flip(-1) if flip and flips[i] else X[i]
        out[i] = shift_images(image, dy, dx)
    return out


class AugmentedLoader:
    """Wraps a loader of ``(X, y)`` batches; yields ``(augment_batch(X), y)``, new each epoch."""

    def __init__(self, loader, max_shift: int = 2, flip: bool = False, seed: int = 0):
        self.loader, self.max_shift, self.flip = loader, max_shift, flip
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for X, y in self.loader:
            yield augment_batch(X, self.max_shift, self.flip, self.generator), y
