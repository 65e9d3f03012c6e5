"""1-D convolution, FFT convolution, autocorrelation and KDE against NumPy and SciPy."""

import numpy as np
import pytest
import torch
from scipy import stats

from course_utils.signals import (
    autocorrelation,
    conv1d_full,
    estimate_period,
    fft_convolve,
    kde_by_convolution,
    xcorr1d_full,
)


def test_seed_worked_example():
    f, g = torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.ones(3)
    once = conv1d_full(f, g)
    assert once.tolist() == [1, 3, 6, 9, 7, 4]
    assert conv1d_full(once, g).tolist() == [1, 4, 10, 18, 22, 20, 11, 4]


@pytest.mark.parametrize(("n", "m"), [(1, 1), (5, 3), (3, 5), (17, 17), (40, 7)])
def test_conv_and_xcorr_match_numpy(n, m):
    rng = np.random.default_rng(n * 100 + m)
    f, g = rng.standard_normal(n), rng.standard_normal(m)
    tf, tg = torch.tensor(f), torch.tensor(g)
    np.testing.assert_allclose(conv1d_full(tf, tg).numpy(), np.convolve(f, g), atol=1e-12)
    np.testing.assert_allclose(xcorr1d_full(tf, tg).numpy(), np.correlate(f, g, "full"), atol=1e-12)
    np.testing.assert_allclose(fft_convolve(tf, tg).numpy(), np.convolve(f, g), atol=1e-10)


def test_convolution_is_commutative_but_correlation_is_not():
    f, g = torch.tensor([1.0, 2.0, 0.0, -1.0]), torch.tensor([3.0, 1.0])
    torch.testing.assert_close(conv1d_full(f, g), conv1d_full(g, f))
    assert not torch.allclose(xcorr1d_full(f, g), xcorr1d_full(g, f))


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="1-D"):
        conv1d_full(torch.zeros(2, 2), torch.ones(3))
    with pytest.raises(TypeError):
        conv1d_full([1.0, 2.0], torch.ones(3))
    with pytest.raises(ValueError, match="dimensions"):
        fft_convolve(torch.zeros(3), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="constant"):
        autocorrelation(torch.ones(10))


def test_autocorrelation_matches_numpy():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(200)
    c = x - x.mean()
    expected = np.correlate(c, c, "full")[199:]
    np.testing.assert_allclose(
        autocorrelation(torch.tensor(x)).numpy(), expected / expected[0], atol=1e-10
    )


@pytest.mark.parametrize("seed", range(12))
def test_estimate_period_of_noisy_signals(seed):
    rng = np.random.default_rng(seed)
    period = int(rng.integers(10, 60))
    t = np.arange(1000)
    shape = rng.standard_normal(period)  # an arbitrary repeating pattern, not just a sine
    x = shape[t % period] + 0.5 * rng.standard_normal(t.size)
    assert estimate_period(torch.tensor(x)) == period


def test_kde_by_convolution_matches_gaussian_kde():
    rng = np.random.default_rng(4)
    samples = np.concatenate([rng.normal(-2, 0.5, 300), rng.normal(1.5, 1.0, 500)])
    kde = stats.gaussian_kde(samples)
    bandwidth = float(np.sqrt(kde.covariance[0, 0]))
    grid = np.linspace(-6, 6, 1201)
    ours = kde_by_convolution(torch.tensor(samples), torch.tensor(grid), bandwidth).numpy()
    np.testing.assert_allclose(ours, kde(grid), atol=2e-3)
    assert abs(ours.sum() * (grid[1] - grid[0]) - 1) < 1e-3


@pytest.mark.parametrize("seed", range(5))
def test_estimate_period_of_a_noisy_wave(seed):
    """A smooth wave has broad peaks: noise must not move the estimate by a sample."""
    rng = np.random.default_rng(seed)
    t = np.arange(800)
    wave = np.sin(2 * np.pi * t / 37) + 0.5 * np.sign(np.sin(4 * np.pi * t / 37))
    assert estimate_period(torch.tensor(wave + 0.8 * rng.standard_normal(t.size))) == 37


def test_estimate_period_refuses_signals_without_repeats():
    with pytest.raises(ValueError):
        estimate_period(torch.linspace(0, 1, 100))


def test_next_fast_length_matches_scipy():
    from scipy.fft import next_fast_len

    from course_utils.signals import next_fast_length

    for n in [1, 2, 7, 97, 257, 514, 542, 1000, 1021, 4099]:
        assert next_fast_length(n) == next_fast_len(n, real=True), n
    with pytest.raises(ValueError):
        next_fast_length(0)
