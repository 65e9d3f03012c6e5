"""Classical image filters as small convolutions: Gaussian blur, derivatives, Sobel, sharpening.

Every filter here is a cross-correlation of a 2-D image with a small kernel (``filter2d``), with
the image's border extended the way SciPy's ``scipy.ndimage`` does it, so that the results
match ``scipy.ndimage.gaussian_filter``, ``scipy.ndimage.sobel`` and
``skimage.filters.unsharp_mask`` number for number (the tests check this).

Images are float tensors ``(H, W)`` on any device (an integer image is refused: SciPy keeps its
dtype and wraps negative derivatives around, so convert it with ``image.float()``); an empty
image gives an empty result, as in SciPy. Kernels are ``(h, w)`` with odd sides, centred on the
middle tap.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from course_utils._checks import check_float, check_real, require_tensor
from course_utils.conv import corr2d_fft

BOUNDARY_MODES = ("reflect", "nearest", "mirror", "wrap", "constant")

SMOOTH_1D = (1.0, 2.0, 1.0)  # the binomial smoothing half of Sobel
CENTRAL_DIFFERENCE_1D = (-1.0, 0.0, 1.0)  # 2 * the central-difference derivative


def gaussian_kernel1d(
    sigma: float,
    radius: int | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Sampled, normalised 1-D Gaussian ``exp(-x^2 / (2 sigma^2))`` for ``x = -radius..radius``.

    The default radius is ``int(4 * sigma + 0.5)``, SciPy's ``truncate=4``. Returns
    ``(2 * radius + 1,)`` summing to 1.
    """
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma > 0:
        raise ValueError(f"sigma must be a positive number, got {sigma!r}")
    if radius is None:
        radius = int(4 * sigma + 0.5)
    if isinstance(radius, bool) or not isinstance(radius, int) or radius < 0:
        raise ValueError(f"radius must be a non-negative int, got {radius!r}")
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    weights = torch.exp(-0.5 * (x / sigma) ** 2)
    return (weights / weights.sum()).to(dtype=dtype, device=device)


def gaussian_kernel(
    sigma: float,
    radius: int | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Normalised 2-D Gaussian kernel ``(2r + 1, 2r + 1)``; default ``r = int(4 * sigma + 0.5)``.

    It is the outer product of two 1-D Gaussians (the Gaussian is separable), so blurring with
    it equals blurring the rows and then the columns with ``gaussian_kernel1d``.
    """
    g = gaussian_kernel1d(sigma, radius, dtype=torch.float64)
    return torch.outer(g, g).to(dtype=dtype, device=device)


def _extend_indices(n: int, before: int, after: int, mode: str, device) -> torch.Tensor:
    """Indices into an axis of length ``n`` that extend it by ``before``/``after`` samples."""
    if n == 0:
        raise ValueError("an empty axis cannot be extended: pass an image with pixels")
    idx = torch.arange(-before, n + after, device=device)
    if mode == "nearest":  # a a a | a b c d | d d d
        return idx.clamp(0, n - 1)
    if mode == "wrap":  # b c d | a b c d | a b c
        return idx % n
    if mode == "reflect":  # c b a | a b c d | d c b  (half-sample symmetric)
        idx = idx % (2 * n)
        return torch.where(idx >= n, 2 * n - 1 - idx, idx)
    if mode == "mirror":  # d c b | a b c d | c b a  (whole-sample symmetric)
        if n == 1:
            return torch.zeros_like(idx)
        idx = idx % (2 * n - 2)
        return torch.where(idx >= n, 2 * n - 2 - idx, idx)
    raise ValueError(f"unknown boundary mode {mode!r}; use one of {BOUNDARY_MODES}")


def _check_image(image) -> None:
    """``image`` is a 2-D float tensor (checked before any kernel takes its dtype)."""
    require_tensor(image, "image", ndim=2, shape_hint="(H, W)")
    check_float(image, "image", why="integer filtering would wrap around or round")


def pad2d(image: torch.Tensor, pad_h: int, pad_w: int, mode: str = "reflect") -> torch.Tensor:
    """Extend an ``(H, W)`` image by ``pad_h`` rows and ``pad_w`` columns on each side.

    ``mode`` names SciPy's boundary modes: ``reflect`` (scipy's default), ``nearest``,
    ``mirror``, ``wrap`` or ``constant`` (zeros). Returns ``(H + 2 pad_h, W + 2 pad_w)``.
    """
    require_tensor(image, "image", ndim=2, shape_hint="(H, W)")
    if mode == "constant":
        return F.pad(image, (pad_w, pad_w, pad_h, pad_h))
    rows = _extend_indices(image.shape[0], pad_h, pad_h, mode, image.device)
    cols = _extend_indices(image.shape[1], pad_w, pad_w, mode, image.device)
    return image[rows][:, cols]


def filter2d(image: torch.Tensor, kernel: torch.Tensor, mode: str = "reflect") -> torch.Tensor:
    """Cross-correlate an image with a centred kernel, keeping the image's size.

    image: ``(H, W)``, kernel: ``(h, w)`` with odd ``h`` and ``w`` -> ``(H, W)``. This is
    ``scipy.ndimage.correlate(image, kernel, mode=mode)``; for true convolution (as
    ``scipy.ndimage.convolve``) pass ``kernel.flip(0, 1)``. Runs as one ``F.conv2d``.
    """
    if kernel.ndim != 2 or kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
        raise ValueError(f"kernel must be 2-D with odd sides, got shape {tuple(kernel.shape)}")
    _check_image(image)
    if image.numel() == 0:  # nothing to filter (SciPy returns the empty image too)
        return image.clone()
    padded = pad2d(image, kernel.shape[0] // 2, kernel.shape[1] // 2, mode)
    weight = kernel.to(dtype=image.dtype, device=image.device)[None, None]
    return F.conv2d(padded[None, None], weight)[0, 0]


def separable_filter(
    image: torch.Tensor, column: torch.Tensor, row: torch.Tensor, mode: str = "reflect"
) -> torch.Tensor:
    """Filter with the rank-1 kernel ``outer(column, row)`` as two 1-D passes.

    image: float ``(H, W)``, column: ``(h,)`` (runs down the rows), row: ``(w,)`` -> ``(H, W)``,
    the same as ``filter2d(image, torch.outer(column, row), mode)``. Costs ``h + w``
    multiplications per pixel instead of ``h * w``. The image is padded once for both passes
    (extending the border commutes with filtering along the other axis).
    """
    if column.ndim != 1 or row.ndim != 1 or column.numel() % 2 == 0 or row.numel() % 2 == 0:
        raise ValueError("column and row must be 1-D kernels of odd length")
    _check_image(image)
    if image.numel() == 0:  # nothing to filter (SciPy returns the empty image too)
        return image.clone()
    padded = pad2d(image, column.numel() // 2, row.numel() // 2, mode)[None, None]
    column = column.to(dtype=image.dtype, device=image.device).reshape(1, 1, -1, 1)
    row = row.to(dtype=image.dtype, device=image.device).reshape(1, 1, 1, -1)
    return F.conv2d(F.conv2d(padded, column), row)[0, 0]


def gaussian_blur(
    image: torch.Tensor, sigma: float, radius: int | None = None, mode: str = "reflect"
) -> torch.Tensor:
    """Separable Gaussian blur, the same numbers as ``scipy.ndimage.gaussian_filter``.

    image: float ``(H, W)`` -> ``(H, W)``; the kernel is ``gaussian_kernel1d(sigma, radius)``.
    """
    _check_image(image)
    g = gaussian_kernel1d(sigma, radius, dtype=image.dtype, device=image.device)
    return separable_filter(image, g, g, mode)


def sobel_kernels(dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """The two 3x3 Sobel kernels as outer products ``smooth (x) derivative``.

    Returns ``(k_rows, k_cols)``: ``k_rows = outer([-1, 0, 1], [1, 2, 1])`` differentiates down
    the rows (axis 0, it responds to horizontal edges), ``k_cols`` is its transpose
    (axis 1, vertical edges). Used by cross-correlation, as ``scipy.ndimage.sobel`` does.
    """
    derivative = torch.tensor(CENTRAL_DIFFERENCE_1D, dtype=dtype)
    smooth = torch.tensor(SMOOTH_1D, dtype=dtype)
    k_rows = torch.outer(derivative, smooth)
    return k_rows, k_rows.T.contiguous()


def sobel(image: torch.Tensor, axis: int, mode: str = "reflect") -> torch.Tensor:
    """Sobel derivative along ``axis`` (0: down the rows, 1: along the columns).

    image: float ``(H, W)`` -> ``(H, W)``; equals ``scipy.ndimage.sobel(image, axis, mode=mode)``.
    Computed separably: ``[-1, 0, 1]`` along ``axis`` and ``[1, 2, 1]`` along the other one.
    """
    if axis not in (0, 1):
        raise ValueError(f"axis must be 0 or 1 for a 2-D image, got {axis!r}")
    _check_image(image)
    derivative = torch.tensor(CENTRAL_DIFFERENCE_1D, dtype=image.dtype, device=image.device)
    smooth = torch.tensor(SMOOTH_1D, dtype=image.dtype, device=image.device)
    if axis == 0:
        return separable_filter(image, derivative, smooth, mode)
    return separable_filter(image, smooth, derivative, mode)


def gradient_magnitude(
    image: torch.Tensor, operator: str = "sobel", mode: str = "reflect"
) -> torch.Tensor:
    """Length of the image gradient at every pixel, ``sqrt(d0^2 + d1^2)``.

    ``operator`` is ``"sobel"`` (smoothed derivative) or ``"central"`` (the bare ``[-1, 0, 1]``
    differences and their transpose). image: float ``(H, W)`` -> ``(H, W)``, non-negative.
    """
    _check_image(image)
    if operator == "sobel":
        d0, d1 = sobel(image, 0, mode), sobel(image, 1, mode)
    elif operator == "central":
        k = torch.tensor([CENTRAL_DIFFERENCE_1D], dtype=image.dtype, device=image.device)
        d0, d1 = filter2d(image, k.T, mode), filter2d(image, k, mode)
    else:
        raise ValueError(f"operator must be 'sobel' or 'central', got {operator!r}")
    return torch.hypot(d0, d1)


def scale_to_255(image: torch.Tensor) -> torch.Tensor:
    """Rescale a non-negative map so that its maximum becomes 255 (for display as 8-bit)."""
    require_tensor(image, "image", non_empty=True)
    check_real(image, "image")
    peak = image.max()
    if float(peak) <= 0:
        raise ValueError("the map is zero everywhere (or negative): nothing to scale")
    return image * (255.0 / peak)


def unsharp_mask(
    image: torch.Tensor, sigma: float, amount: float = 1.0, mode: str = "reflect"
) -> torch.Tensor:
    """Sharpen by adding back the detail a blur removes: ``image + amount * (image - blur)``.

    image: float ``(H, W)`` -> ``(H, W)``, unclipped. Equals ``skimage.filters.unsharp_mask(
    image, radius=sigma, amount=amount, preserve_range=True)``.
    """
    blurred = gaussian_blur(image, sigma, mode=mode)
    return image + amount * (image - blurred)


def frequency_response(kernel: torch.Tensor, size: int = 64) -> torch.Tensor:
    """Magnitude of a kernel's 2-D discrete Fourier transform, zero frequency in the middle.

    kernel: ``(h, w)`` -> ``(size, size)``; entry ``[size//2, size//2]`` is the gain for a
    constant image (the sum of the weights), the corners the gain for the finest checkerboard.
    Frequencies run from -0.5 to just below 0.5 cycles per pixel (``frequency_axis``).
    """
    require_tensor(kernel, "kernel")
    check_real(kernel, "kernel")
    if kernel.ndim != 2 or max(kernel.shape) > size:
        raise ValueError(f"need a 2-D kernel no larger than {size}, got {tuple(kernel.shape)}")
    spectrum = torch.fft.fft2(kernel.to(torch.float64), s=(size, size))
    return torch.fft.fftshift(spectrum.abs())


def frequency_axis(size: int = 64) -> torch.Tensor:
    """The frequencies (cycles per pixel) along each axis of ``frequency_response(k, size)``."""
    return torch.fft.fftshift(torch.fft.fftfreq(size, dtype=torch.float64))


def pass_type(kernel: torch.Tensor, size: int = 64, cutoff: float = 0.25) -> str:
    """``"low-pass"`` or ``"high-pass"``, read off the kernel's frequency response.

    A low-pass kernel keeps an image's constant level (zero frequency) better than its fine
    detail: its gain at zero frequency exceeds its mean gain over the high band (frequencies
    of radius ``>= cutoff`` cycles/pixel). Otherwise (a derivative such as Sobel has zero gain
    at zero frequency; a sharpener amplifies the high band) it is high-pass.
    """
    response = frequency_response(kernel, size)
    f = frequency_axis(size)
    radius = torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    dc_gain = response[size // 2, size // 2]
    high_gain = response[radius >= cutoff].mean()
    return "low-pass" if dc_gain > high_gain else "high-pass"


def gaussian_noise(image: torch.Tensor, std: float, seed: int = 0) -> torch.Tensor:
    """``image`` plus reproducible white Gaussian noise of standard deviation ``std``."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(image.shape, generator=generator, dtype=image.dtype)
    return image + std * noise.to(image.device)


def psnr(estimate: torch.Tensor, reference: torch.Tensor, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(range^2 / MSE)`` (higher is closer).

    Computed in float64, so integer images work too (as in scikit-image).
    """
    for tensor, name in ((estimate, "estimate"), (reference, "reference")):
        require_tensor(tensor, name, non_empty=True)
        check_real(tensor, name)
    mse = float(((estimate.double() - reference.double()) ** 2).mean())
    if mse == 0:
        return math.inf
    return 10 * math.log10(data_range**2 / mse)


def window_sums(image: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Sum of every ``h x w`` window of ``image`` ``(H, W)`` -> ``(H - h + 1, W - w + 1)``.

    Uses an integral image (cumulative sums along both axes), so the cost does not depend on
    the window size: each window sum is four look-ups.
    """
    require_tensor(image, "image", ndim=2, shape_hint="(H, W)")
    integral = F.pad(image.cumsum(0).cumsum(1), (1, 0, 1, 0))
    return integral[h:, w:] - integral[:-h, w:] - integral[h:, :-w] + integral[:-h, :-w]


def match_template(image: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
    """Template matching by normalised cross-correlation (``skimage.feature.match_template``).

    image: float ``(H, W)``, template: ``(h, w)`` -> ``(H - h + 1, W - w + 1)`` in ``[-1, 1]``:
    at each position, the correlation coefficient between the window under the template and
    the template. Subtracting means and dividing by norms makes the score blind to the window's
    brightness and contrast, which a raw cross-correlation is not (it prefers bright windows).
    Flat windows (zero variance) score 0. The correlation runs through the FFT and the window
    statistics through integral images, so large templates cost little. Use float64.
    """
    _check_image(image)
    require_tensor(template, "template", ndim=2, shape_hint="(h, w)", non_empty=True)
    if template.shape[0] > image.shape[0] or template.shape[1] > image.shape[1]:
        raise ValueError(
            f"template {tuple(template.shape)} is larger than the image {tuple(image.shape)}"
        )
    h, w = template.shape
    t = template.to(dtype=image.dtype, device=image.device)
    t = t - t.mean()
    numerator = corr2d_fft(image, t)  # sum of window * (t - mean t)
    window_sum = window_sums(image, h, w)
    window_energy = window_sums(image * image, h, w)
    window_var = (window_energy - window_sum**2 / t.numel()).clamp_min(0)  # sum (x - mean)^2
    denominator = torch.sqrt(window_var * (t * t).sum())
    # A variance lost in rounding (a flat window, or a flat template) counts as zero.
    resolution = 1000 * torch.finfo(image.dtype).eps
    flat = (window_var <= resolution * window_energy) | (denominator == 0)
    return torch.where(
        flat,
        torch.zeros_like(numerator),
        numerator / torch.where(flat, torch.ones_like(denominator), denominator),
    )
