"""Reading notebooks safely and finding their graded cells, hidden tests and solution text."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

from .course import GradingError

MAX_NOTEBOOK_BYTES = 50 * 2**20
# Built from pieces so that this file never holds the literal markers a leak scan looks for.
HIDDEN_BEGIN = "### BEGIN " + "HIDDEN TESTS"
HIDDEN_END = "### END " + "HIDDEN TESTS"
SOLUTION_BEGIN = "### BEGIN " + "SOLUTION"
SOLUTION_END = "### END " + "SOLUTION"
MIN_LEAK_LINE = 12  # shorter lines ("return X", "assert ok") are too common to mean a leak


def read_notebook(path: Path):
    """The notebook at ``path`` as an nbformat v4 node, or GradingError saying what is wrong."""
    import nbformat

    path = Path(path)
    if not path.is_file():
        raise GradingError(f"{path} does not exist or is not a file")
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise GradingError(f"{path} is larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB")
    try:
        text = path.read_text(encoding="utf-8")
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise GradingError(f"{path} is not a valid notebook (not JSON: {error})") from None
    except Exception as error:  # nbformat's ValidationError or a reader error
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise GradingError(f"{path} is not a valid notebook ({first})") from None
    return nb


def nbgrader_meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def nbgrader_cell(source: str, grade_id: str, points: float | None = None):
    """A code cell with nbgrader's metadata: a test cell worth ``points``, or, with
    ``points=None``, a solution cell (autograded answer)."""
    import nbformat

    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {
        "grade": points is not None,
        "grade_id": grade_id,
        "locked": points is not None,
        "schema_version": 3,
        "solution": points is None,
        "task": False,
    }
    if points is not None:
        cell.metadata["nbgrader"]["points"] = points
    return cell


def is_test_cell(cell) -> bool:
    """An autograded test: a graded code cell that is not a solution."""
    meta = nbgrader_meta(cell)
    return (
        cell.get("cell_type") == "code"
        and bool(meta.get("grade"))
        and not meta.get("solution", False)
    )


@dataclass(frozen=True)
class TestCell:
    grade_id: str
    points: float
    index: int


def test_cells(nb) -> list[TestCell]:
    return [
        TestCell(
            str(nbgrader_meta(c).get("grade_id", f"cell-{i}")),
            float(nbgrader_meta(c).get("points", 0) or 0),
            i,
        )
        for i, c in enumerate(nb.cells)
        if is_test_cell(c)
    ]


def graded_tests(nb) -> dict[str, tuple[float, str]]:
    """{grade_id: (points, source)} of a reference notebook's test cells, in order.

    The one answer to "which cells are tests and what are they worth": grading reads it from the
    gradebook (made from the source notebook), ``course check`` from the released notebook; a
    student's copy of a test cell never changes it.
    """
    layout: dict[str, tuple[float, str]] = {}
    for cell in nb.cells:
        if is_test_cell(cell):
            meta = nbgrader_meta(cell)
            layout.setdefault(
                str(meta.get("grade_id")), (float(meta.get("points", 0) or 0), cell.source)
            )
    return layout


def marked_lines(source: str, begin: str, end: str) -> list[tuple[int, str, bool]]:
    """``(number, line, inside)`` of each line of a cell's source but the marker lines: its
    1-based number, the line as written, and whether it stands inside a begin/end block."""
    found, depth = [], 0
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith(begin):
            depth += 1
        elif stripped.startswith(end):
            depth = max(0, depth - 1)
        else:
            found.append((number, line, depth > 0))
    return found


def _block_lines(source: str, begin: str, end: str) -> tuple[list[str], list[str]]:
    """(lines inside begin/end blocks, lines outside them) of one cell's source, as written."""
    marked = marked_lines(source, begin, end)
    return [x for _, x, inside in marked if inside], [x for _, x, inside in marked if not inside]


def visible_source(source: str) -> str:
    """A test cell's source without its hidden-test blocks (as the release shows it)."""
    return "\n".join(_block_lines(source, HIDDEN_BEGIN, HIDDEN_END)[1])


def code_lines(source: str, drop_hidden: bool = False) -> list[str]:
    """A cell's non-blank lines, right-stripped; without hidden-test regions if asked."""
    lines = source.splitlines()
    if drop_hidden:
        lines = _block_lines(source, HIDDEN_BEGIN, HIDDEN_END)[1]
    return [line.rstrip() for line in lines if line.strip()]


def same_test_code(student: str, original: str) -> bool:
    """Whether a submitted test cell still holds the original code (released or full)."""
    mine = [line.strip() for line in code_lines(student)]
    return mine in (
        [x.strip() for x in code_lines(original)],
        [x.strip() for x in code_lines(original, drop_hidden=True)],
    )


def library_lines() -> set[str]:
    """Lines of the teaching library's source: public, so never evidence of a leak."""
    import course_utils

    package = Path(course_utils.__file__).resolve().parent
    lines = set()
    for path in package.rglob("*.py"):
        lines.update(x.strip() for x in path.read_text(encoding="utf-8").splitlines())
    return lines


def visible_lines(nb) -> set[str]:
    """Lines of a source notebook outside its hidden-test and solution blocks: public text."""
    public = set()
    for cell in nb.cells:
        rest = _block_lines(cell.get("source", ""), HIDDEN_BEGIN, HIDDEN_END)[1]
        public.update(
            x.strip() for x in _block_lines("\n".join(rest), SOLUTION_BEGIN, SOLUTION_END)[1]
        )
    return public


def secret_lines(nb, public: set[str] | None = None) -> dict[str, set[str]]:
    """Distinctive lines of the hidden tests and of the solutions, which must never be released.

    A line counts only if it is long enough to be distinctive and never appears outside the
    hidden/solution blocks anywhere in the source notebook, in ``public`` (e.g. the visible
    lines of the course's other exercises) or in course_utils' source (an ``import torch`` is
    no secret).
    """
    hidden, solution = set(), set()
    public = library_lines() | (public or set())
    for cell in nb.cells:
        source = cell.get("source", "")
        h_in, rest = _block_lines(source, HIDDEN_BEGIN, HIDDEN_END)
        s_in, rest = _block_lines("\n".join(rest), SOLUTION_BEGIN, SOLUTION_END)
        hidden.update(x.strip() for x in h_in)
        solution.update(x.strip() for x in s_in)
        public.update(x.strip() for x in rest)

    def distinctive(lines):
        return {
            line
            for line in lines
            if len(line) >= MIN_LEAK_LINE and line not in public and not line.startswith("#")
        }

    return {"hidden test": distinctive(hidden), "solution": distinctive(solution)}


def text_of(path: Path) -> str:
    """Searchable text of a file: notebooks as their JSON strings, HTML with tags removed."""
    raw = Path(path).read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".ipynb":
        try:
            nb = json.loads(raw)
            parts = []
            for cell in nb.get("cells", []):
                src = cell.get("source", "")
                parts.append("".join(src) if isinstance(src, list) else str(src))
                for out in cell.get("outputs", []):
                    parts.append(json.dumps(out))
            return "\n".join(parts)
        except json.JSONDecodeError:
            return raw
    if path.suffix in (".html", ".htm"):
        raw = re.sub(r"<[^>]+>", "", raw)
        return html.unescape(raw)
    return raw


# "---> 12     x = f(y)" in a traceback: the line number and arrow are not part of the code
_TRACEBACK_PREFIX = re.compile(r"^(?:-*>\s*)?\d+\s+")


def hidden_check_names(references: dict, public: str) -> set[str]:
    """The names of hidden checks (``references``: notebook -> ``reference.Reference``) that are
    distinctive (``MIN_LEAK_LINE`` characters or more) and appear nowhere in ``public`` (the
    released notebooks' text): any of them in a file a student receives is a leak."""
    names = set()
    for reference in references.values():
        for grade_id, checks in reference.records.cells.items():
            hidden = reference.hidden_lines.get(grade_id, set())
            for check in checks:
                name = str(check.get("name", "")).strip()
                if check.get("line") in hidden and len(name) >= MIN_LEAK_LINE:
                    names.add(name)
    return {name for name in names if name not in public}


def find_name_leaks(names: set[str], files) -> list[str]:
    """One sentence per file whose text (``text_of``) holds one of the hidden check ``names``."""
    problems = []
    for path in files:
        text = text_of(path)
        hit = next((name for name in sorted(names) if name in text), None)
        if hit:
            problems.append(f"{path} contains the hidden check name {hit!r}")
    return problems


def find_leaks(
    secrets: dict[str, set[str]],
    files,
    kinds=("hidden test", "solution"),
    texts: dict | None = None,
) -> list[str]:
    """One sentence per file that contains a marker or a secret line of the given kinds."""
    problems = []
    markers = (HIDDEN_BEGIN, HIDDEN_END)
    if "solution" in kinds:
        markers += (SOLUTION_BEGIN, SOLUTION_END)
    for path in files:
        text = texts[path] if texts is not None and path in texts else text_of(path)
        found = [m for m in markers if m in text]
        shown = {_TRACEBACK_PREFIX.sub("", x.strip()) for x in text.splitlines()}
        for kind in kinds:
            lines = secrets.get(kind, set())
            hit = next((line for line in sorted(lines) if line in shown), None)
            if hit:
                found.append(f"{kind} line {hit!r}")
        if found:
            problems.append(f"{path} contains {found[0]}")
    return problems
