"""Hidden cases drawn outside the student's kernel: inverse problems whose answer made the input.

Most hidden checks give a function inputs and compare what it returns with a value the grader
computes from the same inputs: knowing how the inputs were drawn does not give the answer. Some
checks are *inverse problems*: the period of a signal that was made with that period, whether a
kernel that was made as a low-pass filter is low-pass, the kernel that made ``Y`` from ``X``.
Drawn in the graded kernel, the answer would sit there beside the input (``_period``, a list of
labelled kernels, the true ``_K``), and since the kernel also holds the hidden test's source, even
its seed would give the answer away. A student's function could read it instead of computing it.

Such cases are drawn here, by a named *case set*, and handed to the kernel as data:

- the grader draws every case set an assignment's test cells name (``hidden_cases("...")``) with
  a seed that follows from the course's secret key, and writes two files (``write``): the inputs
  alone for the graded kernels, inputs and answers for the reference run of the solution;
- the worker puts the right file in the kernel's scratch folder and names it in
  ``CASES_ENV``; ``hidden_cases`` reads it (plain ``.npz`` arrays, ``allow_pickle=False``);
- outside the grader (a notebook run by hand, the book build) ``CASES_ENV`` is unset and
  ``hidden_cases`` draws the set with ``PUBLIC_SEED``, answers included.

In a test cell::

    for _case in hidden_cases("noisy-periods"):
        check_equal(signal_period(torch.from_numpy(_case.inputs["x"])), _case.expected, _case.name)

In a graded kernel ``_case.expected`` is None (the file has no answers; the grader strips the
expected argument anyway) and the checker compares the recorded value with the reference run's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CASES_ENV = "COURSE_HIDDEN_CASES"  # the file of this kernel's cases (set by the grader only)
CASES_FILE = ".course-hidden-cases.npz"  # its name in the kernel's scratch folder
PUBLIC_SEED = 0  # the draw outside the grader (the grader's seed is secret)


class HiddenCasesError(Exception):
    """The grader's cases file is missing, unreadable, or lacks a case set a test names."""


@dataclass(frozen=True)
class Case:
    """One hidden case: ``inputs`` (name -> array), ``expected`` (None in a graded kernel) and
    the check's ``name``, which never contains the answer."""

    inputs: dict
    expected: object
    name: str


# -- the case sets ------------------------------------------------------------------------------
def noisy_periods(rng: np.random.Generator) -> list[Case]:
    """ex01 ``signal_period``: 8 random 10-to-59-sample patterns (none nearly repeating at a
    shorter lag) repeated to 1,200-2,499 samples, plus Gaussian noise of standard deviation
    0.6. Input ``x`` (N,) float64; the answer is the pattern's length."""
    cases = []
    for index in range(8):
        period = int(rng.integers(10, 60))
        length = int(rng.integers(1200, 2500))
        pattern = _unambiguous_pattern(rng, period)
        x = pattern[np.arange(length) % period] + 0.6 * rng.standard_normal(length)
        cases.append(Case({"x": x}, period, f"the period of random pattern {index} plus noise"))
    return cases


MAX_SHORTER_LAG_CORRELATION = 0.4  # of a noisy-periods pattern with itself, shifted circularly


def _unambiguous_pattern(rng: np.random.Generator, period: int) -> np.ndarray:
    """A random pattern of ``period`` samples that does not nearly repeat at a shorter lag.

    About 1 pattern in 400 happens to look like a pattern of half its length (its circular
    autocorrelation at ``period / 2`` is high): for such a signal, "the period" is ambiguous
    and an honest estimator may rightly answer the shorter one. Such patterns are drawn again."""
    while True:
        pattern = rng.standard_normal(period)
        centred = pattern - pattern.mean()
        spectrum = np.fft.rfft(centred)
        circular = np.fft.irfft(np.abs(spectrum) ** 2, period)  # lags 0 .. period - 1
        if circular[1:].max() < MAX_SHORTER_LAG_CORRELATION * circular[0]:
            return pattern


def _gaussian(sigma: float, size: int) -> np.ndarray:
    """A (size, size) Gaussian kernel: the blur of one bright pixel in the middle, as
    ``scipy.ndimage.gaussian_filter(impulse, sigma, mode="constant")`` computes it (radius
    ``int(4 sigma + 0.5)``, cut at the border). NumPy only: the case sets run inside the watch
    of parts whose ban includes SciPy."""
    radius = int(4.0 * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    weights = np.exp(-(offsets**2) / (2 * sigma**2))
    line = np.zeros(size)
    inside = (offsets + size // 2 >= 0) & (offsets + size // 2 < size)
    line[offsets[inside] + size // 2] = weights[inside] / weights.sum()
    return np.outer(line, line)


PASS_TYPE_MARGIN = 1.5  # a drawn kernel's two gains differ by this factor at least


def _gain_ratio(kernel: np.ndarray, size: int = 64, cutoff: float = 0.25) -> float:
    """The kernel's gain at zero frequency over its mean gain at high frequencies (radius of at
    least ``cutoff`` cycles per sample), on a ``size`` x ``size`` frequency grid: above 1 it
    is low-pass, below 1 high-pass: ``course_utils.filters.pass_type``'s rule, written again in
    NumPy because that module is banned in the part under test (its labels agree on every
    case: ``tests/test_hidden_cases.py``)."""
    response = np.abs(np.fft.fft2(kernel, s=(size, size)))
    f = np.fft.fftfreq(size)
    radius = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    return float(response[0, 0] / max(response[radius >= cutoff].mean(), 1e-300))


def _odd_side(rng: np.random.Generator, low: int = 3) -> int:
    return int(rng.choice(np.arange(low, 16, 2)))


def _centred(kernel: np.ndarray, side: int) -> np.ndarray:
    """``kernel`` (no larger than ``side``) in the middle of a ``side`` x ``side`` field of
    zeros."""
    h, w = kernel.shape
    top, left = (side - h) // 2, (side - w) // 2
    return np.pad(kernel, ((top, side - h - top), (left, side - w - left)))


def _low_pass(rng: np.random.Generator, kind: int) -> np.ndarray:
    """One low-pass kernel of five kinds; the last two have negative entries."""
    side = _odd_side(rng, 5)
    if kind == 0:
        return _gaussian(rng.uniform(0.6, 3.0), side)
    if kind == 1:
        box = int(rng.integers(2, 8))
        return np.ones((box, box)) / box**2
    if kind == 2:
        return rng.random((int(rng.integers(2, 7)), int(rng.integers(2, 7)))) + 0.1
    if kind == 3:  # a Gaussian with a negative ring
        sigma = rng.uniform(0.8, 1.6)
        return _gaussian(sigma, side) - rng.uniform(0.1, 0.5) * _gaussian(2 * sigma, side)
    noise = rng.standard_normal((side, side))  # a Gaussian with zero-sum ripples
    blur = _gaussian(rng.uniform(1.0, 3.0), side)
    return blur + rng.uniform(0.05, 0.3) * blur.max() * (noise - noise.mean())


def _high_pass(rng: np.random.Generator, kind: int) -> np.ndarray:
    """One high-pass kernel of four kinds, each at a random odd size."""
    side = _odd_side(rng)
    if kind == 0:  # a random zero-sum kernel
        noise = rng.standard_normal((side, side))
        return noise - noise.mean()
    if kind == 1:  # the Laplacian
        return _centred(np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=float), side)
    if kind == 2:  # sharpening: the image plus a multiple of its detail
        side = max(side, 5)
        amount = rng.uniform(0.5, 3.0)
        delta = _centred(np.ones((1, 1)), side)
        return (1 + amount) * delta - amount * _gaussian(rng.uniform(0.7, 2.0), side)
    sigma = rng.uniform(0.6, 1.2)  # a difference of Gaussians (its gain at 0 is about 0)
    side = max(side, 7)
    return _gaussian(sigma, side) - _gaussian(2 * sigma, side)


def pass_types(rng: np.random.Generator) -> list[Case]:
    """ex02 ``pass_type``: 36 kernels in random order, 20 made as low-pass filters (Gaussians,
    boxes, random positive kernels, and with negative entries: Gaussians with a negative ring
    or zero-sum ripples) and 16 as high-pass ones (random zero-sum kernels, Laplacians,
    sharpening kernels, differences of Gaussians), each times a random gain from 0.3 to 3.
    Sizes are drawn so that neither a kernel's shape nor its signs tell its class, and each
    kernel's two gains differ by ``PASS_TYPE_MARGIN`` at least (drawn again otherwise). Input
    ``kernel`` (h, w) float64; the answer is ``"low-pass"`` or ``"high-pass"``."""
    made = []
    for _ in range(4):
        for label, kinds, make in (("low-pass", 5, _low_pass), ("high-pass", 4, _high_pass)):
            for kind in range(kinds):
                while True:
                    kernel = rng.uniform(0.3, 3.0) * make(rng, kind)
                    ratio = _gain_ratio(kernel)
                    if (
                        ratio > PASS_TYPE_MARGIN
                        if label == "low-pass"
                        else (ratio < 1 / PASS_TYPE_MARGIN)
                    ):
                        break
                made.append((kernel, label))
    # shuffled, and named by number alone: a kernel's position or its name ("a scaled
    # Laplacian") would tell its answer
    order = rng.permutation(len(made))
    return [
        Case({"kernel": made[i][0]}, made[i][1], f"pass_type of hidden kernel {index}")
        for index, i in enumerate(order)
    ]


def learned_kernels(rng: np.random.Generator) -> list[Case]:
    """ex03 ``learn_kernel``: 3 random kernels of shapes (2, 2), (3, 3) and (1, 3), entries
    uniform in [-1, 1), each applied to a random (9, 11) image by cross-correlation (valid, as
    ``F.conv2d``). Inputs ``X`` (9, 11) and ``Y`` float32 and the kernel's ``shape`` (2,); the
    answer is the kernel (float32)."""
    cases = []
    for shape in [(2, 2), (3, 3), (1, 3)]:
        X = rng.uniform(-1.0, 1.0, (9, 11)).astype(np.float32)
        kernel = rng.uniform(-1.0, 1.0, shape).astype(np.float32)
        windows = np.lib.stride_tricks.sliding_window_view(X.astype(np.float64), shape)
        Y = np.einsum("ijkl,kl->ij", windows, kernel.astype(np.float64))
        inputs = {"X": X, "Y": Y.astype(np.float32), "shape": np.asarray(shape)}
        cases.append(Case(inputs, kernel, f"the learned {shape} kernel"))
    return cases


CASE_SETS = {
    "noisy-periods": noisy_periods,
    "pass-types": pass_types,
    "learned-kernels": learned_kernels,
}


def draw(case_set: str, seed: int) -> list[Case]:
    """The cases of ``case_set`` drawn with ``seed``, answers included.

    Raises ``HiddenCasesError`` for an unknown set."""
    if case_set not in CASE_SETS:
        known = ", ".join(sorted(CASE_SETS))
        raise HiddenCasesError(f"unknown hidden case set {case_set!r} (known: {known})")
    return CASE_SETS[case_set](np.random.default_rng(seed))


# -- the file the grader hands in ------------------------------------------------------------
def write(path: Path, drawn: dict[str, list[Case]], with_answers: bool) -> None:
    """Write ``{case_set: cases}`` to the ``.npz`` file ``path``: every input, every name and,
    when ``with_answers``, every answer (the reference run's file; never a graded kernel's)."""
    arrays = {}
    for case_set, cases in drawn.items():
        arrays[f"{case_set}/count"] = np.asarray(len(cases))
        for index, case in enumerate(cases):
            prefix = f"{case_set}/{index}"
            arrays[f"{prefix}/name"] = np.asarray(case.name)
            for key, value in case.inputs.items():
                arrays[f"{prefix}/input/{key}"] = np.asarray(value)
            if with_answers:
                arrays[f"{prefix}/expected"] = np.asarray(case.expected)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _value(array: np.ndarray):
    """A stored answer as the check receives it: a 0-d array as its Python scalar."""
    return array.item() if array.ndim == 0 else array


def read(path: Path, case_set: str) -> list[Case]:
    """The cases of ``case_set`` in the grader's file ``path`` (answers only where stored)."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            if f"{case_set}/count" not in stored.files:
                raise HiddenCasesError(f"the grader's cases file has no case set {case_set!r}")
            cases = []
            for index in range(int(stored[f"{case_set}/count"])):
                prefix = f"{case_set}/{index}"
                inputs = {
                    key.rsplit("/", 1)[1]: stored[key]
                    for key in stored.files
                    if key.startswith(f"{prefix}/input/")
                }
                answer = f"{prefix}/expected"
                expected = _value(stored[answer]) if answer in stored.files else None
                cases.append(Case(inputs, expected, str(stored[f"{prefix}/name"])))
            return cases
    except (OSError, ValueError, KeyError) as error:
        raise HiddenCasesError(f"the grader's cases file {path} cannot be read: {error}") from None


def hidden_cases(case_set: str) -> list[Case]:
    """The cases of ``case_set`` for this kernel: the grader's file (``CASES_ENV``) when the
    grader runs it, else a public draw (``PUBLIC_SEED``) with answers.

    Raises ``HiddenCasesError`` when the grader named a file that is missing or lacks the set,
    or runs this kernel (``COURSE_RECORD``) without one: a graded kernel never draws its own."""
    path = os.environ.get(CASES_ENV)
    if path:
        return read(Path(path), case_set)
    if os.environ.get("COURSE_RECORD"):
        raise HiddenCasesError(f"the grader gave this kernel no cases file ({CASES_ENV})")
    return draw(case_set, PUBLIC_SEED)
