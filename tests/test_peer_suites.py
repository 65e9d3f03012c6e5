"""The teaching library on cases taken from its peers' own test suites.

Each section names one peer; each test names the file and test it comes from. A case is the
peer's input with the peer's expected value (typed here as the peer's test types it), or, where
the peer's test compares against a computation, the peer's own output on the same input. Where
the course refuses what a peer takes, the test checks the documented refusal instead, and says
so. Sources: the test files shipped in this environment's site-packages (NumPy 2, SciPy,
scikit-learn, PyTorch) and, for torchvision and scikit-image (whose tests are not installed),
pytorch/vision's ``test/test_ops.py`` and scikit-image's
``skimage/filters/tests/test_thresholding.py``; pycocotools' COCOeval is run with its default
parameters.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import scipy.ndimage
import scipy.signal
import torch
import torchvision.ops as tvo
from pycocotools.cocoeval import COCOeval
from skimage import data, util
from skimage.filters import threshold_otsu
from sklearn.metrics import average_precision_score, f1_score, jaccard_score
from test_average_precision_coco import cocoeval
from torch.nn import functional as F

from course_utils import conv, detection, filters, layers, normalization, segmentation, signals

UNSIGNED = [torch.uint8, torch.uint16, torch.uint32, torch.uint64]


def as_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


# =================================================================================================
# NumPy: numpy/_core/tests/test_numeric.py (TestCorrelate, TestConvolve)
# =================================================================================================

# TestCorrelate._setup: x, y and the expected full correlations
NP_X = [1, 2, 3, 4, 5]
NP_Y = [-1, -2, -3]
NP_CASES = {  # name in _setup: (f, g, expected), as test_float pairs them
    "z1": (NP_X, NP_Y, [-3, -8, -14, -20, -26, -14, -5]),
    "z1_4": (NP_X, NP_Y[:-1], [-2, -5, -8, -11, -14, -5]),
    "z2": (NP_Y, NP_X, [-5, -14, -26, -20, -14, -8, -3]),
    "z1r": (NP_X[::-1], NP_Y, [-15, -22, -22, -16, -10, -4, -1]),
    "z2r": (NP_Y, NP_X[::-1], [-1, -4, -10, -16, -22, -22, -15]),
    "zs": (list(range(1, 20))[::3], NP_Y, [-3, -14, -30, -48, -66, -84, -102, -54, -19]),
}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.int64, torch.int32])
@pytest.mark.parametrize("case", sorted(NP_CASES))
def test_numpy_correlate_test_float(case, dtype):
    # numpy/_core/tests/test_numeric.py::TestCorrelate::test_float (same values; int dtypes too)
    f, g, expected = NP_CASES[case]
    got = signals.xcorr1d_full(torch.tensor(f, dtype=dtype), torch.tensor(g, dtype=dtype))
    np.testing.assert_allclose(as_numpy(got), expected)


def test_numpy_correlate_strided_input():
    # TestCorrelate::test_float, ``xs = np.arange(1, 20)[::3]``: a strided (non-contiguous) view
    xs = torch.arange(1, 20, dtype=torch.float64)[::3]
    assert not xs.is_contiguous()
    got = signals.xcorr1d_full(xs, torch.tensor(NP_Y, dtype=torch.float64))
    np.testing.assert_allclose(as_numpy(got), NP_CASES["zs"][2])


@pytest.mark.parametrize("dtype", UNSIGNED)
@pytest.mark.parametrize("case", sorted(NP_CASES))
def test_numpy_correlate_cases_on_unsigned_inputs(case, dtype):
    # TestCorrelate::test_float with y negated (its values are negative), in unsigned dtypes:
    # NumPy takes them; the course computes uint16/32/64 in int64 (PyTorch cannot add them)
    f, g, expected = NP_CASES[case]
    f, g = np.abs(f), np.abs(g)
    expected = np.correlate(f, g, mode="full")
    assert np.array_equal(np.abs(NP_CASES[case][2]), expected)  # the peer's own values
    got = signals.xcorr1d_full(torch.tensor(f).to(dtype), torch.tensor(g).to(dtype))
    np.testing.assert_array_equal(as_numpy(got), expected)
    conv_got = signals.conv1d_full(torch.tensor(f).to(dtype), torch.tensor(g).to(dtype))
    np.testing.assert_array_equal(as_numpy(conv_got), np.convolve(f, g))


def test_numpy_correlate_test_complex():
    # numpy/_core/tests/test_numeric.py::TestCorrelate::test_complex
    x = torch.tensor([1, 2, 3, 4 + 1j], dtype=torch.complex128)
    y = torch.tensor([-1, -2j, 3 + 1j], dtype=torch.complex128)
    r_z = np.array([3 - 1j, 6, 8 + 1j, 11 + 5j, -5 + 8j, -4 - 1j])[::-1].conjugate()
    np.testing.assert_allclose(as_numpy(signals.xcorr1d_full(y, x)), r_z)


@pytest.mark.parametrize("function", [signals.xcorr1d_full, signals.conv1d_full])
def test_numpy_test_zero_size_and_empty_input_error_message(function):
    # TestCorrelate::test_zero_size and TestConvolve::test_convolve_empty_input_error_message:
    # an empty input is a ValueError naming the empty argument
    with pytest.raises(ValueError, match="f is empty"):
        function(torch.zeros(0), torch.ones(1000))
    with pytest.raises(ValueError, match="g is empty"):
        function(torch.ones(1000), torch.zeros(0))


@pytest.mark.parametrize("function", [signals.xcorr1d_full, signals.conv1d_full])
def test_numpy_test_no_overwrite(function):
    # TestCorrelate::test_no_overwrite and TestConvolve::test_no_overwrite
    d, k = torch.ones(100), torch.ones(3)
    function(d, k)
    assert torch.equal(d, torch.ones(100)) and torch.equal(k, torch.ones(3))


def test_numpy_convolve_test_object():
    # TestConvolve::test_object (lists of Python floats there, a float64 tensor here)
    full = signals.conv1d_full(torch.ones(100, dtype=torch.float64), torch.ones(3))
    np.testing.assert_allclose(as_numpy(full)[2:-2], np.full(98, 3.0))


# =================================================================================================
# SciPy: scipy/signal/tests/test_signaltools.py (TestConvolve, TestConvolve2d, TestFFTConvolve)
# =================================================================================================


@pytest.mark.parametrize("dtype", [torch.int64, torch.uint8, torch.uint16, torch.float64])
def test_scipy_convolve_test_basic(dtype):
    # scipy/signal/tests/test_signaltools.py::TestConvolve::test_basic (unsigned dtypes too)
    a, b = torch.tensor([3, 4, 5, 6, 5, 4]).to(dtype), torch.tensor([1, 2, 3]).to(dtype)
    expected = [3, 10, 22, 28, 32, 32, 23, 12]
    np.testing.assert_array_equal(as_numpy(signals.conv1d_full(a, b)), expected)
    np.testing.assert_allclose(as_numpy(signals.fft_convolve(a, b)), expected, atol=1e-9)
    np.testing.assert_allclose(
        as_numpy(signals.fft_convolve(a, b)), scipy.signal.fftconvolve(as_numpy(a), as_numpy(b))
    )


def test_scipy_convolve_test_complex():
    # TestConvolve::test_complex
    x = torch.tensor([1 + 1j, 2 + 1j, 3 + 1j])
    y = torch.tensor([1 + 1j, 2 + 1j])
    expected = [2j, 2 + 6j, 5 + 8j, 5 + 5j]
    np.testing.assert_allclose(as_numpy(signals.conv1d_full(x, y)), expected)
    np.testing.assert_allclose(as_numpy(signals.fft_convolve(x, y)), expected, atol=1e-6)


def test_scipy_convolve_test_single_element_and_zero_rank():
    # TestConvolve::test_single_element, TestFFTConvolve::test_single_element, test_zero_rank
    a, b = torch.tensor([4967]), torch.tensor([3920])
    assert signals.conv1d_full(a, b).tolist() == [4967 * 3920]
    assert signals.fft_convolve(a, b).tolist() == [4967 * 3920]
    product = signals.fft_convolve(torch.tensor(4967), torch.tensor(3920))
    assert product.ndim == 0 and float(product) == 4967 * 3920


def test_scipy_convolve_test_2d_arrays():
    # TestConvolve::test_2d_arrays and TestConvolve2d::test_2d_arrays
    a = torch.tensor([[1, 2, 3], [3, 4, 5]])
    b = torch.tensor([[2, 3, 4], [4, 5, 6]])
    expected = [[2, 7, 16, 17, 12], [10, 30, 62, 58, 38], [12, 31, 58, 49, 30]]
    np.testing.assert_allclose(as_numpy(signals.fft_convolve(a, b)), expected, atol=1e-9)
    # the same numbers as a valid cross-correlation of the zero-padded a with the flipped b
    padded = F.pad(a, (2, 2, 1, 1))
    np.testing.assert_array_equal(as_numpy(conv.corr2d(padded, b.flip(0, 1))), expected)


def test_scipy_convolve_test_input_swapping():
    # TestConvolve::test_input_swapping, 'full' mode (the course has no 'same'/'valid' modes):
    # the peer's own output, and the corner values its test types out
    small = torch.arange(8).to(torch.complex128).reshape(2, 2, 2)
    big = 1j * torch.arange(27).to(torch.complex128).reshape(3, 3, 3)
    big += torch.arange(27).to(torch.complex128).flip(0).reshape(3, 3, 3)
    expected = scipy.signal.convolve(as_numpy(small), as_numpy(big), "full")
    np.testing.assert_array_equal(expected[0, 0], [0, 26, 25 + 1j, 24 + 2j])
    np.testing.assert_array_equal(expected[3, 3], [12 + 144j, 20 + 318j, 7 + 331j, 182j])
    for f, g in ((small, big), (big, small)):
        np.testing.assert_allclose(as_numpy(signals.fft_convolve(f, g)), expected, atol=1e-9)


def test_scipy_fftconvolve_test_real_and_test_complex():
    # TestFFTConvolve::test_real and ::test_complex (axes=None)
    a = torch.tensor([1, 2, 3])
    np.testing.assert_allclose(as_numpy(signals.fft_convolve(a, a)), [1, 4, 10, 12, 9.0])
    c = torch.tensor([1 + 1j, 2 + 2j, 3 + 3j])
    np.testing.assert_allclose(
        as_numpy(signals.fft_convolve(c, c)), [2j, 8j, 20j, 24j, 18j], atol=1.5e-6
    )


@pytest.mark.parametrize(("a", "b"), [([], []), ([5, 6], []), ([], [7])])
def test_scipy_fftconvolve_test_empty(a, b):
    # TestFFTConvolve::test_empty: an empty input gives an empty result
    got = signals.fft_convolve(torch.tensor(a, dtype=torch.float64), torch.tensor(b))
    assert got.shape == (0,)


def test_scipy_fftconvolve_test_random_data():
    # TestFFTConvolve::test_random_data: 1233 and 1321 complex samples, rtol 1e-10 to numpy
    rng = np.random.default_rng(1234)
    a = rng.random(1233) + 1j * rng.random(1233)
    b = rng.random(1321) + 1j * rng.random(1321)
    got = signals.fft_convolve(torch.from_numpy(a), torch.from_numpy(b))
    np.testing.assert_allclose(as_numpy(got), np.convolve(a, b, "full"), rtol=1e-10)


def test_scipy_fftconvolve_test_many_sizes():
    # TestFFTConvolve::test_many_sizes (marked slow there): n = 1..99 and two larger sizes
    rng = np.random.RandomState(1234)
    for n in [*range(1, 100), 1000, 1499]:
        a = rng.rand(n) + 1j * rng.rand(n)
        b = rng.rand(n) + 1j * rng.rand(n)
        got = signals.fft_convolve(torch.from_numpy(a), torch.from_numpy(b))
        np.testing.assert_allclose(as_numpy(got), np.convolve(a, b, "full"), atol=1e-10)


# =================================================================================================
# SciPy: scipy/fft/tests/test_helper.py (test_next_fast_len, TestNextFastLen)
# =================================================================================================

FIVE_SMOOTH = [2, 3, 4, 5, 6, 8, 9, 10, 2 * 3 * 5, 2**3 * 3**5, 2**3 * 3**3 * 5**2]


def is_five_smooth(m: int) -> bool:
    for p in (2, 3, 5):
        while m % p == 0:
            m //= p
    return m == 1


def test_scipy_test_next_fast_len():
    # scipy/fft/tests/test_helper.py::test_next_fast_len (_5_smooth_numbers map to themselves)
    for n in FIVE_SMOOTH:
        assert signals.next_fast_length(n) == n


def test_scipy_next_fast_len_is_five_smooth_and_scipys():
    # TestNextFastLen::test_next_fast_len, real=True: 1..999 and 2**5 * 3**5 * 4**5 + 1
    for n in [*range(1, 1000), 2**5 * 3**5 * 4**5 + 1]:
        m = signals.next_fast_length(n)
        assert m >= n and is_five_smooth(m)
        assert m == scipy.fft.next_fast_len(n, real=True)


@pytest.mark.parametrize("itype", [np.int16, np.int32, np.int64, np.uint16, np.uint32, np.uint64])
def test_scipy_next_fast_len_test_np_integers(itype):
    # TestNextFastLen::test_np_integers (issue 25: np.int64(12345) was refused)
    assert signals.next_fast_length(itype(12345)) == signals.next_fast_length(12345) == 12500


HAMS_SMALL = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 8, 8: 8, 14: 15, 15: 15, 16: 16}
HAMS_SMALL |= {17: 18, 1021: 1024, 1536: 1536, 51200000: 51200000}
HAMS_BIG = {
    510183360: 510183360,
    510183360 + 1: 512000000,
    511000000: 512000000,
    854296875: 854296875,
    854296875 + 1: 859963392,
    196608000000: 196608000000,
    196608000000 + 1: 196830000000,
    8789062500000: 8789062500000,
    8789062500000 + 1: 8796093022208,
    206391214080000: 206391214080000,
    206391214080000 + 1: 206624260800000,
    470184984576000: 470184984576000,
    470184984576000 + 1: 470715894135000,
    7222041363087360: 7222041363087360,
    7222041363087360 + 1: 7230196133913600,
    11920928955078125: 11920928955078125,
    11920928955078125 - 1: 11920928955078125,
    16677181699666569: 16677181699666569,
    16677181699666569 - 1: 16677181699666569,
    18014398509481984: 18014398509481984,
    18014398509481984 - 1: 18014398509481984,
    19200000000000000: 19200000000000000,
    19200000000000000 + 1: 19221679687500000,
    288230376151711744: 288230376151711744,
    288230376151711744 + 1: 288325195312500000,
    288325195312500000 - 1: 288325195312500000,
    288325195312500000: 288325195312500000,
    288325195312500000 + 1: 288555831593533440,
}


@pytest.mark.parametrize("table", ["small", "big"])
def test_scipy_testnext_fast_len_small_and_big(table):
    # TestNextFastLen::testnext_fast_len_small and ::testnext_fast_len_big (real=True)
    for n, expected in (HAMS_SMALL if table == "small" else HAMS_BIG).items():
        assert signals.next_fast_length(n) == expected, n


@pytest.mark.parametrize("bad", [True, np.bool_(True), 12.0, np.float64(3.0), "12", 0, -5])
def test_next_fast_length_refuses_bools_floats_and_non_positive_numbers(bad):
    # not in SciPy's suite: the other side of test_np_integers, one sentence naming n
    with pytest.raises(ValueError, match=r"^n must be a positive int, got [^\n]+$"):
        signals.next_fast_length(bad)


# =================================================================================================
# SciPy: scipy/ndimage/tests/test_filters.py (correlate, gaussian, sobel)
# =================================================================================================

# test_correlateNN: (array, weights, expected correlate, expected convolve), mode 'reflect'
NDIMAGE_CORRELATE = {
    "test_correlate01": ([1, 2], [2], [2, 4], [2, 4]),
    "test_correlate02": ([1, 2, 3], [1], [1, 2, 3], [1, 2, 3]),
    "test_correlate06": ([1, 2, 3], [1, 2, 3], [9, 14, 17], [7, 10, 15]),
    "test_correlate07": ([1, 2, 3], [1, 2, 1], [5, 8, 11], [5, 8, 11]),
    "test_correlate08": ([1, 2, 3], [1, 2, -1], [1, 2, 5], [3, 6, 7]),
}


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("name", sorted(NDIMAGE_CORRELATE))
def test_scipy_ndimage_test_correlate(name, axis):
    # scipy/ndimage/tests/test_filters.py::TestNdimageFilters::<name>, the 1-D signal laid out as
    # a (1, n) or (n, 1) image: filter2d is correlate, filter2d with the flipped kernel convolve
    array, weights, expected_corr, expected_conv = NDIMAGE_CORRELATE[name]
    image = torch.tensor([array], dtype=torch.float64)
    kernel = torch.tensor([weights], dtype=torch.float64)
    if axis == 0:
        image, kernel = image.T, kernel.T
    corr = filters.filter2d(image, kernel).flatten()
    convolved = filters.filter2d(image, kernel.flip(0, 1)).flatten()
    np.testing.assert_allclose(as_numpy(corr), expected_corr)
    np.testing.assert_allclose(as_numpy(convolved), expected_conv)


@pytest.mark.parametrize("name", ["test_correlate03", "test_correlate04", "test_correlate05"])
def test_scipy_ndimage_even_kernels_are_refused(name):
    # test_correlate03/04/05 use the even kernel [1, 1], whose centre SciPy puts by its origin
    # rule; the course's filters are centred on a middle tap and refuse an even side (documented)
    with pytest.raises(ValueError, match="odd sides"):
        filters.filter2d(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[1.0, 1.0]]))


def test_scipy_ndimage_test_correlate09_and_10_empty():
    # test_correlate09 (empty 1-D) and test_correlate10 ([[]] with [[1, 1]]): empty in, empty
    # out; the course's 2-D version of test_correlate09 uses a centred (1, 3) kernel
    empty = torch.zeros(1, 0, dtype=torch.float64)
    assert filters.filter2d(empty, torch.ones(1, 3)).shape == (1, 0)


def test_scipy_ndimage_integer_images_are_refused():
    # the test_correlate cases pass integer arrays, which SciPy filters in their own dtype (a
    # negative derivative of a uint8 image wraps around); the course refuses them (documented)
    with pytest.raises(TypeError, match="must be a float tensor"):
        filters.filter2d(torch.tensor([[1, 2, 3]]), torch.ones(1, 3))
    with pytest.raises(TypeError, match="must be a float tensor"):
        filters.sobel(torch.tensor([[1, 2, 3]], dtype=torch.uint16), 0)


def test_scipy_ndimage_test_gauss01_sigma_zero_is_the_identity():
    # TestNdimageFilters::test_gauss01: gaussian_filter(input, 0) returns the input
    image = torch.tensor([[1, 2, 3], [2, 4, 6]], dtype=torch.float32)
    out = filters.gaussian_blur(image, 0)
    torch.testing.assert_close(out, image)
    np.testing.assert_allclose(as_numpy(out), scipy.ndimage.gaussian_filter(as_numpy(image), 0))


def test_scipy_ndimage_test_gauss02_keeps_dtype_and_shape():
    # TestNdimageFilters::test_gauss02
    image = torch.tensor([[1, 2, 3], [2, 4, 6]], dtype=torch.float32)
    out = filters.gaussian_blur(image, 1.0)
    assert out.dtype == image.dtype and out.shape == image.shape
    expected = scipy.ndimage.gaussian_filter(as_numpy(image), 1.0)
    np.testing.assert_allclose(as_numpy(out), expected, rtol=1e-5, atol=1e-6)


def test_scipy_ndimage_test_gauss03_keeps_the_sum():
    # TestNdimageFilters::test_gauss03: single precision, 100 x 100 ramp, sum kept to decimal=0
    image = torch.arange(100 * 100, dtype=torch.float32).reshape(100, 100)
    out = filters.gaussian_blur(image, 1.0)
    assert out.dtype == image.dtype and out.shape == image.shape
    assert float(out.double().sum()) == pytest.approx(float(image.double().sum()), abs=1.5)
    assert float(((image - out) ** 2).sum()) > 1.0  # the test's sumsq(input, output) > 1


def test_scipy_ndimage_test_gaussian_kernel1d():
    # scipy/ndimage/tests/test_filters.py::test_gaussian_kernel1d (order 0): radius 10, sigma 2
    x = np.arange(-10, 11, dtype=np.float64)
    phi_x = np.exp(-0.5 * x * x / 4)
    phi_x /= phi_x.sum()
    np.testing.assert_allclose(as_numpy(filters.gaussian_kernel1d(2, 10, torch.float64)), phi_x)
    np.testing.assert_allclose(
        as_numpy(filters.gaussian_kernel1d(np.float32(2), np.int64(10), torch.float64)), phi_x
    )


@pytest.mark.parametrize(("truncate", "side"), [(2, 21), (5, 51)])
def test_scipy_ndimage_test_gaussian_truncate(truncate, side):
    # test_gaussian_truncate: sigma 5 on a 100 x 100 delta leaves side**2 non-zero pixels;
    # the course takes the radius, which test_gaussian_radius equates with
    # int(truncate * sigma + 0.5)
    delta = torch.zeros(100, 100, dtype=torch.float64)
    delta[50, 50] = 1
    out = filters.gaussian_blur(delta, 5, radius=int(truncate * 5 + 0.5))
    assert int((out > 0).sum()) == side**2


def test_scipy_ndimage_test_gaussian_radius():
    # test_gaussian_radius: sigma 0.5 with radius 2 equals SciPy's truncate=3.5 on a 9 x 9 delta
    delta = np.zeros((9, 9))
    delta[4, 4] = 1
    expected = scipy.ndimage.gaussian_filter(delta, sigma=0.5, truncate=3.5)
    got = filters.gaussian_blur(torch.from_numpy(delta), 0.5, radius=2)
    np.testing.assert_allclose(as_numpy(got), expected, rtol=1e-12, atol=1e-15)


def test_scipy_ndimage_test_gaussian_radius_invalid():
    # test_gaussian_radius_invalid: a negative radius is a ValueError
    with pytest.raises(ValueError, match="radius must be a non-negative int"):
        filters.gaussian_blur(torch.zeros(8, 8), 1, radius=-1)


SOBEL_ARRAY = [[3, 2, 5, 1, 4], [5, 8, 3, 7, 1], [5, 6, 9, 3, 5]]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("axis", [0, 1, -1, -2])
def test_scipy_ndimage_test_sobel01_03_04(dtype, axis):
    # TestNdimageFilters::test_sobel01 (axis 0), test_sobel03 (axis 1), test_sobel04 (axis -1 is
    # axis 1): the derivative [-1, 0, 1] along the axis, then the smoothing [1, 2, 1] across it
    array = np.array(SOBEL_ARRAY, dtype=np.float64)
    along = axis % 2
    t = scipy.ndimage.correlate1d(array, [-1.0, 0.0, 1.0], along)
    t = scipy.ndimage.correlate1d(t, [1.0, 2.0, 1.0], 1 - along)
    got = filters.sobel(torch.tensor(SOBEL_ARRAY, dtype=dtype), axis)
    np.testing.assert_allclose(as_numpy(got), t, rtol=1e-6)


# =================================================================================================
# scikit-learn: sklearn/metrics/tests/test_ranking.py and test_classification.py
# =================================================================================================

# test_precision_recall_curve_toydata, binary cases: (y_true, y_score, average precision)
SKLEARN_TOYDATA = [
    ([0, 1], [0, 1], 1.0),
    ([0, 1], [1, 0], 0.5),
    ([1, 0], [1, 1], 0.5),
    ([1, 0], [1, 0], 1.0),
    ([1, 0], [0.5, 0.5], 0.5),
    ([0, 0], [0.25, 0.75], 0.0),
    ([1, 1], [0.25, 0.75], 1.0),
]


@pytest.mark.parametrize(("y_true", "y_score", "expected"), SKLEARN_TOYDATA)
def test_sklearn_test_precision_recall_curve_toydata(y_true, y_score, expected):
    # sklearn/metrics/tests/test_ranking.py::test_precision_recall_curve_toydata (binary part):
    # every item is a detection, y_true says which are hits, and all positives are detected
    got = detection.average_precision(
        torch.tensor(y_score, dtype=torch.float64),
        torch.tensor(y_true, dtype=torch.bool),
        sum(y_true),
        interpolated=False,
    )
    assert got == pytest.approx(expected, abs=1e-12)


def test_sklearn_test_average_precision_constant_values():
    # test_ranking.py::test_average_precision_constant_values: a constant score gives the
    # fraction of positives (one threshold), exactly 0.25
    y_true = np.zeros(100, dtype=bool)
    y_true[::4] = True
    got = detection.average_precision(
        torch.ones(100), torch.from_numpy(y_true), int(y_true.sum()), interpolated=False
    )
    assert got == 0.25 == average_precision_score(y_true, np.ones(100))


@pytest.mark.parametrize(("zero_division", "expected"), [(1, 0.5)])
def test_sklearn_test_jaccard_score_zero_division_set_value(zero_division, expected):
    # sklearn/metrics/tests/test_classification.py::test_jaccard_score_zero_division_set_value:
    # the mean over samples of the Jaccard index; the second sample has no true and no predicted
    # label. The course scores two empty masks as 1.0, scikit-learn's zero_division=1 (its
    # zero_division=0 case differs by that documented convention)
    y_true = np.array([[1, 0, 1], [0, 0, 0]])
    y_pred = np.array([[0, 0, 0], [0, 0, 0]])
    ours = np.mean([segmentation.iou_score(p, t) for p, t in zip(y_pred, y_true, strict=True)])
    assert ours == pytest.approx(expected)
    peer = jaccard_score(y_true, y_pred, average="samples", zero_division=zero_division)
    assert ours == pytest.approx(peer)


def test_sklearn_test_jaccard_score_validation_binary_and_f1():
    # test_classification.py::test_jaccard_score_validation (binary y_true == y_pred: 1.0) and
    # a binary mask against f1_score (Dice is the F1 score of the foreground pixels)
    y = np.array([0, 1, 0, 1, 1])
    assert segmentation.iou_score(y, y) == jaccard_score(y, y) == 1.0
    pred, true = np.array([0, 1, 1, 1, 0, 0]), np.array([0, 1, 0, 1, 1, 1])
    assert segmentation.iou_score(pred, true) == pytest.approx(jaccard_score(true, pred))
    assert segmentation.dice_score(pred, true) == pytest.approx(f1_score(true, pred))
    masks = np.array([[True, False], [True, True]]), np.array([[True, True], [False, True]])
    assert segmentation.dice_score(*masks) == pytest.approx(
        f1_score(masks[1].ravel(), masks[0].ravel())
    )


# =================================================================================================
# torchvision: pytorch/vision test/test_ops.py (TestBoxConvert, TestBoxArea, TestBoxIou, TestNMS)
# =================================================================================================

TV_BOXES_XYXY = [[0, 0, 100, 100], [0, 0, 0, 0], [10, 15, 30, 35], [23, 35, 93, 95]]
TV_BOXES_XYWH = [[0, 0, 100, 100], [0, 0, 0, 0], [10, 15, 20, 20], [23, 35, 70, 60]]
TV_BOXES_CXCYWH = [[50, 50, 100, 100], [0, 0, 0, 0], [20, 25, 20, 20], [58, 65, 70, 60]]
TV_FORMATS = {"xyxy": TV_BOXES_XYXY, "xywh": TV_BOXES_XYWH, "cxcywh": TV_BOXES_CXCYWH}


@pytest.mark.parametrize(
    ("in_fmt", "out_fmt"),
    [("xyxy", "xyxy"), ("xyxy", "xywh"), ("xyxy", "cxcywh"), ("xywh", "cxcywh")],
)
def test_torchvision_test_box_convert(in_fmt, out_fmt):
    # test/test_ops.py::TestBoxConvert::test_bbox_same, test_bbox_xyxy_xywh,
    # test_bbox_xyxy_cxcywh, test_bbox_xywh_cxcywh: there and back, exactly
    boxes = torch.tensor(TV_FORMATS[in_fmt], dtype=torch.float)
    converted = detection.box_convert(boxes, in_fmt, out_fmt)
    assert torch.equal(converted, torch.tensor(TV_FORMATS[out_fmt], dtype=torch.float))
    assert torch.equal(detection.box_convert(converted, out_fmt, in_fmt), boxes)


@pytest.mark.parametrize("in_fmt", ["xwyh", "cxwyh"])
@pytest.mark.parametrize("out_fmt", ["xwcx", "xhwcy"])
def test_torchvision_test_bbox_invalid(in_fmt, out_fmt):
    # TestBoxConvert::test_bbox_invalid
    with pytest.raises(ValueError, match="unknown box format"):
        detection.box_convert(torch.tensor(TV_BOXES_XYWH, dtype=torch.float), in_fmt, out_fmt)


@pytest.mark.parametrize("dtype", [torch.uint16, torch.uint32, torch.uint64])
def test_torchvision_box_convert_cases_on_unsigned_boxes(dtype):
    # TestBoxConvert's xyxy <-> xywh case in the unsigned dtypes of image coordinates, which
    # PyTorch cannot add: computed in int64, the same numbers
    boxes = torch.tensor(TV_BOXES_XYXY).to(dtype)
    assert detection.box_convert(boxes, "xyxy", "xywh").tolist() == TV_BOXES_XYWH
    assert detection.box_area(boxes).tolist() == [10000, 0, 400, 4200]


@pytest.mark.parametrize(
    "dtype", [torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8, torch.uint16]
)
def test_torchvision_test_box_area_int_boxes(dtype):
    # TestBoxArea::test_int_boxes (int8..int64 there; unsigned dtypes added)
    boxes = torch.tensor([[0, 0, 100, 100], [0, 0, 0, 0]], dtype=dtype)
    assert detection.box_area(boxes).tolist() == [10000, 0]


TV_FLOAT_BOXES = [
    [285.3538, 185.5758, 1193.5110, 851.4551],
    [285.1472, 188.7374, 1192.4984, 851.0669],
    [279.2440, 197.9812, 1189.4746, 849.2019],
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torchvision_test_box_area_float_boxes(dtype):
    # TestBoxArea::test_float_boxes (atol 1e-4 there)
    expected = torch.tensor([604723.0806, 600965.4666, 592761.0085], dtype=dtype)
    torch.testing.assert_close(
        detection.box_area(torch.tensor(TV_FLOAT_BOXES, dtype=dtype)),
        expected,
        rtol=0,
        atol=1e-4 if dtype == torch.float64 else 0.07,  # float32 areas of ~6e5 carry ~0.04
    )


def test_torchvision_test_box_area_float16_box():
    # TestBoxArea::test_float16_box (atol 0.01)
    boxes = torch.tensor(
        [[2.825, 1.8625, 3.90, 4.85], [2.825, 4.875, 19.20, 5.10], [2.925, 1.80, 8.90, 4.90]],
        dtype=torch.float16,
    )
    expected = torch.tensor([3.2170, 3.7108, 18.5071])
    torch.testing.assert_close(
        detection.box_area(boxes), expected, rtol=0, atol=0.01, check_dtype=False
    )


TV_INT_BOXES = [[0, 0, 100, 100], [0, 0, 50, 50], [200, 200, 300, 300], [0, 0, 25, 25]]
TV_INT_BOXES2 = [[0, 0, 100, 100], [0, 0, 50, 50], [200, 200, 300, 300]]
TV_INT_IOU = [[1.0, 0.25, 0.0], [0.25, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0625, 0.25, 0.0]]
TV_FLOAT_IOU = [[1.0, 0.9933, 0.9673], [0.9933, 1.0, 0.9737], [0.9673, 0.9737, 1.0]]


@pytest.mark.parametrize(
    ("boxes1", "boxes2", "dtypes", "atol", "expected"),
    [
        (TV_INT_BOXES, TV_INT_BOXES2, [torch.int16, torch.int32, torch.int64], 1e-4, TV_INT_IOU),
        (TV_INT_BOXES, TV_INT_BOXES2, [torch.uint16, torch.uint32], 1e-4, TV_INT_IOU),
        (TV_FLOAT_BOXES, TV_FLOAT_BOXES, [torch.float16], 0.002, TV_FLOAT_IOU),
        (TV_FLOAT_BOXES, TV_FLOAT_BOXES, [torch.float32, torch.float64], 1e-3, TV_FLOAT_IOU),
    ],
)
def test_torchvision_test_box_iou(boxes1, boxes2, dtypes, atol, expected):
    # TestBoxIou::test_iou (the unsigned row is added: the same boxes in uint16/uint32)
    for dtype in dtypes:
        got = detection.box_iou(torch.tensor(boxes1).to(dtype), torch.tensor(boxes2).to(dtype))
        torch.testing.assert_close(
            got, torch.tensor(expected), rtol=0.0, atol=atol, check_dtype=False
        )


def test_torchvision_test_iou_cartesian():
    # TestIouBase::_run_cartesian_test: the (N, M) matrix is every pair's IoU
    generator = torch.Generator().manual_seed(0)
    xy1 = torch.rand(5, 2, generator=generator)
    boxes1 = torch.cat([xy1, xy1 + torch.rand(5, 2, generator=generator)], dim=1)
    xy2 = torch.rand(7, 2, generator=generator)
    boxes2 = torch.cat([xy2, xy2 + torch.rand(7, 2, generator=generator)], dim=1)
    matrix = detection.box_iou(boxes1, boxes2)
    for i in range(5):
        for j in range(7):
            pair = detection.box_iou(boxes1[i : i + 1], boxes2[j : j + 1])
            torch.testing.assert_close(matrix[i, j], pair[0, 0])


def boxes_with_iou(n: int, iou_threshold: float, seed: int):
    """TestNMS._create_tensors_with_iou's recipe: n random boxes, the last a copy of the first
    widened so that the two overlap with IoU just above ``iou_threshold``."""
    generator = torch.Generator().manual_seed(seed)
    boxes = torch.rand(n, 4, generator=generator) * 100
    boxes[:, 2:] += boxes[:, :2]
    boxes[-1] = boxes[0]
    x0, _, x1, _ = boxes[-1].tolist()
    target = iou_threshold + 1e-5
    boxes[-1, 2] += (x1 - x0) * (1 - target) / target
    return boxes, torch.rand(n, generator=generator)


@pytest.mark.parametrize("iou", [0.2, 0.5, 0.8])
@pytest.mark.parametrize("seed", range(3))
def test_torchvision_test_nms_ref(iou, seed):
    # TestNMS::test_nms_ref (1000 boxes, seeds 0-9 there; 3 seeds here for time): torchvision's
    # own nms on the same boxes is the reference
    boxes, scores = boxes_with_iou(1000, iou, seed)
    torch.testing.assert_close(detection.nms(boxes, scores, iou), tvo.nms(boxes, scores, iou))


@pytest.mark.parametrize(
    ("boxes", "scores"),
    [
        (torch.rand(4), torch.rand(3)),
        (torch.rand(3, 5), torch.rand(3)),
        (torch.rand(3, 4), torch.rand(3, 2)),
        (torch.rand(3, 4), torch.rand(4)),
    ],
)
def test_torchvision_test_nms_input_errors(boxes, scores):
    # TestNMS::test_nms_input_errors: torchvision raises RuntimeError; the course a ValueError
    # in one sentence that names the argument
    with pytest.raises(ValueError, match=r"^(boxes|scores) must [^\n]+$"):
        detection.nms(boxes, scores, 0.5)


def test_torchvision_test_nms_float16():
    # TestNMS::test_nms_float16 (on CUDA/MPS there; the CPU here): float16 keeps float32's choice
    boxes = torch.tensor(TV_FLOAT_BOXES)
    scores = torch.tensor([0.6370, 0.7569, 0.3966])
    keep32 = detection.nms(boxes, scores, 0.2)
    keep16 = detection.nms(boxes.half(), scores.half(), 0.2)
    assert torch.equal(keep32, keep16) and keep32.tolist() == tvo.nms(boxes, scores, 0.2).tolist()


# =================================================================================================
# PyTorch: torch/testing/_internal/common_methods_invocations.py (sample_inputs_batch_norm)
# =================================================================================================

S = 5  # the module's small size
TORCH_BATCH_NORM_CASES = [
    ((S, S, S), {"training": True, "momentum": 0.5, "eps": 0.6}),
    ((3, 2, 4), {"training": False, "momentum": -1.2}),
    ((3, 1), {"training": True, "momentum": 0.0}),
    ((3, 2, 3, 4), {"training": True, "momentum": -1.0, "eps": 0.5}),
    ((3, 2, 3, 4), {"training": False, "momentum": -1.0, "eps": 0.5}),
    ((2, 1), {}),
]


@pytest.mark.parametrize("affine", ["both", "no weight", "no bias", "neither"])
@pytest.mark.parametrize(("shape", "kwargs"), TORCH_BATCH_NORM_CASES)
def test_torch_sample_inputs_batch_norm(shape, kwargs, affine):
    # common_methods_invocations.py::sample_inputs_batch_norm: the shapes and keyword arguments
    # (F.batch_norm's default training=False for the last), with weight and bias or None;
    # F.batch_norm's own output and running statistics are the reference
    generator = torch.Generator().manual_seed(sum(shape))
    X = torch.randn(shape, generator=generator, dtype=torch.float64)
    channels = shape[1]
    weight = None if affine in ("no weight", "neither") else torch.randn(channels).double()
    bias = None if affine in ("no bias", "neither") else torch.randn(channels).double()
    stats = torch.rand(channels, dtype=torch.float64), torch.rand(channels, dtype=torch.float64)
    ours_stats, peer_stats = [s.clone() for s in stats], [s.clone() for s in stats]
    options = {"training": False, **kwargs}
    expected = F.batch_norm(X, *peer_stats, weight, bias, **options)
    got = normalization.batch_norm(
        X,
        weight,
        bias,
        *ours_stats,
        options["training"],
        options.get("momentum", 0.1),
        options.get("eps", 1e-5),
    )
    torch.testing.assert_close(got, expected)
    for ours, peer in zip(ours_stats, peer_stats, strict=True):
        torch.testing.assert_close(ours, peer)


@pytest.mark.parametrize("training", [True, False])
def test_torch_sample_inputs_batch_norm_empty_input_is_refused(training):
    # sample_inputs_batch_norm's ((0,), ...) cases, a 1-D input with no channel axis: F.batch_norm
    # is given (0,)-shaped statistics for it; the course refuses a 1-D input in one sentence
    with pytest.raises(ValueError, match=r"expects \(N, C\) or \(N, C, \*\)"):
        normalization.batch_norm(
            torch.zeros(0), None, None, torch.zeros(0), torch.zeros(0), training
        )


@pytest.mark.parametrize(
    ("name", "index"),
    [("gamma", 1), ("beta", 2), ("running_mean", 3), ("running_var", 4)],
)
def test_torch_batch_norm_statistics_of_the_wrong_shape_are_refused(name, index):
    # sample_inputs_batch_norm's comment: "running mean, running var, weight and bias should
    # necessarily be of shape: (channels,)"; F.batch_norm fails inside its kernel otherwise
    args = [torch.randn(4, 3), torch.ones(3), torch.zeros(3), torch.zeros(3), torch.ones(3)]
    args[index] = torch.ones(4)
    with pytest.raises(ValueError, match=rf"^{name} must have shape \(3,\)[^\n]+$"):
        normalization.batch_norm(*args, True)


# =================================================================================================
# pycocotools: COCOeval with its default parameters (maxDets [1, 10, 100], area ranges)
# =================================================================================================


def crowded_scene(seed: int, n_images: int = 3, per_image: int = 160):
    """Images with 30-60 true boxes each and ``per_image`` detections (more than COCO's 100):
    jittered copies of the truths with high scores and random boxes with low ones, mixed."""
    rng = np.random.default_rng(seed)
    truths, predictions = [], []
    for _ in range(n_images):
        n_true = int(rng.integers(30, 61))
        xy = rng.uniform(0, 400, (n_true, 2))
        wh = rng.uniform(20, 60, (n_true, 2))
        truth = np.concatenate([xy, xy + wh], axis=1)
        found = truth[rng.random(n_true) < 0.8]
        jitter = rng.normal(0, 3, found.shape)
        n_false = per_image - len(found)
        fxy = rng.uniform(0, 400, (n_false, 2))
        false = np.concatenate([fxy, fxy + rng.uniform(20, 60, (n_false, 2))], axis=1)
        boxes = np.concatenate([found + jitter, false])
        scores = np.concatenate([rng.beta(5, 2, len(found)), rng.beta(2, 3, n_false)])
        order = rng.permutation(len(boxes))
        truths.append(torch.tensor(truth, dtype=torch.float64))
        predictions.append((torch.tensor(boxes[order]), torch.tensor(scores[order])))
    return truths, predictions


def default_cocoeval(truths, predictions) -> COCOeval:
    """COCOeval on the boxes with its default parameters (only the image ids are set)."""
    evaluation = cocoeval(truths, predictions, coco_defaults=True)
    assert evaluation.params.maxDets == [1, 10, 100]  # the defaults this section is about
    assert evaluation.params.areaRngLbl[0] == "all"
    return evaluation


@pytest.mark.parametrize("seed", [0, 1])
def test_pycocotools_default_cocoeval_caps_detections_at_100_per_image(seed):
    # COCOeval's defaults: the "AP" numbers use the best 100 detections of each image
    # (precision[T, R, K, area 'all', maxDets 100]); with 160 per image the cap matters
    truths, predictions = crowded_scene(seed)
    precision = default_cocoeval(truths, predictions).eval["precision"]
    for t, threshold in [(0, 0.5), (5, 0.75)]:
        expected = precision[t, :, 0, 0, 2].mean()
        capped = detection.detection_average_precision(
            predictions, truths, threshold, recall_points=101, max_detections=100
        )
        assert capped == pytest.approx(expected, abs=1e-9)
        uncapped = detection.detection_average_precision(
            predictions, truths, threshold, recall_points=101
        )
        assert abs(uncapped - expected) > 1e-3  # the check can tell the cap is missing
    # maxDets=10, the second entry of the default list, with the same function
    expected_10 = precision[0, :, 0, 0, 1].mean()
    got_10 = detection.detection_average_precision(
        predictions, truths, 0.5, recall_points=101, max_detections=10
    )
    assert got_10 == pytest.approx(expected_10, abs=1e-9)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_max_detections_must_be_a_positive_int(bad):
    truths, predictions = crowded_scene(0, n_images=1, per_image=80)
    with pytest.raises(ValueError, match="max_detections must be a positive int"):
        detection.detection_average_precision(predictions, truths, max_detections=bad)
    detection.detection_average_precision(predictions, truths, max_detections=np.int64(3))


# =================================================================================================
# PyTorch: nn.MaxPool2d on unsigned images (max_pool2d has no uint16 kernel either)
# =================================================================================================


@pytest.mark.parametrize("dtype", [torch.uint16, torch.uint32, torch.uint64])
def test_max_pooling_of_unsigned_images_matches_pooling_the_same_values_in_int64(dtype):
    # the property tests compare pool2d with F.max_pool2d in every dtype PyTorch pools; for
    # uint16/32/64 (microscopy) PyTorch has no max kernel, so its float64 result is the reference
    image = torch.tensor([[0, 65535, 7, 3], [12, 9, 60000, 1], [5, 5, 5, 5]])
    expected = F.max_pool2d(image[None].double(), 2, 1, padding=1)[0].long()
    got = conv.pool2d(image.to(dtype), 2, stride=1, padding=1)
    assert got.dtype == dtype
    assert got.long().tolist() == expected.tolist()


# =================================================================================================
# PyTorch: torch/testing/_internal/common_methods_invocations.py (sample_inputs_conv2d)
# =================================================================================================

# (input shape, weight shape, keyword arguments) of sample_inputs_conv2d (biases left out)
TORCH_CONV2D_CASES = [
    ((1, 3, 4, 4), (3, 3, 3, 3), {"stride": (2, 2), "padding": 2, "groups": 1}),
    (
        (2, 4, 8, 8),
        (2, 2, 3, 3),
        {"stride": (3, 2), "padding": (2, 1), "groups": 2, "dilation": (4, 4)},
    ),
    ((1, 4, 5, 5), (1, 4, 2, 3), {"stride": 2, "padding": 1, "groups": 1, "dilation": (2, 3)}),
    ((1, 2, 4, 3), (4, 2, 3, 4), {"stride": 2, "padding": 1, "groups": 1}),
    ((2, 4, 6, 6), (4, 1, 3, 3), {"groups": 4}),
    ((2, 4, 6, 6), (4, 1, 3, 3), {"groups": 4, "stride": (3, 2)}),
    ((2, 4, 6, 6), (4, 1, 3, 3), {"groups": 4, "padding": (1, 1)}),
    ((2, 4, 5, 5), (4, 1, 2, 2), {"groups": 4, "dilation": (2, 2)}),
    ((2, 4, 6, 5), (6, 2, 3, 2), {"groups": 2}),
    ((1, 4, 5, 5), (3, 4, 3, 3), {}),
]


@pytest.mark.parametrize(("input_shape", "weight_shape", "kwargs"), TORCH_CONV2D_CASES)
def test_torch_sample_inputs_conv2d_output_shapes(input_shape, weight_shape, kwargs):
    # common_methods_invocations.py::sample_inputs_conv2d: F.conv2d's own output shape is the
    # reference for the course's output-size rule, with NumPy integers for the sizes too
    X, W = torch.randn(input_shape), torch.randn(weight_shape)
    expected = tuple(F.conv2d(X, W, **kwargs).shape[-2:])
    geometry = {key: kwargs[key] for key in ("stride", "padding", "dilation") if key in kwargs}
    height, width = input_shape[-2:]
    assert layers.conv_output_shape(height, width, weight_shape[-2:], **geometry) == expected
    assert (
        layers.conv_output_shape(np.int64(height), np.int32(width), weight_shape[-2:], **geometry)
        == expected
    )


def test_torch_sample_inputs_conv2d_defaults_case_values():
    # sample_inputs_conv2d's last case ("With defaults"): (1, 4, 5, 5) input, (3, 4, 3, 3)
    # weight; the course's multi-channel cross-correlation against F.conv2d's output
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(1, 4, 5, 5, generator=generator, dtype=torch.float64)
    W = torch.randn(3, 4, 3, 3, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(layers.corr2d_multi_in_out(X[0], W), F.conv2d(X, W)[0])


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_torch_sample_inputs_conv2d_string_padding_is_refused(padding):
    # sample_inputs_conv2d's padding="valid"/"same" cases: the course's output-size rule takes
    # numbers of pixels only, and says so in one sentence
    with pytest.raises(TypeError, match="padding must be an int or a pair of ints"):
        layers.conv_output_shape(5, 5, (2, 3), stride=2, padding=padding)


# =================================================================================================
# Unsigned images and NumPy integers where the peers take them (issue 25's kinds, every module)
# =================================================================================================

MICROSCOPY = [[0, 65535, 7, 3], [12, 9, 60000, 1], [5, 40000, 5, 5]]  # uint16 grey levels


@pytest.mark.parametrize("dtype", [torch.uint16, torch.uint32, torch.uint64])
def test_corr2d_of_unsigned_images_matches_scipy_correlate2d_without_wrapping(dtype):
    # scipy.signal.correlate2d(..., "valid") on the same values (in int64, where SciPy's uint16
    # result would wrap around at 65536): the course computes uint16/32/64 in int64
    image, kernel = np.array(MICROSCOPY), np.array([[1, 2], [3, 1]])
    expected = scipy.signal.correlate2d(image, kernel, "valid")
    assert expected.max() > 65535  # the case where computing in uint16 would wrap
    got = conv.corr2d(torch.tensor(MICROSCOPY).to(dtype), torch.tensor(kernel).to(dtype))
    assert got.dtype == torch.int64 and got.tolist() == expected.tolist()
    multi = layers.corr2d_multi_in(
        torch.tensor([MICROSCOPY] * 2).to(dtype), torch.from_numpy(np.stack([kernel] * 2)).to(dtype)
    )
    assert multi.tolist() == (2 * expected).tolist()


@pytest.mark.parametrize("dtype", [torch.uint16, torch.uint32, torch.uint64])
def test_adaptive_max_pooling_of_unsigned_signals_matches_pytorch_on_the_same_values(dtype):
    # nn.AdaptiveMaxPool1d has no uint16 kernel; on the same values in float64 it is the reference
    x = torch.tensor(MICROSCOPY).flatten()
    expected = F.adaptive_max_pool1d(x[None].double(), 5)[0].long()
    got = layers.adaptive_pool1d(x.to(dtype), 5, mode="max")
    assert got.dtype == dtype and got.long().tolist() == expected.tolist()


def test_uint64_values_beyond_int64_are_refused_in_one_sentence():
    # int64 holds every uint16 and uint32 value, not every uint64 one: 2**63 is refused clearly
    big = torch.tensor([2**63 + 5, 1], dtype=torch.uint64)
    with pytest.raises(ValueError, match=r"^f holds uint64 values of 2\*\*63 or more[^\n]+$"):
        signals.conv1d_full(big, torch.ones(1, dtype=torch.uint64))


@pytest.mark.parametrize("itype", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint64])
def test_sizes_accept_numpy_integers_as_pytorch_does(itype):
    # F.conv1d's own output length is the reference; NumPy integers (a shape read from an
    # array) are whole numbers, a bool or a float is not
    n, k = itype(7), itype(3)
    expected = F.conv1d(torch.ones(1, 1, 7), torch.ones(1, 1, 3), stride=2, padding=1).shape[-1]
    assert conv.conv_output_size(n, k, itype(2), itype(1)) == expected == 4
    with pytest.raises(ValueError, match="stride must be a positive int, got the bool np.True_"):
        conv.conv_output_size(n, k, stride=np.bool_(True))
    with pytest.raises(ValueError, match=r"padding must be a non-negative int, got float 1.0"):
        conv.conv_output_size(n, k, padding=1.0)


# =================================================================================================
# scikit-image: skimage/filters/tests/test_thresholding.py (not installed: read from the
# scikit-image repository; the sample images ship with the installed skimage.data)
# =================================================================================================


def test_skimage_test_otsu_camera_and_coins_images():
    # test_otsu_camera_image (101 < t < 103), test_otsu_coins_image (106 < t < 108) and
    # test_otsu_coins_image_as_float (0.41 < t < 0.42), with the peer's own value as well
    camera, coins = util.img_as_ubyte(data.camera()), util.img_as_ubyte(data.coins())
    assert 101 < segmentation.otsu_threshold_image(camera) < 103
    assert 106 < segmentation.otsu_threshold_image(coins) < 108
    coins_float = util.img_as_float(data.coins())
    assert 0.41 < segmentation.otsu_threshold_image(coins_float) < 0.42
    for image in (camera, coins, coins_float):
        assert segmentation.otsu_threshold_image(image) == pytest.approx(threshold_otsu(image))


def test_skimage_otsu_camera_image_in_uint16_and_as_a_tensor():
    # test_otsu_camera_image's image widened to uint16 (microscopy's dtype), as a NumPy array
    # and as a torch.uint16 tensor: the peer's own threshold on the same array
    camera16 = util.img_as_uint(data.camera())
    expected = threshold_otsu(camera16)
    assert segmentation.otsu_threshold_image(camera16) == pytest.approx(expected)
    tensor = torch.from_numpy(camera16.astype(np.int64)).to(torch.uint16)
    assert segmentation.otsu_threshold_image(tensor) == pytest.approx(expected)


def test_skimage_test_otsu_zero_count_histogram():
    # test_otsu_zero_count_histogram (issue #5497): np.bincount's histogram starts with a zero
    x = np.array([1, 2])
    from_image = segmentation.otsu_threshold_image(x)
    counts = np.bincount(x)
    assert segmentation.otsu_threshold(counts, np.arange(len(counts))) == from_image == 1


@pytest.mark.parametrize("shape", [(10, 10), (10, 10, 10)])
def test_skimage_test_otsu_one_color_image(shape):
    # test_otsu_one_color_image and test_otsu_one_color_image_3d: the threshold is that level
    assert segmentation.otsu_threshold_image(np.ones(shape, dtype=np.uint8)) == 1
