"""The feedback run: a student's notebook with the visible tests only, outputs kept for them.

The graded run keeps no output (its kernel saw the hidden tests). For feedback, each autograded
notebook (the student's cells, the test cells without their hidden parts, one verdict output per
test cell) runs once more, in its sandbox, in ``feedback`` mode: a kernel that never held a
hidden test. Its outputs (capped per cell and per notebook) are put back into a copy of the
autograded notebook, each test cell ending with the checker's verdict as the student may read
it (passed or failed, ``Verdict.shown``), and nbgrader's feedback renders that copy. So every
explanation a student reads (which visible check failed, and why, with their values) comes from
this run; of the graded run, whose kernel held the hidden tests, the student gets only the
points of each cell. A submission whose run fails keeps the verdict-only notebook, with a note.
The run goes through the same worker contract as graded runs (``execution.run_jobs``), always on
this machine (the ``local`` backend): feedback is a second, smaller pass that needs the
autograded notebooks and the course's files here, and no cluster option of ``course autograde``
applies to it.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from .course import Course, passthrough_environment
from .normalize import MAX_SUBMISSION_BYTES
from .notebooks import is_test_cell
from .sandbox import Limits, sandbox_available


def _stage_inputs(course: Course, assignment: str, student: str, dest: Path) -> bool:
    """The autograded notebooks plus the submission's other regular files, in ``dest`` (those
    the graded run had too: no links, none over the intake's size limit)."""
    graded = course.autograded_dir / student / assignment
    notebooks = sorted(graded.glob("*.ipynb"))
    if not notebooks:
        return False
    dest.mkdir(parents=True)
    submitted = course.submitted_dir / student / assignment
    if submitted.is_dir():
        for path in sorted(submitted.rglob("*")):
            rel = path.relative_to(submitted)
            if (
                path.is_symlink()
                or path.suffix == ".ipynb"
                or not path.is_file()
                or path.stat().st_size > MAX_SUBMISSION_BYTES
            ):  # as at intake
                continue
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest / rel)
    for path in notebooks:
        shutil.copyfile(path, dest / path.name)
    return True


def merge(autograded: Path, executed: Path, dest: Path, messages: list[str] = ()) -> None:
    """``autograded`` with the outputs of ``executed``; test cells end with their verdict.

    ``messages`` (the in-kernel guard's, from the feedback run) go in a note at the top.
    """
    import nbformat

    nb = nbformat.read(autograded, as_version=4)
    ran = nbformat.read(executed, as_version=4)
    if len(ran.cells) != len(nb.cells):
        raise ValueError("the feedback run changed the number of cells")
    for cell, done in zip(nb.cells, ran.cells, strict=True):
        if cell.cell_type != "code":
            continue
        verdict = list(cell.outputs) if is_test_cell(cell) else []
        cell.outputs = list(done.get("outputs", [])) + verdict
        cell.execution_count = done.get("execution_count")
    if messages:
        text = "\n".join(f"- {m}" for m in messages)
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(f"**Note from the grader**\n\n{text}"))
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)


def run_for_feedback(
    course: Course,
    assignment: str,
    students: list[str],
    staging: Path,
    jobs: int = 2,
    limits: Limits | None = None,
    sandbox: bool | None = None,
) -> dict[str, str]:
    """Write merged notebooks to ``staging/STUDENT/ASSIGNMENT``; returns notes per student.

    A student whose run did not give a notebook gets the verdict-only copy and a note.
    """
    from .autograde import job_spec
    from .execution import Job, run_jobs

    limits = limits or Limits(cell_timeout=course.cell_timeout)
    if sandbox is None:
        sandbox = sandbox_available() is None
    work = Path(tempfile.mkdtemp(prefix="course-feedback-"))
    notes: dict[str, str] = {}
    try:
        env = passthrough_environment()
        job_list = []
        for student in students:
            inputs = work / "inputs" / student / assignment
            if _stage_inputs(course, assignment, student, inputs):
                job_list.append(
                    Job(
                        student,
                        job_spec(
                            "feedback",
                            inputs,
                            work / "executed" / student / assignment,
                            work,
                            student,
                            limits,
                            env,
                            sandbox,
                            guard=True,
                        ),
                    )
                )
        outcomes = run_jobs(job_list, work, jobs, limits)
        for job in job_list:
            student = job.label
            if outcomes[student].notes:
                notes[student] = "; ".join(outcomes[student].notes)
            for autograded in sorted(
                (course.autograded_dir / student / assignment).glob("*.ipynb")
            ):
                executed = work / "executed" / student / assignment / autograded.name
                dest = staging / student / assignment / autograded.name
                events = outcomes[student].events.get(autograded.stem, [])
                messages = [e for e in events if e.startswith("your notebook replaced")]
                try:
                    merge(autograded, executed, dest, messages)
                except Exception as error:  # noqa: BLE001 - fall back to the verdicts alone
                    notes[student] = f"feedback run failed ({type(error).__name__})"
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(autograded, dest)
            stamp = course.autograded_dir / student / assignment / "timestamp.txt"
            if stamp.is_file():
                shutil.copyfile(stamp, staging / student / assignment / "timestamp.txt")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return notes
