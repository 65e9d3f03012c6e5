"""best_time measures the fastest of several runs and refuses nonsense."""

import time

import pytest
import torch

from course_utils.timing import best_time, synchronize


def test_best_time_measures_a_known_delay():
    calls = []

    def work():
        calls.append(1)
        time.sleep(0.01)

    seconds = best_time(work, "cpu", repeat=3, warmup=1)
    assert len(calls) == 4
    assert 0.009 <= seconds < 0.5


def test_best_time_refuses_zero_repeats():
    with pytest.raises(ValueError, match="repeat"):
        best_time(lambda: None, repeat=0)


def test_synchronize_on_cpu_is_a_no_op():
    synchronize(torch.device("cpu"))
    synchronize("cpu")
