"""The transfer-learning target task: scikit-image's face / non-face images (ship offline).

The split ex07 is graded on lives here, with the data: the 80 images of the test split of
``faces(size=16, test_size=80, seed=0)`` are held out by the grader (``held_out_indices``,
``held_out_faces``) and blanked in every graded kernel; notebooks train and try their models on
the other 120 (``public_faces``).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def lfw_path():
    """Where scikit-image ships ``lfw_subset.npy`` (a graded kernel sees a masked copy there)."""
    from pathlib import Path

    import skimage.data

    return Path(skimage.data.__file__).resolve().parent / "lfw_subset.npy"


def lfw_images():
    """scikit-image's 200 face / non-face images, (200, 25, 25) uint8, read from ``lfw_path``.

    Read directly rather than through ``skimage.data.lfw_subset``, whose hash check would refuse
    the copy a graded kernel sees (with the grader's held-out images blanked).
    """
    import numpy as np

    path = lfw_path()
    if path.is_file():
        return np.load(path, allow_pickle=False)
    from skimage.data import lfw_subset

    return lfw_subset()


def faces(size: int | None = None, test_size: int = 80, seed: int = 0):
    """scikit-image's face / non-face images as a seeded, balanced train/test split.

    ``skimage.data.lfw_subset()`` holds 100 faces then 100 non-face crops, 25x25 grey. Returns
    ``(X_train, y_train, X_test, y_test)`` with ``X: (N, 1, S, S)`` float32 in [0, 1] (``S`` =
    25, or ``size``) and ``y: (N,)`` int64, 1 = face; the test set has ``test_size / 2`` of each.
    """
    if test_size % 2 or not 0 < test_size < 200:
        raise ValueError(f"test_size must be an even number between 2 and 198, got {test_size}")
    X = torch.tensor(lfw_images(), dtype=torch.float32).unsqueeze(1)
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


def held_out_indices() -> torch.Tensor:
    """Indices into ``lfw_images()`` of the 80 held-out images (40 faces and 40 others)."""
    generator = torch.Generator().manual_seed(0)
    face_order = torch.randperm(100, generator=generator)
    other_order = torch.randperm(100, generator=generator) + 100
    return torch.cat([face_order[:40], other_order[:40]])


def public_faces(size: int = 16):
    """The 120 images a notebook may train and try on: ``(X, y)``, X (120, 1, S, S) in [0, 1]."""
    X_pool, y_pool, _, _ = faces(size=size, test_size=80, seed=0)
    return X_pool, y_pool


def held_out_faces(seed: int, size: int = 16):
    """The held-out images (the grader's side), each flipped left-right with probability 1/2
    by ``seed``: ``(X, y)``, X (80, 1, S, S) float32 in [0, 1], y (80,) int64, 1 = face."""
    X = torch.tensor(lfw_images(), dtype=torch.float32).unsqueeze(1)
    y = torch.cat([torch.ones(100), torch.zeros(100)]).long()
    index = held_out_indices()
    X, y = X[index], y[index]
    if size != X.shape[-1]:
        X = F.interpolate(X, size=(size, size), mode="bilinear", align_corners=False)
    flip = torch.rand(len(X), generator=torch.Generator().manual_seed(seed)) < 0.5
    X[flip] = X[flip].flip(-1)
    return X, y
