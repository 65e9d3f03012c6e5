"""Due dates and per-student extensions (``course due``, ``course extend``), in nbgrader's terms.

nbgrader already has both: an assignment's ``duedate`` and a submission's ``extension``
(``Gradebook.grant_extension``; ``SubmittedAssignment.duedate`` is the due date plus the
extension, and ``total_seconds_late`` counts from it). Its ``AssignLatePenalties`` step turns
the seconds late into a penalty with the configured ``LateSubmissionPlugin`` (none by default;
``c.LateSubmissionPlugin.penalty_method = 'zero'`` or ``c.AssignLatePenalties.plugin_class``
in ``nbgrader_config.py``). The submission time is the LMS's, kept by ``course collect`` in
``timestamp.txt``. So a due date or an extension is written into the gradebook, and nbgrader's
own step is run again on every graded notebook it concerns: penalties change without a regrade,
and a regrade later keeps both (nbgrader's autograde updates a submission, extension included).

Times without a zone are taken as written, as nbgrader takes ``timestamp.txt`` (the LMS's local
time in its download names); ``2024-10-14 23:59 Europe/Berlin`` or ``2024-10-14T23:59+02:00``
name a zone, and nbgrader keeps everything in UTC without a zone.
"""

from __future__ import annotations

from datetime import datetime

from .course import Course, GradingError, open_gradebook
from .intake import folders_named


def parse_when(text: str) -> datetime:
    """A date and time as nbgrader reads ``timestamp.txt`` (``parse_utc``), or GradingError."""
    from nbgrader.utils import parse_utc

    try:
        when = parse_utc(text.strip())
    except (ValueError, OverflowError, TypeError):
        when = None
    if when is None or not text.strip():
        raise GradingError(
            f"{text!r} is not a date and time (e.g. '2024-10-14 23:59' or "
            "'2024-10-14 23:59 Europe/Berlin')"
        )
    return when


def reapply_penalties(course: Course, assignment: str, students: list[str] | None = None):
    """nbgrader's ``AssignLatePenalties`` once more on every graded notebook of ``assignment``
    (of ``students`` only, when given): its plugin and configuration, the gradebook's times."""
    import nbformat
    from nbgrader.preprocessors import AssignLatePenalties

    with open_gradebook(course) as gb:
        found = gb.find_assignment(assignment)
        pairs = [
            (sub.student.id, nb.name)
            for sub in found.submissions
            if students is None or sub.student.id in students
            for nb in sub.notebooks
        ]
    for student, notebook in pairs:
        step = AssignLatePenalties(config=course.config())
        resources = {
            "nbgrader": {
                "notebook": notebook,
                "assignment": assignment,
                "student": student,
                "db_url": course.db_url,
            }
        }
        step.log.disabled = True
        step.preprocess(nbformat.v4.new_notebook(), resources)


def set_due(course: Course, assignment: str, when: datetime) -> int:
    """The assignment's due date in the gradebook; returns the number of submissions whose
    penalties were computed again."""
    course.require_assignment(assignment)
    from .autograde import ensure_in_gradebook

    ensure_in_gradebook(course, assignment)  # the assignment's row, as grading makes it
    with open_gradebook(course) as gb:
        gb.update_or_create_assignment(assignment, duedate=when)
        count = len(gb.find_assignment(assignment).submissions)
    reapply_penalties(course, assignment)
    return count


def grant_extension(course: Course, student: str, assignment: str, until: datetime) -> str:
    """Move ``student``'s due date for ``assignment`` to ``until`` (nbgrader's extension: the
    difference to the assignment's due date). Returns the student's folder name."""
    from nbgrader.api import MissingEntry

    course.require_assignment(assignment)
    with open_gradebook(course) as gb:
        try:
            due = gb.find_assignment(assignment).duedate
        except MissingEntry:
            due = None
        if due is None:
            raise GradingError(
                f"{assignment} has no due date to extend: set one first with "
                f"course due {assignment} DATETIME"
            )
        if until <= due:
            raise GradingError(
                f"{until:%Y-%m-%d %H:%M} is not after the due date of {assignment} "
                f"({due:%Y-%m-%d %H:%M} UTC): an extension moves the due date later"
            )
        known = [s.id for s in gb.students]
        originals = {s.id: s.lms_user_id for s in gb.students if s.lms_user_id}
    folder = _student(student, known, originals)
    with open_gradebook(course) as gb:
        try:
            gb.find_submission(assignment, folder)
        except MissingEntry:  # not graded yet: the extension waits in its submission row
            gb.update_or_create_submission(assignment, folder)
        seconds = (until - due).total_seconds()
        gb.grant_extension(assignment, folder, minutes=seconds / 60)
    reapply_penalties(course, assignment, [folder])
    return folder


def _student(typed: str, known: list[str], originals: dict[str, str]) -> str:
    """The gradebook's student that ``typed`` names: a folder name, or the LMS's id."""
    found = folders_named(typed, known)
    if not found:
        found = [f for f, original in originals.items() if folders_named(typed, [original])]
    if len(found) > 1:
        raise GradingError(f"{typed!r} could name any of {', '.join(found)}: type the folder name")
    if not found:
        raise GradingError(
            f"no student {typed!r} in the gradebook: collect the submissions first "
            "(course collect), then extend"
        )
    return found[0]
