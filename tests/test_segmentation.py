"""course_utils.segmentation against scikit-image, scikit-learn and SciPy on random inputs."""

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage import data as skdata
from skimage.exposure import histogram as sk_histogram
from skimage.filters import threshold_otsu
from skimage.measure import label as sk_label
from sklearn.cluster import KMeans
from sklearn.metrics import f1_score, jaccard_score

from course_utils.segmentation import (
    dice_score,
    histogram,
    iou_score,
    kmeans,
    label_components,
    mask_boundary,
    otsu_threshold,
    otsu_threshold_image,
    overlay_mask,
)


def _random_image(rng, shape=(24, 31)):
    """A two-population image: a random fraction of bright pixels on a noisy background."""
    foreground = rng.random(shape) < rng.uniform(0.05, 0.6)
    return rng.normal(size=shape) * rng.uniform(0.2, 2) + foreground * rng.uniform(0.5, 5)


@pytest.mark.parametrize("seed", range(20))
def test_otsu_matches_skimage_on_random_float_images(seed):
    image = _random_image(np.random.default_rng(seed))
    assert otsu_threshold_image(image) == pytest.approx(threshold_otsu(image), abs=1e-12)
    assert otsu_threshold_image(image, nbins=64) == pytest.approx(
        threshold_otsu(image, nbins=64), abs=1e-12
    )


@pytest.mark.parametrize("seed", range(20))
def test_otsu_matches_skimage_on_random_histograms(seed):
    rng = np.random.default_rng(seed)
    bins = int(rng.integers(3, 60))
    counts = rng.integers(0, 100, size=bins)
    counts[[0, -1]] += 1  # scikit-image needs non-empty end bins
    centres = np.sort(rng.normal(size=bins) * 10)
    assert otsu_threshold(counts, centres) == threshold_otsu(hist=(counts, centres))


def test_otsu_on_coins_and_uint8_histogram():
    coins = skdata.coins()
    counts, centres = histogram(coins)
    sk_counts, sk_centres = sk_histogram(coins, source_range="image")
    np.testing.assert_array_equal(counts, sk_counts)
    np.testing.assert_array_equal(centres, sk_centres)
    assert otsu_threshold_image(coins) == threshold_otsu(coins)


def test_otsu_separates_two_levels_and_handles_constant_and_bad_input():
    image = np.array([[10, 10, 200], [10, 200, 200]], dtype=np.uint8)
    threshold = otsu_threshold_image(image)
    assert 10 <= threshold < 200
    np.testing.assert_array_equal(image > threshold, image == 200)
    assert otsu_threshold_image(np.full((3, 3), 7.0)) == 7.0
    assert otsu_threshold(torch.tensor([5, 0, 0]), torch.tensor([1.0, 2.0, 3.0])) == 1.0
    with pytest.raises(ValueError, match="equally long"):
        otsu_threshold([1, 2], [1.0])
    with pytest.raises(ValueError, match="non-negative"):
        otsu_threshold([0, 0], [1.0, 2.0])
    with pytest.raises(ValueError, match="NaN"):
        histogram(np.array([0.0, np.nan]))


@pytest.mark.parametrize("seed", range(6))
def test_kmeans_matches_sklearn_from_the_same_start(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 5))
    dims = int(rng.integers(1, 4))
    centres = rng.normal(size=(k, dims)) * 4
    points = centres[rng.integers(0, k, 300)] + rng.normal(size=(300, dims))
    start = points[rng.choice(300, k, replace=False)]
    labels, found = kmeans(points, k, init=start, iterations=300, tolerance=1e-8)
    reference = KMeans(k, init=start, n_init=1, max_iter=300, tol=1e-8, algorithm="lloyd").fit(
        points
    )
    np.testing.assert_allclose(found, reference.cluster_centers_, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(labels, reference.labels_)


def test_kmeans_random_start_recovers_separated_intensities_and_checks_input():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0, 0.1, 200), rng.normal(5, 0.1, 100)])
    labels, centres = kmeans(values, 2, seed=3)
    assert sorted(np.round(centres[:, 0])) == [0.0, 5.0]
    assert len(set(labels[:200])) == 1 and len(set(labels[200:])) == 1
    with pytest.raises(ValueError, match="k must be"):
        kmeans(values, 0)
    with pytest.raises(ValueError, match="points must be"):
        kmeans(np.zeros((2, 2, 2)), 1)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("connectivity", [1, 2])
def test_label_components_matches_scipy_and_skimage(seed, connectivity):
    rng = np.random.default_rng(seed)
    mask = rng.random((int(rng.integers(5, 40)), int(rng.integers(5, 40)))) < rng.uniform(0.2, 0.7)
    labels, count = label_components(mask, connectivity)
    structure = ndimage.generate_binary_structure(2, connectivity)
    reference, reference_count = ndimage.label(mask, structure=structure)
    assert count == reference_count
    np.testing.assert_array_equal(labels, reference)
    np.testing.assert_array_equal(labels, sk_label(mask, connectivity=connectivity))


def test_label_components_input_checks():
    labels, count = label_components(np.zeros((3, 4), dtype=bool))
    assert count == 0 and labels.shape == (3, 4) and labels.dtype == np.int32
    with pytest.raises(ValueError, match="2-D"):
        label_components(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="connectivity"):
        label_components(np.zeros((2, 2)), connectivity=3)


@pytest.mark.parametrize("seed", range(10))
def test_iou_and_dice_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 20)), int(rng.integers(1, 20)))
    pred = rng.random(shape) < rng.uniform(0.05, 0.9)
    target = rng.random(shape) < rng.uniform(0.05, 0.9)
    flat_pred, flat_target = pred.ravel(), target.ravel()
    iou = iou_score(pred, target)
    dice = dice_score(torch.from_numpy(pred), torch.from_numpy(target).int())
    assert iou == pytest.approx(jaccard_score(flat_target, flat_pred, zero_division=1.0))
    assert dice == pytest.approx(f1_score(flat_target, flat_pred, zero_division=1.0))
    assert dice == pytest.approx(2 * iou / (1 + iou))


def test_scores_on_known_masks_and_bad_input():
    a = np.array([[1, 1, 0, 0]], dtype=bool)
    b = np.array([[0, 1, 1, 0]], dtype=bool)
    assert iou_score(a, b) == pytest.approx(1 / 3)
    assert dice_score(a, b) == pytest.approx(0.5)
    empty = np.zeros((2, 2), dtype=bool)
    assert iou_score(empty, empty) == 1.0 and dice_score(empty, empty) == 1.0
    assert iou_score(a, ~a) == 0.0
    with pytest.raises(ValueError, match="shape"):
        iou_score(a, empty)
    with pytest.raises(ValueError, match="threshold it first"):
        dice_score(np.array([0.2, 0.9]), np.array([0, 1]))


def test_overlay_and_boundary():
    image = np.linspace(0, 10, 20).reshape(4, 5)
    mask = np.zeros((4, 5), dtype=bool)
    mask[1:4, 1:4] = True
    boundary = mask_boundary(mask)
    assert boundary.sum() == 8 and not boundary[2, 2]
    rgb = overlay_mask(
        image, mask, color=(1, 0, 0), alpha=1.0, outline=mask, outline_color=(0, 0, 1)
    )
    assert rgb.shape == (4, 5, 3) and rgb.min() >= 0 and rgb.max() <= 1
    np.testing.assert_array_equal(rgb[2, 2], [1, 0, 0])
    np.testing.assert_array_equal(rgb[1, 1], [0, 0, 1])
    np.testing.assert_allclose(rgb[0, 0], [0, 0, 0])
    assert overlay_mask(torch.rand(3, 4, 5), np.zeros((4, 5))).shape == (4, 5, 3)
    with pytest.raises(ValueError, match="does not match"):
        overlay_mask(image, np.zeros((2, 2)))
