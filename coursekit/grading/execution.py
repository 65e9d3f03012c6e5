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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .backends import Backend, Task, make_backend
from .backends import Outcome as Ended
from .report import Progress
from .sandbox import Limits


@dataclass
class Job:
    label: str  # the student (or "reference")
    spec: dict  # the worker's job file


@dataclass
class Outcome:
    events: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_jobs(
    jobs: Iterable[Job],
    work: Path,
    parallel: int,
    limits: Limits,
    progress: Progress | None = None,
    on_done: Callable[[str, Outcome], None] | None = None,
    backend: Backend | None = None,
    warm: dict | None = None,
) -> dict[str, Outcome]:
    """Run every job, ``parallel`` at a time, each stopped after the per-submission limit.

    ``jobs`` may be a generator: the local backend asks for the next job when the last one has
    started (one step ahead), so the caller's trusted work (intake, and ``on_done``: checking
    and recording a finished job) runs here while the workers run, not before or after them.
    A cluster backend takes every job before it submits its one array or Job, and reports each
    one's end when its outputs are back. ``backend``: where the workers run (default: forked
    here); job files and worker logs are written to ``work`` (``job-LABEL.json``,
    ``worker-LABEL.log``), which must be in ``backend.work_parent()`` when that is not None.
    ``warm``: a job template for kernels started ahead (``worker.WarmKernel``), where the
    backend offers them (the local one).
    """
    backend = backend or make_backend("local")
    work.mkdir(parents=True, exist_ok=True)
    specs: dict[str, dict] = {}
    outcomes: dict[str, Outcome] = {}

    def tasks():
        for job in jobs:
            specs[job.label] = job.spec
            job_file = work / f"job-{job.label}.json"
            job_file.write_text(json.dumps(job.spec))
            yield Task(job.label, job_file, work / f"worker-{job.label}.log")

    def ended(end: Ended) -> None:
        outcome = outcomes[end.name] = Outcome(seconds=end.seconds)
        if end.timed_out:
            outcome.notes.append(
                f"stopped after the {limits.submission_timeout} s limit per submission"
            )
        elif not end.ok:
            outcome.notes.append(f"execution failed: {end.message or 'no output'}")
        outcome.events = read_events(Path(specs[end.name]["events"]))
        if on_done is not None:
            on_done(end.name, outcome)

    ahead = {"warm": warm} if warm is not None and getattr(backend, "prewarms", False) else {}
    backend.run(
        tasks(),
        jobs=max(1, parallel),
        timeout=limits.submission_timeout,
        progress=progress.advance if progress is not None else _quiet,
        on_done=ended,
        **ahead,
    )
    return outcomes


def read_events(path: Path) -> dict[str, list[str]]:
    """The worker's events file as ``{notebook: [event, ...]}``; anything else counts as none.

    Where the kernel is not in bubblewrap (a Kubernetes pod) it could write this file itself, so
    it is read as data of a known shape, never trusted to have one.
    """
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {
        str(name): [str(item)[:300] for item in items]
        for name, items in raw.items()
        if isinstance(items, list)
    }


def _quiet(label: str) -> None:
    """No progress bar: nothing to advance."""
