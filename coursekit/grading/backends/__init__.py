"""Where the submissions of ``course autograde`` run: this machine, a Slurm cluster, Kubernetes.

The unit of work is the grader's worker, ``python -m coursekit.grading.worker JOB.json``: a JSON
job file in, files out (executed notebooks, events) under the folders the job names. A backend
only places job files where the execution side can read them, runs that command once per
submission (or per small chunk of submissions), brings the output folders back and tells, per
job, whether it ran. Intake, checking and the gradebook stay with the caller, on the
instructor's machine: one trusted writer of the gradebook.

    backend = make_backend("slurm", partition="cpu")
    outcomes = backend.run(tasks, jobs=8, timeout=900, progress=bar.advance, on_done=check)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

BACKENDS = ("local", "slurm", "kubernetes")


@dataclass
class Task:
    """One submission's worker job: ``name`` (the student), the job file and the log to write."""

    name: str
    job_file: Path
    log_file: Path


@dataclass
class Outcome:
    """How one task's worker ended (its files are back where the job named them)."""

    name: str
    ok: bool
    seconds: float = 0.0
    timed_out: bool = False
    message: str = ""  # why it failed, one line (empty when ok)
    attempts: int = 1


class Backend(Protocol):
    name: str
    runs_here: bool  # True when the worker runs on this machine (its sandbox is checked here)

    def work_parent(self) -> Path | None:
        """Where the run's work folder must live (a shared folder), or None for a temp folder."""

    def dry_run(self, assignment: str, students: list[str], *, jobs: int, limits) -> str:
        """What a run would submit (a script, manifests), as text; runs nothing."""

    def run(
        self,
        tasks: Iterable[Task],
        *,
        jobs: int,
        timeout: int,
        progress: Callable[[str], None],
        on_done: Callable[[Outcome], None] | None = None,
    ) -> dict[str, Outcome]:
        """Run every task (``jobs`` at a time, ``timeout`` s each); one Outcome per task name.

        ``tasks`` may be a generator: the local backend asks for the next task only when a
        worker is free; a cluster backend takes them all before it submits. ``progress(name)``
        and then ``on_done(outcome)`` are called once per task when its outputs are back
        (locally as each worker ends; on a cluster, ``on_done`` after the array or Job).
        """


class ClusterBackend:
    """What the cluster backends share: every task is taken before anything is submitted, and
    ``on_done`` is called for each once all outputs are back. A subclass implements ``run_all``
    (submit, wait, bring the outputs back, one Outcome per task; ``progress`` once per task)."""

    runs_here = False

    def run_all(
        self, tasks: list[Task], *, jobs: int, timeout: int, progress: Callable[[str], None]
    ) -> dict[str, Outcome]:
        raise NotImplementedError

    def run(
        self,
        tasks: Iterable[Task],
        *,
        jobs: int,
        timeout: int,
        progress: Callable[[str], None],
        on_done: Callable[[Outcome], None] | None = None,
    ) -> dict[str, Outcome]:
        """See ``Backend.run``."""
        tasks = list(tasks)  # one submission for all of them: intake finishes first
        if not tasks:
            return {}
        outcomes = self.run_all(tasks, jobs=jobs, timeout=timeout, progress=progress)
        for task in tasks:  # every output is back where its job named it
            if on_done is not None:
                on_done(outcomes[task.name])
        return outcomes


def last_line(path: Path, default: str = "no output") -> str:
    """The last non-empty line of a log (what a failed worker said last), shortened."""
    try:
        lines = [x for x in Path(path).read_text(errors="replace").splitlines() if x.strip()]
    except OSError:
        lines = []
    return (lines[-1] if lines else default)[:200]


def outcome_of(task: Task, status: dict, attempts: int = 1) -> Outcome:
    """How a task whose worker ran ended, from the status it wrote (``task.read_status``);
    a worker that failed, not by running out of time, is said by its log's last line."""
    outcome = Outcome(
        task.name,
        ok=status["returncode"] == 0 and not status["timed_out"],
        seconds=status["seconds"],
        timed_out=status["timed_out"],
        attempts=attempts,
    )
    if not outcome.ok and not outcome.timed_out:
        outcome.message = last_line(task.log_file)
    return outcome


def make_backend(name: str = "local", **options) -> Backend:
    """The backend called ``name``; ``options`` are its settings (see each backend's class)."""
    from ..course import GradingError

    if name == "local":
        from .local import LocalBackend

        return LocalBackend(**options)
    if name == "slurm":
        from .slurm import SlurmBackend

        return SlurmBackend(**options)
    if name == "kubernetes":
        from .kubernetes import KubernetesBackend

        return KubernetesBackend(**options)
    raise GradingError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
