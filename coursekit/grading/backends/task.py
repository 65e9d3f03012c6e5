"""One task of a cluster run: ``python -m coursekit.grading.backends.task MANIFEST [--index N]``.

Runs on the execution side (a Slurm compute node, a Kubernetes pod). ``MANIFEST`` is a JSON list
of chunks, each a list of ``{"job": JOB.json, "log": LOG}``; the chunk is chosen by ``--index``,
else ``$SLURM_ARRAY_TASK_ID``, else ``$JOB_COMPLETION_INDEX`` (Kubernetes' Indexed Job). Each job
of the chunk runs as its own process, ``python -m coursekit.grading.worker JOB.json``, in its own
session, killed with its group after ``timeout`` seconds. Next to each job file it writes
``JOB.status.json`` (exit code, seconds, timed out): the caller's proof that the job ran.
Exit status: 0 when every job of the chunk exited 0 or ran out of time (the student's doing),
1 otherwise, so that the scheduler retries the chunk.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def status_file(job_file: Path | str) -> Path:
    job_file = Path(job_file)
    return job_file.with_name(job_file.stem + ".status.json")


def read_status(job_file: Path | str) -> dict | None:
    """The status a job's task wrote next to it, or None when it never wrote one."""
    try:
        return json.loads(status_file(job_file).read_text())
    except (OSError, ValueError):
        return None


def run_one(job_file: str, log_file: str, timeout: float) -> dict:
    """Run the worker on one job file; the status it ends with."""
    started = time.monotonic()
    problem = _sandbox_problem(job_file)
    if problem:  # said once, in the log the grader reads, instead of a traceback per cell
        Path(log_file).write_text(f"no sandbox on {os.uname().nodename}: {problem}\n")
        return _write_status(
            job_file,
            {"returncode": 1, "timed_out": False, "seconds": 0.0, "host": os.uname().nodename},
        )
    local = Path(tempfile.mkdtemp(prefix="course-task-"))
    try:
        local_job = _with_local_scratch(job_file, local)
        with open(log_file, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "coursekit.grading.worker", str(local_job)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            timed_out = False
            try:
                code = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                os.killpg(process.pid, signal.SIGKILL)
                code = process.wait()
                from ..sandbox import KernelCgroup

                KernelCgroup.sweep(process.pid)  # the kernel cgroups the worker made (as root)
    finally:
        shutil.rmtree(local, ignore_errors=True)
    return _write_status(
        job_file,
        {
            "returncode": code,
            "timed_out": timed_out,
            "seconds": round(time.monotonic() - started, 3),
            "host": os.uname().nodename,
        },
    )


def _with_local_scratch(job_file: str, local: Path) -> Path:
    """A copy of the job whose scratch folder is on this node's own disk.

    Scratch is neither input nor output: on the node's disk it is fast, gone with the task, and
    its path is short (the kernel's Unix sockets live there, and a socket path may not pass 107
    bytes, which a shared folder's deep path easily does).
    """
    job = json.loads(Path(job_file).read_text())
    job["scratch"] = str(local / "s")
    copy = local / "job.json"
    copy.write_text(json.dumps(job))
    return copy


def _sandbox_problem(job_file: str) -> str | None:
    """Why this node cannot give the job the sandbox it asks for (None when it can)."""
    try:
        wants_sandbox = json.loads(Path(job_file).read_text()).get("sandbox", False)
    except (OSError, ValueError) as error:
        return f"the job file cannot be read ({error})"
    if not wants_sandbox:
        return None
    from ..sandbox import sandbox_available

    return sandbox_available()


def _write_status(job_file: str, status: dict) -> dict:
    path = status_file(job_file)
    path.with_suffix(".tmp").write_text(json.dumps(status))
    path.with_suffix(".tmp").replace(path)  # the caller never reads half a status
    return status


def chunk_index(explicit: int | None) -> int:
    if explicit is not None:
        return explicit
    for name in ("SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    raise SystemExit("no task index: pass --index or run as a Slurm array or Indexed Job task")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one chunk of grading jobs.")
    parser.add_argument("manifest")
    parser.add_argument("--index", type=int, default=None)
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds per job (default 900)"
    )
    args = parser.parse_args(argv)
    chunks = json.loads(Path(args.manifest).read_text())
    index = chunk_index(args.index)
    if not 0 <= index < len(chunks):
        print(
            f"task index {index} is outside the manifest's {len(chunks)} chunk(s)", file=sys.stderr
        )
        return 1
    failed = 0
    for entry in chunks[index]:
        status = run_one(entry["job"], entry["log"], args.timeout)
        print(f"{entry['job']}: {json.dumps(status)}", flush=True)
        failed += status["returncode"] != 0 and not status["timed_out"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
