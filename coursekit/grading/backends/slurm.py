"""The Slurm backend: one job array, one task per submission (or per small chunk).

``sbatch --array=0-N%J`` runs ``python -m coursekit.grading.backends.task MANIFEST`` on the
partition the instructor names, at most ``J`` (``--jobs``) tasks at a time; each task runs the
grader's worker on its job files. The run's work folder must be on a file system the compute
nodes share with this machine (the course folder usually is; ``--work-dir`` picks another), and
the same Python environment must be at the same path there. Progress comes from the tasks'
status files; a task that failed (no status, or a worker that crashed) is retried once in a
second array, then reported by student.

The job files are the worker's (``worker.py``) as ``execution.py`` writes them: every path they
name (the sanitized input, the executed records, the events) is inside the run's work folder,
so it is the same path on the nodes; ``task.py`` moves the kernel's scratch to the node's own
disk, and a ``font_cache`` that a node lacks is skipped by the worker.

Compute nodes give no root: there the worker's sandbox runs unprivileged (bubblewrap with a user
namespace, see ``sandbox.py``); where a site turns user namespaces off, run the task inside the
site's Apptainer image of the grader (``python_command``).
"""

from __future__ import annotations

import json
import math
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ..course import GradingError
from . import ClusterBackend, Outcome, Task, last_line, outcome_of
from .task import read_status, status_file


def _import_roots() -> list[str]:
    """Folders that make ``coursekit`` and ``course_utils`` importable as they are here."""
    import course_utils
    import coursekit

    roots = [
        str(Path(coursekit.__file__).resolve().parents[1]),
        str(Path(course_utils.__file__).resolve().parents[1]),
    ]
    return list(dict.fromkeys(roots))


def chunks_of(tasks: list[Task], size: int) -> list[list[Task]]:
    size = max(1, size)
    return [tasks[i : i + size] for i in range(0, len(tasks), size)]


class SlurmBackend(ClusterBackend):
    """Grade through ``sbatch --array``; see the module's docstring."""

    name = "slurm"

    def __init__(
        self,
        partition: str | None = None,
        work_dir: Path | str | None = None,
        chunk_size: int = 1,
        cpus_per_task: int = 1,
        retries: int = 1,
        poll_seconds: float = 1.0,
        python_command: str | None = None,
        job_name: str = "course-grade",
        sbatch_options: tuple[str, ...] = (),
    ):
        self.partition = partition
        self.work_dir = Path(work_dir or Path.home() / ".cache" / "course-grading").resolve()
        self.chunk_size, self.cpus_per_task = chunk_size, cpus_per_task
        self.retries, self.poll_seconds = retries, poll_seconds
        self.python_command = python_command or shlex.quote(sys.executable)
        self.job_name, self.sbatch_options = job_name, tuple(sbatch_options)

    def work_parent(self) -> Path:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        return self.work_dir

    # -- the script -----------------------------------------------------------------------------
    def script(self, manifest: Path, chunks: int, jobs: int, timeout: int, out_dir: Path) -> str:
        """The sbatch script of one run (also what ``--dry-run`` prints)."""
        minutes = math.ceil(self.chunk_size * (timeout + 120) / 60)
        lines = [
            "#!/bin/bash",
            f"#SBATCH --job-name={self.job_name}",
            f"#SBATCH --array=0-{chunks - 1}%{max(1, jobs)}",
            f"#SBATCH --cpus-per-task={self.cpus_per_task}",
            f"#SBATCH --time={minutes}",
            f"#SBATCH --output={out_dir}/slurm-%A_%a.out",
            "#SBATCH --open-mode=truncate",
        ]
        if self.partition:
            lines.append(f"#SBATCH --partition={self.partition}")
        lines += [f"#SBATCH {option}" for option in self.sbatch_options]
        path = ":".join(_import_roots())
        lines += [
            "set -eu",
            f"export PYTHONPATH={shlex.quote(path)}${{PYTHONPATH:+:$PYTHONPATH}}",
            f"exec {self.python_command} -m coursekit.grading.backends.task "
            f"{shlex.quote(str(manifest))} --timeout {timeout}",
            "",
        ]
        return "\n".join(lines)

    def dry_run(self, assignment: str, students: list[str], *, jobs: int, limits) -> str:
        """The sbatch script a run for ``students`` would submit (paths of a future run)."""
        chunks = max(1, math.ceil(len(students) / max(1, self.chunk_size)))
        run = self.work_dir / "course-autograde-RUN"
        return (
            f"# {len(students)} submission(s) of {assignment} in {chunks} task(s)\n"
            + self.script(run / "slurm-tasks.json", chunks, jobs, limits.submission_timeout, run)
        )

    # -- running --------------------------------------------------------------------------------
    def run_all(
        self, tasks: list[Task], *, jobs: int, timeout: int, progress: Callable[[str], None]
    ) -> dict[str, Outcome]:
        for tool in ("sbatch", "squeue", "scancel"):
            if shutil.which(tool) is None:
                raise GradingError(
                    f"{tool} is not on PATH: run course autograde --backend slurm "
                    "on a Slurm login node"
                )
        out_dir = Path(tasks[0].job_file).parent
        chunks = chunks_of(tasks, self.chunk_size)
        manifest = out_dir / "slurm-tasks.json"
        manifest.write_text(
            json.dumps(
                [
                    [{"job": str(t.job_file), "log": str(t.log_file)} for t in chunk]
                    for chunk in chunks
                ]
            )
        )
        script = out_dir / "slurm-grade.sh"
        script.write_text(self.script(manifest, len(chunks), jobs, timeout, out_dir))
        outcomes: dict[str, Outcome] = {}
        reported: set[str] = set()
        todo = list(range(len(chunks)))
        for attempt in range(1, self.retries + 2):
            for index in todo:
                for task in chunks[index]:
                    status_file(task.job_file).unlink(missing_ok=True)
            array = None if attempt == 1 else ",".join(map(str, todo)) + f"%{max(1, jobs)}"
            job_id = self._submit(script, array)
            self._wait(
                job_id, [chunks[i] for i in todo], progress, reported, final=attempt > self.retries
            )
            failed = []
            for index in todo:
                chunk_ok = True
                for task in chunks[index]:
                    outcome = self._outcome(task, job_id, index, out_dir, attempt)
                    outcomes[task.name] = outcome
                    chunk_ok &= outcome.ok or outcome.timed_out
                if not chunk_ok:
                    failed.append(index)
            todo = failed
            if not todo:
                break
            if attempt <= self.retries:
                names = ", ".join(t.name for i in todo for t in chunks[i])
                print(f"slurm: retrying {len(todo)} failed task(s) once: {names}", file=sys.stderr)
        for index in todo:
            for task in chunks[index]:
                outcome = outcomes[task.name]
                if not outcome.ok and not outcome.timed_out:
                    print(
                        f"slurm: {task.name} failed {outcome.attempts} time(s): {outcome.message}",
                        file=sys.stderr,
                    )
        for task in tasks:
            if task.name not in reported:
                progress(task.name)  # finished, as a failure
        return outcomes

    def _submit(self, script: Path, array: str | None) -> str:
        cmd = ["sbatch", "--parsable"]
        if array:
            cmd.append(f"--array={array}")
        done = subprocess.run([*cmd, str(script)], capture_output=True, text=True)
        if done.returncode != 0:
            raise GradingError(
                f"sbatch refused the grading job: {(done.stderr or done.stdout).strip()[:300]}"
            )
        return done.stdout.strip().split(";")[0]

    def _active(self, job_id: str) -> bool:
        """True while any task of the array is pending or running (squeue's view)."""
        for _ in range(30):
            done = subprocess.run(
                ["squeue", "-h", "-r", "-j", job_id, "-o", "%i %T"], capture_output=True, text=True
            )
            if done.returncode == 0:
                return bool(done.stdout.strip())
            if "Invalid job id" in done.stderr:
                return False  # finished long enough ago that Slurm forgot it
            time.sleep(1)
        raise GradingError(f"squeue keeps failing for job {job_id}: {done.stderr.strip()[:200]}")

    def _wait(
        self, job_id: str, chunks: list[list[Task]], progress, reported: set[str], final: bool
    ) -> None:
        """Until the array ends; ``progress`` once per task whose worker ended for good."""

        def report() -> None:
            for chunk in chunks:
                for task in chunk:
                    if task.name in reported:
                        continue
                    status = read_status(task.job_file)
                    if status is not None and (
                        status["returncode"] == 0 or status["timed_out"] or final
                    ):
                        reported.add(task.name)
                        progress(task.name)

        try:
            while self._active(job_id):
                report()
                time.sleep(self.poll_seconds)
        except BaseException:
            subprocess.run(["scancel", job_id], capture_output=True)
            raise
        report()

    def _outcome(self, task: Task, job_id: str, index: int, out_dir: Path, attempt: int) -> Outcome:
        status = read_status(task.job_file)
        if status is None:
            said = last_line(out_dir / f"slurm-{job_id}_{index}.out", "no output")
            return Outcome(
                task.name,
                ok=False,
                attempts=attempt,
                message=f"the Slurm task ended without running the worker ({said})",
            )
        return outcome_of(task, status, attempt)
