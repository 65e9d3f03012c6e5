"""The small inputs on which the course's code once disagreed with its peers (issue 16): each now
gives the peer's answer, or a clear refusal (a TypeError or ValueError that names the argument
and says what to pass), never an error from deep inside PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch
import torchvision.ops as tvo
from sklearn.metrics import average_precision_score
from torch import nn
from torch.nn import functional as F

from course_utils import conv, detection, filters, layers, normalization, segmentation, signals


@pytest.mark.parametrize("dtype", [torch.int8, torch.int16, torch.uint8])
def test_box_area_of_narrow_integer_boxes_is_widened_like_torchvision(dtype):
    side = 100 if dtype == torch.int8 else 200
    boxes = torch.tensor([[0, 0, side, side]], dtype=dtype)
    area = detection.box_area(boxes)
    assert area.tolist() == [side * side] == tvo.box_area(boxes).tolist()
    assert area.dtype == tvo.box_area(boxes).dtype == torch.int32


def test_float16_boxes_of_900_by_650_pixels_have_finite_areas_and_ious():
    boxes = torch.tensor([[10.0, 20.0, 910.0, 670.0], [12.0, 18.0, 905.0, 668.0]]).half()
    torch.testing.assert_close(detection.box_area(boxes), tvo.box_area(boxes))
    iou = detection.box_iou(boxes, boxes)
    assert bool(torch.isfinite(iou).all())
    torch.testing.assert_close(iou, tvo.box_iou(boxes, boxes))


def test_disjoint_uint8_boxes_do_not_overlap():
    a = torch.tensor([[0, 0, 10, 10]], dtype=torch.uint8)
    b = torch.tensor([[20, 20, 30, 30]], dtype=torch.uint8)
    assert detection.box_iou(a, b).tolist() == [[0.0]]
    assert detection.paired_iou(a, b).tolist() == [0.0]


def test_tied_scores_form_one_threshold_as_in_scikit_learn():
    ap = detection.average_precision(
        torch.tensor([0.5, 0.5]), torch.tensor([True, False]), 1, interpolated=False
    )
    assert ap == 0.5 == average_precision_score([1, 0], [0.5, 0.5])


def test_average_precision_refuses_nan_scores_and_impossible_counts():
    with pytest.raises(ValueError, match="NaN"):
        detection.average_precision(torch.tensor([float("nan"), 0.5]), torch.tensor([1, 0]), 1)
    with pytest.raises(ValueError, match="n_positives"):
        detection.average_precision(torch.tensor([0.9, 0.5]), torch.tensor([1, 1]), 1)
    with pytest.raises(ValueError, match="equally long"):
        detection.average_precision(torch.tensor([0.9, 0.5]), torch.tensor([1]), 1)


def test_fft_convolve_with_an_empty_input_is_empty_as_in_scipy():
    for f, g in [(torch.tensor([5.0, 6.0]), torch.zeros(0)), (torch.zeros(0), torch.zeros(0))]:
        result = signals.fft_convolve(f, g)
        assert result.shape == scipy.signal.fftconvolve(f.numpy(), g.numpy()).shape == (0,)


def test_fft_convolution_of_float16_runs_in_float32_as_in_scipy():
    f, g = torch.tensor([1.0, 2.0, 3.0]).half(), torch.tensor([1.0, -1.0]).half()
    expected = scipy.signal.fftconvolve(f.numpy(), g.numpy())
    result = signals.fft_convolve(f, g)
    assert result.dtype == torch.float32 and expected.dtype == np.float32
    np.testing.assert_allclose(result.numpy(), expected, atol=1e-5)
    X, K = torch.arange(12.0).reshape(3, 4).half(), torch.ones(2, 2).half()
    torch.testing.assert_close(
        conv.corr2d_fft(X, K), F.conv2d(X[None, None].float(), K[None, None].float())[0, 0]
    )


def test_integer_max_pooling_matches_max_pool2d():
    X = torch.arange(16).reshape(4, 4)
    assert conv.pool2d(X, 2).tolist() == [[5, 7], [13, 15]]
    assert conv.pool2d(X, 2).tolist() == F.max_pool2d(X[None], 2)[0].tolist()
    padded = conv.pool2d(X.to(torch.int8) - 20, 3, stride=2, padding=1)
    assert padded.tolist() == F.max_pool2d((X.to(torch.int8) - 20)[None], 3, 2, 1)[0].tolist()


def test_batchnorm_state_dicts_move_both_ways():
    ours = normalization.BatchNorm(3)
    ours.load_state_dict(nn.BatchNorm2d(3).state_dict())
    nn.BatchNorm2d(3).load_state_dict(ours.state_dict())
    ours(torch.randn(4, 3, 2, 2))
    assert int(ours.num_batches_tracked) == 1


def test_batchnorm_without_momentum_keeps_a_cumulative_average():
    torch.manual_seed(0)
    ours, theirs = normalization.BatchNorm(2, momentum=None), nn.BatchNorm2d(2, momentum=None)
    for _ in range(4):
        X = torch.randn(5, 2, 3, 3)
        torch.testing.assert_close(ours(X), theirs(X))
    torch.testing.assert_close(ours.running_mean, theirs.running_mean)
    torch.testing.assert_close(ours.running_var, theirs.running_var)


def test_empty_images_filter_to_empty_images_as_in_scipy():
    image = torch.zeros(0, 5)
    assert filters.gaussian_blur(image, 1.0).shape == (0, 5)
    assert filters.filter2d(image, torch.ones(3, 3)).shape == (0, 5)
    assert filters.sobel(torch.zeros(4, 0), 1).shape == (4, 0)


# Each case: a call that the peer refuses or answers in a way the course does not teach, the
# exception it must raise, and words the message must contain (what is wrong, what to pass).
REFUSALS = [
    (
        lambda: conv.corr2d_unfold(torch.ones(3, 3, dtype=torch.long), torch.ones(2, 2).long()),
        TypeError,
        r"float tensor.*X\.float\(\)",
    ),
    (lambda: conv.corr2d(torch.ones(3, 3), torch.zeros(0, 0)), ValueError, "empty"),
    (lambda: conv.corr2d(torch.ones(3, 3, dtype=torch.bool), torch.ones(2, 2)), TypeError, "bool"),
    (
        lambda: conv.pool2d(torch.ones(4, 4, dtype=torch.long), 2, mode="avg"),
        TypeError,
        r"X\.float\(\)",
    ),
    (lambda: conv.pool2d(torch.ones(4, 4, dtype=torch.bool), 2), TypeError, "bool"),
    (lambda: conv.pool2d(torch.zeros(0, 4), 2), ValueError, "empty"),
    (lambda: conv.pool2d(torch.ones(4, 4), 2.0), TypeError, "pool_size must be an int"),
    (
        lambda: filters.sobel(torch.zeros(4, 4, dtype=torch.uint8), 0),
        TypeError,
        r"image\.float\(\)",
    ),
    (
        lambda: filters.gaussian_blur(torch.zeros(4, 4, dtype=torch.long), 1.0),
        TypeError,
        "float tensor",
    ),
    (
        lambda: filters.gradient_magnitude(torch.zeros(4, 4, dtype=torch.uint8), "central"),
        TypeError,
        "float tensor",
    ),
    (lambda: filters.filter2d(np.zeros((4, 4)), torch.ones(3, 3)), TypeError, "torch.Tensor"),
    (lambda: signals.fft_convolve(torch.ones(3), torch.ones(2, 2)), ValueError, "same number"),
    (
        lambda: signals.autocorrelation(torch.ones(4, dtype=torch.complex64)),
        TypeError,
        "must be real",
    ),
    (
        lambda: segmentation.otsu_threshold_image(np.array([[True, False], [False, False]])),
        TypeError,
        "boolean image",
    ),
    (
        lambda: segmentation.histogram(np.zeros((2, 2), dtype=np.complex128)),
        TypeError,
        "grey levels",
    ),
    (
        lambda: normalization.batch_norm(
            torch.ones(4, 2, dtype=torch.long),
            torch.ones(2),
            torch.zeros(2),
            torch.zeros(2),
            torch.ones(2),
            True,
        ),
        TypeError,
        "float tensor",
    ),
    (
        lambda: normalization.layer_norm(torch.ones(4, 2, dtype=torch.long), 1),
        TypeError,
        "float tensor",
    ),
    (lambda: layers.adaptive_pool1d(torch.arange(6)[None], 3), TypeError, "float tensor"),
    (
        lambda: layers.corr2d_multi_in(torch.ones(0, 3, 3), torch.ones(0, 2, 2)),
        ValueError,
        "c_i >= 1",
    ),
    (
        lambda: detection.box_iou(torch.ones(2, 4, dtype=torch.complex64), torch.ones(1, 4)),
        TypeError,
        "must be real",
    ),
    (lambda: detection.nms(torch.ones(2, 4), [0.5, 0.4], 0.5), TypeError, "scores"),
    (lambda: signals.next_fast_length(2.5), ValueError, "positive int"),
    (
        lambda: signals.kde_by_convolution(
            torch.tensor([0.0, float("nan")]), torch.linspace(-1, 1, 5), 0.5
        ),
        ValueError,
        "NaN",
    ),
]


@pytest.mark.parametrize("call, error, words", REFUSALS)
def test_unsupported_inputs_are_refused_in_one_clear_sentence(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_momentum_none_is_accepted_like_pytorch():
    layer = normalization.BatchNorm(2, momentum=None)
    layer(torch.randn(3, 2))
    assert "momentum=None" in repr(layer)


# --- every public function: an odd input gives an answer or a clear refusal ----------------------


def _odd_images():
    base = torch.arange(1.0, 26.0).reshape(5, 5) % 7
    odd = {
        str(dtype).removeprefix("torch."): base.to(dtype)
        for dtype in (
            torch.int64,
            torch.uint8,
            torch.uint16,  # microscopy's usual dtype; PyTorch has few kernels for it
            torch.bool,
            torch.float16,
            torch.float64,
            torch.complex64,
        )
    }
    odd.update(
        {
            "empty": torch.zeros(0, 5),
            "one pixel": torch.ones(1, 1),
            "nan": torch.full((5, 5), float("nan")),
            "transposed": base.T,
            "list": base.tolist(),
        }
    )
    return odd


def _first_row(X):
    return X[0] if isinstance(X, torch.Tensor) and X.ndim == 2 and len(X) else X


def _channels(X):
    return X[None] if isinstance(X, torch.Tensor) else X


IMAGE_FUNCTIONS = {
    "corr2d": lambda X: conv.corr2d(X, torch.ones(2, 2)),
    "corr2d_unfold": lambda X: conv.corr2d_unfold(X, torch.ones(1, 1)),
    "corr2d_fft": lambda X: conv.corr2d_fft(X, torch.ones(2, 2)),
    "pool2d max": lambda X: conv.pool2d(X, 2),
    "pool2d avg": lambda X: conv.pool2d(X, 2, mode="avg"),
    "filter2d": lambda X: filters.filter2d(X, torch.ones(3, 3)),
    "pad2d": lambda X: filters.pad2d(X, 1, 1),
    "gaussian_blur": lambda X: filters.gaussian_blur(X, 1.0),
    "sobel": lambda X: filters.sobel(X, 0),
    "gradient_magnitude": lambda X: filters.gradient_magnitude(X, "central"),
    "unsharp_mask": lambda X: filters.unsharp_mask(X, 1.0),
    "match_template": lambda X: filters.match_template(X, torch.ones(2, 2)),
    "scale_to_255": filters.scale_to_255,
    "window_sums": lambda X: filters.window_sums(X, 2, 2),
    "frequency_response": filters.frequency_response,
    "pass_type": filters.pass_type,
    "psnr": lambda X: filters.psnr(X, X),
    "fft_convolve": lambda X: signals.fft_convolve(X, X),
    "conv1d_full": lambda X: signals.conv1d_full(_first_row(X), _first_row(X)),
    "autocorrelation": lambda X: signals.autocorrelation(_first_row(X)),
    "corr2d_multi_in": lambda X: layers.corr2d_multi_in(_channels(X), torch.ones(1, 2, 2)),
    "conv1x1_as_matmul": lambda X: layers.conv1x1_as_matmul(_channels(X), torch.ones(2, 1, 1, 1)),
    "adaptive_pool1d": lambda X: layers.adaptive_pool1d(X, 3),
    "batch_norm": lambda X: normalization.batch_norm(
        X, torch.ones(5), torch.zeros(5), torch.zeros(5), torch.ones(5), True
    ),
    "BatchNorm": lambda X: normalization.BatchNorm(5)(X),
    "layer_norm": lambda X: normalization.layer_norm(X, 1),
    "LayerNorm": lambda X: normalization.LayerNorm(5)(X),
    "histogram": segmentation.histogram,
    "otsu_threshold_image": segmentation.otsu_threshold_image,
    "kmeans": lambda X: segmentation.kmeans(X, 2),
    "label_components": segmentation.label_components,
    "iou_score": lambda X: segmentation.iou_score(X, X),
}

ODD_BOXES = {
    "int16": torch.tensor([[0, 0, 200, 200]], dtype=torch.int16),
    "uint16": torch.tensor([[0, 0, 60000, 50000]], dtype=torch.uint16),
    "uint32": torch.tensor([[0, 0, 3_000_000_000, 2]], dtype=torch.uint32),
    "bool": torch.ones(2, 4, dtype=torch.bool),
    "float16": torch.tensor([[0.0, 0.0, 900.0, 650.0]]).half(),
    "empty": torch.zeros(0, 4),
    "nan": torch.full((1, 4), float("nan")),
    "list": [[0, 0, 1, 1]],
    "three columns": torch.zeros(2, 3),
    "complex": torch.zeros(1, 4, dtype=torch.complex64),
}

BOX_FUNCTIONS = {
    "box_area": detection.box_area,
    "box_iou": lambda b: detection.box_iou(b, b),
    "paired_iou": lambda b: detection.paired_iou(b, b),
    "box_convert": lambda b: detection.box_convert(b, "cxcywh", "xyxy"),
    "nms": lambda b: detection.nms(b, torch.ones(len(b)), 0.5),
    "match_detections": lambda b: detection.match_detections(b, torch.ones(len(b)), b),
}


@pytest.mark.parametrize("name", sorted(IMAGE_FUNCTIONS))
def test_image_functions_answer_or_refuse_clearly(name):
    """No input ends in an error from inside PyTorch (RuntimeError, AttributeError, ...)."""
    for label, X in _odd_images().items():
        try:
            IMAGE_FUNCTIONS[name](X)
        except (TypeError, ValueError) as error:
            assert str(error) and "\n" not in str(error), (label, error)
        except Exception as error:  # noqa: BLE001 - the point of the test
            pytest.fail(f"{name} on a {label} input: {type(error).__name__}: {error}")


@pytest.mark.parametrize("name", sorted(BOX_FUNCTIONS))
def test_box_functions_answer_or_refuse_clearly(name):
    for label, boxes in ODD_BOXES.items():
        try:
            BOX_FUNCTIONS[name](boxes)
        except (TypeError, ValueError) as error:
            assert str(error) and "\n" not in str(error), (label, error)
        except Exception as error:  # noqa: BLE001 - the point of the test
            pytest.fail(f"{name} on {label} boxes: {type(error).__name__}: {error}")
