"""``course feedback``: HTML feedback for students, never showing hidden tests.

nbgrader's feedback renders the autograded notebook, in which the hidden tests were restored
for grading. ``ClearHiddenTests`` is switched on for the feedback step here (whatever the
configuration says), and the result is checked: a feedback file that still holds a hidden-test
marker is deleted and reported. Widget state as Colab writes it is repaired first, and a student
whose feedback fails is named while the others still get theirs.
"""

from __future__ import annotations

from pathlib import Path

from .course import Course, GradingError
from .intake import same_student
from .normalize import repair_widget_state
from .notebooks import HIDDEN_BEGIN, HIDDEN_END


def _preprocessors():
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import ClearHiddenTests, GetGrades

    from .nbgrader_plugins import TrimHiddenTracebacks

    # nbgrader's default is [GetGrades, CSSHTMLHeaderPreprocessor]: it shows hidden tests
    return [TrimHiddenTracebacks, ClearHiddenTests, GetGrades, CSSHTMLHeaderPreprocessor]


def generate_feedback(course: Course, assignment: str,
                      students: list[str] | None = None) -> list[Path]:
    """Write feedback for the autograded submissions; returns the HTML files written."""
    course.require_assignment(assignment)
    graded = course.autograded_dir
    everyone = sorted(p.name for p in graded.iterdir() if (p / assignment).is_dir()) \
        if graded.is_dir() else []
    if students:  # as typed: any Unicode form, or the id the LMS wrote
        everyone = [f for f in everyone if any(same_student(s, f) for s in students)]
    if not everyone:
        raise GradingError(f"no autograded submissions of {assignment}: run course autograde "
                           f"{assignment} first")
    written, failed = [], []
    for student in everyone:
        for notebook in sorted((graded / student / assignment).glob("*.ipynb")):
            repair_widget_state(notebook)
        try:
            course.run_nbgrader(
                "GenerateFeedback", assignment, student,
                **{"GenerateFeedback.preprocessors": _preprocessors(),
                   "ClearHiddenTests.enabled": True})
        except GradingError as error:  # one student's feedback must not stop the others'
            failed.append(f"{student} ({str(error).split(': ', 1)[-1]})")
            continue
        folder = course.feedback_dir / student / assignment
        for html in sorted(folder.glob("*.html")):
            text = html.read_text(encoding="utf-8", errors="replace")
            if HIDDEN_BEGIN in text or HIDDEN_END in text:
                html.unlink()
                raise GradingError(f"feedback {html} still showed hidden tests and was deleted")
            written.append(html)
    if failed:
        raise GradingError(f"no feedback for {len(failed)} of {len(everyone)} student(s) "
                           f"({len(written)} file(s) written for the others): "
                           + "; ".join(failed))
    return written
