"""Synthetic micrographs: shapes, determinism, and annotations that agree with each other."""

import numpy as np
import pytest
import torch
from scipy import ndimage
from torchvision.ops import masks_to_boxes

from course_utils.data import Micrographs, micrographs


@pytest.fixture(scope="module")
def data() -> Micrographs:
    return micrographs(40, size=64, seed=3)


def test_shapes_and_dtypes(data):
    assert len(data) == 40
    assert data.images.shape == (40, 1, 64, 64) and data.images.dtype == torch.float32
    assert data.clean.shape == (40, 1, 64, 64) and data.clean.dtype == torch.float32
    assert data.masks.shape == (40, 64, 64) and data.masks.dtype == torch.bool
    assert data.labels.shape == (40, 64, 64) and data.labels.dtype == torch.int64
    assert len(data.boxes) == 40
    for boxes in data.boxes:
        assert boxes.dtype == torch.float32 and boxes.ndim == 2 and boxes.shape[1] == 4
    rectangular = micrographs(2, size=(48, 80), seed=0)
    assert rectangular.images.shape == (2, 1, 48, 80)


def test_same_seed_same_data_and_prefix_property(data):
    again = micrographs(40, size=64, seed=3)
    assert torch.equal(again.images, data.images)
    assert torch.equal(again.labels, data.labels)
    prefix = micrographs(7, size=64, seed=3)
    assert torch.equal(prefix.images, data.images[:7])
    assert all(torch.equal(a, b) for a, b in zip(prefix.boxes, data.boxes[:7], strict=True))
    other = micrographs(7, size=64, seed=4)
    assert not torch.equal(other.images, prefix.images)


def test_dose_changes_only_the_noise(data):
    noisier = micrographs(40, size=64, seed=3, dose=5.0)
    assert torch.equal(noisier.labels, data.labels)
    assert torch.equal(noisier.clean, data.clean)
    assert not torch.equal(noisier.images, data.images)


def test_boxes_tightly_enclose_instance_masks(data):
    for i in range(len(data)):
        masks = data.instance_masks(i)
        assert masks.shape == (len(data.boxes[i]), 64, 64)
        assert bool(masks.flatten(1).any(1).all()), "every particle has pixels"
        expected = masks_to_boxes(masks)  # inclusive pixel indices
        expected[:, 2:] += 1  # pixel-edge coordinates
        torch.testing.assert_close(data.boxes[i], expected, rtol=0, atol=0)


def test_masks_labels_and_instances_are_consistent(data):
    assert torch.equal(data.masks, data.labels > 0)
    for i in range(len(data)):
        k = len(data.boxes[i])
        assert set(torch.unique(data.labels[i]).tolist()) == set(range(k + 1))
        instances = data.instance_masks(i)
        assert int(instances.sum(0).max()) <= 1, "instances do not overlap"
        assert torch.equal(instances.any(0), data.masks[i])
    assert torch.equal(data.counts, torch.tensor([len(b) for b in data.boxes]))


def test_particle_count_range_and_single_particle():
    crowd = micrographs(30, size=64, seed=0, particles=(2, 5))
    assert int(crowd.counts.max()) <= 5 and int(crowd.counts.min()) >= 2
    single = micrographs(30, size=64, seed=0, particles=(1, 1))
    assert torch.equal(single.counts, torch.ones(30, dtype=torch.int64))
    empty = micrographs(3, size=64, seed=0, particles=(0, 0))
    assert not bool(empty.masks.any()) and all(len(b) == 0 for b in empty.boxes)


def test_image_formation_blur_noise_and_contrast():
    noiseless = micrographs(10, size=64, seed=1, dose=None, blur=1.5)
    expected = ndimage.gaussian_filter(noiseless.clean[:, 0].double().numpy(), sigma=(0, 1.5, 1.5))
    np.testing.assert_allclose(noiseless.images[:, 0].numpy(), expected, rtol=1e-5, atol=1e-6)
    # Shot noise: counts = images * dose are integers with the mean and variance of a Poisson law.
    dose = 20.0
    noisy = micrographs(10, size=64, seed=1, dose=dose, blur=1.5)
    counts = noisy.images[:, 0].double() * dose
    torch.testing.assert_close(counts, counts.round(), rtol=0, atol=1e-3)
    mean = torch.from_numpy(expected) * dose
    residual = counts - mean
    assert abs(float(residual.mean())) < 0.05 * float(mean.mean())
    assert float((residual**2).mean() / mean.mean()) == pytest.approx(1.0, rel=0.1)
    # Dark field: particles brighter than the film; bright field: darker.
    dark = micrographs(20, size=64, seed=2, dose=None)
    particle, film = dark.images[:, 0][dark.masks], dark.images[:, 0][~dark.masks]
    assert particle.mean() > film.mean() + 0.1
    bright = micrographs(20, size=64, seed=2, dose=None, bright_field=True)
    particle, film = bright.images[:, 0][bright.masks], bright.images[:, 0][~bright.masks]
    assert particle.mean() < film.mean() - 0.1


def test_slicing_and_detection_target(data):
    part = data[[2, 5]]
    assert isinstance(part, Micrographs) and len(part) == 2
    assert torch.equal(part.images[1], data.images[5])
    assert torch.equal(data[3:6].labels, data.labels[3:6])
    assert len(data[4]) == 1
    target = data.detection_target(5)
    k = len(data.boxes[5])
    assert target["boxes"].shape == (k, 4) and target["labels"].tolist() == [1] * k
    assert target["masks"].dtype == torch.uint8 and target["masks"].shape == (k, 64, 64)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"n": -1}, "n must be"),
        ({"n": 2, "size": 10}, "too small"),
        ({"n": 2, "particles": (3, 1)}, "particles must be"),
        ({"n": 2, "dose": 0}, "dose must be"),
        ({"n": 2, "blur": -1}, "blur must be"),
        ({"n": 2, "radius": (1.0, 4.0)}, "radius must be"),
        ({"n": 2, "shapes": ("square",)}, "shapes must be"),
    ],
)
def test_bad_arguments_raise_one_clear_error(kwargs, words):
    with pytest.raises(ValueError, match=words):
        micrographs(**kwargs)
