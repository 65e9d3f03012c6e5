"""The grader's side of hidden cases (``course_utils.checking.cases``): which case sets an
assignment names, drawn with a secret seed, written for the kernels that may see them.

Every run of one assignment draws the same cases (the reference run's answers must be for the
inputs the graded kernels get): the seed of a case set follows from the course's secret key
(``heldout.course_key``), the assignment and the set's name, so a regrade draws them again
exactly and no student can know them from the released notebook or the source of the hidden
test. The graded kernels' file holds inputs and names; the reference run's file also holds the
answers, and lies only in the grader's own work folder, which no sandbox shows.
"""

from __future__ import annotations

import ast
import hashlib
import hmac
from pathlib import Path

from course_utils.checking import cases as case_sets

from .course import Course, GradingError
from .notebooks import is_test_cell, read_notebook
from .rewrite import HIDDEN_CASES_CALL as CALL
from .rewrite import called_name


def named_sets(sources: list[str]) -> list[str]:
    """The case sets that the test cells ``sources`` name, in order of first use.

    Raises ``GradingError`` for a call whose set is not a string literal (the grader must know
    what to draw before any kernel runs) or is not a known set."""
    found: list[str] = []
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue  # the reference run reports it
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            if called_name(node) != CALL:
                continue
            if len(node.args) != 1 or not (
                isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
            ):
                raise GradingError(
                    f"{CALL}(...) on line {node.lineno} must name its case set with one string "
                    f'literal ({CALL}("noisy-periods")): the grader draws the sets before any '
                    "kernel runs"
                )
            case_set = node.args[0].value
            if case_set not in case_sets.CASE_SETS:
                known = ", ".join(sorted(case_sets.CASE_SETS))
                raise GradingError(f"unknown hidden case set {case_set!r} (known: {known})")
            if case_set not in found:
                found.append(case_set)
    return found


def assignment_sets(course: Course, assignment: str) -> list[str]:
    """The case sets named by the test cells of ``assignment``'s source notebooks."""
    sources = [
        cell.source
        for path in course.source_notebooks(assignment)
        for cell in read_notebook(path).cells
        if is_test_cell(cell)
    ]
    return named_sets(sources)


def seed(key: bytes, assignment: str, case_set: str) -> int:
    """The secret seed of ``case_set`` in ``assignment`` (HMAC-SHA256 under the course key)."""
    message = f"hidden-cases/{assignment}/{case_set}".encode()
    return int.from_bytes(hmac.new(key, message, hashlib.sha256).digest()[:16], "big")


def write_for(course: Course, assignment: str, folder: Path, mode: str) -> str | None:
    """The cases file of a ``mode`` run (``graded``: inputs only; ``reference``: with answers)
    written into ``folder``, or None when the assignment names no case set."""
    from .heldout import course_key

    names = assignment_sets(course, assignment)
    if not names:
        return None
    key = course_key(course.root)
    drawn = {name: case_sets.draw(name, seed(key, assignment, name)) for name in names}
    path = Path(folder) / f"hidden-cases-{mode}.npz"
    case_sets.write(path, drawn, with_answers=mode == "reference")
    return str(path)
