"""The execution phase (untrusted code runs here): worker jobs, ``jobs`` at a time.

Takes a list of ``Job`` (plain data: the JSON job file of ``worker.py`` plus a label) and returns
per label the events and any note (time limit, a worker that failed). Each job runs in a forked
worker process, whose kernel gets a sandbox user of its own (``sandbox.allocate_uid``, unique on
the machine while the job runs), so one submission's processes cannot signal, out-fork or
otherwise reach another's. The results are files under the folders each job names; nothing here
reads a notebook or writes the gradebook.
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
from dataclasses import dataclass, field
from pathlib import Path

from .report import Progress
from .sandbox import KernelCgroup, Limits

# Workers are forked from this process, which has already imported nbgrader and nbclient:
# starting one costs milliseconds instead of a second of imports per submission.
_FORK = multiprocessing.get_context("fork")


@dataclass
class Job:
    label: str          # the student (or "reference")
    spec: dict          # the worker's job file


@dataclass
class Outcome:
    events: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _work(job_file: str, log_file: str) -> None:
    """Body of a forked worker: its own session (killable as a group), output to a log."""
    os.setsid()
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    code = 1
    try:
        from .worker import main

        code = main([job_file])
    except BaseException:  # noqa: BLE001 - everything goes to the log, the parent reads it
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def run_jobs(jobs: Iterable[Job], work: Path, parallel: int, limits: Limits,
             progress: Progress | None = None,
             on_done: Callable[[str, Outcome], None] | None = None) -> dict[str, Outcome]:
    """Run every job, ``parallel`` at a time, each stopped after the per-submission limit.

    ``jobs`` may be a generator: the next job is only asked for when a worker is free, so the
    caller's trusted work (intake, and ``on_done``: checking and recording a finished job) runs
    here while the workers run, not before or after them.
    """
    from . import execute as _execute  # noqa: F401 - imported once, before forking
    from . import worker as _worker  # noqa: F401

    work.mkdir(parents=True, exist_ok=True)
    outcomes: dict[str, Outcome] = {}
    pending = iter(jobs)
    exhausted = False
    running: dict[int, tuple] = {}   # slot -> (job, process, started)
    while not exhausted or running:
        while not exhausted and len(running) < max(1, parallel):
            job = next(pending, None)
            if job is None:
                exhausted = True
                break
            outcomes[job.label] = Outcome()
            slot = next(s for s in range(max(1, parallel)) if s not in running)
            job_file = work / f"job-{job.label}.json"
            job_file.write_text(json.dumps(job.spec))
            process = _FORK.Process(target=_work, args=(str(job_file),
                                                        str(work / f"worker-{job.label}.log")))
            process.start()
            running[slot] = (job, process, time.monotonic())
        time.sleep(0.05)
        for slot, (job, process, started) in list(running.items()):
            elapsed = time.monotonic() - started
            code = process.exitcode
            if code is None and elapsed < limits.submission_timeout:
                continue
            outcome = outcomes[job.label]
            if code is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.join()
                KernelCgroup.sweep(process.pid)
                outcome.notes.append(
                    f"stopped after the {limits.submission_timeout} s limit per submission")
            elif code != 0:
                log = (work / f"worker-{job.label}.log").read_text(errors="replace")
                last = [x for x in log.splitlines() if x.strip()][-1:] or ["no output"]
                outcome.notes.append(f"execution failed: {last[0][:200]}")
            events_file = Path(job.spec["events"])
            if events_file.is_file():
                try:
                    outcome.events = json.loads(events_file.read_text())
                except ValueError:
                    outcome.events = {}
            outcome.seconds = elapsed
            del running[slot]
            if progress is not None:
                progress.advance(job.label)
            if on_done is not None:
                on_done(job.label, outcome)
    return outcomes
