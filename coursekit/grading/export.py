"""``course export``: the gradebook as CSV (nbgrader's columns, plus the LMS's own student id).

``collect_zip`` (``course collect``) lives in ``intake.py``; it is re-exported here for code that
imported it from this module.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .course import Course, GradingError, open_gradebook
from .intake import collect_zip  # noqa: F401 - re-export

COLUMNS = [
    "assignment",
    "duedate",
    "timestamp",
    "student_id",
    "last_name",
    "first_name",
    "email",
    "raw_score",
    "late_submission_penalty",
    "score",
    "max_score",
    "lms_user_id",
]


def final_score(submission) -> float:
    """What a student gets: the points less the late penalty, never below zero (nbgrader's
    CsvExportPlugin computes it so; ``course export`` and the LMS exports use this one rule)."""
    penalty = submission.late_submission_penalty or 0.0
    return max(0.0, float(submission.score) - float(penalty))


def grade_rows(gb) -> list[dict]:
    """One row per student and assignment, as nbgrader's CsvExportPlugin computes them (a
    missing submission scores 0), with ``lms_user_id``: the id as the LMS download spelled it."""
    from nbgrader.api import MissingEntry

    rows = []
    for assignment in gb.assignments:
        for student in gb.students:
            row = {
                "assignment": assignment.name,
                "duedate": assignment.duedate,
                "student_id": student.id,
                "last_name": student.last_name,
                "first_name": student.first_name,
                "email": student.email,
                "max_score": assignment.max_score,
                "lms_user_id": student.lms_user_id,
            }
            try:
                submission = gb.find_submission(assignment.name, student.id)
            except MissingEntry:
                row.update(timestamp="", raw_score=0.0, late_submission_penalty=0.0, score=0.0)
            else:
                penalty = submission.late_submission_penalty or 0.0
                row.update(
                    timestamp=submission.timestamp,
                    raw_score=submission.score,
                    late_submission_penalty=penalty,
                    score=final_score(submission),
                )
            rows.append({k: "" if row[k] is None else str(row[k]) for k in COLUMNS})
    return rows


def export_csv(course: Course, to: Path) -> Path:
    """The gradebook as CSV: nbgrader's export columns, then ``lms_user_id``."""
    if course.db_path is not None and not course.db_path.is_file():
        raise GradingError(f"no gradebook at {course.db_path}: grade something first")
    to = Path(to)
    to.parent.mkdir(parents=True, exist_ok=True)
    with open_gradebook(course) as gb:
        rows = grade_rows(gb)
    with to.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return to
