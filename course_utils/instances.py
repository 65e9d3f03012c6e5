"""Instance segmentation without a detector, and the metrics that score instances.

``watershed_instances`` splits a binary mask into objects: the distance of every foreground pixel
to the background peaks once inside each roughly convex object, so the peaks are markers and a
watershed of the negated distance grows one region from each (scikit-image's ``watershed``).

The metrics compare two label images (0 = background, 1..k = objects): every predicted object is
matched to at most one true object by IoU (an optimal one-to-one assignment; for a threshold of
0.5 or more the match is unique anyway), and from the matches come precision, recall, F1 and the
panoptic quality of Kirillov et al. (2019). ``instance_iou`` agrees with ``pycocotools.mask.iou``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy import ndimage
from scipy.optimize import linear_sum_assignment


def _labels(array, name: str) -> np.ndarray:
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    array = np.asarray(array)
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.integer) or (array < 0).any():
        raise ValueError(
            f"{name} must be a 2-D label image of non-negative integers, got "
            f"shape {array.shape} and dtype {array.dtype}"
        )
    return array


def connected_instances(mask) -> np.ndarray:
    """One object per 4-connected component of a boolean ``(H, W)`` mask: int64 labels."""
    labels, _ = ndimage.label(np.asarray(mask, dtype=bool))
    return labels.astype(np.int64)


def watershed_instances(mask, min_distance: int = 3) -> np.ndarray:
    """Split a boolean ``(H, W)`` mask into objects: int64 labels ``(H, W)``, 0 = background.

    Markers are the peaks of the Euclidean distance transform at least ``min_distance`` pixels
    apart (one per connected component at least); a watershed of ``-distance`` restricted to the
    mask grows one object from each. Touching round objects meet along their neck.
    """
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    mask = np.asarray(mask, dtype=bool)
    components = connected_instances(mask)
    distance = ndimage.distance_transform_edt(mask)
    peaks = peak_local_max(
        distance, min_distance=min_distance, labels=components, exclude_border=False
    )
    markers = np.zeros(mask.shape, dtype=np.int64)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return watershed(-distance, markers, mask=mask).astype(np.int64)


def instance_iou(pred, true) -> np.ndarray:
    """IoU of every predicted object with every true object: label images -> ``(P, T)`` float64.

    Objects are the labels 1..max of each image (a label that does not occur is an empty object).
    The intersections come from one joint histogram of the two label images.
    """
    pred, true = _labels(pred, "pred"), _labels(true, "true")
    if pred.shape != true.shape:
        raise ValueError(f"label images differ in shape: {pred.shape} and {true.shape}")
    n_pred, n_true = int(pred.max()), int(true.max())
    joint = np.bincount(
        pred.ravel() * (n_true + 1) + true.ravel(), minlength=(n_pred + 1) * (n_true + 1)
    ).reshape(n_pred + 1, n_true + 1)
    intersection = joint[1:, 1:].astype(np.float64)
    pred_area, true_area = joint[1:].sum(axis=1), joint[:, 1:].sum(axis=0)
    union = pred_area[:, None] + true_area[None, :] - intersection
    return np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)


def match_instances(pred, true, iou_threshold: float = 0.5) -> dict:
    """Match objects one to one: ``{"tp", "fp", "fn": counts, "ious": IoUs of the matches}``.

    The assignment maximises the total IoU (Hungarian algorithm); a pair counts as a match when
    its IoU is at least ``iou_threshold``. Empty labels are not objects.
    """
    pred, true = _labels(pred, "pred"), _labels(true, "true")
    iou = instance_iou(pred, true)
    pred_ids = np.flatnonzero(np.bincount(pred.ravel(), minlength=iou.shape[0] + 1)[1:])
    true_ids = np.flatnonzero(np.bincount(true.ravel(), minlength=iou.shape[1] + 1)[1:])
    iou = iou[np.ix_(pred_ids, true_ids)]
    rows, cols = linear_sum_assignment(iou, maximize=True)
    matched = iou[rows, cols] >= iou_threshold
    tp = int(matched.sum())
    return {
        "tp": tp,
        "fp": len(pred_ids) - tp,
        "fn": len(true_ids) - tp,
        "ious": iou[rows, cols][matched],
    }


def instance_scores(preds: Sequence, trues: Sequence, iou_threshold: float = 0.5) -> dict:
    """Precision, recall, F1 and panoptic quality over a set of label images.

    ``PQ = sum(IoU of matches) / (TP + FP/2 + FN/2)``, the product of the segmentation quality
    (mean IoU of the matches, ``SQ``) and the recognition quality (``RQ``, which is F1).
    """
    if len(preds) != len(trues):
        raise ValueError(f"{len(preds)} predictions for {len(trues)} label images")
    tp = fp = fn = 0
    iou_sum = 0.0
    for pred, true in zip(preds, trues, strict=True):
        result = match_instances(pred, true, iou_threshold)
        tp, fp, fn = tp + result["tp"], fp + result["fp"], fn + result["fn"]
        iou_sum += float(result["ious"].sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = tp / (tp + 0.5 * fp + 0.5 * fn) if tp + fp + fn else 1.0
    sq = iou_sum / tp if tp else 0.0
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "sq": sq,
        "pq": sq * f1,
    }
