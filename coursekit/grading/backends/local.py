"""The local backend: workers forked on this machine, ``jobs`` at a time (the default)."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path

from .. import timings
from . import Outcome, Task, last_line

# Workers are forked from this process, which has already imported nbgrader and nbclient:
# starting one costs milliseconds instead of a second of imports per submission.
_FORK = multiprocessing.get_context("fork")


def _work(job_file: str, log_file: str) -> None:
    """Body of a forked worker: its own session (killable as a group), output to a log."""
    os.setsid()
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    code = 1
    try:
        from ..worker import main

        code = main([job_file])
    except BaseException:  # noqa: BLE001 - everything goes to the log, the parent reads it
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


class LocalBackend:
    """Forked workers on this machine; a worker past its time is killed with its group."""

    name = "local"
    runs_here = True

    def work_parent(self) -> Path | None:
        return None

    def dry_run(self, assignment: str, students: list[str], *, jobs: int, limits) -> str:
        return (
            f"{len(students)} submission(s) of {assignment} would run here, {jobs} at a time, "
            f"{limits.submission_timeout} s each at most.\n"
        )

    def run(
        self,
        tasks: Iterable[Task],
        *,
        jobs: int,
        timeout: int,
        progress: Callable[[str], None],
        on_done: Callable[[Outcome], None] | None = None,
    ) -> dict[str, Outcome]:
        """See ``Backend.run``: the next task is taken only when a worker is free."""
        from .. import execute as _execute  # noqa: F401 - imported once, before forking
        from .. import worker as _worker  # noqa: F401

        pending = iter(tasks)
        exhausted = False
        running: dict[str, tuple] = {}
        outcomes: dict[str, Outcome] = {}
        try:
            while not exhausted or running:
                while not exhausted and len(running) < max(1, jobs):
                    task = next(pending, None)
                    if task is None:
                        exhausted = True
                        break
                    process = _FORK.Process(
                        target=_work, args=(str(task.job_file), str(task.log_file))
                    )
                    process.start()
                    running[task.name] = (task, process, time.monotonic())
                time.sleep(0.05)
                for name, (task, process, started) in list(running.items()):
                    elapsed = time.monotonic() - started
                    code = process.exitcode
                    if code is None and elapsed < timeout:
                        continue
                    outcome = Outcome(name, ok=code == 0, seconds=elapsed)
                    timings.record(
                        name, "worker (fork to exit)", time.time() - elapsed, elapsed, 0.0
                    )
                    if code is None:
                        self._kill(process)
                        outcome.timed_out = True
                    elif code != 0:
                        outcome.message = last_line(task.log_file)
                    outcomes[name] = outcome
                    del running[name]
                    progress(name)
                    if on_done is not None:
                        on_done(outcome)
        finally:
            for _, process, _ in running.values():  # interrupted: no worker outlives the run
                self._kill(process)
        return outcomes

    @staticmethod
    def _kill(process) -> None:
        """Kill a worker's group, then what is left in the kernel cgroups it made."""
        from ..sandbox import KernelCgroup

        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.join()
        KernelCgroup.sweep(process.pid)
