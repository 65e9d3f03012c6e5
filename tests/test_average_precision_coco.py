"""course_utils.detection's COCO-style AP against pycocotools' COCOeval, on noisy micrograph boxes.

Both sides use pixel-edge boxes without the old "+1" in widths: the course keeps xyxy, COCO
takes xywh, so the boxes are converted once, in float64 from the same float32 numbers.
"""

import contextlib
import io

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from course_utils import detection as D
from course_utils.data import micrographs

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)  # COCO's 0.50, 0.55, ..., 0.95


def noisy_detections(truths, seed: int, size: int = 64, score_step: float | None = None):
    """A plausible detector's output for each image: ``[(boxes (K, 4) xyxy, scores (K,))]``.

    Each true box is missed with probability 0.2, otherwise found with its corners jittered by
    10 % of its size (sometimes twice: a duplicate); each image also gets 0-4 false positives
    (2-4 if it holds no object).
    Found boxes tend to score higher than false ones, but the two overlap, so precision zig-zags.
    ``score_step`` rounds the scores (to create ties).
    """
    rng = np.random.default_rng(seed)
    predictions = []
    for truth in truths:
        boxes, scores = [], []
        for box in truth.double().numpy():
            if rng.random() < 0.2:
                continue
            for _ in range(2 if rng.random() < 0.15 else 1):
                w, h = box[2] - box[0], box[3] - box[1]
                moved = box + rng.normal(0.0, 0.1, 4) * np.array([w, h, w, h])
                x1, x2 = sorted(moved[[0, 2]])
                y1, y2 = sorted(moved[[1, 3]])
                boxes.append([x1, y1, x2, y2])
                scores.append(rng.beta(4, 2))
        for _ in range(rng.integers(0 if len(truth) else 2, 4, endpoint=True)):
            x1, y1 = rng.uniform(0, size - 10, 2)
            w, h = rng.uniform(3, 16, 2)
            boxes.append([x1, y1, x1 + w, y1 + h])
            scores.append(rng.beta(2, 4))
        scores = np.array(scores)
        if score_step is not None:
            scores = np.round(scores / score_step) * score_step
        predictions.append(
            (
                torch.tensor(np.array(boxes), dtype=torch.float32).reshape(-1, 4),
                torch.tensor(scores, dtype=torch.float32),
            )
        )
    return predictions


def scenario(seed: int, score_step: float | None = None, whole_pixels: bool = False):
    """Truths and predictions on 12 micrographs, plus two edge images: one with no particle
    (false positives only) and one whose particles are all missed. ``whole_pixels`` rounds the
    detected boxes, which makes some IoUs land exactly on a threshold (0.5, 0.6, ...)."""
    truths = list(micrographs(12, size=64, seed=seed, particles=(1, 8)).boxes)
    truths.append(torch.zeros(0, 4))
    predictions = noisy_detections(truths, seed + 1000, score_step=score_step)
    if whole_pixels:
        predictions = [(boxes.round(), scores) for boxes, scores in predictions]
    predictions[0] = (torch.zeros(0, 4), torch.zeros(0))
    assert len(truths[0]) > 0 and len(predictions[-1][0]) > 0
    return truths, predictions


def cocoeval(truths, predictions, coco_defaults: bool = False) -> COCOeval:
    """Run COCOeval on the same boxes, in memory: one class, all areas, no detection cap, or
    with ``coco_defaults`` COCO's own parameters (area ranges, maxDets 1, 10, 100)."""

    def xywh(box):
        x1, y1, x2, y2 = (float(v) for v in box)
        return [x1, y1, x2 - x1, y2 - y1]

    boxes = [(i, xywh(b)) for i, truth in enumerate(truths) for b in truth]
    # ids from 1: COCOeval reads a matched id of 0 as "no match"
    annotations = [
        {"id": k + 1, "image_id": i, "category_id": 1, "bbox": b, "area": b[2] * b[3], "iscrowd": 0}
        for k, (i, b) in enumerate(boxes)
    ]
    results = [
        {"image_id": i, "category_id": 1, "bbox": xywh(b), "score": float(s)}
        for i, (boxes, scores) in enumerate(predictions)
        for b, s in zip(boxes.tolist(), scores.tolist(), strict=True)
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        ground_truth = COCO()
        ground_truth.dataset = {
            "images": [{"id": i} for i in range(len(truths))],
            "annotations": annotations,
            "categories": [{"id": 1, "name": "particle"}],
        }
        ground_truth.createIndex()
        detections = ground_truth.loadRes(results)
        evaluation = COCOeval(ground_truth, detections, "bbox")
        evaluation.params.imgIds = list(range(len(truths)))
        if not coco_defaults:
            evaluation.params.useCats = 1
            evaluation.params.areaRng = [[0.0, 1e10]]
            evaluation.params.areaRngLbl = ["all"]
            evaluation.params.maxDets = [1000]
        evaluation.evaluate()
        evaluation.accumulate()
    np.testing.assert_allclose(evaluation.params.iouThrs, IOU_THRESHOLDS)
    return evaluation


def coco_ap(evaluation: COCOeval) -> np.ndarray:
    """COCO's AP at each of the 10 IoU thresholds: the mean over its 101 recall levels."""
    precision = evaluation.eval["precision"][:, :, 0, 0, 0]  # (thresholds, recall levels)
    assert (precision >= 0).all()  # -1 would mean "no data"
    return precision.mean(axis=1)


def course_ap(truths, predictions, **rule) -> np.ndarray:
    rule.setdefault("recall_points", 101)
    return np.array(
        [
            D.detection_average_precision(predictions, truths, float(t), **rule)
            for t in IOU_THRESHOLDS
        ]
    )


# (seed, score_step, whole_pixels): the last two have tied scores and IoUs on the thresholds
CASES = [(seed, None, False) for seed in range(4)] + [(5, 0.1, True), (7, 0.1, True)]


@pytest.mark.parametrize(("seed", "score_step", "whole_pixels"), CASES)
def test_ap_matches_pycocotools(seed, score_step, whole_pixels):
    truths, predictions = scenario(seed, score_step, whole_pixels)
    expected = coco_ap(cocoeval(truths, predictions))
    got = course_ap(truths, predictions)
    np.testing.assert_allclose(got[0], expected[0], rtol=0, atol=1e-6)  # AP@0.5
    np.testing.assert_allclose(got[5], expected[5], rtol=0, atol=1e-6)  # AP@0.75
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)  # every threshold
    assert got.mean() == pytest.approx(expected.mean(), abs=1e-6)  # AP@[.5:.95]
    assert 0.05 < expected.mean() < 0.95 and expected[0] > expected[-1]  # a real spread


@pytest.mark.parametrize(("seed", "score_step", "whole_pixels"), CASES)
def test_matches_agree_with_cocoeval(seed, score_step, whole_pixels):
    """Per detection and IoU threshold, match_detections' hits are COCOeval's matches."""
    truths, predictions = scenario(seed, score_step, whole_pixels)
    evaluation = cocoeval(truths, predictions)
    first_id = 1  # loadRes numbers detections 1, 2, ...
    for i, ((boxes, scores), truth) in enumerate(zip(predictions, truths, strict=True)):
        record = evaluation.evalImgs[i]
        if len(boxes) == 0:
            assert record is None or len(record["dtIds"]) == 0
            continue
        position = np.asarray(record["dtIds"]) - first_id  # COCO's order: by score
        for t, threshold in enumerate(IOU_THRESHOLDS):
            hit = D.match_detections(boxes, scores, truth, float(threshold)).numpy()
            np.testing.assert_array_equal(hit[position], record["dtMatches"][t] > 0)
        first_id += len(boxes)


def test_comparison_tells_the_rules_apart():
    """The check above can fail: on the same data, the other AP rules give other numbers."""
    truths, predictions = scenario(0)
    expected = coco_ap(cocoeval(truths, predictions))
    no_envelope = course_ap(truths, predictions, interpolated=False)
    every_point = course_ap(truths, predictions, recall_points=None)  # PASCAL VOC 2010+
    assert np.abs(no_envelope - expected).max() > 1e-3
    assert np.abs(every_point - expected).max() > 1e-3
    # and a single wrong match changes COCO's number: drop the best detection of image 1
    boxes, scores = predictions[1]
    keep = torch.arange(len(scores)) != int(scores.argmax())
    fewer = [*predictions[:1], (boxes[keep], scores[keep]), *predictions[2:]]
    assert abs(coco_ap(cocoeval(truths, fewer))[0] - expected[0]) > 1e-4


def test_comparison_tells_matching_rules_apart():
    """Boxes on whole pixels put IoUs exactly on thresholds; COCO counts those as matches
    (IoU >= t), and a matcher that wanted IoU > t would give another AP."""
    truths, predictions = scenario(7, 0.1, whole_pixels=True)
    expected = coco_ap(cocoeval(truths, predictions))
    strict = [
        D.detection_average_precision(
            predictions, truths, float(np.nextafter(t, 1.0)), recall_points=101
        )
        for t in IOU_THRESHOLDS
    ]
    assert np.abs(np.array(strict) - expected).max() > 1e-3
