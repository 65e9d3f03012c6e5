"""course_utils.detection against torchvision.ops and scikit-learn, on random boxes."""

import math

import pytest
import torch
from sklearn.metrics import average_precision_score
from torchvision import ops
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList

from course_utils import detection as D


def random_boxes(n: int, seed: int, size: float = 100.0, dtype=torch.float32) -> torch.Tensor:
    """n random xyxy boxes with positive width and height inside [0, size]^2."""
    g = torch.Generator().manual_seed(seed)
    corner = torch.rand(n, 2, generator=g, dtype=dtype) * size * 0.8
    extent = torch.rand(n, 2, generator=g, dtype=dtype) * size * 0.3 + 1.0
    return torch.cat([corner, corner + extent], dim=1)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("in_fmt", D.BOX_FORMATS)
@pytest.mark.parametrize("out_fmt", D.BOX_FORMATS)
def test_box_convert_matches_torchvision(seed, in_fmt, out_fmt):
    boxes = ops.box_convert(random_boxes(20, seed), "xyxy", in_fmt)
    torch.testing.assert_close(
        D.box_convert(boxes, in_fmt, out_fmt), ops.box_convert(boxes, in_fmt, out_fmt)
    )


def test_box_convert_round_trip_and_bad_format():
    boxes = random_boxes(10, 0, dtype=torch.float64)
    there = D.box_convert(boxes, "xyxy", "cxcywh")
    torch.testing.assert_close(D.box_convert(there, "cxcywh", "xyxy"), boxes)
    with pytest.raises(ValueError, match="unknown box format"):
        D.box_convert(boxes, "xyxy", "yxyx")
    with pytest.raises(ValueError, match="shape"):
        D.box_convert(boxes[:, :3], "xyxy", "xywh")


@pytest.mark.parametrize("seed", range(5))
def test_box_area_and_iou_match_torchvision(seed):
    a, b = random_boxes(17, seed), random_boxes(23, seed + 100)
    torch.testing.assert_close(D.box_area(a), ops.box_area(a))
    iou = D.box_iou(a, b)
    assert iou.shape == (17, 23)
    torch.testing.assert_close(iou, ops.box_iou(a, b))
    assert bool(((iou >= 0) & (iou <= 1)).all())
    torch.testing.assert_close(D.paired_iou(a, b[:17]), ops.box_iou(a, b[:17]).diagonal())


def test_box_iou_by_hand_and_integer_boxes():
    a = torch.tensor([[0, 0, 2, 2]])
    b = torch.tensor([[1, 1, 3, 3], [2, 2, 4, 4], [0, 0, 2, 2]])
    torch.testing.assert_close(D.box_iou(a, b), torch.tensor([[1 / 7, 0.0, 1.0]]))
    torch.testing.assert_close(D.box_iou(a, b), ops.box_iou(a, b))


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.7])
def test_nms_matches_torchvision(seed, threshold):
    boxes = random_boxes(60, seed, size=60.0)  # small canvas: many overlaps
    scores = torch.rand(60, generator=torch.Generator().manual_seed(seed))
    kept = D.nms(boxes, scores, threshold)
    assert kept.dtype == torch.int64
    torch.testing.assert_close(kept, ops.nms(boxes, scores, threshold))


def test_nms_edge_cases():
    empty = torch.zeros(0, 4)
    assert D.nms(empty, torch.zeros(0), 0.5).tolist() == []
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]])
    scores = torch.tensor([0.5, 0.9, 0.1])
    assert D.nms(boxes, scores, 0.5).tolist() == [1, 2]
    with pytest.raises(ValueError, match="scores"):
        D.nms(boxes, scores[:2], 0.5)


def test_sliding_windows():
    windows = D.sliding_windows((10, 12), (4, 6), stride=2)
    assert windows.shape == (((10 - 4) // 2 + 1) * ((12 - 6) // 2 + 1), 4)
    assert windows[0].tolist() == [0, 0, 6, 4] and windows[-1].tolist() == [6, 6, 12, 10]
    widths = windows[:, 2] - windows[:, 0]
    assert bool((widths == 6).all()) and float(windows[:, 3].max()) == 10
    with pytest.raises(ValueError, match="fit"):
        D.sliding_windows((10, 12), (20, 6), stride=2)


def test_anchor_boxes_shape_area_and_ratio():
    anchors = D.anchor_boxes((3, 5), stride=8, sizes=[8, 16], aspect_ratios=[0.5, 1.0, 2.0])
    assert anchors.shape == (3 * 5 * 6, 4)
    w, h = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    torch.testing.assert_close(w * h, torch.tensor([64.0, 256.0] * 3 * 15))
    torch.testing.assert_close(h / w, torch.tensor([0.5, 0.5, 1, 1, 2, 2] * 15))
    centres = D.box_convert(anchors, "xyxy", "cxcywh")[:, :2]
    assert centres[0].tolist() == [4.0, 4.0] and centres[-1].tolist() == [36.0, 20.0]


def test_anchor_boxes_match_torchvision_anchor_generator():
    sizes, ratios = (16, 32), (0.25, 1.0, 4.0)  # whole-pixel half-widths: no rounding
    generator = AnchorGenerator(sizes=(sizes,), aspect_ratios=(ratios,))
    images = ImageList(torch.zeros(1, 1, 64, 96), [(64, 96)])
    feature = torch.zeros(1, 8, 4, 6)  # stride 16
    expected = generator(images, [feature])[0]
    ours = D.anchor_boxes((4, 6), stride=16, sizes=sizes, aspect_ratios=ratios, offset=0.0)
    torch.testing.assert_close(ours, expected)


def test_match_detections():
    truth = torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]])
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 0, 10, 10], [20, 20, 29, 31], [50, 50, 60, 60]])
    scores = torch.tensor([0.9, 0.95, 0.5, 0.99])
    # box 1 (0.95) claims truth 0 first, box 0 (0.9) is then a duplicate
    assert D.match_detections(boxes, scores, truth).tolist() == [False, True, True, False]
    assert D.match_detections(boxes, scores, truth, iou_threshold=0.95).tolist() == [
        True,
        False,
        False,
        False,
    ]
    assert D.match_detections(boxes, scores, truth[:0]).tolist() == [False] * 4


def test_average_precision_by_hand():
    # ranked hits: T F T F, 3 true objects -> precisions 1, 2/3 at recalls 1/3, 2/3
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    hit = torch.tensor([True, False, True, False])
    assert D.average_precision(scores, hit, 3, interpolated=False) == pytest.approx((1 + 2 / 3) / 3)
    # envelope: F T T -> precisions 1/2, 2/3 become 2/3, 2/3
    hit2 = torch.tensor([False, True, True, False])
    assert D.average_precision(scores, hit2, 2) == pytest.approx(2 / 3)
    assert D.average_precision(scores, hit2, 2, interpolated=False) == pytest.approx(
        (1 / 2 + 2 / 3) / 2
    )
    assert D.average_precision(scores, hit, 0) == 0.0
    assert D.average_precision(torch.zeros(0), torch.zeros(0, dtype=torch.bool), 3) == 0.0


@pytest.mark.parametrize("seed", range(8))
def test_average_precision_matches_scikit_learn(seed):
    g = torch.Generator().manual_seed(seed)
    scores = torch.rand(50, generator=g)
    hit = torch.rand(50, generator=g) < 0.4
    hit[0] = True
    n_found = int(hit.sum())
    expected = average_precision_score(hit.numpy(), scores.numpy())
    assert D.average_precision(scores, hit, n_found, interpolated=False) == pytest.approx(expected)
    # objects never detected scale the recall steps down
    assert D.average_precision(scores, hit, n_found + 5, interpolated=False) == pytest.approx(
        expected * n_found / (n_found + 5)
    )
    assert D.average_precision(scores, hit, n_found) >= expected - 1e-12


def test_detection_average_precision_perfect_and_shifted():
    truths = [random_boxes(3, s) for s in range(4)]
    perfect = [(t, torch.rand(len(t))) for t in truths]
    assert D.detection_average_precision(perfect, truths) == pytest.approx(1.0)
    far = [(t + 500, torch.rand(len(t))) for t in truths]
    assert D.detection_average_precision(far, truths) == 0.0
    half = [(t[:1], torch.ones(1)) for t in truths]  # one of three found, each ranked first
    assert D.detection_average_precision(half, truths) == pytest.approx(4 / 12)
    with pytest.raises(ValueError, match="predictions"):
        D.detection_average_precision(perfect[:2], truths)


def test_draw_boxes_adds_one_rectangle_per_box():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    D.draw_boxes(ax, random_boxes(4, 0), scores=torch.rand(4))
    assert len(ax.patches) == 4 and len(ax.texts) == 4
    plt.close(fig)


def test_draw_boxes_draws_the_highest_score_last_so_its_label_is_on_top():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    same_corner = torch.tensor([[2.0, 2.0, 10.0, 10.0], [2.0, 2.0, 12.0, 9.0], [2, 2, 9, 12]])
    D.draw_boxes(ax, same_corner, scores=torch.tensor([0.9, 0.3, 0.6]))
    assert [text.get_text() for text in ax.texts] == ["0.30", "0.60", "0.90"]
    plt.close(fig)


def test_roi_max_pool_by_hand_and_against_torchvision():
    X = torch.arange(16.0).reshape(1, 1, 4, 4)
    rois = torch.tensor([[0.0, 0, 0, 20, 20], [0, 0, 10, 30, 30]])
    ours = D.roi_max_pool(X, rois, (2, 2), spatial_scale=0.1)
    assert ours.tolist() == [[[[5.0, 6.0], [9.0, 10.0]]], [[[9.0, 11.0], [13.0, 15.0]]]]
    torch.testing.assert_close(ours, ops.roi_pool(X, rois, (2, 2), spatial_scale=0.1))
    g = torch.Generator().manual_seed(0)
    features = torch.randn(2, 3, 12, 10, generator=g)
    boxes = random_boxes(15, 1, size=40.0)
    rois = torch.cat([torch.randint(0, 2, (15, 1), generator=g).float(), boxes], dim=1)
    for size, scale in (((2, 2), 0.25), ((3, 4), 0.25), ((7, 7), 0.3)):
        torch.testing.assert_close(
            D.roi_max_pool(features, rois, size, scale), ops.roi_pool(features, rois, size, scale)
        )


def test_small_faster_rcnn_trains_and_detects_on_micrographs():
    from course_utils.data import micrographs
    from course_utils.detectors import detect, small_faster_rcnn, train_detector

    torch.manual_seed(0)
    data = micrographs(6, size=64, seed=0)
    model = small_faster_rcnn(image_size=64)
    history = train_detector(model, data, iterations=2, batch_size=2, device=torch.device("cpu"))
    assert set(history) >= {
        "loss",
        "loss_objectness",
        "loss_rpn_box_reg",
        "loss_classifier",
        "loss_box_reg",
        "seconds",
    }
    assert len(history["loss"]) == 2 and all(math.isfinite(v) for v in history["loss"])
    results = detect(model, data.images[:3], device=torch.device("cpu"))
    assert len(results) == 3
    for boxes, scores in results:
        assert boxes.ndim == 2 and boxes.shape[1] == 4 and scores.shape == (len(boxes),)
        assert bool((boxes[:, 2:] >= boxes[:, :2]).all())


def test_average_precision_coco_101_points_by_hand():
    # envelope 1, 3/4, 3/4, 3/4, 3/5 at recalls 1/4, 1/4, 1/2, 3/4, 3/4: the 101 recall levels
    # 0..0.25 read 1 (26 levels), 0.26..0.75 read 3/4 (50), 0.76..1 were never reached (0)
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5])
    hit = torch.tensor([True, False, True, True, False])
    assert D.average_precision(scores, hit, 4, recall_points=101) == pytest.approx(
        (26 + 50 * 0.75) / 101
    )
    perfect = torch.tensor([True, True])
    assert D.average_precision(scores[:2], perfect, 2, recall_points=101) == pytest.approx(1.0)
    truths = [random_boxes(3, s) for s in range(3)]
    half = [(t[:1], torch.ones(1)) for t in truths]  # recall reaches 1/3 at precision 1
    assert D.detection_average_precision(half, truths, recall_points=101) == pytest.approx(34 / 101)
