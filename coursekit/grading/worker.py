"""One submission's notebooks run in the sandbox: ``python -m coursekit.grading.worker JOB``.

This is the unit of execution that ``course autograde`` fans out (here as forked processes, on a
cluster as batch jobs). The worker is trusted code: it runs nbgrader's execution in this process
and only the kernel runs in the sandbox. It reads one JSON job file, writes files under the
folders the job names, and never touches the gradebook; intake, checking and recording stay on
the instructor's machine.

The job file (plain JSON):

- ``sanitized``: folder with the notebooks to run (and the submission's other files);
- ``executed``: folder the results go to: per notebook ``NAME.records.json`` + ``NAME.records.npz``
  (the value records of its test cells, see ``records.py``), ``NAME.status.json``
  (``{grade_id: {"ran": bool, "error": bool}}``) and, except in a graded run, the executed
  ``NAME.ipynb``;
- ``scratch``: a folder for the kernel's working copy (created, then removed);
- ``events``: the JSON file to write ``{notebook: [event, ...]}`` to (output cut, kernel died);
- ``mode`` (default ``graded``): ``graded`` (a student's submission with every test, hidden
  ones included: expected values are stripped from the test cells first, and no output is kept,
  since the kernel saw the hidden tests), ``reference`` (the instructor's solution: checks
  assert and record what they compared) or ``feedback`` (the released form of a submission,
  outputs kept for the student, the in-kernel guard on when ``guard`` is true);
- ``limits``: the fields of ``sandbox.Limits``; ``env``: extra environment for the kernel;
  ``sandbox``: run the kernel in bubblewrap (else a plain local kernel, for trusted notebooks);
  ``uid`` (optional): the user the sandboxed kernel runs as; without it the worker takes a
  sandbox user no other job on the machine holds (``sandbox.allocate_uid``), so per-user process
  limits and signals stay within one submission (as root only: a worker that is not root, as on
  a cluster's compute node, runs the kernel unprivileged under its own user, see ``sandbox.py``);
  ``cgroup`` (optional): false to give the kernel no cgroup of its own; ``guard``: run
  ``guard.py`` before each test cell (feedback mode only); ``font_cache``: matplotlib's font
  list to copy in (skipped where that file does not exist, as on another machine).

Where it runs: ``execution.py`` hands job files to a backend (``backends/``): forked here
(``local``), or as a Slurm array task or a Kubernetes pod via ``backends/task.py``, which runs
this module on the job file and leaves ``JOB.status.json`` beside it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

MODES = ("graded", "reference", "feedback")


def _prepare(nb, mode: str) -> None:
    """Graded runs: the test cells without expected values (see ``rewrite.py``)."""
    from .notebooks import is_test_cell
    from .rewrite import strip_expected

    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    if mode == "graded":
        tests = [c for c in nb.cells if is_test_cell(c)]
        for cell, source in zip(tests, strip_expected([c.source for c in tests]), strict=True):
            cell.source = source


def _status(nb) -> dict:
    from .notebooks import is_test_cell, nbgrader_meta

    status = {}
    for cell in nb.cells:
        if is_test_cell(cell):
            outputs = cell.get("outputs", [])
            status[str(nbgrader_meta(cell).get("grade_id"))] = {
                "ran": cell.get("execution_count") is not None or bool(outputs),
                "error": any(o.get("output_type") == "error" for o in outputs),
            }
    return status


def run_job(job: dict) -> dict:
    import nbformat

    from . import records as records_io
    from . import timings
    from .course import kernel_environment
    from .execute import GradingClient, teaching_library_dir
    from .notebooks import nbgrader_meta
    from .sandbox import (
        NOBODY_UID,
        Limits,
        allocate_uid,
        prepare_scratch,
        sandboxed_kernel_manager,
        unprivileged,
    )

    mode = job.get("mode", "graded")  # without a mode: the safe one, no output kept
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r} in the job file (known: {', '.join(MODES)})")
    limits = Limits(**job["limits"])
    uid, lock = NOBODY_UID, None
    if job["sandbox"] and unprivileged():
        uid = os.getuid()  # no sandbox users without root: the kernel keeps this user
    elif "uid" in job:
        uid = int(job["uid"])
    elif job["sandbox"]:
        uid, lock = allocate_uid()  # held until this process ends
    source, dest = Path(job["sanitized"]), Path(job["executed"])
    dest.mkdir(parents=True, exist_ok=True)
    events: dict[str, list[str]] = {}
    label = Path(job["scratch"]).name
    for notebook in sorted(source.glob("*.ipynb")):
        setting_up = timings.Stopwatch(label, "worker: scratch, job, notebook")
        scratch = Path(job["scratch"]) / notebook.stem
        if scratch.exists():
            shutil.rmtree(scratch)
        shutil.copytree(
            source,
            scratch,
            symlinks=False,
            ignore=shutil.ignore_patterns("*.ipynb", "timestamp.txt"),
        )
        env = kernel_environment(
            {
                "HOME": str(scratch),
                "PATH": "/usr/local/bin:/usr/bin:/bin",
                "MPLCONFIGDIR": str(scratch / ".matplotlib"),
                "NBGRADER_EXECUTION": "autograde",
                "IPYTHONDIR": str(scratch / ".ipython"),
                "PYTHONNOUSERSITE": "1",
                # the teaching library that the sandbox binds, whichever way it was installed
                "PYTHONPATH": str(Path(teaching_library_dir()).parent),
                **job["env"],
            }
        )
        if mode in ("graded", "reference"):
            env["COURSE_RECORD"] = mode
        font_cache = job.get("font_cache")
        if font_cache and Path(font_cache).is_file():
            (scratch / ".matplotlib").mkdir(exist_ok=True)
            shutil.copy(font_cache, scratch / ".matplotlib")
        nb = nbformat.read(notebook, as_version=4)
        _prepare(nb, mode)
        kwargs = {}
        if job["sandbox"]:
            prepare_scratch(scratch, uid)
            kwargs["kernel_manager_class"] = sandboxed_kernel_manager(
                scratch, limits, env, uid, job.get("cgroup")
            )
            run_env = None
        else:
            run_env = {**os.environ, **env}
        guard = job.get("guard") and mode == "feedback"
        setting_up.stop()
        client = GradingClient(
            nb=nb,
            timeout=limits.cell_timeout,
            interrupt_on_timeout=True,
            allow_errors=True,
            max_output_bytes=limits.max_output_bytes,
            max_notebook_output_bytes=limits.max_notebook_output_bytes,
            keep_outputs=mode != "graded",
            guard_dir=str(Path(__file__).resolve().parent) if guard else None,
            resources={"metadata": {"path": str(scratch)}},
            **kwargs,
        )
        client.timing_label = label
        start_kwargs = {"cwd": str(scratch)}
        if run_env is not None:
            start_kwargs["env"] = run_env
        try:
            client.execute(**start_kwargs)
        except Exception as error:  # kernel start or shutdown failed: keep what ran
            reason = f"the kernel failed ({type(error).__name__}: {error})"[:300]
            client.events.append(reason)
            if not client.loop_done:
                client._mark_not_run(client.current_index, reason)
        writing = timings.Stopwatch(label, "worker: records, status, cleanup")
        by_grade = {
            str(nbgrader_meta(nb.cells[i]).get("grade_id")): items
            for i, items in client.records.items()
        }
        records_io.write(by_grade, dest, notebook.stem)
        (dest / f"{notebook.stem}.status.json").write_text(json.dumps(_status(nb)))
        if mode != "graded":
            nbformat.write(nb, dest / notebook.name)
        events[notebook.stem] = client.events
        shutil.rmtree(scratch, ignore_errors=True)
        if job["sandbox"]:
            from .sandbox import KernelCgroup

            KernelCgroup.sweep(os.getpid())
        writing.stop()
    if lock is not None:
        os.close(lock)
    return events


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    job = json.loads(Path(argv[0]).read_text())
    events = run_job(job)
    Path(job["events"]).write_text(json.dumps(events))
    return 0


if __name__ == "__main__":
    sys.exit(main())
