"""Anchor labelling, offset coding and multiscale anchors against torchvision's own parts."""

import pytest
import torch
from torchvision.models.detection._utils import BoxCoder, Matcher
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList

from course_utils.anchors import (
    BELOW_LOW,
    BETWEEN,
    decode_offsets,
    encode_offsets,
    match_anchors,
    multiscale_anchors,
)
from course_utils.detection import box_iou


def random_boxes(n, seed, size=64.0, dtype=torch.float32):
    generator = torch.Generator().manual_seed(seed)
    corner = torch.rand(n, 2, generator=generator, dtype=dtype) * size * 0.8
    extent = 2 + torch.rand(n, 2, generator=generator, dtype=dtype) * size * 0.3
    return torch.cat([corner, corner + extent], 1)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    ("high", "low", "low_quality"), [(0.5, 0.4, True), (0.7, 0.3, True), (0.5, 0.5, False)]
)
def test_match_anchors_equals_torchvision_matcher(seed, high, low, low_quality):
    anchors, truth = random_boxes(400, seed), random_boxes(1 + seed * 2, 100 + seed)
    expected = Matcher(high, low, low_quality)(box_iou(truth, anchors))
    ours = match_anchors(anchors, truth, high, low, low_quality)
    assert ours.dtype == torch.int64
    assert torch.equal(ours, expected)
    assert (ours >= 0).any()


def test_every_object_gets_an_anchor_with_low_quality_matches():
    anchors = torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]])
    tiny = torch.tensor([[0.0, 0, 3, 3]])  # IoU 0.09 with the first anchor
    assert match_anchors(anchors, tiny).tolist() == [0, BELOW_LOW]
    assert match_anchors(anchors, tiny, allow_low_quality=False).tolist() == [BELOW_LOW] * 2
    half = torch.tensor([[0.0, 0, 10, 4.5]])  # IoU 0.45: between the thresholds
    assert match_anchors(anchors, half, allow_low_quality=False).tolist() == [BETWEEN, BELOW_LOW]


def test_no_truth_means_all_background():
    assert match_anchors(random_boxes(5, 0), torch.zeros(0, 4)).tolist() == [BELOW_LOW] * 5


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_offsets_equal_torchvision_box_coder(weights, dtype):
    anchors, boxes = random_boxes(300, 1, dtype=dtype), random_boxes(300, 2, dtype=dtype)
    coder = BoxCoder(weights)
    encoded = encode_offsets(boxes, anchors, weights)
    assert encoded.dtype == dtype
    torch.testing.assert_close(encoded, coder.encode_single(boxes, anchors))
    offsets = torch.randn(300, 4, dtype=dtype) * 3
    torch.testing.assert_close(
        decode_offsets(offsets, anchors, weights), coder.decode_single(offsets, anchors)
    )
    torch.testing.assert_close(decode_offsets(encoded, anchors, weights), boxes)


def test_decode_caps_huge_scale_factors_like_torchvision():
    anchors = torch.tensor([[0.0, 0.0, 16.0, 16.0]])
    offsets = torch.tensor([[0.0, 0.0, 50.0, 50.0]])
    decoded = decode_offsets(offsets, anchors)
    assert torch.isfinite(decoded).all()
    torch.testing.assert_close(
        decoded, BoxCoder((1.0, 1.0, 1.0, 1.0)).decode_single(offsets, anchors)
    )


def test_offset_shapes_are_checked():
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        encode_offsets(torch.zeros(3, 4), torch.zeros(2, 4))


def test_multiscale_anchors_equal_anchor_generator_on_several_maps():
    sizes, ratios, strides = ((16, 32), (64,)), (0.25, 1.0, 4.0), (8, 16)
    generator = AnchorGenerator(sizes=sizes, aspect_ratios=(ratios, ratios))
    feature_maps = [torch.zeros(1, 4, 8, 12), torch.zeros(1, 4, 4, 6)]
    expected = generator(ImageList(torch.zeros(1, 1, 64, 96), [(64, 96)]), feature_maps)[0]
    ours = multiscale_anchors((64, 96), strides, sizes, ratios, offset=0.0)
    assert ours.shape == (8 * 12 * 6 + 4 * 6 * 3, 4)
    torch.testing.assert_close(ours, expected)
