"""Property-based checks: the course's implementations against their peers on the input spaces
the peers' own tests use (integer, bool, float16/32/64 and complex dtypes; empty and single
elements; ties; NaN; non-contiguous tensors; large values).

Hypothesis draws the inputs; ``derandomize=True`` makes every run draw the same examples, so a
failure in CI reproduces on a laptop. Shapes stay small: the whole module runs in well under a
minute on one core.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.fft
import scipy.ndimage
import scipy.signal
import torch
import torchvision.ops as tvo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skimage.filters import threshold_otsu
from sklearn.metrics import average_precision_score, f1_score, jaccard_score
from torch.nn import functional as F

from course_utils import conv, detection, filters, layers, normalization, segmentation, signals

SETTINGS = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

INT_DTYPES = [torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64]
FLOAT_DTYPES = [torch.float16, torch.float32, torch.float64]


def _tensor(values, dtype, shape, transposed: bool) -> torch.Tensor:
    """A tensor of ``shape``; ``transposed`` returns a non-contiguous view of the same values."""
    t = torch.tensor(values, dtype=torch.float64).reshape(shape).to(dtype)
    if transposed and t.ndim == 2:
        return t.T.contiguous().T  # same values, column-major strides
    return t


# --- boxes: torchvision.ops ---------------------------------------------------------------------

# Largest coordinate per dtype such that the peer itself stays exact (differences fit the dtype).
BOX_LIMITS = {
    torch.uint8: 120,
    torch.int8: 60,
    torch.int16: 16000,
    torch.int32: 40000,
    torch.int64: 10**6,
    torch.float16: 1000,
    torch.float32: 10**4,
    torch.float64: 10**6,
}


@st.composite
def boxes_of(draw, dtype, max_n=5, min_n=0):
    """``(N, 4)`` xyxy boxes of ``dtype`` with x2 >= x1 and y2 >= y1 (zero-size boxes too)."""
    limit = BOX_LIMITS[dtype] // 2
    n = draw(st.integers(min_n, max_n))
    rows = []
    for _ in range(n):
        x, y, w, h = (draw(st.integers(0, limit)) for _ in range(4))
        rows.append([x, y, x + w, y + h])
    return torch.tensor(rows, dtype=torch.float64).reshape(n, 4).to(dtype)


@SETTINGS
@given(data=st.data(), dtype=st.sampled_from(INT_DTYPES + FLOAT_DTYPES))
def test_box_area_matches_torchvision_in_every_dtype(data, dtype):
    boxes = data.draw(boxes_of(dtype))
    ours, theirs = detection.box_area(boxes), tvo.box_area(boxes)
    assert ours.dtype == theirs.dtype
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


@SETTINGS
@given(data=st.data(), dtype=st.sampled_from(INT_DTYPES + FLOAT_DTYPES))
def test_box_iou_matches_torchvision_in_every_dtype(data, dtype):
    a, b = data.draw(boxes_of(dtype)), data.draw(boxes_of(dtype))
    ours = detection.box_iou(a, b)
    # torchvision subtracts uint8 corners before widening them, and for disjoint boxes the
    # negative overlap wraps around to 255: its answer on the int32 boxes is the right one
    theirs = tvo.box_iou(a.int(), b.int()) if dtype == torch.uint8 else tvo.box_iou(a, b)
    assert ours.shape == (len(a), len(b)) and ours.dtype == theirs.dtype
    torch.testing.assert_close(ours, theirs, equal_nan=True)  # 0/0 for two empty boxes


@SETTINGS
@given(
    data=st.data(),
    dtype=st.sampled_from([torch.int64, torch.float32, torch.float64]),
    formats=st.permutations(detection.BOX_FORMATS),
)
def test_box_convert_matches_torchvision(data, dtype, formats):
    boxes = data.draw(boxes_of(dtype))
    in_fmt, out_fmt = formats[0], formats[1]
    ours = detection.box_convert(boxes, in_fmt, out_fmt)
    theirs = tvo.box_convert(boxes, in_fmt, out_fmt)
    assert ours.dtype == theirs.dtype
    torch.testing.assert_close(ours, theirs)


@SETTINGS
@given(
    data=st.data(),
    dtype=st.sampled_from([torch.float16, torch.float32, torch.float64]),
    threshold=st.sampled_from([0.0, 0.2, 0.5, 0.7, 1.0]),
)
def test_nms_matches_torchvision(data, dtype, threshold):
    boxes = data.draw(boxes_of(dtype, max_n=8))
    # distinct scores: torchvision's order of tied scores is not specified
    scores = torch.randperm(len(boxes), generator=torch.Generator().manual_seed(len(boxes)))
    scores = scores.to(torch.float64) / max(len(boxes), 1)
    ours = detection.nms(boxes, scores, threshold)
    # torchvision's CPU kernel has no float16 version: it runs on the widened boxes; it also
    # wants the scores in the boxes' dtype
    widened = boxes.float() if dtype == torch.float16 else boxes
    theirs = tvo.nms(widened, scores.to(widened.dtype), threshold)
    assert ours.dtype == torch.int64
    assert ours.tolist() == theirs.tolist()


def test_nms_on_large_float16_boxes_keeps_one_of_many_copies():
    generator = torch.Generator().manual_seed(0)
    copies = torch.tensor([[10.0, 20.0, 910.0, 670.0]]) + 3 * torch.randn(
        37, 4, generator=generator
    )
    scores = torch.rand(37, generator=generator)
    kept = detection.nms(copies.half(), scores, 0.2)
    assert kept.tolist() == tvo.nms(copies.half().float(), scores, 0.2).tolist()
    assert len(kept) == 1


# --- average precision: scikit-learn ------------------------------------------------------------


@SETTINGS
@given(
    hits=st.lists(st.booleans(), min_size=1, max_size=12),
    levels=st.lists(st.integers(0, 3), min_size=12, max_size=12),
)
def test_average_precision_matches_scikit_learn_with_ties(hits, levels):
    if not any(hits):
        hits[0] = True
    scores = np.array(levels[: len(hits)], dtype=np.float64) / 4  # few levels: many ties
    ours = detection.average_precision(
        torch.tensor(scores), torch.tensor(hits), sum(hits), interpolated=False
    )
    assert ours == pytest.approx(average_precision_score(hits, scores), abs=1e-12)


# --- signals: SciPy and NumPy -------------------------------------------------------------------

FFT_DTYPES = [
    torch.bool,
    torch.int64,
    torch.float16,
    torch.float32,
    torch.float64,
    torch.complex128,
]


@st.composite
def arrays_of(draw, dtype, ndim, min_side=0, max_side=5):
    shape = tuple(draw(st.integers(min_side, max_side)) for _ in range(ndim))
    size = int(np.prod(shape))
    if dtype == torch.bool:
        values = draw(st.lists(st.booleans(), min_size=size, max_size=size))
    else:
        values = draw(st.lists(st.integers(-20, 20), min_size=size, max_size=size))
    t = torch.tensor(values, dtype=torch.float64).reshape(shape)
    if dtype.is_complex:
        t = t + 1j * t.flip(tuple(range(ndim)))
    return t.to(dtype)


@SETTINGS
@given(data=st.data(), dtype=st.sampled_from(FFT_DTYPES), ndim=st.sampled_from([1, 2]))
def test_fft_convolve_matches_scipy_fftconvolve(data, dtype, ndim):
    f, g = data.draw(arrays_of(dtype, ndim)), data.draw(arrays_of(dtype, ndim))
    ours = signals.fft_convolve(f, g)
    theirs = scipy.signal.fftconvolve(f.numpy(), g.numpy())
    assert ours.shape == theirs.shape
    if ours.numel():  # (SciPy's empty answer is always float64; ours keeps the dtype rule)
        assert ours.dtype == torch.from_numpy(np.asarray(theirs)).dtype
        scale = max(1.0, float(np.abs(theirs).max()))
        np.testing.assert_allclose(ours.numpy(), theirs, atol=1e-4 * scale)


@SETTINGS
@given(
    data=st.data(),
    dtype=st.sampled_from([torch.bool, torch.int64, torch.float64, torch.complex128]),
)
def test_conv1d_and_xcorr1d_match_numpy(data, dtype):
    f = data.draw(arrays_of(dtype, 1, min_side=1))
    g = data.draw(arrays_of(dtype, 1, min_side=1))
    np.testing.assert_allclose(signals.conv1d_full(f, g).numpy(), np.convolve(f.numpy(), g.numpy()))
    np.testing.assert_allclose(
        signals.xcorr1d_full(f, g).numpy(), np.correlate(f.numpy(), g.numpy(), mode="full")
    )


@SETTINGS
@given(n=st.integers(1, 20_000))
def test_next_fast_length_matches_scipy(n):
    assert signals.next_fast_length(n) == scipy.fft.next_fast_len(n, real=True)


@SETTINGS
@given(data=st.data(), dtype=st.sampled_from([torch.int64, torch.float32, torch.float64]))
def test_autocorrelation_matches_numpy_correlate(data, dtype):
    x = data.draw(arrays_of(dtype, 1, min_side=2, max_side=12))
    centred = x.double().numpy() - x.double().numpy().mean()
    if not np.any(np.abs(centred) > 1e-9):
        return  # a constant signal is refused (tested below)
    full = np.correlate(centred, centred, mode="full")[x.numel() - 1 :]
    np.testing.assert_allclose(
        signals.autocorrelation(x).double().numpy(), full / full[0], atol=1e-5
    )


# --- 2-D cross-correlation and pooling: torch.nn.functional --------------------------------------


@st.composite
def image_and_kernel(draw, dtype):
    H, W = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    h, w = draw(st.integers(1, H)), draw(st.integers(1, W))
    x = draw(st.lists(st.integers(-9, 9), min_size=H * W, max_size=H * W))
    k = draw(st.lists(st.integers(-3, 3), min_size=h * w, max_size=h * w))
    transposed = draw(st.booleans())
    return _tensor(x, dtype, (H, W), transposed), _tensor(k, dtype, (h, w), transposed)


@SETTINGS
@given(
    data=st.data(),
    dtype=st.sampled_from([torch.int64, torch.float16, torch.float32, torch.float64]),
)
def test_corr2d_and_its_fast_forms_match_conv2d(data, dtype):
    X, K = data.draw(image_and_kernel(dtype))
    reference = F.conv2d(X[None, None], K[None, None])[0, 0]
    torch.testing.assert_close(conv.corr2d(X, K), reference, rtol=0, atol=0)
    if dtype.is_floating_point:
        torch.testing.assert_close(conv.corr2d_unfold(X, K), reference, atol=0.05, rtol=1e-3)
    fft = conv.corr2d_fft(X, K)
    assert fft.dtype == (
        torch.float64 if not dtype.is_floating_point else torch.promote_types(dtype, torch.float32)
    )
    torch.testing.assert_close(fft, reference.to(fft.dtype), atol=1e-3, rtol=1e-3)


@st.composite
def pooling_case(draw, dtype):
    H, W = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    p_h, p_w = draw(st.integers(1, H)), draw(st.integers(1, W))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, p_h // 2)), draw(st.integers(0, p_w // 2)))
    low, high = (0, 255) if dtype == torch.uint8 else (-100, 100)
    values = draw(st.lists(st.integers(low, high), min_size=H * W, max_size=H * W))
    X = _tensor(values, dtype, (H, W), draw(st.booleans()))
    if dtype.is_floating_point and draw(st.booleans()):
        X[draw(st.integers(0, H - 1)), draw(st.integers(0, W - 1))] = float("nan")
    return X, (p_h, p_w), stride, padding


@SETTINGS
@given(data=st.data(), dtype=st.sampled_from(INT_DTYPES + FLOAT_DTYPES))
def test_max_pooling_matches_max_pool2d_in_every_dtype(data, dtype):
    X, size, stride, padding = data.draw(pooling_case(dtype))
    ours = conv.pool2d(X, size, stride, padding, mode="max")
    theirs = F.max_pool2d(X[None], size, stride, padding)[0]
    assert ours.dtype == theirs.dtype
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0, equal_nan=True)


@SETTINGS
@given(data=st.data(), dtype=st.sampled_from(FLOAT_DTYPES))
def test_average_pooling_matches_avg_pool2d(data, dtype):
    X, size, stride, padding = data.draw(pooling_case(dtype))
    ours = conv.pool2d(X, size, stride, padding, mode="avg")
    theirs = F.avg_pool2d(X[None], size, stride, padding)[0]
    torch.testing.assert_close(
        ours,
        theirs,
        equal_nan=True,
        **({"atol": 0.1, "rtol": 1e-2} if dtype == torch.float16 else {}),
    )


@SETTINGS
@given(
    n=st.integers(1, 30),
    kernel=st.integers(1, 7),
    stride=st.integers(1, 4),
    padding=st.integers(0, 3),
    dilation=st.integers(1, 3),
)
def test_conv_output_size_matches_conv1d(n, kernel, stride, padding, dilation):
    span = dilation * (kernel - 1) + 1
    if n + 2 * padding < span:
        with pytest.raises(ValueError, match="kernel spans"):
            conv.conv_output_size(n, kernel, stride, padding, dilation)
        return
    out = F.conv1d(
        torch.zeros(1, 1, n),
        torch.zeros(1, 1, kernel),
        stride=stride,
        padding=padding,
        dilation=dilation,
    )
    assert conv.conv_output_size(n, kernel, stride, padding, dilation) == out.shape[-1]


@SETTINGS
@given(
    data=st.data(),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    n_out=st.integers(1, 8),
    mode=st.sampled_from(["avg", "max"]),
)
def test_adaptive_pool1d_matches_pytorch(data, dtype, n_out, mode):
    x = data.draw(arrays_of(dtype, 1, min_side=1, max_side=12))[None]
    pool = F.adaptive_avg_pool1d if mode == "avg" else F.adaptive_max_pool1d
    torch.testing.assert_close(layers.adaptive_pool1d(x, n_out, mode), pool(x, n_out))


# --- filters: scipy.ndimage ---------------------------------------------------------------------


@st.composite
def grey_image(draw, dtype, min_side=1):
    H, W = draw(st.integers(min_side, 6)), draw(st.integers(min_side, 6))
    values = draw(
        st.lists(st.floats(-10, 10, allow_nan=False, width=32), min_size=H * W, max_size=H * W)
    )
    return _tensor(values, dtype, (H, W), draw(st.booleans()))


@SETTINGS
@given(
    data=st.data(),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    mode=st.sampled_from(filters.BOUNDARY_MODES),
    sigma=st.sampled_from([0.5, 1.0, 2.5]),
)
def test_filters_match_scipy_ndimage(data, dtype, mode, sigma):
    image = data.draw(grey_image(dtype, min_side=0))
    array = image.double().numpy()
    tol = {"atol": 1e-4, "rtol": 1e-4} if dtype == torch.float32 else {}
    kernel = data.draw(st.sampled_from([torch.ones(3, 3), torch.arange(15.0).reshape(3, 5)]))
    cases = [
        (
            filters.filter2d(image, kernel, mode),
            scipy.ndimage.correlate(array, kernel.double().numpy(), mode=mode),
        ),
        (
            filters.gaussian_blur(image, sigma, mode=mode),
            scipy.ndimage.gaussian_filter(array, sigma, mode=mode),
        ),
        (filters.sobel(image, 0, mode), scipy.ndimage.sobel(array, 0, mode=mode)),
        (filters.sobel(image, 1, mode), scipy.ndimage.sobel(array, 1, mode=mode)),
    ]
    for ours, theirs in cases:
        assert ours.shape == theirs.shape and ours.dtype == dtype
        np.testing.assert_allclose(ours.double().numpy(), theirs, **tol)


# --- normalization: torch.nn --------------------------------------------------------------------


@SETTINGS
@given(
    data=st.data(),
    momentum=st.sampled_from([None, 0.1, 0.5]),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    steps=st.integers(1, 3),
)
def test_batchnorm_matches_nn_batchnorm2d(data, momentum, dtype, steps):
    channels = data.draw(st.integers(1, 3))
    ours = normalization.BatchNorm(channels, momentum=momentum).to(dtype)
    theirs = torch.nn.BatchNorm2d(channels, momentum=momentum).to(dtype)
    ours.load_state_dict(theirs.state_dict())
    generator = torch.Generator().manual_seed(steps)
    for _ in range(steps):
        X = torch.randn(3, channels, 2, 2, generator=generator, dtype=dtype)
        torch.testing.assert_close(ours(X), theirs(X))
    theirs.load_state_dict(ours.state_dict())  # and back: the same keys, the same statistics
    ours.eval(), theirs.eval()
    X = torch.randn(2, channels, 3, 3, generator=generator, dtype=dtype)
    torch.testing.assert_close(ours(X), theirs(X))


@SETTINGS
@given(
    data=st.data(),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    normalized_ndim=st.integers(1, 3),
)
def test_layer_norm_matches_functional(data, dtype, normalized_ndim):
    X = data.draw(arrays_of(dtype, 3, min_side=1, max_side=4))
    shape = X.shape[X.ndim - normalized_ndim :]
    torch.testing.assert_close(normalization.layer_norm(X, normalized_ndim), F.layer_norm(X, shape))


# --- segmentation: scikit-image, SciPy, scikit-learn --------------------------------------------


@SETTINGS
@given(data=st.data(), kind=st.sampled_from(["uint8", "int16", "float64"]))
def test_otsu_matches_scikit_image(data, kind):
    size = data.draw(st.integers(1, 30))
    low = -50 if kind == "int16" else 0
    values = data.draw(st.lists(st.integers(low, 255), min_size=size, max_size=size))
    image = np.array(values, dtype=kind).reshape(1, -1)
    if kind == "float64":
        image = image / 255
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = threshold_otsu(image)
    assert segmentation.otsu_threshold_image(image) == pytest.approx(float(expected))


@SETTINGS
@given(data=st.data(), connectivity=st.sampled_from([1, 2]))
def test_label_components_matches_scipy(data, connectivity):
    H, W = data.draw(st.integers(0, 7)), data.draw(st.integers(0, 7))
    mask = np.array(
        data.draw(st.lists(st.booleans(), min_size=H * W, max_size=H * W)), dtype=bool
    ).reshape(H, W)
    structure = scipy.ndimage.generate_binary_structure(2, connectivity)
    expected, expected_count = scipy.ndimage.label(mask, structure)
    labels, count = segmentation.label_components(mask, connectivity)
    assert count == expected_count
    np.testing.assert_array_equal(labels, expected)


@SETTINGS
@given(data=st.data())
def test_mask_scores_match_scikit_learn(data):
    n = data.draw(st.integers(1, 20))
    pred = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    target = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    assert segmentation.iou_score(pred, target) == pytest.approx(
        jaccard_score(target, pred, zero_division=1.0)
    )
    assert segmentation.dice_score(pred, target) == pytest.approx(
        f1_score(target, pred, zero_division=1.0)
    )


# --- more of the library's peer claims ----------------------------------------------------------


@SETTINGS
@given(
    data=st.data(), dtype=st.sampled_from([torch.int16, torch.int64, torch.float16, torch.float32])
)
def test_paired_iou_is_the_diagonal_of_torchvision_box_iou(data, dtype):
    n = data.draw(st.integers(0, 5))
    a = data.draw(boxes_of(dtype, min_n=n, max_n=n))
    b = data.draw(boxes_of(dtype, min_n=n, max_n=n))
    torch.testing.assert_close(
        detection.paired_iou(a, b), tvo.box_iou(a, b).diagonal(), equal_nan=True
    )


@SETTINGS
@given(
    data=st.data(),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    output_size=st.sampled_from([1, 2, (2, 3)]),
    spatial_scale=st.sampled_from([1.0, 0.5]),
)
def test_roi_max_pool_matches_torchvision_roi_pool(data, dtype, output_size, spatial_scale):
    features = data.draw(arrays_of(dtype, 2, min_side=1, max_side=6))[None, None]
    features = torch.cat([features, -features])  # a batch of two images
    rois = []
    for _ in range(data.draw(st.integers(0, 4))):
        x1, y1 = data.draw(st.integers(0, 10)), data.draw(st.integers(0, 10))
        x2, y2 = x1 + data.draw(st.integers(0, 6)), y1 + data.draw(st.integers(0, 6))
        rois.append([data.draw(st.integers(0, 1)), x1, y1, x2, y2])
    rois = torch.tensor(rois, dtype=dtype).reshape(-1, 5)
    ours = detection.roi_max_pool(features, rois, output_size, spatial_scale)
    theirs = tvo.roi_pool(features, rois, output_size, spatial_scale)
    torch.testing.assert_close(ours, theirs)


@SETTINGS
@given(data=st.data())
def test_multi_channel_correlation_matches_conv2d(data):
    c_i, c_o = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    dtype = data.draw(st.sampled_from([torch.int64, torch.float64]))
    X = data.draw(arrays_of(dtype, 2, min_side=2, max_side=5))
    X = torch.stack([X + c for c in range(c_i)])
    K = torch.arange(c_o * c_i * 4, dtype=dtype).reshape(c_o, c_i, 2, 2) % 5 - 2
    torch.testing.assert_close(layers.corr2d_multi_in_out(X, K), F.conv2d(X[None], K)[0])
    K1 = K[:, :, :1, :1].contiguous()
    torch.testing.assert_close(layers.conv1x1_as_matmul(X, K1), F.conv2d(X[None], K1)[0])


@SETTINGS
@given(
    data=st.data(), sigma=st.sampled_from([0.5, 1.0, 2.0]), amount=st.sampled_from([0.5, 1.0, 3.0])
)
def test_unsharp_mask_matches_scikit_image(data, sigma, amount):
    from skimage.filters import unsharp_mask

    image = data.draw(grey_image(torch.float64))
    expected = unsharp_mask(image.numpy(), radius=sigma, amount=amount, preserve_range=True)
    np.testing.assert_allclose(
        filters.unsharp_mask(image, sigma, amount).numpy(), expected, atol=1e-9
    )


@SETTINGS
@given(data=st.data())
def test_match_template_matches_scikit_image(data):
    from skimage.feature import match_template

    # whole grey levels: a window is flat or clearly not (a variance of 1e-15 next to levels of
    # 36 is lost in rounding, and the course's version then scores 0 on purpose)
    image = data.draw(arrays_of(torch.float64, 2, min_side=3, max_side=6))
    h, w = data.draw(st.integers(1, image.shape[0])), data.draw(st.integers(1, image.shape[1]))
    top, left = (
        data.draw(st.integers(0, image.shape[0] - h)),
        data.draw(st.integers(0, image.shape[1] - w)),
    )
    template = image[top : top + h, left : left + w] * 2 + 1  # present, in another contrast
    expected = match_template(image.numpy(), template.numpy())
    np.testing.assert_allclose(filters.match_template(image, template).numpy(), expected, atol=1e-6)


@SETTINGS
@given(data=st.data(), k=st.integers(1, 3))
def test_kmeans_matches_scikit_learn_from_the_same_start(data, k):
    from sklearn.cluster import KMeans

    n = data.draw(st.integers(k, 12))
    points = np.array(
        data.draw(st.lists(st.integers(0, 50), min_size=n, max_size=n)), dtype=np.float64
    )[:, None]
    distinct = np.unique(points)
    if len(distinct) < k:
        return  # k distinct starting centres are needed
    init = distinct[:k, None]
    labels, centres = segmentation.kmeans(points, k, init=init)
    reference = KMeans(k, init=init, n_init=1, algorithm="lloyd").fit(points)
    np.testing.assert_allclose(
        np.sort(centres.ravel()), np.sort(reference.cluster_centers_.ravel()), atol=1e-9
    )


@SETTINGS
@given(
    data=st.data(),
    kind=st.sampled_from(["uint8", "int32", "float32", "float64"]),
    nbins=st.sampled_from([2, 16, 256]),
)
def test_histogram_matches_scikit_image(data, kind, nbins):
    from skimage.exposure import histogram

    size = data.draw(st.integers(1, 30))
    values = data.draw(
        st.lists(st.integers(0 if kind == "uint8" else -40, 200), min_size=size, max_size=size)
    )
    image = np.array(values).astype(kind).reshape(1, -1)
    counts, centres = segmentation.histogram(image, nbins)
    expected_counts, expected_centres = histogram(image, nbins, source_range="image")
    np.testing.assert_array_equal(counts, expected_counts)
    np.testing.assert_allclose(centres, expected_centres)
