"""``course validate``: an assignment grades right before any student sees it.

For each assignment, in a throw-away copy of the course's grading folders:
the release in ``exercises/`` is byte for byte what nbgrader generates from ``solutions/``; no
hidden-test line (nor solution line) is in ``exercises/``, no hidden-test line in the built site
(``_build/html``, if built) or in generated feedback; the source notebook keeps the conventions of
``conventions.py`` (cell names, test cells that set no plain global and hold no bare assert,
self-reported checks worth little); the solution's clean reference run passes every test, every
test cell records at least one value for the checker, and no hidden check's name gives its
expected value away; the solution, graded
twice through the same sandboxed pipeline as ``course autograde``, earns full marks both times
with the same scores per test; the released stub earns zero and grading it completes.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .autograde import SubmissionResult, autograde, ensure_reference
from .conventions import lint_hidden_names, lint_notebook
from .course import Course, GradingError
from .notebooks import (
    find_leaks,
    find_name_leaks,
    hidden_check_names,
    read_notebook,
    secret_lines,
    text_of,
    visible_lines,
)
from .release import generate_into, release_differences, setup_problems
from .sandbox import Limits, sandbox_available

SOLUTION, AGAIN, STUB = "solution", "solution-again", "stub"


@dataclass
class Validation:
    assignment: str
    solution: SubmissionResult | None = None
    again: SubmissionResult | None = None
    stub: SubmissionResult | None = None
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


def _site_texts(course: Course) -> dict[Path, str]:
    site = course.root / "_build" / "html"
    if not site.is_dir():
        return {}
    return {
        p: text_of(p)
        for p in site.rglob("*")
        if p.suffix in (".html", ".ipynb", ".txt", ".md", ".js")
        and p.is_file()
        and "_static" not in p.parts
    }


def _from_exercises(path: Path, course: Course) -> bool:
    """Whether a built-site file renders or offers a released exercise (not a chapter)."""
    return course.release_dir.name in path.parts


def _course_public_lines(course: Course) -> set[str]:
    """Visible lines of every exercise's source: shared code is no secret of any one of them."""
    public = set()
    for assignment in course.assignments():
        for path in course.source_notebooks(assignment):
            try:
                public |= visible_lines(read_notebook(path))
            except Exception:  # noqa: BLE001 - a corrupt notebook is reported by its own check
                continue
    return public


def _scratch_course(course: Course, folder: Path) -> Course:
    return Course(
        course.root,
        overrides={
            **course.overrides,
            "CourseDirectory.release_directory": str(folder / "release"),
            "CourseDirectory.submitted_directory": str(folder / "submitted"),
            "CourseDirectory.autograded_directory": str(folder / "autograded"),
            "CourseDirectory.feedback_directory": str(folder / "feedback"),
            "CourseDirectory.db_url": f"sqlite:///{folder / 'gradebook.db'}",
        },
    )


def validate_assignment(
    course: Course,
    assignment: str,
    jobs: int = 2,
    limits: Limits | None = None,
    sandbox: bool | None = None,
    site_texts: dict | None = None,
    progress: bool = True,
    public: set[str] | None = None,
) -> Validation:
    from .feedback import generate_feedback

    started = time.monotonic()
    report = Validation(assignment)
    if sandbox is None:
        sandbox = sandbox_available() is None
    folder = Path(tempfile.mkdtemp(prefix=f"course-validate-{assignment}-"))
    try:
        scratch = _scratch_course(course, folder)
        secrets = {"hidden test": set(), "solution": set()}
        for path in course.source_notebooks(assignment):
            source_nb = read_notebook(path)
            report.problems += lint_notebook(source_nb, path.name)
            for kind, lines in secret_lines(source_nb, public).items():
                secrets[kind] |= lines
        if not secrets["hidden test"]:
            # The leak checks below would pass on nothing; an exercise needs hidden tests.
            report.problems.append(
                "the assignment has no hidden test lines (### BEGIN HIDDEN "
                "TESTS), so nothing guards against hard-coded answers"
            )
        try:
            generated = generate_into(scratch, assignment, folder / "release", scratch.db_url)
        except GradingError as error:
            report.problems.append(str(error))
            return report
        report.problems += release_differences(generated, course.release_dir / assignment)
        for path in course.released_notebooks(assignment):
            report.problems += setup_problems(path)
        released = [p for p in (course.release_dir / assignment).rglob("*") if p.is_file()]
        report.problems += find_leaks(secrets, released)
        if site_texts:
            # Pages made from exercises must hold no hidden-test line; chapter pages (prose and
            # code that may share ordinary lines with a test) must hold no hidden-test marker.
            exercise_pages = [p for p in site_texts if _from_exercises(p, course)]
            chapter_pages = [p for p in site_texts if not _from_exercises(p, course)]
            report.problems += find_leaks(
                secrets, exercise_pages, kinds=("hidden test",), texts=site_texts
            )
            report.problems += find_leaks(secrets, chapter_pages, kinds=(), texts=site_texts)
        # the clean reference run: the solution passes its own tests, every test records values
        try:
            references, reference_problems = ensure_reference(
                scratch, assignment, limits=limits, sandbox=sandbox, jobs=jobs
            )
            report.problems += lint_hidden_names(references)
        except GradingError as error:
            reference_problems = [str(error)]
        if reference_problems:
            report.problems += reference_problems
            return report
        for student, source in (
            (SOLUTION, course.source_dir / assignment),
            (AGAIN, course.source_dir / assignment),
            (STUB, generated),
        ):
            shutil.copytree(
                source,
                folder / "submitted" / student / assignment,
                ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
            )
        results = {
            r.student: r
            for r in autograde(
                scratch, assignment, jobs=jobs, limits=limits, sandbox=sandbox, progress=progress
            )
        }
        report.solution, report.again, report.stub = (
            results[SOLUTION],
            results[AGAIN],
            results[STUB],
        )
        for result in (report.solution, report.again):
            if result.max_score <= 0:
                report.problems.append("the assignment has no points")
            elif result.score != result.max_score:
                failed = [k for k, (got, out_of) in sorted(result.cells.items()) if got < out_of]
                report.problems.append(
                    f"the solution earns {result.score:g} of {result.max_score:g} "
                    f"(failing: {', '.join(failed) or 'unknown'}; {result.status})"
                )
                break
        if (
            report.solution.cells != report.again.cells
            and report.solution.score == report.solution.max_score
        ):
            report.problems.append("grading the solution twice gave different scores")
        if report.stub.score != 0:
            scoring = [k for k, (got, _) in sorted(report.stub.cells.items()) if got > 0]
            report.problems.append(
                f"the released stub earns {report.stub.score:g} points (from {', '.join(scoring)})"
            )
        if any(
            n.startswith(("execution failed", "could not", "stopped after"))
            for n in report.stub.notes
        ):
            report.problems.append(f"grading the stub failed: {report.stub.status}")
        try:
            # the stub fails every test: its feedback is where hidden tests would show
            feedback = generate_feedback(scratch, assignment, [STUB])
            report.problems += find_leaks(secrets, feedback, kinds=("hidden test",))
            public = "\n".join(text_of(p) for p in course.released_notebooks(assignment))
            names = hidden_check_names(references, public)
            report.problems += find_name_leaks(names, feedback)
        except GradingError as error:
            report.problems.append(str(error))
    finally:
        if os.environ.get("COURSE_KEEP_WORK"):
            print(f"{assignment}: grading folder kept in {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)
        report.seconds = time.monotonic() - started
    return report


def validate(
    course: Course,
    assignments: list[str],
    jobs: int = 2,
    limits: Limits | None = None,
    sandbox: bool | None = None,
    progress: bool = True,
) -> list[Validation]:
    texts = _site_texts(course)
    public = _course_public_lines(course)
    return [
        validate_assignment(
            course,
            a,
            jobs=jobs,
            limits=limits,
            sandbox=sandbox,
            site_texts=texts,
            progress=progress,
            public=public,
        )
        for a in assignments
    ]
