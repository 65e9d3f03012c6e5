"""Boxes and the building blocks of object detectors, written out to be read.

A box is a row of four numbers in one of three formats (torchvision's names):

* ``xyxy``: corners ``(x1, y1, x2, y2)``, top-left and bottom-right;
* ``xywh``: top-left corner and size ``(x, y, w, h)``;
* ``cxcywh``: centre and size ``(cx, cy, w, h)``.

``x`` runs along columns and ``y`` down rows, in pixel-edge coordinates (pixel ``(r, c)`` covers
``[c, c+1) x [r, r+1)``). Functions take ``(N, 4)`` tensors and agree with ``torchvision.ops``
(``box_convert``, ``box_area``, ``box_iou``, ``nms``) on the same inputs; the tests check that.
Like torchvision, areas and overlaps are computed in at least float32 or int32
(``_checks.widen_boxes``): a float16 or int16 area overflows long before a box is large.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from course_utils._checks import check_boxes, pair, require_tensor, widen_boxes

BOX_FORMATS = ("xyxy", "xywh", "cxcywh")


# --- formats ---------------------------------------------------------------------------------


def box_convert(boxes: torch.Tensor, in_fmt: str, out_fmt: str) -> torch.Tensor:
    """Convert ``(N, 4)`` boxes between ``"xyxy"``, ``"xywh"`` and ``"cxcywh"``.

    Goes through ``xyxy``: every format is two corners in disguise.
    """
    for fmt in (in_fmt, out_fmt):
        if fmt not in BOX_FORMATS:
            raise ValueError(f"unknown box format {fmt!r}: use one of {BOX_FORMATS}")
    check_boxes(boxes, "boxes")
    a, b, c, d = boxes.unbind(-1)
    if in_fmt == "xywh":  # (x, y, w, h) -> corners
        a, b, c, d = a, b, a + c, b + d
    elif in_fmt == "cxcywh":  # (cx, cy, w, h) -> corners
        a, b, c, d = a - c / 2, b - d / 2, a + c / 2, b + d / 2
    if out_fmt == "xywh":
        a, b, c, d = a, b, c - a, d - b
    elif out_fmt == "cxcywh":
        a, b, c, d = (a + c) / 2, (b + d) / 2, c - a, d - b
    return torch.stack([a, b, c, d], dim=-1)


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """``(N,)`` areas ``(x2 - x1) * (y2 - y1)`` of ``(N, 4)`` xyxy boxes."""
    check_boxes(boxes, "boxes")
    boxes = widen_boxes(boxes)  # an int16 or float16 area overflows
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


# --- overlap ---------------------------------------------------------------------------------


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Intersection over union of every pair: ``(N, 4)`` and ``(M, 4)`` xyxy -> ``(N, M)``.

    The intersection of two boxes is the box between the larger top-left corner and the smaller
    bottom-right corner, empty (width or height clamped to 0) when they do not overlap.
    """
    check_boxes(a, "a")
    check_boxes(b, "b")
    a, b = widen_boxes(a), widen_boxes(b)
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])  # (N, M, 2)
    bottom_right = torch.minimum(a[:, None, 2:], b[None, :, 2:])  # (N, M, 2)
    size = (bottom_right - top_left).clamp(min=0)
    intersection = size[..., 0] * size[..., 1]
    union = box_area(a)[:, None] + box_area(b)[None, :] - intersection
    return intersection / union


def paired_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of matching rows: ``(N, 4)`` and ``(N, 4)`` xyxy -> ``(N,)`` (to score a localiser)."""
    check_boxes(a, "a")
    check_boxes(b, "b")
    if a.shape != b.shape:
        raise ValueError(
            f"paired_iou needs boxes of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    a, b = widen_boxes(a), widen_boxes(b)
    size = (torch.minimum(a[:, 2:], b[:, 2:]) - torch.maximum(a[:, :2], b[:, :2])).clamp(min=0)
    intersection = size[:, 0] * size[:, 1]
    return intersection / (box_area(a) + box_area(b) - intersection)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Non-maximum suppression: indices (int64) of the boxes kept, by decreasing score.

    Greedy: take the best-scoring box left, keep it, and drop every remaining box that overlaps
    it with IoU above ``iou_threshold``; repeat. The same result as ``torchvision.ops.nms``.
    """
    check_boxes(boxes, "boxes")
    _check_scores(scores, len(boxes))
    order = torch.argsort(scores, descending=True, stable=True)
    iou = box_iou(boxes[order], boxes[order])
    alive = torch.ones(len(order), dtype=torch.bool, device=boxes.device)
    for i in range(len(order)):
        if alive[i]:
            # "not above" rather than "at most": a NaN IoU (two empty boxes) suppresses nothing
            alive[i + 1 :] &= ~(iou[i, i + 1 :] > iou_threshold)
    return order[alive]


# --- where to look -----------------------------------------------------------------------------


def sliding_windows(
    image_size: tuple[int, int], window: tuple[int, int], stride: int | tuple[int, int]
) -> torch.Tensor:
    """Every ``window = (h, w)`` position in an image of ``image_size = (H, W)``, as xyxy.

    Returns ``(N, 4)`` float32 with ``N = n_rows * n_cols`` and ``n_rows = (H - h) // s + 1``
    (the output-size formula of a convolution without padding), row by row.
    """
    (height, width), (h, w) = pair(image_size, "image_size"), pair(window, "window")
    sy, sx = pair(stride, "stride")
    if not (0 < h <= height and 0 < w <= width and sy > 0 and sx > 0):
        raise ValueError(
            f"window {window} must fit in the image {image_size} and the stride "
            f"{stride} must be positive"
        )
    ys = torch.arange(0, height - h + 1, sy, dtype=torch.float32)
    xs = torch.arange(0, width - w + 1, sx, dtype=torch.float32)
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([x, y, x + w, y + h], dim=-1).reshape(-1, 4)


def anchor_boxes(
    feature_size: tuple[int, int],
    stride: int,
    sizes: Sequence[float],
    aspect_ratios: Sequence[float],
    offset: float = 0.5,
) -> torch.Tensor:
    """Anchor boxes tiled over a feature map, as xyxy in image pixels.

    Each cell ``(i, j)`` of an ``(H', W')`` feature map looks at the image around
    ``((j + offset) * stride, (i + offset) * stride)``. There it places one box per
    (aspect ratio, size) pair, of area ``size**2`` and ``h / w = ratio``:
    ``w = size / sqrt(ratio)``, ``h = size * sqrt(ratio)``. Returns
    ``(H' * W' * A, 4)`` float32 with ``A = len(aspect_ratios) * len(sizes)``, cell by cell, and
    in each cell ratio by ratio, then size by size (torchvision's ``AnchorGenerator`` order; with
    ``offset=0`` and whole-pixel half-widths its boxes are the same).
    """
    if not sizes or not aspect_ratios or stride <= 0:
        raise ValueError(
            "anchor_boxes needs at least one size and one aspect ratio, and a positive stride"
        )
    sizes_t = torch.as_tensor(sizes, dtype=torch.float32)
    ratios = torch.as_tensor(aspect_ratios, dtype=torch.float32)
    if bool((sizes_t <= 0).any()) or bool((ratios <= 0).any()):
        raise ValueError(
            f"sizes {list(sizes)} and aspect ratios {list(aspect_ratios)} must be positive"
        )
    widths = (sizes_t[None, :] / ratios.sqrt()[:, None]).reshape(-1)  # (A,)
    heights = (sizes_t[None, :] * ratios.sqrt()[:, None]).reshape(-1)
    base = torch.stack([-widths, -heights, widths, heights], dim=1) / 2  # (A, 4) around (0, 0)
    rows, cols = feature_size
    cy = (torch.arange(rows, dtype=torch.float32) + offset) * stride
    cx = (torch.arange(cols, dtype=torch.float32) + offset) * stride
    cy, cx = torch.meshgrid(cy, cx, indexing="ij")
    centres = torch.stack([cx, cy, cx, cy], dim=-1).reshape(-1, 1, 4)  # (H' W', 1, 4)
    return (centres + base[None]).reshape(-1, 4)


# --- regions of interest ----------------------------------------------------------------------


def roi_max_pool(
    features: torch.Tensor,
    rois: torch.Tensor,
    output_size: tuple[int, int],
    spatial_scale: float = 1.0,
) -> torch.Tensor:
    """RoI max pooling as in Fast R-CNN (the same numbers as ``torchvision.ops.roi_pool``).

    ``features (B, C, H, W)``; ``rois (K, 5)`` rows ``(batch index, x1, y1, x2, y2)`` in image
    pixels. Each region is scaled by ``spatial_scale`` onto the feature map and rounded to whole
    cells, split into an ``output_size = (h, w)`` grid of nearly equal bins, and each bin keeps
    its maximum: ``(K, C, h, w)``, the same size for every region. An empty bin gives 0.
    """
    _check_rois(features, rois)
    out_h, out_w = pair(output_size, "output_size")
    height, width = features.shape[-2:]
    pooled = features.new_zeros(len(rois), features.shape[1], out_h, out_w)
    for k, (b, x1, y1, x2, y2) in enumerate(rois.tolist()):
        # C++ round() rounds halves away from zero; Python's round() would round them to even
        x1, y1, x2, y2 = (int(np.floor(v * spatial_scale + 0.5)) for v in (x1, y1, x2, y2))
        bin_h = max(y2 - y1 + 1, 1) / out_h
        bin_w = max(x2 - x1 + 1, 1) / out_w
        for i in range(out_h):
            top = min(max(int(np.floor(i * bin_h)) + y1, 0), height)
            bottom = min(max(int(np.ceil((i + 1) * bin_h)) + y1, 0), height)
            for j in range(out_w):
                left = min(max(int(np.floor(j * bin_w)) + x1, 0), width)
                right = min(max(int(np.ceil((j + 1) * bin_w)) + x1, 0), width)
                if bottom > top and right > left:
                    region = features[int(b), :, top:bottom, left:right]
                    pooled[k, :, i, j] = region.amax(dim=(-2, -1))
    return pooled


def _check_rois(features, rois) -> None:
    require_tensor(features, "features", ndim=4, shape_hint="(B, C, H, W)")
    require_tensor(rois, "rois", ndim=2, shape_hint="(K, 5)")
    if rois.shape[1] != 5:
        raise ValueError(f"rois must have shape (K, 5), got {tuple(rois.shape)}")
    index = rois[:, 0]
    valid = (index >= 0) & (index < len(features)) & (index == index.round())
    if not bool(valid.all()):
        raise ValueError(f"the first column of rois must hold batch indices 0..{len(features) - 1}")


# --- how good is a detector --------------------------------------------------------------------


def match_detections(
    boxes: torch.Tensor, scores: torch.Tensor, truth: torch.Tensor, iou_threshold: float = 0.5
) -> torch.Tensor:
    """Which detections of one image are true positives: ``(K,)`` bool, in the input order.

    Detections are visited by decreasing score; each claims the still unclaimed true box it
    overlaps most, if that IoU is at least ``iou_threshold`` (a true positive); otherwise, or
    when its best box was claimed already, it is a false positive (a duplicate counts as wrong).
    """
    check_boxes(boxes, "boxes")
    _check_scores(scores, len(boxes))
    check_boxes(truth, "truth")
    hit = torch.zeros(len(boxes), dtype=torch.bool)
    if len(boxes) == 0 or len(truth) == 0:
        return hit
    iou = box_iou(boxes.cpu().double(), truth.cpu().double())
    claimed = torch.zeros(len(truth), dtype=torch.bool)
    for k in torch.argsort(scores.cpu(), descending=True, stable=True).tolist():
        overlap = iou[k].masked_fill(claimed, -1.0)
        best = int(overlap.argmax())
        if overlap[best] >= iou_threshold:
            hit[k], claimed[best] = True, True
    return hit


def precision_recall(
    scores: torch.Tensor, hit: torch.Tensor, n_positives: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Precision and recall ``(K,)`` float64 after each of K detections, by decreasing score."""
    _, hits = _rank(scores, hit, n_positives)
    true_positives = hits.double().cumsum(0)
    precision = true_positives / torch.arange(1, len(hits) + 1, dtype=torch.float64)
    recall = true_positives / max(n_positives, 1)
    return precision, recall


def _rank(scores, hit, n_positives: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores and hits sorted by decreasing score (ties keep their order, as in pycocotools)."""
    scores, hit = torch.as_tensor(scores).detach().cpu(), torch.as_tensor(hit).cpu()
    if scores.ndim != 1 or hit.shape != scores.shape:
        raise ValueError(
            f"scores and hit must be 1-D and equally long, got shapes "
            f"{tuple(scores.shape)} and {tuple(hit.shape)}"
        )
    if scores.is_floating_point() and bool(scores.isnan().any()):
        raise ValueError("scores contain NaN, which cannot be ranked: drop those detections")
    if int(hit.sum()) > max(n_positives, 0):
        raise ValueError(
            f"hit counts {int(hit.sum())} true positives but n_positives is "
            f"{n_positives}: a true object can be found only once"
        )
    order = torch.argsort(scores, descending=True, stable=True)
    return scores[order], hit[order]


def _last_of_each_tie(ranked_scores: torch.Tensor) -> torch.Tensor:
    """Indices of the last detection of each run of equal scores in a sorted list."""
    changes = torch.nonzero(ranked_scores[1:] != ranked_scores[:-1]).flatten()
    return torch.cat([changes, torch.tensor([len(ranked_scores) - 1])])


def average_precision(
    scores: torch.Tensor,
    hit: torch.Tensor,
    n_positives: int,
    interpolated: bool = True,
    recall_points: int | None = None,
) -> float:
    """Area under the precision-recall curve of a ranked list of detections.

    ``scores (K,)`` rank the detections, ``hit (K,)`` says which are true positives and
    ``n_positives`` counts the true objects (found or not: a missed object caps the recall).
    ``AP = sum over hits of (recall step) * precision``. With ``interpolated=True`` (PASCAL VOC
    since 2010, and COCO) each precision is first replaced by the best precision at any higher
    recall, which removes the curve's zig-zag; ``interpolated=False`` is scikit-learn's
    ``average_precision_score`` rule, where tied scores are one threshold (the curve is read
    after the last of them). ``recall_points=101`` is COCO's rule instead: the mean of
    the interpolated precision at recall 0, 0.01, ..., 1 (0 beyond the highest recall reached).
    Returns 0.0 when there is no true object.
    """
    if n_positives <= 0:
        return 0.0
    precision, recall = precision_recall(scores, hit, n_positives)
    if len(precision) == 0:
        return 0.0
    if not interpolated and recall_points is None:  # scikit-learn: a tie is one threshold
        ties_end = _last_of_each_tie(_rank(scores, hit, n_positives)[0])
        precision, recall = precision[ties_end], recall[ties_end]
    if interpolated:  # running maximum from the right: the precision envelope
        precision = precision.flip(0).cummax(0).values.flip(0)
    if recall_points is not None:
        levels = np.linspace(0.0, 1.0, recall_points)  # the same numbers as pycocotools
        first = np.searchsorted(recall.numpy(), levels, side="left")
        reached = first < len(precision)
        sampled = np.zeros(recall_points)
        sampled[reached] = precision.numpy()[first[reached]]
        return float(sampled.mean())
    steps = torch.diff(recall, prepend=recall.new_zeros(1))
    return float((steps * precision).sum())


def detection_average_precision(
    predictions: Sequence[tuple[torch.Tensor, torch.Tensor]],
    truths: Sequence[torch.Tensor],
    iou_threshold: float = 0.5,
    interpolated: bool = True,
    recall_points: int | None = None,
) -> float:
    """Average precision of a one-class detector over a set of images.

    ``predictions[i] = (boxes (K_i, 4) xyxy, scores (K_i,))`` and ``truths[i] = (G_i, 4)`` xyxy.
    Detections are matched image by image (``match_detections``) and then ranked together.
    With ``recall_points=101`` this is COCO's box AP of one class at one IoU threshold
    (``tests/test_average_precision_coco.py`` checks it against pycocotools 2.0.11).
    """
    if len(predictions) != len(truths):
        raise ValueError(f"{len(predictions)} predictions for {len(truths)} images")
    all_scores, all_hits = [torch.zeros(0)], [torch.zeros(0, dtype=torch.bool)]
    for (boxes, scores), truth in zip(predictions, truths, strict=True):
        all_hits.append(match_detections(boxes, scores, truth, iou_threshold))
        all_scores.append(scores.detach().cpu().float())
    n_positives = sum(len(t) for t in truths)
    return average_precision(
        torch.cat(all_scores),
        torch.cat(all_hits),
        n_positives,
        interpolated=interpolated,
        recall_points=recall_points,
    )


# --- pictures ----------------------------------------------------------------------------------


def draw_boxes(
    ax,
    boxes: torch.Tensor,
    color: str = "tab:red",
    scores=None,
    linewidth: float = 1.5,
    linestyle: str = "-",
    fmt: str = "xyxy",
) -> None:
    """Draw ``(N, 4)`` boxes on a matplotlib axis showing an image (``imshow`` pixel centres
    sit at integers, so pixel-edge coordinates are shifted by half a pixel), with scores."""
    from matplotlib.patches import Rectangle

    boxes = box_convert(torch.as_tensor(boxes).detach().cpu().float().reshape(-1, 4), fmt, "xyxy")
    for k, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
        ax.add_patch(
            Rectangle(
                (x1 - 0.5, y1 - 0.5),
                x2 - x1,
                y2 - y1,
                fill=False,
                edgecolor=color,
                linewidth=linewidth,
                linestyle=linestyle,
            )
        )
        if scores is not None:
            ax.text(
                x1 - 0.5, y1 - 1.0, f"{float(scores[k]):.2f}", color=color, fontsize=7, va="bottom"
            )


def _check_scores(scores, n: int) -> None:
    require_tensor(scores, "scores", ndim=1, shape_hint=f"of shape ({n},)")
    if len(scores) != n:
        raise ValueError(f"scores must have shape ({n},), one per box, got {tuple(scores.shape)}")


__all__ = [
    "BOX_FORMATS",
    "box_convert",
    "box_area",
    "box_iou",
    "paired_iou",
    "nms",
    "sliding_windows",
    "anchor_boxes",
    "roi_max_pool",
    "match_detections",
    "precision_recall",
    "average_precision",
    "detection_average_precision",
    "draw_boxes",
]
