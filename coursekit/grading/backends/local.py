"""The local backend: workers forked on this machine, ``jobs`` at a time (the default).

With a job template (``run(..., warm=TEMPLATE)``, see ``worker.WarmKernel``), a spare worker
starts the next submission's sandboxed kernel and imports the assignment's modules while the
current ones run; the next job that fits the template is handed to it. The backend takes each
task one step ahead (the caller's intake of the next submission runs while workers run) and
refills a free slot before it reports the finished job (the caller's checking and recording run
while the next worker starts).
"""

from __future__ import annotations

import contextlib
import json
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


def _work_warm(template: dict, receiver) -> None:
    """Body of a spare worker: its own session; a kernel started ahead, then the job it is
    handed (``worker.serve_warm``); output to the job's log once it has one."""
    os.setsid()
    fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    code = 1

    def receive():
        try:
            return receiver.recv()
        except EOFError:  # the grader ended before handing anything over
            return None

    try:
        from ..worker import serve_warm

        code = serve_warm(template, receive)
    except BaseException:  # noqa: BLE001 - everything goes to the log, the parent reads it
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _before_forking() -> None:
    """What every worker needs, made once here so that forked workers share it: the grader's
    modules, jupyter_client's provisioner table (read from entry points) and the held-out
    masks, whose making imports torch and the teaching library (a second or more per process)."""
    from jupyter_client.provisioning import KernelProvisionerFactory

    from .. import execute as _execute  # noqa: F401
    from .. import worker as _worker  # noqa: F401
    from ..heldout import masked_files

    KernelProvisionerFactory.instance()
    masked_files()


class LocalBackend:
    """Forked workers on this machine; a worker past its time is killed with its group."""

    name = "local"
    runs_here = True
    prewarms = True  # takes ``warm=``: kernels started ahead (see the module's docstring)

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
        warm: dict | None = None,
    ) -> dict[str, Outcome]:
        """See ``Backend.run``; ``warm``: the job template of kernels started ahead.

        The next task is taken when the last one has started (one step ahead); a task's time
        limit counts from when its worker is handed the job.
        """
        pending = iter(tasks)
        upcoming = next(pending, None)
        running: dict[str, tuple] = {}
        spares: list[tuple] = []  # (process, sender): a kernel warming for ``upcoming``
        outcomes: dict[str, Outcome] = {}
        prepared = False

        def fill() -> None:
            """Start tasks while a worker is free; then take the next (its intake runs now)."""
            nonlocal upcoming, prepared
            while upcoming is not None and len(running) < max(1, jobs):
                process = self._start(upcoming, warm, spares)
                running[upcoming.name] = (upcoming, process, time.monotonic())
                if not prepared:  # while the first worker starts, for all the later ones
                    _before_forking()
                    prepared = True
                upcoming = next(pending, None)

        try:
            while upcoming is not None or running:
                fill()
                if upcoming is not None and not spares and self._fits(upcoming, warm):
                    spares.append(self._spare(warm))
                ended = []
                for name, (task, process, started) in list(running.items()):
                    elapsed = time.monotonic() - started
                    code = process.exitcode
                    if code is None and elapsed < timeout:
                        continue
                    outcome = Outcome(name, ok=code == 0, seconds=elapsed)
                    timings.record(
                        name, "worker (handed to exit)", time.time() - elapsed, elapsed, 0
                    )
                    if code is None:
                        self._kill(process)
                        outcome.timed_out = True
                    elif code != 0:
                        outcome.message = last_line(task.log_file)
                    outcomes[name] = outcome
                    del running[name]
                    ended.append(outcome)
                if not ended:
                    time.sleep(0.05)
                    continue
                fill()
                for outcome in ended:  # checked and recorded while the next ones run
                    progress(outcome.name)
                    if on_done is not None:
                        on_done(outcome)
        finally:
            for _, process, _ in running.values():  # interrupted: no worker outlives the run
                self._kill(process)
            for process, sender in spares:  # not needed (or interrupted): stopped
                sender.close()
                self._kill(process)
        return outcomes

    @staticmethod
    def _fits(task: Task, warm: dict | None) -> bool:
        """Whether ``task``'s job may run in a kernel started ahead from ``warm``."""
        if warm is None:
            return False
        from ..worker import WARM_FIELDS

        try:
            job = json.loads(Path(task.job_file).read_text())
        except (OSError, ValueError):
            return False
        return all(job.get(k) == warm.get(k) for k in WARM_FIELDS)

    def _spare(self, warm: dict) -> tuple:
        """A spare worker, starting a kernel from ``warm`` (it waits to be handed a job)."""
        receiver, sender = _FORK.Pipe(duplex=False)
        process = _FORK.Process(target=_work_warm, args=(warm, receiver))
        process.start()
        receiver.close()
        return process, sender

    def _start(self, task: Task, warm: dict | None, spares: list[tuple]):
        """The worker of ``task``: the spare if it fits (a new one if none is left), else a
        worker that starts its kernels when it starts."""
        if self._fits(task, warm):
            process, sender = spares.pop(0) if spares else self._spare(warm)
            try:
                sender.send((str(task.job_file), str(task.log_file)))
                return process
            except OSError:  # the spare died before it was needed: a worker of its own
                self._kill(process)
            finally:
                sender.close()
        process = _FORK.Process(target=_work, args=(str(task.job_file), str(task.log_file)))
        process.start()
        return process

    @staticmethod
    def _kill(process) -> None:
        """Kill a worker's group, then what is left in the kernel cgroups it made."""
        from ..sandbox import KernelCgroup

        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):  # not yet in a session of its own
            os.kill(process.pid, signal.SIGKILL)
        process.join()
        KernelCgroup.sweep(process.pid)
