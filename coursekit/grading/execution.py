"""The execution phase (untrusted code runs here): worker jobs, ``jobs`` at a time.

Takes a list of ``Job`` (plain data: the JSON job file of ``worker.py`` plus a label) and returns
per label the events and any note (time limit, a worker that failed). The job files go to a
backend (``backends/``) that runs ``python -m coursekit.grading.worker JOB.json`` once per job
and brings the folders the job names back:

- ``local`` (the default): a forked worker process per job on this machine, whose kernel gets a
  sandbox user of its own (``sandbox.allocate_uid``, unique on the machine while the job runs),
  so one submission's processes cannot signal, out-fork or otherwise reach another's;
- ``slurm`` and ``kubernetes``: the same job files as array tasks or pods (see their modules);
  there the worker is not root and its sandbox runs unprivileged, or the pod is the sandbox.

The results are files under the folders each job names; nothing here reads a notebook or
writes the gradebook. Who uses which backend: the graded runs of ``course autograde`` use the
one the instructor picks; the reference run (trusted records the checker relies on) and the
feedback run always use ``local``, so the reference's records never come back through storage
that submissions' jobs write to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .backends import Backend, Task, make_backend
from .report import Progress
from .sandbox import Limits


@dataclass
class Job:
    label: str          # the student (or "reference")
    spec: dict          # the worker's job file


@dataclass
class Outcome:
    events: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_jobs(jobs: list[Job], work: Path, parallel: int, limits: Limits,
             progress: Progress | None = None,
             backend: Backend | None = None) -> dict[str, Outcome]:
    """Run every job, ``parallel`` at a time, each stopped after the per-submission limit.

    ``backend``: where the workers run (default: forked here). Job files and worker logs are
    written to ``work`` (``job-LABEL.json``, ``worker-LABEL.log``), which must be where the
    backend wants its work folder (``backend.work_parent()``) when it is not local.
    """
    backend = backend or make_backend("local")
    work.mkdir(parents=True, exist_ok=True)
    tasks = []
    for job in jobs:
        job_file = work / f"job-{job.label}.json"
        job_file.write_text(json.dumps(job.spec))
        tasks.append(Task(job.label, job_file, work / f"worker-{job.label}.log"))
    ended = backend.run(tasks, jobs=max(1, parallel), timeout=limits.submission_timeout,
                        progress=progress.advance if progress is not None else _quiet)
    outcomes = {job.label: Outcome() for job in jobs}
    for job in jobs:
        outcome, end = outcomes[job.label], ended[job.label]
        if end.timed_out:
            outcome.notes.append(
                f"stopped after the {limits.submission_timeout} s limit per submission")
        elif not end.ok:
            outcome.notes.append(f"execution failed: {end.message or 'no output'}")
        events_file = Path(job.spec["events"])
        if events_file.is_file():
            try:
                outcome.events = json.loads(events_file.read_text())
            except ValueError:
                outcome.events = {}
        outcome.seconds = end.seconds
    return outcomes


def _quiet(label: str) -> None:
    """No progress bar: nothing to advance."""
