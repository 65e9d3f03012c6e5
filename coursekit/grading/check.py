"""``course check NOTEBOOK``: a student runs their notebook's visible tests in a fresh kernel.

No gradebook and no solutions are needed. Which cells are tests, and their points, come from the
released notebook (``exercises/``, found from the notebook's name), as grading takes them from
the gradebook: a test cell the student copied counts once, one turned into Markdown or edited
runs as released, one deleted earns zero, exactly as the grader does. Each test cell is scored
as nbgrader scores it (an error or anything on stderr earns zero). Without a course folder the
student's own file's metadata is the fallback, said in a note.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.checking.selfcheck import (
    PartResult,
    failure_line,  # noqa: F401 - part of this module's interface
    name_problem,
    score_test_cell,
    verdict,
)

from .course import Course, GradingError, find_root, kernel_environment
from .notebooks import graded_tests, is_test_cell, nbgrader_meta, same_test_code

DEFAULT_CELL_TIMEOUT = 180


# One scoring rule and one table for ``course check`` and the in-notebook self-check.
CellResult = PartResult


@dataclass
class CheckResult:
    notebook: Path
    cells: list[CellResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def earned(self) -> float:
        return sum(c.earned for c in self.cells)

    @property
    def possible(self) -> float:
        return sum(c.possible for c in self.cells)

    @property
    def passed(self) -> bool:
        return verdict(self.cells)


def score_cells(nb) -> list[CellResult]:
    """Scores of the test cells of an executed notebook, computed as nbgrader does
    (``course_utils.checking.selfcheck.score_test_cell``, which the self-check uses too)."""
    return [
        score_test_cell(
            cell,
            str(nbgrader_meta(cell).get("grade_id", "?")),
            float(nbgrader_meta(cell).get("points", 0) or 0),
        )
        for cell in nb.cells
        if is_test_cell(cell)
    ]


def edited_tests(nb) -> list[str]:
    """grade_ids of test cells whose source differs from the checksum nbgrader released."""
    from nbgrader.utils import compute_checksum

    edited = []
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if is_test_cell(cell) and "checksum" in meta and compute_checksum(cell) != meta["checksum"]:
            edited.append(str(meta.get("grade_id", "?")))
    return edited


def find_released(path: Path) -> Path | None:
    """The released notebook that the student's ``path`` is a copy of, if a course is near."""
    from .intake import notebook_of

    for start in (path.parent, Path.cwd()):
        try:
            course = Course(find_root(start))
        except GradingError:
            continue
        released = {p.stem: p for p in course.release_dir.glob("*/*.ipynb")}
        found = notebook_of(path.name, list(released))
        if found is not None:
            return released[found[0]]
    return None


def _metadata_layout(nb) -> dict[str, tuple[float, str]]:
    """Fallback reference: the test cells the file's own metadata names, of any cell type."""
    layout = {}
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if meta.get("grade") and not meta.get("solution") and meta.get("grade_id"):
            layout.setdefault(
                str(meta["grade_id"]), (float(meta.get("points", 0) or 0), cell.source)
            )
    return layout


def restore_tests(nb, layout: dict[str, tuple[float, str]], exact: bool) -> list[str]:
    """Make the notebook's test cells those of ``layout``, as the grader does; the notes.

    The first cell with a test's grade_id becomes that test (code, released source, points);
    later copies are dropped; a test cell missing from the notebook is reported (zero points).
    """
    import nbformat

    notes, seen, kept = [], set(), []
    for cell in nb.cells:
        grade_id = str(nbgrader_meta(cell).get("grade_id"))
        if grade_id not in layout or nbgrader_meta(cell).get("solution"):
            if exact and nbgrader_meta(cell).get("grade") and grade_id not in layout:
                notes.append(
                    f"a cell marked as a graded test {grade_id[:60]!r} is not in the "
                    "exercise: the grader gives it nothing (your other parts keep their points)"
                )
            kept.append(cell)
            continue
        if grade_id in seen:
            notes.append(
                f"test {grade_id} appears more than once: the copy does not count "
                "(the grader ignores it too)"
            )
            continue
        seen.add(grade_id)
        points, source = layout[grade_id]
        if cell.cell_type != "code":
            notes.append(
                f"test {grade_id} was turned into {cell.cell_type}: the grader runs it "
                "as code, and so does this check"
            )
            new = nbformat.v4.new_code_cell(cell.source, metadata=cell.metadata)
            new.id = cell.get("id", new.id)
            cell = new
        if exact and not same_test_code(cell.source, source):
            notes.append(
                f"test {grade_id} was edited: the grader restores the released "
                "version, and so does this check"
            )
            cell.source = source
        cell.metadata.setdefault("nbgrader", {}).update(
            grade=True, solution=False, points=points, grade_id=grade_id
        )
        kept.append(cell)
    nb.cells = kept
    for grade_id in layout:
        if grade_id not in seen:
            notes.append(f"test {grade_id} was deleted: the grader gives it 0 points")
    return notes


def use_course_kernel(nb, released: Path | None) -> list[str]:
    """The kernel the grader uses (the released notebook's), not the editor's: VS Code writes
    its environment's name (".venv"), which no other machine has."""
    import nbformat
    from jupyter_client.kernelspec import find_kernel_specs

    wanted = None
    if released is not None:
        wanted = nbformat.read(released, as_version=4).metadata.get("kernelspec")
    mine = nb.metadata.get("kernelspec") or {}
    if wanted is None:
        if mine.get("name") in find_kernel_specs():
            return []
        wanted = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if mine.get("name") == wanted.get("name"):
        return []
    nb.metadata["kernelspec"] = dict(wanted)
    return (
        [
            f"runs in the course's kernel {wanted.get('name')!r}, as the grader does, not in "
            f"{mine.get('name')!r} named in the file"
        ]
        if mine.get("name")
        else []
    )


def check_notebook(path: Path, timeout: int = DEFAULT_CELL_TIMEOUT) -> CheckResult:
    """Run ``path`` top to bottom in a fresh kernel and score its visible tests."""
    import nbformat

    from .execute import GradingClient
    from .normalize import load_notebook_json, normalize_notebook

    path = Path(path).resolve()
    if path.suffix != ".ipynb":
        raise GradingError(f"{path} is not a notebook (.ipynb)")
    if not path.is_file():
        raise GradingError(f"{path} does not exist or is not a file")
    try:
        nb, notes = normalize_notebook(load_notebook_json(path), path.stat().st_size)
    except GradingError as error:
        message = str(error)
        raise GradingError(
            message if message.startswith(path.name) else f"{path} is {message}"
        ) from None
    result = CheckResult(path, notes=list(notes))
    released = find_released(path)
    if released is not None:
        released_nb = nbformat.read(released, as_version=4)
        layout = graded_tests(released_nb)
        renamed = name_problem(path.name, released_nb)
        if renamed:
            result.notes.append(renamed)
    else:
        layout = _metadata_layout(nb)
        result.notes.append(
            "tests and points are read from this notebook itself (there is no released copy "
            "of the exercise next to it): fine, unless you edited a test cell"
        )
    if not layout:
        raise GradingError(f"{path} has no autograded test cells to check")
    result.notes.extend(restore_tests(nb, layout, exact=released is not None))
    result.notes.extend(use_course_kernel(nb, released))
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    # the in-kernel guard, as a second line: it tells the student when the notebook replaced
    # code the tests rely on (the grader's verdicts are computed outside the kernel anyway)
    client = GradingClient(
        nb=nb,
        timeout=timeout,
        interrupt_on_timeout=True,
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
        guard_dir=str(Path(__file__).resolve().parent),
    )
    env = {**os.environ, **kernel_environment({"NBGRADER_EXECUTION": "validate"})}
    # the kernel process's own stderr (start-up chatter) is not cell output: keep it quiet
    client.execute(
        cwd=str(path.parent), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    result.notes.extend(client.events)
    scored = {c.grade_id: c for c in score_cells(nb)}
    result.cells = [
        scored.get(grade_id) or CellResult(grade_id, 0.0, points, "deleted (0 points)")
        for grade_id, (points, _) in layout.items()
    ]
    apply_library_bans(result, nb, exercise_name(path, released))
    return result


def exercise_name(path: Path, released: Path | None) -> str | None:
    """The exercise a notebook belongs to: its released copy's folder, else the exercise whose
    name is in the file's name (``ex04_architectures (1).ipynb``)."""
    from course_utils.checking.bans import BANS

    if released is not None:
        return released.parent.name
    return next((name for name in BANS if name in path.stem), None)


def apply_library_bans(result: CheckResult, nb, exercise: str | None) -> None:
    """Zero, as the grader will, the tests of a part whose code uses a banned routine.

    The same static reading of the code as ``course autograde`` (``bans.violations``), so a
    self-check never shows points that grading takes away for a library ban.
    """
    from . import bans

    if exercise is None:
        return
    found = bans.violations(nb, exercise)
    for cell in result.cells:
        if found.get(cell.grade_id):
            cell.earned, cell.message = 0.0, bans.reason(found[cell.grade_id])
