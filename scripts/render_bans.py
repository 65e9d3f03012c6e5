"""Write each part's library ban (course_utils.checking.bans.BANS) into its solution notebook.

For every banned part of ``solutions/EXERCISE/EXERCISE.ipynb``:

- the markdown cell that introduces the part gets the sentence ``ban_sentence(...)`` (replacing
  an earlier one), so the instructions say exactly what the table says;
- each of the part's test cells calls the part's functions through a ``BanWatch`` and ends with
  ``_ban.check()``, which records the banned routines reached (the checker wants none).

Run it after changing ``BANS``, then ``course release`` the exercise. Idempotent.
Usage: python scripts/render_bans.py [EXERCISE ...]
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import nbformat

from course_utils.checking.bans import BANS, ban_sentence

ROOT = Path(__file__).resolve().parents[1]
SENTENCE = re.compile(r"\n*\*\*Library ban:\*\*[^\n]*(\n[^\n]+)*")
WATCH_LINE = (
    "from course_utils.checking.bans import BanWatch\n_ban = BanWatch({exercise!r}, {part!r})\n"
)


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _defined(source: str) -> set[str]:
    tree = ast.parse(source)
    return {
        n.name
        for n in tree.body
        if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
    }


def _unwatched(source: str) -> str:
    """A test cell's source without an earlier rendering of the watch."""
    source = source.replace(WATCH_LINE.split("\n")[0] + "\n", "")
    source = re.sub(r"_ban = BanWatch\([^)]*\)\n", "", source)
    source = re.sub(r"_ban\((\w+)\)", r"\1", source)
    return re.sub(r"\n_ban\.check\(\)\n?$", "\n", source).rstrip("\n")


def _instances(tree: ast.AST, functions: set[str]) -> set[str]:
    """Names bound to what the part's functions return (``_head = OneStageHead(...)``)."""
    names = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)
            and node.value.func.id in functions
        ):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def watched(source: str, exercise: str, part: str, functions: set[str]) -> str:
    """The test cell with every use of the part's ``functions`` routed through ``_ban``.

    A call of an object the part's functions made (a module's ``forward``) is watched too.
    """
    source = _unwatched(source)
    lines = source.split("\n")
    tree = ast.parse(source)
    instances = _instances(tree, functions) - functions
    edits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in functions and isinstance(node.ctx, ast.Load):
            edits.append((node.lineno - 1, node.col_offset, node.end_col_offset))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in instances
        ):
            edits.append((node.func.lineno - 1, node.func.col_offset, node.func.end_col_offset))
    if not edits:
        raise SystemExit(f"{exercise}: a test of {part} never uses {sorted(functions)}")
    for row, start, end in sorted(edits, reverse=True):
        line = lines[row]
        lines[row] = f"{line[:start]}_ban({line[start:end]}){line[end:]}"
    header = WATCH_LINE.format(exercise=exercise, part=part)
    return header + "\n".join(lines) + "\n_ban.check()\n"


def render(exercise: str) -> None:
    path = ROOT / "solutions" / exercise / f"{exercise}.ipynb"
    nb = nbformat.read(path, as_version=4)
    by_id = {_grade_id(c): i for i, c in enumerate(nb.cells) if _grade_id(c)}
    for part, ban in BANS[exercise].items():
        index = by_id[part]
        intro = next(i for i in range(index, -1, -1) if nb.cells[i].cell_type == "markdown")
        text = SENTENCE.sub("", nb.cells[intro].source).rstrip("\n")
        nb.cells[intro].source = f"{text}\n\n{ban_sentence(exercise, part)}"
        functions = _defined(nb.cells[index].source)
        for test in ban.tests:
            cell = nb.cells[by_id[test]]
            cell.source = watched(cell.source, exercise, part, functions)
    nbformat.validate(nb)
    nbformat.write(nb, path)
    print(f"{path.relative_to(ROOT)}: {len(BANS[exercise])} banned parts rendered")


if __name__ == "__main__":
    for name in sys.argv[1:] or sorted(BANS):
        render(name)
