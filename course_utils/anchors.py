"""Anchors as a training target: labelling anchors by IoU, and the offsets a detector regresses.

A detector with anchors learns two things per anchor: a class (an object or background) and four
offsets that move the anchor onto its object. This module makes those training targets from the
true boxes, and turns predicted offsets back into boxes:

* ``match_anchors``: each anchor's true box by IoU (torchvision's ``Matcher``, the same numbers);
* ``encode_offsets`` / ``decode_offsets``: the R-CNN box parametrisation
  (torchvision's ``BoxCoder``, the same numbers);
* ``multiscale_anchors``: anchors of several feature maps, concatenated
  (torchvision's ``AnchorGenerator`` with several maps, the same boxes when ``offset=0``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from course_utils.detection import anchor_boxes, box_iou

BELOW_LOW = -1  # background: IoU with every true box below the low threshold
BETWEEN = -2  # ignored: neither clearly object nor clearly background
DEFAULT_CLIP = math.log(1000.0 / 16)  # torchvision's cap on exp(dw), exp(dh)


def match_anchors(
    anchors: torch.Tensor,
    truth: torch.Tensor,
    high: float = 0.5,
    low: float = 0.4,
    allow_low_quality: bool = True,
) -> torch.Tensor:
    """The true box each anchor is responsible for: ``(A, 4)``, ``(G, 4)`` xyxy -> ``(A,)`` int64.

    Entry ``a`` is the index of the true box of highest IoU with anchor ``a`` when that IoU is at
    least ``high``; ``BELOW_LOW`` (-1, background) when it is below ``low``; ``BETWEEN`` (-2,
    ignored in the loss) in between. With ``allow_low_quality``, the anchor(s) of highest IoU with
    each true box are matched whatever that IoU, so no object is left without an anchor (ties
    all count; a matched anchor takes the box it overlaps most).
    """
    if len(truth) == 0:
        return torch.full((len(anchors),), BELOW_LOW, dtype=torch.int64, device=anchors.device)
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"need 0 <= low <= high <= 1, got low={low}, high={high}")
    iou = box_iou(truth, anchors)  # (G, A)
    best_iou, best_box = iou.max(dim=0)  # per anchor
    matches = best_box.clone()
    matches[best_iou < low] = BELOW_LOW
    matches[(best_iou >= low) & (best_iou < high)] = BETWEEN
    if allow_low_quality:
        best_for_each_box = iou.max(dim=1, keepdim=True).values  # (G, 1)
        anchors_to_keep = torch.nonzero(iou == best_for_each_box)[:, 1]
        matches[anchors_to_keep] = best_box[anchors_to_keep]
    return matches


def _centres_sizes(boxes: torch.Tensor) -> tuple[torch.Tensor, ...]:
    widths, heights = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return boxes[:, 0] + 0.5 * widths, boxes[:, 1] + 0.5 * heights, widths, heights


def encode_offsets(
    boxes: torch.Tensor, anchors: torch.Tensor, weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0)
) -> torch.Tensor:
    """Offsets ``(N, 4)`` that move each anchor onto its box, both ``(N, 4)`` xyxy.

    ``t_x = w_x (c_x - a_x) / a_w``, ``t_y = w_y (c_y - a_y) / a_h``, ``t_w = w_w log(w / a_w)``,
    ``t_h = w_h log(h / a_h)``: shifts in units of the anchor's size and log scale factors, so
    a small and a large object that are equally far off give the same numbers. The ``weights``
    scale the four to similar spreads (SSD uses 10, 10, 5, 5).
    """
    if boxes.shape != anchors.shape or boxes.ndim != 2 or boxes.shape[-1] != 4:
        raise ValueError(
            f"boxes {tuple(boxes.shape)} and anchors {tuple(anchors.shape)} must both be (N, 4)"
        )
    wx, wy, ww, wh = weights
    ax, ay, aw, ah = _centres_sizes(anchors)
    bx, by, bw, bh = _centres_sizes(boxes)
    return torch.stack(
        [
            wx * (bx - ax) / aw,
            wy * (by - ay) / ah,
            ww * torch.log(bw / aw),
            wh * torch.log(bh / ah),
        ],
        dim=1,
    )


def decode_offsets(
    offsets: torch.Tensor,
    anchors: torch.Tensor,
    weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
    clip: float = DEFAULT_CLIP,
) -> torch.Tensor:
    """The inverse of ``encode_offsets``: ``(N, 4)`` offsets and anchors -> ``(N, 4)`` xyxy boxes.

    The log scale factors are capped at ``clip`` (as torchvision does) so that an untrained
    network cannot overflow ``exp``.
    """
    if offsets.shape != anchors.shape or offsets.ndim != 2 or offsets.shape[-1] != 4:
        raise ValueError(
            f"offsets {tuple(offsets.shape)} and anchors {tuple(anchors.shape)} must both be (N, 4)"
        )
    wx, wy, ww, wh = weights
    ax, ay, aw, ah = _centres_sizes(anchors.to(offsets.dtype))
    cx = offsets[:, 0] / wx * aw + ax
    cy = offsets[:, 1] / wy * ah + ay
    w = torch.exp((offsets[:, 2] / ww).clamp(max=clip)) * aw
    h = torch.exp((offsets[:, 3] / wh).clamp(max=clip)) * ah
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=1)


def multiscale_anchors(
    image_size: tuple[int, int],
    strides: Sequence[int],
    sizes: Sequence[Sequence[float]],
    aspect_ratios: Sequence[float],
    offset: float = 0.5,
) -> torch.Tensor:
    """Anchors of several feature maps, finest first: ``(sum_k H_k W_k A_k, 4)`` xyxy.

    Feature map ``k`` has stride ``strides[k]`` (``ceil(H / stride)`` cells down) and carries the
    anchors of ``sizes[k]``: small anchors on the fine maps, large ones on the coarse maps, so each
    object is found at the resolution that suits it.
    """
    if len(strides) != len(sizes):
        raise ValueError(f"{len(strides)} strides but {len(sizes)} groups of sizes")
    height, width = image_size
    return torch.cat(
        [
            anchor_boxes(
                (math.ceil(height / s), math.ceil(width / s)), s, sz, aspect_ratios, offset=offset
            )
            for s, sz in zip(strides, sizes, strict=True)
        ]
    )
