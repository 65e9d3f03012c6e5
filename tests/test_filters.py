"""The course's filters against scipy.ndimage and scikit-image on impulses and random images."""

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage import filters as skfilters

from course_utils import filters

MODES = ["reflect", "nearest", "mirror", "wrap", "constant"]


def random_image(seed, shape=(31, 46)):
    return np.random.default_rng(seed).random(shape)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.3, 3.0, 10.0])
def test_gaussian_kernel_is_the_impulse_response_of_scipy(sigma):
    kernel = filters.gaussian_kernel(sigma, dtype=torch.float64).numpy()
    radius = int(4 * sigma + 0.5)
    assert kernel.shape == (2 * radius + 1, 2 * radius + 1)
    impulse = np.zeros((2 * radius + 3, 2 * radius + 3))
    impulse[radius + 1, radius + 1] = 1.0
    response = ndimage.gaussian_filter(impulse, sigma, mode="constant")[1:-1, 1:-1]
    np.testing.assert_allclose(kernel, response, atol=1e-12)
    assert abs(kernel.sum() - 1) < 1e-12


def test_gaussian_kernel_explicit_radius_and_dtype():
    kernel = filters.gaussian_kernel(2.0, radius=3)
    assert kernel.shape == (7, 7) and kernel.dtype == torch.float32
    assert abs(float(kernel.sum()) - 1) < 1e-6
    one_d = filters.gaussian_kernel1d(2.0, radius=3, dtype=torch.float64)
    torch.testing.assert_close(
        filters.gaussian_kernel(2.0, 3, dtype=torch.float64), torch.outer(one_d, one_d)
    )


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), "2", True])
def test_gaussian_kernel_refuses_bad_sigma(bad):
    with pytest.raises(ValueError, match="sigma must be a non-negative number"):
        filters.gaussian_kernel(bad)


def test_gaussian_kernel_of_sigma_zero_is_a_delta_as_in_scipy():
    """``scipy.ndimage.gaussian_filter(x, 0)`` returns x: all the weight on the centre tap."""
    assert filters.gaussian_kernel1d(0).tolist() == [1.0]
    assert filters.gaussian_kernel1d(0, radius=2).tolist() == [0.0, 0.0, 1.0, 0.0, 0.0]


def test_gaussian_kernel_refuses_bad_radius():
    with pytest.raises(ValueError, match="radius"):
        filters.gaussian_kernel(1.0, radius=-1)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("sigma", [0.8, 2.5])
def test_gaussian_blur_matches_scipy(mode, sigma):
    image = random_image(int(sigma * 10))
    ours = filters.gaussian_blur(torch.tensor(image), sigma, mode=mode).numpy()
    np.testing.assert_allclose(ours, ndimage.gaussian_filter(image, sigma, mode=mode), atol=1e-12)


def test_separable_equals_full_2d_kernel():
    image = torch.tensor(random_image(5))
    kernel = filters.gaussian_kernel(1.5, dtype=torch.float64)
    torch.testing.assert_close(filters.filter2d(image, kernel), filters.gaussian_blur(image, 1.5))


@pytest.mark.parametrize("mode", MODES)
def test_filter2d_matches_scipy_correlate(mode):
    image = random_image(6)
    kernel = np.random.default_rng(7).standard_normal((5, 3))
    ours = filters.filter2d(torch.tensor(image), torch.tensor(kernel), mode).numpy()
    np.testing.assert_allclose(ours, ndimage.correlate(image, kernel, mode=mode), atol=1e-12)


def test_filter2d_refuses_even_kernels_and_integer_images():
    with pytest.raises(ValueError, match="odd"):
        filters.filter2d(torch.zeros(5, 5), torch.ones(2, 2))
    with pytest.raises(TypeError, match="float"):
        filters.filter2d(torch.zeros(5, 5, dtype=torch.int64), torch.ones(3, 3))
    with pytest.raises(ValueError, match="boundary"):
        filters.filter2d(torch.zeros(5, 5), torch.ones(3, 3), mode="bogus")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("axis", [0, 1])
def test_sobel_matches_scipy(axis, mode):
    image = random_image(8 + axis)
    ours = filters.sobel(torch.tensor(image), axis, mode).numpy()
    np.testing.assert_allclose(ours, ndimage.sobel(image, axis, mode=mode), atol=1e-12)


def test_sobel_kernels_are_outer_products():
    k_rows, k_cols = filters.sobel_kernels()
    expected = torch.tensor([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]])
    torch.testing.assert_close(k_rows, expected)
    torch.testing.assert_close(k_cols, expected.T)
    image = torch.tensor(random_image(9))
    torch.testing.assert_close(filters.filter2d(image, k_rows.double()), filters.sobel(image, 0))


def test_gradient_magnitudes_match_scipy():
    image = random_image(10)
    sobel = np.hypot(ndimage.sobel(image, 0), ndimage.sobel(image, 1))
    np.testing.assert_allclose(
        filters.gradient_magnitude(torch.tensor(image)).numpy(), sobel, atol=1e-12
    )
    central = np.hypot(
        ndimage.correlate1d(image, [-1, 0, 1], axis=0),
        ndimage.correlate1d(image, [-1, 0, 1], axis=1),
    )
    ours = filters.gradient_magnitude(torch.tensor(image), operator="central").numpy()
    np.testing.assert_allclose(ours, central, atol=1e-12)
    scaled = filters.scale_to_255(torch.tensor(sobel))
    assert float(scaled.max()) == pytest.approx(255.0)


@pytest.mark.parametrize(("sigma", "amount"), [(1.0, 1.0), (2.0, 0.5), (3.5, 2.0)])
def test_unsharp_mask_matches_skimage(sigma, amount):
    image = random_image(11)
    expected = skfilters.unsharp_mask(image, radius=sigma, amount=amount, preserve_range=True)
    ours = filters.unsharp_mask(torch.tensor(image), sigma, amount).numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-12)


def test_frequency_response_is_the_fft_magnitude():
    kernel = filters.gaussian_kernel(1.0, dtype=torch.float64)
    response = filters.frequency_response(kernel, size=32)
    expected = np.fft.fftshift(np.abs(np.fft.fft2(kernel.numpy(), s=(32, 32))))
    np.testing.assert_allclose(response.numpy(), expected, atol=1e-12)
    assert float(response[16, 16]) == pytest.approx(1.0)  # the gain for a constant image


@pytest.mark.parametrize(
    ("kernel", "expected"),
    [
        (filters.gaussian_kernel(1.5), "low-pass"),
        (torch.ones(5, 5) / 25, "low-pass"),
        (filters.sobel_kernels()[0], "high-pass"),
        (filters.sobel_kernels()[1], "high-pass"),
        (torch.tensor([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]]), "high-pass"),
        (torch.tensor([[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]]), "high-pass"),
    ],
)
def test_pass_type(kernel, expected):
    assert filters.pass_type(kernel) == expected


def test_unsharp_kernel_is_high_pass_and_blur_reduces_noise():
    identity = torch.zeros(9, 9, dtype=torch.float64)
    identity[4, 4] = 1
    sharpen = 2 * identity - filters.gaussian_kernel(1.0, radius=4, dtype=torch.float64)
    assert filters.pass_type(sharpen) == "high-pass"
    clean = torch.tensor(ndimage.gaussian_filter(random_image(12, (64, 64)), 3))
    noisy = filters.gaussian_noise(clean, 0.1, seed=1)
    assert filters.psnr(filters.gaussian_blur(noisy, 1.5), clean) > filters.psnr(noisy, clean) + 5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_match_template_matches_skimage(seed):
    from skimage.feature import match_template

    rng = np.random.default_rng(seed)
    image = rng.random((40, 50))
    image[10:20, :] = 0.5  # flat windows must score 0 as in scikit-image
    top, left = int(rng.integers(20, 34)), int(rng.integers(0, 42))
    template = image[top : top + 7, left : left + 9].copy()
    ours = filters.match_template(torch.tensor(image), torch.tensor(template)).numpy()
    np.testing.assert_allclose(ours, match_template(image, template), atol=1e-6)
    assert np.unravel_index(ours.argmax(), ours.shape) == (top, left)


def test_markdown_table():
    from course_utils.tables import markdown_table

    text = markdown_table([["a", 1.23456, None]], ["name", "x", "y"]).data
    assert text.splitlines() == ["| name | x | y |", "|---|---|---|", "| a | 1.23 | — |"]
    with pytest.raises(ValueError):
        markdown_table([[1]], ["a", "b"])


def test_window_sums_match_a_box_correlation():
    from scipy.signal import correlate2d

    image = random_image(13, (17, 23))
    for h, w in [(1, 1), (3, 5), (17, 2)]:
        expected = correlate2d(image, np.ones((h, w)), mode="valid")
        np.testing.assert_allclose(
            filters.window_sums(torch.tensor(image), h, w).numpy(), expected, atol=1e-12
        )
