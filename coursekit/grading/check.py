"""``course check NOTEBOOK``: a student runs their notebook's visible tests in a fresh kernel.

No gradebook and no solutions are needed: the points come from the test cells' nbgrader
metadata, and each test cell is scored exactly as nbgrader scores it (an error or anything on
stderr earns zero). A test cell whose code differs from the released version is reported, since
the grader restores the original.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .course import GradingError, kernel_environment
from .notebooks import is_test_cell, nbgrader_meta, read_notebook

DEFAULT_CELL_TIMEOUT = 180


@dataclass
class CellResult:
    grade_id: str
    earned: float
    possible: float
    message: str = ""


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
        return bool(self.cells) and self.earned == self.possible


def failure_line(cell) -> str:
    """The first line that explains why a test cell earned nothing."""
    for out in cell.get("outputs", []):
        if out.output_type == "error":
            value = str(out.get("evalue", "")).strip().splitlines()
            return f"{out.ename}: {value[0]}" if value else out.ename
    for out in cell.get("outputs", []):
        if out.output_type == "stream" and out.name == "stderr":
            lines = [x for x in str(out.text).splitlines() if x.strip()]
            return "wrote to stderr: " + (lines[0].strip() if lines else "(blank)")
    return ""


def score_cells(nb) -> list[CellResult]:
    """Scores of the test cells of an executed notebook, computed as nbgrader does."""
    from nbgrader.utils import determine_grade

    results = []
    for cell in nb.cells:
        if not is_test_cell(cell):
            continue
        earned, possible = determine_grade(cell)
        earned = 0.0 if earned is None else float(earned)
        message = "" if earned == possible else failure_line(cell) or "no points"
        results.append(CellResult(str(nbgrader_meta(cell).get("grade_id", "?")), earned,
                                  float(possible), message))
    return results


def edited_tests(nb) -> list[str]:
    """grade_ids of test cells whose source differs from the checksum nbgrader released."""
    from nbgrader.utils import compute_checksum

    edited = []
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if is_test_cell(cell) and "checksum" in meta and compute_checksum(cell) != meta["checksum"]:
            edited.append(str(meta.get("grade_id", "?")))
    return edited


def check_notebook(path: Path, timeout: int = DEFAULT_CELL_TIMEOUT) -> CheckResult:
    """Run ``path`` top to bottom in a fresh kernel and score its visible tests."""
    from .execute import GradingClient

    path = Path(path).resolve()
    if path.suffix != ".ipynb":
        raise GradingError(f"{path} is not a notebook (.ipynb)")
    nb = read_notebook(path)
    result = CheckResult(path)
    if not any(is_test_cell(c) for c in nb.cells):
        raise GradingError(f"{path} has no autograded test cells to check")
    edited = edited_tests(nb)
    if edited:
        result.notes.append("test cells changed since release (the grader restores them): "
                            + ", ".join(edited))
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    # the in-kernel guard, as a second line: it tells the student when the notebook replaced
    # code the tests rely on (the grader's verdicts are computed outside the kernel anyway)
    client = GradingClient(nb=nb, timeout=timeout, interrupt_on_timeout=True,
                           allow_errors=True, resources={"metadata": {"path": str(path.parent)}},
                           guard_dir=str(Path(__file__).resolve().parent))
    env = {**os.environ, **kernel_environment({"NBGRADER_EXECUTION": "validate"})}
    # the kernel process's own stderr (start-up chatter) is not cell output: keep it quiet
    client.execute(cwd=str(path.parent), env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    result.notes.extend(client.events)
    result.cells = score_cells(nb)
    return result
