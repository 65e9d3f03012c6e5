"""``course feedback``: HTML feedback for students, never showing hidden tests.

The autograded notebook holds the student's cells, the test cells without their hidden parts and
the checker's verdict per test cell as the student may read it, passed or failed
(``recording.py``; the detail stays in the instructor's ``.grading/verdicts/``). Widget state as
Colab writes it is repaired first (nbconvert cannot render it otherwise). Unless ``run`` is off,
each student's notebook then runs once more with the visible tests only (``feedback_run.py``):
the student's own outputs, and what the visible checks found, come from that run, whose kernel
never held a hidden test. ``ClearHiddenTests`` stays on for the feedback step (whatever the
configuration says), and the result is checked: a feedback file that still holds a hidden-test
marker is deleted and reported. One student's failure does not stop the others': it is named,
with its reason, at the end.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .course import Course, GradingError
from .intake import folders_named
from .normalize import repair_widget_state
from .notebooks import HIDDEN_BEGIN, HIDDEN_END


def _preprocessors():
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import ClearHiddenTests, GetGrades

    from .nbgrader_plugins import TrimHiddenTracebacks

    # nbgrader's default is [GetGrades, CSSHTMLHeaderPreprocessor]: it shows hidden tests
    return [TrimHiddenTracebacks, ClearHiddenTests, GetGrades, CSSHTMLHeaderPreprocessor]


def generate_feedback(
    course: Course,
    assignment: str,
    students: list[str] | None = None,
    run: bool = True,
    jobs: int = 2,
    limits=None,
) -> list[Path]:
    """Write feedback for the autograded submissions; returns the HTML files written.

    ``run``: run each notebook with the visible tests for the student's own outputs (sandboxed
    where a sandbox is available). Raises GradingError naming the students whose feedback
    failed, after writing everyone else's.
    """
    course.require_assignment(assignment)
    graded = course.autograded_dir
    everyone = (
        sorted(p.name for p in graded.iterdir() if (p / assignment).is_dir())
        if graded.is_dir()
        else []
    )
    if students:  # as typed: any Unicode form, or the id the LMS wrote
        named = [f for s in students for f in folders_named(s, everyone)]
        everyone = [f for f in everyone if f in named]
    if not everyone:
        raise GradingError(
            f"no autograded submissions of {assignment}: run course autograde {assignment} first"
        )
    written, failed = [], []
    for student in everyone:  # Colab's widget state, before any run or rendering reads it
        for notebook in sorted((graded / student / assignment).glob("*.ipynb")):
            repair_widget_state(notebook)
    verdicts_only = []
    staging = Path(tempfile.mkdtemp(prefix="course-feedback-staging-")) if run else None
    try:
        notes = {}
        if staging is not None:
            from .feedback_run import run_for_feedback
            from .sandbox import sandbox_available

            problem = sandbox_available()
            if problem:
                raise GradingError(
                    f"the feedback run executes students' notebooks, which needs "
                    f"the sandbox ({problem}); pass --no-run for feedback with "
                    "code and verdicts only"
                )

            notes = run_for_feedback(
                course, assignment, everyone, staging, jobs=jobs, limits=limits
            )
        for student in everyone:
            overrides = {
                "GenerateFeedback.preprocessors": _preprocessors(),
                "ClearHiddenTests.enabled": True,
            }
            if staging is not None and (staging / student / assignment).is_dir():
                overrides["CourseDirectory.autograded_directory"] = str(staging)
            try:
                course.run_nbgrader("GenerateFeedback", assignment, student, **overrides)
            except GradingError as error:  # one student's feedback must not stop the others'
                failed.append(f"{student} ({str(error).split(': ', 1)[-1]})")
                continue
            folder = course.feedback_dir / student / assignment
            for html in sorted(folder.glob("*.html")):
                text = html.read_text(encoding="utf-8", errors="replace")
                if HIDDEN_BEGIN in text or HIDDEN_END in text:
                    html.unlink()
                    failed.append(
                        f"{student} (feedback {html.name} showed a hidden-test "
                        "marker and was deleted)"
                    )
                    continue
                written.append(html)
            if student in notes:
                verdicts_only.append(f"{student} ({notes[student]})")
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    problems = []
    if failed:
        problems.append(
            f"no feedback for {len(failed)} of {len(everyone)} student(s) "
            f"({len(written)} file(s) written for the others): {'; '.join(failed)}"
        )
    if verdicts_only:
        problems.append(
            f"feedback shows code and verdicts only, without the student's own "
            f"outputs, for {len(verdicts_only)} student(s): {'; '.join(verdicts_only)}"
        )
    if problems:
        raise GradingError(". ".join(problems))
    return written


# -- feedback back through the LMS: the zip each LMS takes for bulk feedback upload ----------------
_CANVAS_PREFIX = re.compile(r"^(?P<prefix>[^/_]+_(?:late_|LATE_)?\d+_\d+_)")
ZIP_LMS = ("canvas", "moodle")


def lms_feedback_name(lms: str, ids: dict, html: str) -> str | None:
    """The path of one feedback file inside the LMS's upload zip; None without the LMS's ids.

    - Canvas, "Re-upload submissions" (Gradebook -> the assignment's menu): Canvas's
      ``Assignment#infer_comment_context_from_filename`` (canvas-lms, app/models/assignment.rb)
      splits the file name at ``_`` and takes its first two all-digit pieces as the user id and
      the id of the attachment the student submitted, so the name keeps the download's
      ``login_[late_]USER_ATTACHMENT_`` prefix; the file becomes a comment on that submission.
    - Moodle, "Upload multiple feedback files in a zip": ``assignfeedback_file_zip_importer``
      (mod/assign/feedback/file/importziplib.php) splits each path part at ``_`` into full name,
      participant id, plugin type and plugin name, so the file goes into a folder named as in
      the download, ``Full Name_PARTICIPANT_assignsubmission_file_/``.
    """
    if ids.get("lms") != lms:
        return None
    if lms == "canvas":  # the file itself, or the zip it came in (``x_1004_52004_a.zip/...``)
        parts = PurePosixPath(ids.get("download", "")).parts
        matches = [m for m in map(_CANVAS_PREFIX.match, reversed(parts)) if m]
        if not matches or not ids.get("attachment"):
            return None
        return matches[0].group("prefix") + html
    if not ids.get("user_id"):
        return None
    return f"{ids['name']}_{ids['user_id']}_assignsubmission_file_/{html}"


@dataclass
class PackReport:
    placed: list[tuple[str, str]] = field(default_factory=list)  # (student, path in the zip)
    unplaced: list[tuple[str, str]] = field(default_factory=list)  # (student, reason)


def pack_feedback_zip(
    course: Course, assignment: str, lms: str, to: Path, force: bool = False
) -> PackReport:
    """Every student's feedback HTML (``course feedback``'s, hidden tests already removed) in a
    zip that ``lms`` takes for bulk feedback upload. A student without feedback or without the
    LMS's ids is named in the report, never left out in silence."""
    from .lms_export import load_lms_ids

    if lms not in ZIP_LMS:
        raise GradingError(f"feedback zips are made for {' and '.join(ZIP_LMS)}, not {lms!r}")
    to = Path(to)
    if to.exists() and not force:
        raise GradingError(f"{to} already exists: choose another --zip or pass --force")
    ids = load_lms_ids(course, assignment)
    report = PackReport()
    graded = course.autograded_dir
    folders = graded.iterdir() if graded.is_dir() else []
    students = sorted(p.name for p in folders if (p / assignment).is_dir())
    entries: dict[str, Path] = {}
    for student in students:
        pages = sorted((course.feedback_dir / student / assignment).glob("*.html"))
        if not pages:
            report.unplaced.append((student, "no feedback file (course feedback failed for it?)"))
            continue
        names = [lms_feedback_name(lms, ids.get(student, {}), page.name) for page in pages]
        if None in names:
            other = ids.get(student, {}).get("lms")
            why = (
                f"collected from a {other} download, so its {lms} name is unknown"
                if other and other != lms
                else f"its {lms} download name carries no ids to name it by"
                if other
                else f"not collected from a {lms} download, so its {lms} name is unknown"
            )
            report.unplaced.append((student, why))
            continue
        for name, page in zip(names, pages, strict=True):
            text = page.read_text(encoding="utf-8", errors="replace")
            if HIDDEN_BEGIN in text or HIDDEN_END in text:
                raise GradingError(f"{page} shows a hidden-test marker: not packed")
            entries[name] = page
            report.placed.append((student, name))
    if not entries:
        raise GradingError(f"no feedback of {assignment} can be named for {lms}: nothing packed")
    to.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(to, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, page in sorted(entries.items()):
            zf.write(page, name)
    return report
