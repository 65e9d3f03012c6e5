"""Instance IoU against pycocotools, matching and scores by hand, and the watershed split."""

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from course_utils.instances import (
    connected_instances,
    instance_iou,
    instance_scores,
    match_instances,
    watershed_instances,
)


def random_labels(seed, k, size=40):
    rng = np.random.default_rng(seed)
    labels = np.zeros((size, size), dtype=np.int64)
    for index in range(1, k + 1):
        r, c = rng.integers(0, size - 8, 2)
        h, w = rng.integers(3, 12, 2)
        labels[r : r + h, c : c + w] = index
    return labels


@pytest.mark.parametrize("seed", range(5))
def test_instance_iou_matches_pycocotools(seed):
    pred, true = random_labels(seed, 6), random_labels(seed + 100, 5)
    ours = instance_iou(pred, true)

    def rle(labels):
        masks = np.stack([labels == k for k in range(1, labels.max() + 1)], axis=-1)
        return coco_mask.encode(np.asfortranarray(masks.astype(np.uint8)))

    expected = coco_mask.iou(rle(pred), rle(true), [0] * int(true.max()))
    assert ours.shape == (pred.max(), true.max())
    np.testing.assert_allclose(ours, expected, atol=1e-12)


def test_matching_and_scores_by_hand():
    true = np.zeros((10, 10), dtype=np.int64)
    true[0:4, 0:4], true[6:10, 6:10], true[0:2, 8:10] = 1, 2, 3
    pred = np.zeros_like(true)
    pred[0:4, 0:4] = 1  # perfect
    pred[6:10, 7:10] = 2  # IoU 12/16
    pred[5, 0:3] = 3  # nothing there: a false positive
    result = match_instances(pred, true)
    assert (result["tp"], result["fp"], result["fn"]) == (2, 1, 1)
    np.testing.assert_allclose(sorted(result["ious"]), [0.75, 1.0])
    scores = instance_scores([pred], [true])
    assert scores["precision"] == pytest.approx(2 / 3)
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["pq"] == pytest.approx(1.75 / (2 + 0.5 + 0.5))


def test_perfect_and_empty_predictions():
    true = random_labels(3, 4)
    assert instance_scores([true], [true])["pq"] == pytest.approx(1.0)
    empty = instance_scores([np.zeros_like(true)], [true])
    assert empty["tp"] == 0 and empty["fn"] == len(np.unique(true)) - 1 and empty["pq"] == 0.0


def test_watershed_splits_two_touching_discs_that_connected_components_merge():
    rows, cols = np.mgrid[0:40, 0:60]
    discs = ((rows - 20) ** 2 + (cols - 20) ** 2 < 100) | (
        (rows - 20) ** 2 + (cols - 37) ** 2 < 100
    )
    assert connected_instances(discs).max() == 1
    split = watershed_instances(discs)
    assert split.max() == 2
    assert split[20, 20] != split[20, 37] and split[20, 20] > 0


def test_bad_label_images_are_refused():
    with pytest.raises(ValueError, match="label image"):
        instance_iou(np.zeros((4, 4)), np.zeros((4, 4), dtype=np.int64))
    with pytest.raises(ValueError, match="shape"):
        instance_iou(np.zeros((4, 4), dtype=np.int64), np.zeros((5, 4), dtype=np.int64))
