"""The transfer-learning target task: scikit-image's face / non-face images (ship offline)."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def faces(size: int | None = None, test_size: int = 80, seed: int = 0):
    """scikit-image's face / non-face images as a seeded, balanced train/test split.

    ``skimage.data.lfw_subset()`` holds 100 faces then 100 non-face crops, 25x25 grey. Returns
    ``(X_train, y_train, X_test, y_test)`` with ``X: (N, 1, S, S)`` float32 in [0, 1] (``S`` =
    25, or ``size``) and ``y: (N,)`` int64, 1 = face; the test set has ``test_size / 2`` of each.
    """
    from skimage.data import lfw_subset

    if test_size % 2 or not 0 < test_size < 200:
        raise ValueError(f"test_size must be an even number between 2 and 198, got {test_size}")
    X = torch.tensor(lfw_subset(), dtype=torch.float32).unsqueeze(1)
    y = torch.cat([torch.ones(100), torch.zeros(100)]).long()
    if size is not None and size != X.shape[-1]:
        X = F.interpolate(X, size=(size, size), mode="bilinear", align_corners=False)
    generator = torch.Generator().manual_seed(seed)
    face_order = torch.randperm(100, generator=generator)
    other_order = torch.randperm(100, generator=generator) + 100
    half = test_size // 2
    test = torch.cat([face_order[:half], other_order[:half]])
    rest = torch.cat([face_order[half:], other_order[half:]])
    train = rest[torch.randperm(len(rest), generator=generator)]
    return X[train], y[train], X[test], y[test]
