"""One-dimensional convolution and its relatives, written out so that a reader can follow them.

* ``conv1d_full``: the textbook sum ``(f * g)[t] = sum_tau f[tau] g[t - tau]``, every overlap kept.
* ``xcorr1d_full``: cross-correlation, the same sum with the kernel slid without flipping.
* ``fft_convolve``: the convolution theorem, ``f * g = IFFT(FFT(f) . FFT(g))``, in any dimension.
* ``autocorrelation`` and ``estimate_period``: self-similarity under shifts, and the period it
  reveals in a noisy periodic signal.
* ``kde_by_convolution``: kernel density estimation as a histogram convolved with a Gaussian.

The tests compare each with ``numpy.convolve``, ``numpy.correlate``, ``scipy.signal`` and
``scipy.stats.gaussian_kde``.
"""

from __future__ import annotations

import math

import torch

from course_utils._checks import check_finite, check_real, fft_dtype, require_tensor


def _check_1d(name: str, x: torch.Tensor) -> None:
    require_tensor(x, name, ndim=1, shape_hint="(n,)", non_empty=True)


def conv1d_full(f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Full discrete convolution of two finite sequences, by the definition.

    f: ``(n,)``, g: ``(m,)`` -> ``(n + m - 1,)`` with ``out[t] = sum_tau f[tau] * g[t - tau]``
    over the ``tau`` where both factors exist (outside their support f and g are zero).
    One loop over the shifts of ``g``: each input sample adds a scaled copy of ``g``.
    """
    _check_1d("f", f)
    _check_1d("g", g)
    n, m = f.numel(), g.numel()
    out = torch.zeros(n + m - 1, dtype=torch.promote_types(f.dtype, g.dtype), device=f.device)
    for tau in range(n):
        out[tau : tau + m] += f[tau] * g
    return out


def xcorr1d_full(f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Full cross-correlation ``out[k] = sum_t f[t + k - (m - 1)] * g[t]`` (``numpy.correlate``).

    f: ``(n,)``, g: ``(m,)`` -> ``(n + m - 1,)``; index ``m - 1`` is the zero shift. It is the
    convolution with the reversed kernel: ``xcorr1d_full(f, g) == conv1d_full(f, g.flip(0))``
    (a complex ``g`` is also conjugated, as NumPy does).
    """
    _check_1d("g", g)
    return conv1d_full(f, g.flip(0).conj())


def next_fast_length(n: int) -> int:
    """Smallest ``m >= n`` with no prime factor but 2, 3 and 5 (``next_fast_len(n, real=True)``).

    FFTs are fastest for such lengths: a length with a large prime factor (514 = 2 x 257) can
    be several times slower than a slightly longer smooth one (540 = 2^2 x 3^3 x 5).
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    m = n
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


def fft_convolve(f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Full linear convolution of two n-D tensors through the FFT (the convolution theorem).

    f: ``(n_1, ..., n_d)``, g: ``(m_1, ..., m_d)`` -> ``(n_1 + m_1 - 1, ...)``. Both are
    zero-padded to at least the full output size, so the FFT's circular convolution has no
    wrap-around and equals the linear one; the padded length is rounded up to a fast FFT
    length (``next_fast_length``) and the result cropped. Real inputs give a real output, in
    ``scipy.signal.fftconvolve``'s dtype (integers: float64, float16: float32); an empty input
    gives an empty ``(0,)`` result, as in SciPy (in the same dtype as a non-empty one).
    """
    _check_same_ndim(f, g)
    dtype = fft_dtype(f, g)
    if f.numel() == 0 or g.numel() == 0:
        return torch.zeros(0, dtype=dtype, device=f.device)
    shape = [a + b - 1 for a, b in zip(f.shape, g.shape, strict=True)]
    fast = [next_fast_length(n) for n in shape]
    dims = tuple(range(f.ndim))
    crop = tuple(slice(0, n) for n in shape)
    f, g = f.to(dtype), g.to(dtype)
    if dtype.is_complex:
        spectrum = torch.fft.fftn(f, s=fast, dim=dims) * torch.fft.fftn(g, s=fast, dim=dims)
        return torch.fft.ifftn(spectrum, s=fast, dim=dims)[crop]
    spectrum = torch.fft.rfftn(f, s=fast, dim=dims) * torch.fft.rfftn(g, s=fast, dim=dims)
    return torch.fft.irfftn(spectrum, s=fast, dim=dims)[crop]


def _check_same_ndim(f, g) -> None:
    require_tensor(f, "f")
    require_tensor(g, "g")
    if f.ndim != g.ndim or f.ndim == 0:
        raise ValueError(
            f"f and g need the same number (>= 1) of dimensions, got "
            f"{tuple(f.shape)} and {tuple(g.shape)}"
        )


def autocorrelation(x: torch.Tensor) -> torch.Tensor:
    """Normalised autocorrelation of a real 1-D signal for shifts ``0 .. n-1``.

    x: ``(n,)`` -> ``(n,)`` (float64 for an integer x); the mean is removed first and the
    result divided by its value at shift 0, so ``r[0] == 1`` and ``r[k]`` says how alike the
    signal is to itself ``k`` samples later (1: identical, 0: unrelated, -1: opposite).
    Computed with the FFT (``O(n log n)``).
    """
    _check_1d("x", x)
    check_real(x, "x")
    x = x.to(fft_dtype(x))
    centred = x - x.mean()
    full = fft_convolve(centred, centred.flip(0))  # correlation = convolution with the reverse
    r = full[x.numel() - 1 :]
    if float(r[0]) == 0.0:
        raise ValueError("a constant signal has no autocorrelation structure")
    return r / r[0]


def estimate_period(x: torch.Tensor, min_lag: int = 2) -> int:
    """Period of a noisy periodic signal, read off its autocorrelation.

    x: ``(n,)``. The autocorrelation is 1 at shift 0 and peaks again at every multiple of the
    period. Skipping the hump around shift 0 (up to the first negative value, and at least
    ``min_lag``), the period is the first peak that reaches 70% of the highest one in the
    first half of the shifts (later multiples are about as high, and noise can favour them).
    Noise can also move a broad peak by a sample, so the estimate is refined to the lag whose
    multiples (lag, 2 lag, ...) have the highest mean autocorrelation. Returns an int.
    """
    r = autocorrelation(x)
    negative = torch.nonzero(r[min_lag:] < 0)
    if negative.numel() == 0:
        raise ValueError("the autocorrelation never turns negative: no period is visible")
    start = min_lag + int(negative[0])
    half = x.numel() // 2  # a period must repeat at least twice to be measured reliably
    if start >= half:
        raise ValueError("no full repeat fits into the first half of the signal")
    lags = r[start : half + 1]
    if float(lags.max()) <= 0:
        raise ValueError(
            "the autocorrelation has no positive peak after its first dip: no period is visible"
        )
    threshold = 0.7 * float(lags.max())
    first = int(torch.nonzero(lags >= threshold)[0])
    last = first
    while last + 1 < lags.numel() and float(lags[last + 1]) >= threshold:
        last += 1
    guess = start + first + int(torch.argmax(lags[first : last + 1]))
    spread = max(1, guess // 10)
    candidates = [
        lag
        for lag in range(max(start, guess - spread), min(half, guess + spread) + 1)
        if float(r[lag]) >= threshold
    ]
    comb = [float(r[lag : half + 1 : lag].mean()) for lag in candidates]
    return candidates[max(range(len(comb)), key=comb.__getitem__)]


def gaussian_pdf(x: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """Density of ``N(0, bandwidth**2)`` at ``x`` (any shape)."""
    return torch.exp(-0.5 * (x / bandwidth) ** 2) / (bandwidth * math.sqrt(2 * math.pi))


def kde_by_convolution(samples: torch.Tensor, grid: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """Gaussian kernel density estimate on an evenly spaced grid, as a convolution.

    samples: ``(N,)``; grid: ``(G,)`` evenly spaced and covering the samples -> ``(G,)``.
    Each sample is dropped into its nearest grid cell (a histogram normalised to a density),
    and the histogram is convolved with a Gaussian of standard deviation ``bandwidth``:
    ``p(x) = (1/N) sum_i K(x - x_i) = (histogram * K)(x)``, exact up to the binning.
    """
    _check_1d("samples", samples)
    _check_1d("grid", grid)
    check_finite(samples, "samples")
    if grid.numel() < 2:
        raise ValueError("the grid needs at least two points")
    step = float(grid[1] - grid[0])
    if step <= 0 or not torch.allclose(
        torch.diff(grid), torch.full_like(grid[1:], step), rtol=1e-4, atol=1e-9
    ):
        raise ValueError("the grid must be increasing and evenly spaced")
    cells = torch.round((samples.to(grid.dtype) - grid[0]) / step).long()
    if bool((cells < 0).any() or (cells >= grid.numel()).any()):
        raise ValueError("every sample must lie inside the grid")
    counts = torch.bincount(cells, minlength=grid.numel()).to(grid.dtype)
    histogram = counts / (samples.numel() * step)  # integrates to 1 over the grid
    half = grid.numel() - 1
    offsets = torch.arange(-half, half + 1, dtype=grid.dtype, device=grid.device) * step
    kernel = gaussian_pdf(offsets, bandwidth) * step
    full = fft_convolve(histogram, kernel)
    return full[half : half + grid.numel()]
