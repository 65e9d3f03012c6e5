"""course_utils.testing: the checks exercise test cells rely on fail when they should."""

import numpy as np
import pytest
import torch

from course_utils.testing import (
    check_close,
    check_equal,
    check_tensor,
    check_type,
    random_tensor,
    tolerances,
)


def test_check_tensor_accepts_an_equal_tensor_within_tolerance():
    expected = random_tensor(4, 5, seed=1)
    check_tensor(expected + 1e-7, expected)


@pytest.mark.parametrize(
    ("actual", "message"),
    [
        (torch.zeros(4, 5, dtype=torch.float64), "dtype"),
        (torch.zeros(5, 4), "shape"),
        (np.zeros((4, 5), dtype=np.float32), "torch.Tensor"),
        (torch.zeros(4, 5) + 1.0, "differs from the reference values: at 20 of 20 places"),
        (torch.full((4, 5), float("nan")), "NaN"),
    ],
)
def test_check_tensor_names_what_differs(actual, message):
    with pytest.raises(AssertionError, match=message):
        check_tensor(actual, torch.zeros(4, 5), name="Y")


def test_check_tensor_refuses_tensor_subclasses_that_could_lie():
    class AlwaysEqual(torch.Tensor):
        def __eq__(self, other):
            return True

    liar = torch.zeros(2).as_subclass(AlwaysEqual)
    with pytest.raises(AssertionError, match="torch.Tensor"):
        check_tensor(liar, torch.ones(2))


def test_check_tensor_compares_complex_values():
    z = torch.tensor([1 + 2j, 3 - 1j])
    check_tensor(z.clone(), z)
    with pytest.raises(AssertionError):
        check_tensor(z.conj().resolve_conj(), z)


def test_tolerances_are_looser_on_gpu_for_float32():
    cpu = tolerances(torch.float32, "cpu")
    cuda = tolerances(torch.float32, "cuda")
    assert cuda[0] > cpu[0] and cuda[1] > cpu[1]


def test_check_close_and_check_equal():
    check_close(torch.tensor(0.5), 0.5)
    check_close(np.float64(2.0), 2.0)
    with pytest.raises(AssertionError, match="is not a single number"):
        check_close("0.5", 0.5)
    with pytest.raises(AssertionError, match="got 3.0, expected 4.0"):
        check_close(3, 4)
    check_equal(np.int64(5), 5)
    with pytest.raises(AssertionError, match="should be a int"):
        check_equal(True, 1)
    with pytest.raises(AssertionError, match="should be a tuple"):
        check_equal([1, 2], (1, 2))


def test_check_type():
    check_type(3, int)
    with pytest.raises(AssertionError, match="should be a int, got str"):
        check_type("3", int)


def test_random_tensor_is_reproducible_and_in_range():
    a, b = random_tensor(100, seed=7, low=2, high=3), random_tensor(100, seed=7, low=2, high=3)
    assert torch.equal(a, b) and float(a.min()) >= 2 and float(a.max()) <= 3


def test_a_numpy_string_counts_as_a_str_in_the_kernel_and_in_the_grader():
    """An item of an array of strings (np.str_) is a str, as a NumPy number is its Python kind."""
    from course_utils.checking.checks import decoded

    item = np.array(["low-pass", "high-pass"])[0]
    check_equal(item, "low-pass", "an np.str_ answer")
    assert decoded(item) == decoded("low-pass")
    with pytest.raises(AssertionError, match="expected 'high-pass'"):
        check_equal(item, "high-pass", "a wrong np.str_ answer")
