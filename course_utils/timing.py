"""Measuring how long a piece of tensor code takes, fairly on the CPU and on a GPU.

GPU kernels run asynchronously: without a synchronisation the clock stops before the work is
done. ``best_time`` warms up once (first calls pay for memory allocation and kernel selection),
synchronises around every run and reports the fastest of several runs, which is the least
disturbed by other programs on the machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def synchronize(device: torch.device | str) -> None:
    """Wait until every queued kernel on ``device`` has finished (no-op on the CPU)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def best_time(
    fn: Callable[[], object], device: torch.device | str = "cpu", repeat: int = 5, warmup: int = 1
) -> float:
    """Seconds taken by the fastest of ``repeat`` calls of ``fn()``, after ``warmup`` calls."""
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    for _ in range(warmup):
        fn()
    synchronize(device)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best
