"""A small Faster R-CNN (torchvision's) for one-channel micrographs, trained from scratch.

torchvision's ``FasterRCNN`` is assembled from parts: a backbone that makes a feature map, an
anchor generator and region proposal network (RPN), RoI Align, and a box head. Here the backbone
is a small CNN (four 3x3 convolutions and a max pool) with a stride of 4, small enough to train
on a CPU in a minute; nothing is downloaded. ``train_detector`` and ``detect`` are the plain
loops around it.
"""

from __future__ import annotations

import torch
from torch import nn

from course_utils.data import Micrographs
from course_utils.layers import conv_bn_relu
from course_utils.runtime import get_device
from course_utils.training import train_on_random_batches


def small_backbone(width: int = 64) -> nn.Sequential:
    """``(B, 1, H, W) -> (B, width, H/4, W/4)``: four 3x3 conv-BN-ReLU layers and a 2x2 max
    pool, stride 4 (2 from the first convolution, 2 from the pool)."""
    backbone = nn.Sequential(
        conv_bn_relu(1, width // 4, stride=2),
        conv_bn_relu(width // 4, width // 2),
        nn.MaxPool2d(2),
        conv_bn_relu(width // 2, width),
        conv_bn_relu(width, width),
    )
    backbone.out_channels = width  # FasterRCNN reads this
    return backbone


def small_faster_rcnn(
    image_size: int = 64,
    anchor_sizes=(8, 16, 24),
    aspect_ratios=(0.5, 1.0, 2.0),
    width: int = 64,
    image_mean: float = 0.25,
    image_std: float = 0.15,
):
    """torchvision's Faster R-CNN with ``small_backbone``, for two classes (background,
    particle), images of ``image_size`` pixels (not resized), anchors of ``anchor_sizes`` pixels.

    Weights are random: nothing is downloaded.
    """
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.ops import MultiScaleRoIAlign

    anchors = AnchorGenerator(sizes=(tuple(anchor_sizes),), aspect_ratios=(tuple(aspect_ratios),))
    roi_align = MultiScaleRoIAlign(featmap_names=["0"], output_size=7, sampling_ratio=2)
    return FasterRCNN(
        small_backbone(width),
        num_classes=None,
        rpn_anchor_generator=anchors,
        box_roi_pool=roi_align,
        box_head=TwoMLPHead(width * 7 * 7, 128),
        box_predictor=FastRCNNPredictor(128, 2),
        min_size=image_size,
        max_size=image_size,
        image_mean=[image_mean],
        image_std=[image_std],
        rpn_pre_nms_top_n_train=200,
        rpn_post_nms_top_n_train=100,
        rpn_pre_nms_top_n_test=200,
        rpn_post_nms_top_n_test=50,
        rpn_batch_size_per_image=64,
        box_batch_size_per_image=32,
        box_detections_per_img=20,
        box_score_thresh=0.01,
    )


def train_detector(
    model: nn.Module,
    data: Micrographs,
    iterations: int,
    batch_size: int = 8,
    lr: float = 0.02,
    device: torch.device | None = None,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Train a torchvision detector on random mini-batches of micrographs with SGD.

    Returns the history ``{"loss": [...], <each of the model's four losses>: [...],
    "seconds": total}``, one value per iteration.
    """
    device = device or get_device()
    model.to(device).train()

    def batch_losses(batch: torch.Tensor) -> dict[str, torch.Tensor]:
        indices = batch.tolist()
        images = [data.images[i].to(device) for i in indices]
        targets = [
            {k: v.to(device) for k, v in data.detection_target(i).items() if k != "masks"}
            for i in indices
        ]
        return model(images, targets)

    return train_on_random_batches(model, batch_losses, len(data), iterations, batch_size, lr, seed)


@torch.no_grad()
def detect(
    model: nn.Module, images: torch.Tensor, device: torch.device | None = None, batch_size: int = 32
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Boxes ``(K_i, 4)`` xyxy and scores ``(K_i,)``, on the CPU, of each image ``(N, 1, H, W)``."""
    device = device or get_device()
    model.to(device).eval()
    results = []
    for start in range(0, len(images), batch_size):
        outputs = model([image.to(device) for image in images[start : start + batch_size]])
        results += [(o["boxes"].cpu(), o["scores"].cpu()) for o in outputs]
    return results
