"""Shifts and flips against torchvision.transforms.v2."""

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset
from torchvision.transforms.v2 import functional as TF

from course_utils.augmentation import AugmentedLoader, augment_batch, shift_images


@pytest.mark.parametrize(("dy", "dx"), [(0, 0), (1, 2), (-2, 1), (0, -3), (3, -3)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shift_equals_torchvision_affine(dy, dx, dtype):
    X = torch.rand(2, 3, 8, 9, dtype=dtype)
    expected = TF.affine(X, angle=0.0, translate=[dx, dy], scale=1.0, shear=[0.0, 0.0])
    ours = shift_images(X, dy, dx)
    assert ours.dtype == dtype
    torch.testing.assert_close(ours, expected)


def test_augment_batch_only_shifts_and_flips():
    generator = torch.Generator().manual_seed(0)
    X = torch.rand(16, 1, 10, 10)
    Y = augment_batch(X, max_shift=2, flip=True, generator=generator)
    assert Y.shape == X.shape and not torch.equal(X, Y)
    for x, y in zip(X, Y, strict=True):
        candidates = [
            shift_images(image, dy, dx)
            for image in (x, x.flip(-1))
            for dy in range(-2, 3)
            for dx in range(-2, 3)
        ]
        assert any(torch.equal(y, c) for c in candidates)


def test_augmented_loader_keeps_labels_and_length():
    data = TensorDataset(torch.rand(10, 1, 6, 6), torch.arange(10))
    loader = AugmentedLoader(DataLoader(data, batch_size=4), max_shift=1)
    assert len(loader) == 3
    assert torch.equal(torch.cat([y for _, y in loader]), torch.arange(10))


def test_augment_batch_needs_a_batch():
    with pytest.raises(ValueError, match="batch"):
        augment_batch(torch.rand(1, 6, 6))
