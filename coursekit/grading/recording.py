"""The recording phase: the checker's verdicts into nbgrader's gradebook, trusted code only.

For each submission the autograded notebook is built here, on the instructor's machine, from the
sanitized submission (the student's cells, the test cells nbgrader restored): hidden-test
blocks are removed from the test cells, every output is cleared, and each test cell gets one
output, the checker's verdict as the student may read it (``Verdict.shown``: a stream when it
passed, an error output when it failed). Then nbgrader's own record step (output limits,
``SaveAutoGrades``, late penalties) records it, so nbgrader scores exactly the checker's verdicts
and ``nbgrader export``, ``nbgrader generate_feedback`` and ``course export`` keep working.
Nothing in the autograded notebook came out of a process that ran student code, and of the
graded run it carries only the pass or fail of each test cell (what the points say anyway), so
no hidden test can reach feedback through it: not as text, and not as a choice of which check
failed. The detail (which check failed, and why) goes to the instructor's verdict file
(``write_details``), which no feedback reads.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .checker import Verdict
from .course import Course, GradingError
from .execute import NOT_RUN_ERROR, error_output
from .notebooks import (
    HIDDEN_BEGIN,
    HIDDEN_END,
    is_test_cell,
    nbgrader_cell,
    nbgrader_meta,
    visible_source,
)

VERDICT_ERROR = "GradingVerdict"
# A student's own cell may hold the hidden-test markers: in the autograded copy they are
# disarmed so that nbgrader's ClearHiddenTests and the feedback check do not trip on them.
DISARMED = {
    HIDDEN_BEGIN: "### BEGIN HIDDEN-TESTS (marker disarmed by the grader)",
    HIDDEN_END: "### END HIDDEN-TESTS (marker disarmed by the grader)",
}


def verdict_output(verdict: Verdict):
    """A test cell's one output in the autograded notebook: the verdict as the student may read
    it (``Verdict.shown``), never its detail."""
    from nbformat import NotebookNode

    if verdict.passed:
        return NotebookNode(output_type="stream", name="stdout", text=f"Grader: {verdict.shown}.\n")
    return error_output(VERDICT_ERROR, verdict.shown)


def details_file(course: Course, assignment: str, student: str) -> Path:
    """The instructor's file of one submission's verdicts in detail (see ``write_details``)."""
    return course.root / ".grading" / "verdicts" / assignment / f"{student}.txt"


def write_details(
    course: Course, assignment: str, student: str, verdicts: dict[str, dict[str, Verdict]]
) -> Path:
    """Write why each test cell of a submission passed or failed, for the instructor.

    One line per test cell, ``NOTEBOOK/GRADE_ID: passed|FAILED: message``, the checker's
    full message (hidden checks named). No feedback, export or LMS file reads it: the
    student's feedback shows ``Verdict.shown`` only.
    """
    path = details_file(course, assignment, student)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        f"# {assignment}, {student}: each test cell's verdict in detail, for the instructor "
        "(feedback shows the student only passed or failed)"
    ]
    for notebook, cells in sorted(verdicts.items()):
        for grade_id, verdict in cells.items():
            state = "passed" if verdict.passed else "FAILED"
            lines.append(f"{notebook}/{grade_id}: {state}: {' '.join(verdict.message.split())}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _disarm(source: str) -> str:
    for marker, harmless in DISARMED.items():
        source = source.replace(marker, harmless)
    return source


def autograded_notebook(
    sanitized: Path, dest: Path, verdicts: dict[str, Verdict], layout: dict, sources: dict
) -> None:
    """Write the autograded form of one sanitized notebook (see the module's docstring)."""
    import nbformat

    nb = nbformat.read(sanitized, as_version=4)
    present = set()
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if is_test_cell(cell):
            grade_id = str(nbgrader_meta(cell).get("grade_id"))
            cell.source = visible_source(cell.source)
            if grade_id in present or grade_id not in verdicts:
                continue
            present.add(grade_id)
            cell.outputs = [verdict_output(verdicts[grade_id])]
        else:
            cell.source = _disarm(cell.source)
    for grade_id, (points, _) in layout.items():
        if grade_id in present:
            continue
        cell = nbgrader_cell(visible_source(sources.get(grade_id, "") or ""), grade_id, points)
        cell.outputs = [error_output(NOT_RUN_ERROR, "this test cell was deleted")]
        nb.cells.append(cell)
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)


def _record_preprocessors():
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        IgnorePattern,
        LimitOutput,
        SaveAutoGrades,
    )

    return [
        IgnorePattern,
        ClearMetadataPreprocessor,
        LimitOutput,
        SaveAutoGrades,
        AssignLatePenalties,
        CheckCellMetadata,
    ]


def record(course: Course, assignment: str, student: str, folder: Path) -> None:
    """nbgrader's record step on the autograded notebooks in ``folder/STUDENT/ASSIGNMENT``."""
    course.run_nbgrader(
        "Autograde",
        assignment,
        student,
        **{
            "CourseDirectory.submitted_directory": str(folder),
            "Autograde.sanitize_preprocessors": [],
            "Autograde.autograde_preprocessors": _record_preprocessors(),
        },
    )


def record_submission(
    course: Course,
    assignment: str,
    student: str,
    sanitized: Path,
    stamp: Path,
    staging: Path,
    verdicts: dict[str, dict[str, Verdict]],
    layout: dict,
    sources: dict,
) -> None:
    """Build and record the autograded notebooks of one student; GradingError on failure."""
    out = staging / student / assignment
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    if stamp.is_file():
        shutil.copyfile(stamp, out / "timestamp.txt")
    for notebook in layout:
        clean = sanitized / f"{notebook}.ipynb"
        if clean.is_file():
            autograded_notebook(
                clean,
                out / f"{notebook}.ipynb",
                verdicts.get(notebook, {}),
                layout[notebook],
                sources.get(notebook, {}),
            )
    if not any(out.glob("*.ipynb")):
        raise GradingError("no notebook to record")
    record(course, assignment, student, staging)


def record_zero(course: Course, assignment: str, student: str) -> None:
    """A submission without a usable notebook: zero for every cell, as nbgrader does."""
    from .course import open_gradebook

    with open_gradebook(course) as gb:
        gb.update_or_create_student(student)
        submission = gb.update_or_create_submission(assignment, student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                grade.auto_score = 0
                grade.needs_manual_grade = False
        gb.db.commit()
