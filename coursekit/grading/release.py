"""``course release``: exercises/ regenerated from solutions/ by nbgrader, and the sync check.

A released notebook needs nothing but itself (issue 24): after nbgrader generates it, the
release adds what lets it run anywhere a student opens it, derived from this checkout and
never written by hand into the solution:

* a first code cell that installs the teaching library by name and version where it is missing
  (``coursekit.install.install_cell_source``: ``cnn-course-utils==course_utils.__version__``);
* a second cell that switches on the in-notebook self-check (one sentence under each test cell);
* a last cell, ``report()``, that prints the table ``course check`` prints;
* notebook metadata ``course``: the assignment, the library version and, per test cell, its
  points and nbgrader's checksum, so that the self-check can name a deleted or edited test.

These cells carry no nbgrader metadata: nbgrader and the grader treat them as the student's own
ordinary cells. Releasing twice gives the same bytes (the cells are refreshed, not added again).
"""

from __future__ import annotations

import filecmp
from pathlib import Path

from ..install import CELL_TAG, install_cell_source, library_version
from .course import Course

SELFCHECK_TAG = "course-selfcheck"
REPORT_TAG = "course-report"
TAGS = (CELL_TAG, SELFCHECK_TAG, REPORT_TAG)

SELFCHECK_SOURCE = """\
# The self-check: from here on, each test cell ends with one sentence that says whether its
# part passes. It is advice only: grading runs every test again, hidden ones too.
from course_utils.checking.selfcheck import watch_test_cells

watch_test_cells()
"""

REPORT_MARKDOWN = """\
## Check your work

Run every cell from the top (*Restart & Run All*), then the cell below: it prints the points of
the visible tests, as `course check` does, and anything that would trip the grader (a renamed
file, an edited or deleted test cell, lost metadata)."""

REPORT_SOURCE = """\
from course_utils.checking.selfcheck import report

report()
"""


def release(course: Course, assignment: str) -> list[Path]:
    """Regenerate ``exercises/ASSIGNMENT`` (and the gradebook's copy of its cells)."""
    course.run_nbgrader("GenerateAssignment", assignment)
    add_course_cells(course.release_dir / assignment, assignment)
    return sorted(p for p in (course.release_dir / assignment).rglob("*") if p.is_file())


def generate_into(course: Course, assignment: str, release_dir: Path, db_url: str) -> Path:
    """Generate the student version into ``release_dir`` with a separate gradebook."""
    course.run_nbgrader(
        "GenerateAssignment",
        assignment,
        **{"CourseDirectory.release_directory": str(release_dir), "CourseDirectory.db_url": db_url},
    )
    add_course_cells(Path(release_dir) / assignment, assignment)
    return Path(release_dir) / assignment


def _tagged_cell(kind: str, source: str, tag: str):
    import nbformat

    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    cell = make(source)
    cell.id = tag if kind == "code" else f"{tag}-text"
    cell.metadata["tags"] = [tag]
    return cell


def is_course_cell(cell) -> bool:
    """A cell the release adds (install, self-check, report), recognised by its tag."""
    return any(tag in TAGS for tag in cell.get("metadata", {}).get("tags", []))


def tests_of(nb) -> dict[str, dict]:
    """{grade_id: {"points", "checksum"}} of a released notebook's test cells, in order."""
    from .notebooks import is_test_cell, nbgrader_meta

    table = {}
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if is_test_cell(cell) and meta.get("grade_id"):
            table[str(meta["grade_id"])] = {
                "points": float(meta.get("points", 0) or 0),
                "checksum": str(meta.get("checksum", "")),
            }
    return table


def with_course_cells(nb, assignment: str, notebook: str, version: str | None = None):
    """``nb`` with the install and self-check cells first, the report cell last, and the
    ``course`` metadata; cells an earlier release added are replaced, never repeated."""
    version = version or library_version()
    cells = [c for c in nb.cells if not is_course_cell(c)]
    first_code = next((i for i, c in enumerate(cells) if c.cell_type == "code"), len(cells))
    setup = [
        _tagged_cell("code", install_cell_source(version), CELL_TAG),
        _tagged_cell("code", SELFCHECK_SOURCE, SELFCHECK_TAG),
    ]
    ending = [
        _tagged_cell("markdown", REPORT_MARKDOWN, REPORT_TAG),
        _tagged_cell("code", REPORT_SOURCE, REPORT_TAG),
    ]
    nb.cells = cells[:first_code] + setup + cells[first_code:] + ending
    nb.metadata["course"] = {
        "assignment": assignment,
        "notebook": notebook,
        "library": version,
        "tests": tests_of(nb),
    }
    return nb


def add_course_cells(folder: Path, assignment: str) -> None:
    """Add the course's cells to every notebook nbgrader released into ``folder``."""
    import nbformat

    for path in sorted(Path(folder).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nbformat.write(with_course_cells(nb, assignment, path.stem), path)


def setup_problems(path: Path, version: str | None = None) -> list[str]:
    """Sentences saying what is wrong with a released notebook's install cell, if anything:
    missing, not the first code cell, or not pinned to this checkout's library version."""
    import nbformat

    version = version or library_version()
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code or CELL_TAG not in code[0].metadata.get("tags", []):
        return [f"{path}: its first code cell is not the install cell (run course release)"]
    if code[0].source != install_cell_source(version):
        return [
            f"{path}: its install cell does not install cnn-course-utils {version}, the "
            "library of this checkout (run course release)"
        ]
    if nb.metadata.get("course", {}).get("library") != version:
        return [f"{path}: its metadata names another library version than {version}"]
    return []


def _files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {
        str(p.relative_to(folder)): p
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts
    }


def release_differences(generated: Path, committed: Path) -> list[str]:
    """Sentences naming each file that is missing, extra or different in ``committed``."""
    new, old = _files(generated), _files(committed)
    problems = [f"{committed / name} is missing" for name in sorted(set(new) - set(old))]
    problems += [
        f"{committed / name} is not generated from the source"
        for name in sorted(set(old) - set(new))
    ]
    problems += [
        f"{committed / name} differs from what nbgrader generates"
        for name in sorted(set(new) & set(old))
        if not filecmp.cmp(new[name], old[name], shallow=False)
    ]
    return problems
