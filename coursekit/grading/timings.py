"""Where grading time goes: phase stamps, written only when ``COURSE_TIMINGS`` names a file.

``benchmarks/autograde.py --profile`` sets ``COURSE_TIMINGS`` and prints the table these stamps
make (wall and CPU seconds per phase, per submission). Unset, ``phase`` costs one dictionary
lookup: nothing is measured or written. Each stamp is one JSON line::

    {"label": "student03", "phase": "kernel start", "pid": 123, "start": 1.0e9,
     "wall": 0.8, "cpu": 0.1, "kernel_cpu": 1.9}

``cpu`` is this process's CPU time during the phase; ``kernel_cpu`` (worker phases only) the
CPU time the sandboxed kernel's processes used meanwhile, read from ``/proc``.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

ENV = "COURSE_TIMINGS"


def enabled() -> bool:
    return bool(os.environ.get(ENV))


def process_tree_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its live descendants."""
    if pid is None:
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    parent_of, cpu_of = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent_of[int(entry.name)] = int(fields[1])
        cpu_of[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    total = 0.0
    for candidate, used in cpu_of.items():
        node = candidate
        while node and node != pid:
            node = parent_of.get(node, 0)
        if node == pid:
            total += used
    return total


def record(label: str, phase: str, start: float, wall: float, cpu: float, **extra) -> None:
    """Append one stamp to the timings file (no-op unless ``COURSE_TIMINGS`` is set)."""
    path = os.environ.get(ENV)
    if not path:
        return
    line = {
        "label": label,
        "phase": phase,
        "pid": os.getpid(),
        "start": start,
        "wall": wall,
        "cpu": cpu,
        **extra,
    }
    with open(path, "a") as handle:  # one short write per line: concurrent writers interleave
        handle.write(json.dumps(line) + "\n")


class Stopwatch:
    """One phase being timed: ``stop()`` writes its stamp (see ``phase``)."""

    def __init__(self, label: str, name: str, kernel_pid=None):
        self.label, self.name, self.kernel_pid = label, name, kernel_pid
        self.on = enabled()
        if not self.on:
            return
        self.pid = kernel_pid() if kernel_pid else None
        self.kernel_before = process_tree_cpu(self.pid)
        self.start, self.cpu = time.time(), time.process_time()

    def stop(self) -> None:
        if not self.on:
            return
        self.on = False
        extra = {}
        if self.kernel_pid:
            pid = self.kernel_pid() or self.pid
            extra["kernel_cpu"] = max(0.0, process_tree_cpu(pid) - self.kernel_before)
        wall, cpu = time.time() - self.start, time.process_time() - self.cpu
        record(self.label, self.name, self.start, wall, cpu, **extra)


@contextlib.contextmanager
def phase(label: str, name: str, kernel_pid=None):
    """Time the ``with`` body as phase ``name`` of ``label`` (a student, "reference", "-").

    ``kernel_pid``: a callable giving the kernel's outermost process id, whose tree's CPU time
    is added as ``kernel_cpu``.
    """
    watch = Stopwatch(label, name, kernel_pid)
    try:
        yield
    finally:
        watch.stop()
