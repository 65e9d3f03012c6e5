"""A small one-stage detector in the manner of SSD, for one-channel micrographs.

SSD (Liu et al., 2016) has no proposal stage: one CNN makes feature maps at several resolutions,
and on each map a 3x3 convolution predicts, for every anchor of every cell, class scores
(background or an object class) and four offsets. Training labels every anchor by IoU
(``course_utils.anchors.match_anchors``), regresses the offsets of the matched anchors
(``encode_offsets`` with SSD's weights 10, 10, 5, 5), and keeps the flood of easy background
anchors in check by *hard negative mining*: only the negatives with the highest loss, three per
positive, count. Detection decodes every anchor, drops low scores, and runs NMS.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from course_utils.anchors import decode_offsets, encode_offsets, match_anchors, multiscale_anchors
from course_utils.data import Micrographs
from course_utils.detection import nms
from course_utils.layers import conv_bn_relu
from course_utils.runtime import get_device
from course_utils.training import train_on_random_batches

SSD_WEIGHTS = (10.0, 10.0, 5.0, 5.0)


class TinySSD(nn.Module):
    """``(B, 1, H, W) -> (class logits (B, N, 2), offsets (B, N, 4))`` for ``N`` anchors.

    A stride-4 trunk, then two stride-2 stages: feature maps of strides 4, 8 and 16, each with a
    3x3 class head and a 3x3 box head. ``anchor_sizes[k]`` are the anchor sides (pixels) of map
    ``k``; every size comes in every aspect ratio of ``aspect_ratios``.
    """

    strides = (4, 8, 16)

    def __init__(
        self,
        image_size: int = 64,
        width: int = 32,
        anchor_sizes: Sequence[Sequence[float]] = ((6, 9), (12, 16), (20, 26)),
        aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0),
        image_mean: float = 0.25,
        image_std: float = 0.15,
    ):
        super().__init__()
        self.image_mean, self.image_std = image_mean, image_std
        self.anchors_per_cell = len(aspect_ratios) * len(anchor_sizes[0])
        if any(len(sizes) != len(anchor_sizes[0]) for sizes in anchor_sizes):
            raise ValueError("every feature map needs the same number of anchor sizes")
        self.stages = nn.ModuleList(
            [
                nn.Sequential(
                    conv_bn_relu(1, width // 2, stride=2),
                    conv_bn_relu(width // 2, width),
                    nn.MaxPool2d(2),
                    conv_bn_relu(width, width),
                ),
                nn.Sequential(conv_bn_relu(width, width, stride=2), conv_bn_relu(width, width)),
                nn.Sequential(conv_bn_relu(width, width, stride=2), conv_bn_relu(width, width)),
            ]
        )
        self.class_heads = nn.ModuleList(
            [nn.Conv2d(width, self.anchors_per_cell * 2, 3, padding=1) for _ in self.strides]
        )
        self.box_heads = nn.ModuleList(
            [nn.Conv2d(width, self.anchors_per_cell * 4, 3, padding=1) for _ in self.strides]
        )
        self.register_buffer(
            "anchors",
            multiscale_anchors((image_size, image_size), self.strides, anchor_sizes, aspect_ratios),
        )

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        X = (images - self.image_mean) / self.image_std
        logits, offsets = [], []
        for stage, class_head, box_head in zip(
            self.stages, self.class_heads, self.box_heads, strict=True
        ):
            X = stage(X)
            # (B, A*k, H', W') -> (B, H', W', A*k) -> (B, H'*W'*A, k): cell by cell, anchor by
            # anchor, the order of anchor_boxes.
            logits.append(class_head(X).permute(0, 2, 3, 1).reshape(len(X), -1, 2))
            offsets.append(box_head(X).permute(0, 2, 3, 1).reshape(len(X), -1, 4))
        return torch.cat(logits, dim=1), torch.cat(offsets, dim=1)


def ssd_targets(
    anchors: torch.Tensor, truths: Sequence[torch.Tensor], high: float = 0.5, low: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Training targets of a batch: labels ``(B, N)`` int64 (1 object, 0 background, -1 ignore)
    and offsets ``(B, N, 4)`` (meaningful where the label is 1)."""
    labels, offsets = [], []
    for truth in truths:
        matches = match_anchors(anchors, truth.to(anchors.device), high=high, low=low)
        label = (matches >= 0).long()
        label[matches == -2] = -1
        matched_boxes = truth.to(anchors.device)[matches.clamp(min=0)] if len(truth) else anchors
        labels.append(label)
        offsets.append(encode_offsets(matched_boxes, anchors, SSD_WEIGHTS))
    return torch.stack(labels), torch.stack(offsets)


def ssd_loss(
    logits: torch.Tensor,
    offsets: torch.Tensor,
    labels: torch.Tensor,
    target_offsets: torch.Tensor,
    negatives_per_positive: int = 3,
) -> dict:
    """SSD's loss: cross-entropy over the positives and the hardest negatives, smooth L1 over the
    positives' offsets, both divided by the number of positives. Returns both terms."""
    positive = labels == 1
    n_positive = positive.sum(dim=1, keepdim=True)  # (B, 1)
    ce = F.cross_entropy(logits.transpose(1, 2), labels.clamp(min=0), reduction="none")  # (B, N)
    negative_loss = ce.masked_fill(labels != 0, -float("inf"))
    rank = negative_loss.argsort(dim=1, descending=True).argsort(dim=1)
    hard_negative = (rank < negatives_per_positive * n_positive.clamp(min=1)) & (labels == 0)
    normaliser = n_positive.sum().clamp(min=1)
    classification = (ce * (positive | hard_negative)).sum() / normaliser
    regression = (
        F.smooth_l1_loss(offsets[positive], target_offsets[positive], reduction="sum") / normaliser
    )
    return {"classification": classification, "box_regression": regression}


def train_ssd(
    model: TinySSD,
    data: Micrographs,
    iterations: int,
    batch_size: int = 16,
    lr: float = 0.01,
    device: torch.device | None = None,
    seed: int = 0,
) -> dict:
    """Train on random mini-batches with SGD and a one-cycle schedule; returns the history
    ``{"loss", "classification", "box_regression": per iteration, "seconds": [total]}``."""
    device = device or get_device()
    model.to(device).train()
    labels, targets = ssd_targets(model.anchors.cpu(), data.boxes)  # every image, once

    def batch_losses(batch: torch.Tensor) -> dict[str, torch.Tensor]:
        logits, offsets = model(data.images[batch].to(device))
        return ssd_loss(logits, offsets, labels[batch].to(device), targets[batch].to(device))

    return train_on_random_batches(model, batch_losses, len(data), iterations, batch_size, lr, seed)


@torch.no_grad()
def ssd_detect(
    model: TinySSD,
    images: torch.Tensor,
    score_threshold: float = 0.05,
    iou_threshold: float = 0.45,
    max_detections: int = 20,
    device: torch.device | None = None,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Boxes ``(K_i, 4)`` xyxy and scores ``(K_i,)``, on the CPU, for each image ``(B, 1, H, W)``:
    every anchor decoded, scores below ``score_threshold`` dropped, NMS, the best
    ``max_detections`` kept, boxes clipped to the image."""
    device = device or get_device()
    model.to(device).eval()
    logits, offsets = model(images.to(device))
    scores = logits.softmax(dim=-1)[..., 1].cpu()
    anchors, (height, width) = model.anchors.cpu(), images.shape[-2:]
    results = []
    for image_scores, image_offsets in zip(scores, offsets.cpu(), strict=True):
        keep = image_scores >= score_threshold
        boxes = decode_offsets(image_offsets[keep], anchors[keep], SSD_WEIGHTS)
        boxes = torch.stack(
            [
                boxes[:, 0].clamp(0, width),
                boxes[:, 1].clamp(0, height),
                boxes[:, 2].clamp(0, width),
                boxes[:, 3].clamp(0, height),
            ],
            dim=1,
        )
        kept = nms(boxes, image_scores[keep], iou_threshold)[:max_detections]
        results.append((boxes[kept], image_scores[keep][kept]))
    return results
