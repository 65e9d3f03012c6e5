"""The image-classification data sets of the course, sized by the profile.

* ``digits``: scikit-learn's 8x8 handwritten digits (1,797 images, ships offline): the quick
  profile's classification data.
* ``fashion_mnist``: Fashion-MNIST (70,000 images of 28x28), downloaded once into
  ``data_dir()``: the full profile's classification data.
* ``classification_loaders``: the profile's choice of the two, as PyTorch data loaders.
* ``to_uint8``: any real image scaled to 0-255 bytes.
* ``public_digits`` / ``held_out_digits``: the digits split that ex04's exported models are
  graded on: 30 images of each class (``held_out_digit_indices``) are held out by the grader
  and blanked in every graded kernel; notebooks and the course's pretraining use the other
  1,497. The split lives here, with the data (``course_utils.checking.heldout`` grades on it).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from course_utils.runtime import data_dir, profile, standin

DIGITS_HELD_OUT_PER_CLASS = 30
DIGITS_EVALUATED = 200


class DataUnavailableError(RuntimeError):
    """A data set is not on disk and cannot be downloaded here."""


def digits(resize: int | None = None, test_fraction: float = 0.25, seed: int = 0):
    """scikit-learn's handwritten digits as tensors, split into train and test.

    Returns ``(X_train, y_train, X_test, y_test)`` with ``X: (N, 1, S, S)`` float32 in [0, 1]
    (``S`` = 8, or ``resize``) and ``y: (N,)`` int64 labels 0-9. The split is stratified-free
    but seeded: the same ``seed`` always gives the same split.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(bunch.target, dtype=torch.int64)
    if resize is not None and resize != 8:
        X = F.interpolate(X, size=(resize, resize), mode="bilinear", align_corners=False)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_test = int(round(len(y) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return X[train], y[train], X[test], y[test]


def digits_path():
    """The file scikit-learn's ``load_digits`` reads (a gzip-compressed CSV, 1,797 rows)."""
    from importlib import resources
    from pathlib import Path

    return Path(str(resources.files("sklearn.datasets.data") / "digits.csv.gz"))


def held_out_digit_indices() -> torch.Tensor:
    """Indices into ``load_digits()`` of the 300 held-out images: 30 of each class, fixed."""
    from sklearn.datasets import load_digits

    target = torch.as_tensor(load_digits().target)
    generator = torch.Generator().manual_seed(0)
    chosen = []
    for digit in range(10):
        members = torch.nonzero(target == digit).flatten()
        order = torch.randperm(len(members), generator=generator)
        chosen.append(members[order[:DIGITS_HELD_OUT_PER_CLASS]])
    return torch.sort(torch.cat(chosen)).values


def _all_digits():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    return X, torch.tensor(bunch.target, dtype=torch.int64)


def public_digits(seed: int = 0, test_fraction: float = 0.25):
    """The 1,497 digits a notebook may use, split like ``digits``:
    ``(X_train, y_train, X_test, y_test)``, X (N, 1, 8, 8) float32 in [0, 1], y (N,) int64."""
    X, y = _all_digits()
    public = torch.ones(len(y), dtype=torch.bool)
    public[held_out_digit_indices()] = False
    X, y = X[public], y[public]
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_test = int(round(len(y) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return X[train], y[train], X[test], y[test]


def held_out_digits(seed: int):
    """The grader's side: 200 of the held-out digits, chosen and ordered by ``seed``:
    ``(X, y)``, X (200, 1, 8, 8) float32 in [0, 1], y (200,) int64."""
    X, y = _all_digits()
    index = held_out_digit_indices()
    pick = torch.randperm(len(index), generator=torch.Generator().manual_seed(seed))
    index = index[pick[:DIGITS_EVALUATED]]
    return X[index], y[index]


def fashion_mnist(train: bool = True, resize: int | None = None):
    """Fashion-MNIST as tensors ``(X: (N, 1, S, S) float32 in [0, 1], y: (N,) int64)``.

    Downloads the four files once into ``data_dir()/FashionMNIST``; raises
    ``DataUnavailableError`` with one clear sentence when they are missing and cannot be fetched.
    A stand-in run (``COURSE_STANDIN=1``) reads the generated files there and never downloads.
    """
    from torchvision import datasets

    root = data_dir()
    try:
        dataset = datasets.FashionMNIST(root=str(root), train=train, download=not standin())
    except (OSError, RuntimeError) as error:
        if standin():
            raise DataUnavailableError(
                f"the stand-in folder {root} has no Fashion-MNIST files ({error}): make it "
                "again with python -m coursekit.standin."
            ) from None
        raise DataUnavailableError(
            f"Fashion-MNIST is not in {root} and could not be downloaded ({error}): "
            "connect to the internet once, or use COURSE_PROFILE=quick."
        ) from None
    X = dataset.data.unsqueeze(1).float() / 255.0
    if resize is not None and resize != X.shape[-1]:
        X = F.interpolate(X, size=(resize, resize), mode="bilinear", align_corners=False)
    return X, dataset.targets.long()


def classification_loaders(
    batch_size: int = 64, resize: int | None = None, which: str | None = None, seed: int = 0
) -> tuple[DataLoader, DataLoader, str]:
    """Train and test loaders of the profile's image-classification data, and its name.

    quick: scikit-learn's digits (8x8, or ``resize``); full: Fashion-MNIST (28x28, or ``resize``).
    ``which`` forces ``"digits"`` or ``"fashion_mnist"``.
    """
    which = which or ("digits" if profile() == "quick" else "fashion_mnist")
    collate = None
    if which == "digits":
        X_train, y_train, X_test, y_test = digits(resize=resize, seed=seed)
    elif which == "fashion_mnist":
        # Kept at 28x28 and resized batch by batch: 60,000 images at 224x224 would need 12 GB.
        X_train, y_train = fashion_mnist(train=True)
        X_test, y_test = fashion_mnist(train=False)
        if resize is not None and resize != X_train.shape[-1]:
            collate = _ResizeBatch(resize)
    else:
        raise ValueError(f"unknown data set {which!r}: use 'digits' or 'fashion_mnist'")
    generator = torch.Generator().manual_seed(seed)
    train = DataLoader(
        TensorDataset(X_train, y_train),
        batch_size=batch_size,
        shuffle=True,
        generator=generator,
        collate_fn=collate,
    )
    test = DataLoader(TensorDataset(X_test, y_test), batch_size=256, collate_fn=collate)
    return train, test, which


class _ResizeBatch:
    """A ``collate_fn`` that stacks ``(X, y)`` pairs and resizes the images to ``size``."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, pairs):
        X = torch.stack([x for x, _ in pairs])
        y = torch.stack([label for _, label in pairs])
        X = F.interpolate(X, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return X, y


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Scale any real image linearly to the full 0-255 range, as ``uint8``."""
    image = np.asarray(image, dtype=np.float64)
    low, high = image.min(), image.max()
    if high == low:
        return np.zeros(image.shape, dtype=np.uint8)
    return np.round(255 * (image - low) / (high - low)).astype(np.uint8)
