"""Reference values: the instructor's solution run once, in a clean kernel, per assignment.

Every test cell of the source notebook runs as written (hidden tests included) with
``COURSE_RECORD=reference``: each check asserts against the test's own independent expected
value and records it, with its kind, name, tolerances or predicate, and the line it was made
from (to tell visible checks from hidden ones). These records are what the checker compares
students' values with. They are cached under ``.grading/references/ASSIGNMENT/KEY`` where KEY
hashes the source notebooks, the teaching library, the grader's recording code and, for an
assignment with hidden cases (``cases.py``), the course key that draws them, so a change to any
of them makes a new reference.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from . import records as records_io
from .cases import assignment_sets
from .course import Course, GradingError
from .notebooks import (
    HIDDEN_BEGIN,
    HIDDEN_END,
    is_test_cell,
    marked_lines,
    nbgrader_meta,
    read_notebook,
)


@dataclass
class Reference:
    """The reference run of one notebook."""

    records: records_io.Records
    hidden_lines: dict[str, set[int]]  # grade_id -> line numbers inside hidden-test blocks
    points: dict[str, float]  # grade_id -> points

    def checks(self, grade_id: str) -> list:
        return self.records.cells.get(grade_id, [])


def hidden_line_numbers(source: str) -> set[int]:
    """1-based numbers of the lines inside the hidden-test blocks of a cell's source."""
    return {n for n, _, inside in marked_lines(source, HIDDEN_BEGIN, HIDDEN_END) if inside}


def _key(course: Course, assignment: str) -> str:
    import course_utils

    digest = hashlib.sha256()
    for path in course.source_notebooks(assignment):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    here = Path(__file__).resolve().parent
    library = Path(course_utils.__file__).resolve().parent
    for path in sorted(library.rglob("*.py")) + [
        here / n for n in ("records.py", "worker.py", "execute.py", "reference.py")
    ]:
        digest.update(str(path.name).encode() + b"\0" + path.read_bytes())
    if assignment_sets(course, assignment):  # the key draws its hidden cases
        from .heldout import course_key

        digest.update(hashlib.sha256(course_key(course.root)).digest())
    return digest.hexdigest()[:20]


def cache_dir(course: Course, assignment: str) -> Path:
    return course.autograded_dir.parent / "references" / assignment / _key(course, assignment)


def _describe(course: Course, assignment: str, folder: Path) -> dict[str, Reference]:
    found = {}
    for path in course.source_notebooks(assignment):
        stored = records_io.read(folder, path.stem)
        if stored is None:
            raise GradingError(f"the reference run of {path.name} left no records")
        nb = read_notebook(path)
        hidden, points = {}, {}
        for cell in nb.cells:
            if is_test_cell(cell):
                grade_id = str(nbgrader_meta(cell).get("grade_id"))
                hidden[grade_id] = hidden_line_numbers(cell.source)
                points[grade_id] = float(nbgrader_meta(cell).get("points", 0) or 0)
        found[path.stem] = Reference(stored, hidden, points)
    return found


def problems_of(course: Course, assignment: str, folder: Path) -> list[str]:
    """What is wrong with a finished reference run: failing tests, tests that record nothing."""
    problems = []
    for path in course.source_notebooks(assignment):
        status_file = folder / f"{path.stem}.status.json"
        status = json.loads(status_file.read_text()) if status_file.is_file() else {}
        stored = records_io.read(folder, path.stem)
        for grade_id, state in sorted(status.items()):
            if state.get("error") or not state.get("ran"):
                problems.append(
                    f"{path.name}: the solution fails test {grade_id} in the clean reference run"
                )
            elif stored is None or not stored.cells.get(grade_id):
                problems.append(
                    f"{path.name}: test {grade_id} records nothing (use the checks "
                    "of course_utils.testing, whose values the grader compares)"
                )
        if not status:
            problems.append(f"{path.name}: the reference run did not finish")
    return problems


def cached(course: Course, assignment: str) -> dict[str, Reference] | None:
    """The assignment's reference records if a finished run is cached, else None."""
    folder = cache_dir(course, assignment)
    if not (folder / "complete").is_file():
        return None
    return _describe(course, assignment, folder)


def fresh_folder(course: Course, assignment: str) -> Path:
    """An empty cache folder for a new reference run (an old or unfinished one is removed)."""
    folder = cache_dir(course, assignment)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def finish(course: Course, assignment: str, folder: Path) -> tuple[dict[str, Reference], list[str]]:
    """The references a finished run left in ``folder`` and its problems; cached if none."""
    problems = problems_of(course, assignment, folder)
    if problems:
        try:
            return _describe(course, assignment, folder), problems
        except GradingError as error:
            return {}, [*problems, str(error)]
    (folder / "complete").write_text("ok\n")
    return _describe(course, assignment, folder), []


def reference_for(
    course: Course, assignment: str, run, fresh: bool = False
) -> tuple[dict[str, Reference], list[str]]:
    """The assignment's reference records (computed with ``run(folder)`` unless cached).

    ``run(out_folder)`` executes the source notebooks in ``reference`` mode and writes records
    and status files to ``out_folder``. Returns the references and the problems found (a run
    with problems is not cached). ``course autograde`` on this machine runs the reference as
    the first job of its pool instead (``cached``, ``fresh_folder``, then ``finish``).
    """
    found = None if fresh else cached(course, assignment)
    if found is not None:
        return found, []
    folder = fresh_folder(course, assignment)
    run(folder)
    return finish(course, assignment, folder)
