"""The stand-in build's one rule: every full-profile size in a chapter goes through ``capped``.

``make book-full-standin`` runs every page in the full profile on a CPU, on generated stand-in
data, to prove that the GPU path's code runs end to end. It can only finish in time when every
costly full-profile setting (training images, iterations, epochs, batch sizes, repeats) is
written as ``course_utils.capped(FULL, STAND_IN)``, which is ``FULL`` in a real run and at most
``STAND_IN`` in a stand-in run.

This module finds the settings that escape that rule, by reading the code (no execution):

* a *full-profile branch* is the code that runs only when the profile is ``"full"``: the body
  of ``if PROFILE == "full":`` (or of ``!= "quick"``), the ``else`` of ``if PROFILE ==
  "quick":``, the matching side of ``a if PROFILE == "quick" else b``, and the ``"full"`` entry
  of ``{"quick": ..., "full": ...}[PROFILE]`` (``PROFILE`` or any call of ``profile()``);
* inside such a branch every integer of 2 or more given to a size (a name or keyword that
  counts or measures something: ``n_train``, ``iterations``, ``epochs``, ``batch_size``,
  ``steps``, ``repeats``, ``PER_DOSE``, ``sizes``, ``SIDE``, ...) must be an argument of a
  ``capped(...)`` call (or an item of a list cut to a capped length), or stand on a line that
  says why it costs little, with a comment ``# not capped: REASON`` (an image side that the
  stand-in files have anyway). Architecture widths are not sizes in this sense.

``python -m coursekit.capping [PAGE.md ...]`` prints each escape as ``page:line: cell N:
`code` -- NAME = VALUE is not capped`` and exits 1; ``tests/test_capping.py`` runs it over every
chapter, so a page that adds an uncapped full-profile setting fails ``make test``.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXEMPT = re.compile(r"#\s*not capped:\s*\S")
SMALLEST_SIZE = 2  # 0 and 1 (flags, a single step) cost nothing at any profile


@dataclass(frozen=True)
class Escape:
    """One full-profile integer that a stand-in run would use at full size."""

    cell: int  # index among the page's code cells, from 0
    line: int  # line in the cell's source, from 1
    value: int
    code: str  # the source line, stripped
    name: str = ""  # the setting it is given to

    def describe(self, page: str, first_line: int | None = None) -> str:
        where = f"{page}:{first_line + self.line - 1}" if first_line else page
        return (
            f"{where}: cell {self.cell}: `{self.code}` -- the full-profile {self.name} = "
            f"{self.value} is not capped (write course_utils.capped(FULL, STAND_IN), or add "
            "'# not capped: REASON' when it costs nothing)"
        )


def _is_profile(node: ast.AST) -> bool:
    """``PROFILE``, ``profile()`` or ``course_utils.profile()``."""
    if isinstance(node, ast.Name):
        return node.id == "PROFILE"
    if isinstance(node, ast.Call) and not node.args:
        func = node.func
        return (isinstance(func, ast.Name) and func.id == "profile") or (
            isinstance(func, ast.Attribute) and func.attr == "profile"
        )
    return False


def _full_side(test: ast.AST) -> bool | None:
    """True when the test holds exactly in the full profile, False when exactly in the quick
    one, None when it is not a comparison of the profile with a name."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return None
    left, right = test.left, test.comparators[0]
    if _is_profile(right):
        left, right = right, left
    if not (_is_profile(left) and isinstance(right, ast.Constant)):
        return None
    if right.value not in ("full", "quick") or not isinstance(test.ops[0], ast.Eq | ast.NotEq):
        return None
    return (right.value == "full") == isinstance(test.ops[0], ast.Eq)


def full_profile_branches(tree: ast.AST) -> list[ast.AST]:
    """The nodes of ``tree`` that run only in the full profile."""
    branches: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.If | ast.IfExp):
            side = _full_side(node.test)
            if side is None:
                continue
            taken = node.body if side else node.orelse
            branches.extend(taken if isinstance(taken, list) else [taken])
        elif isinstance(node, ast.Subscript) and _is_profile(node.slice):
            if isinstance(node.value, ast.Dict):
                for key, value in zip(node.value.keys, node.value.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "full":
                        branches.append(value)
    return branches


def _capped_firsts(tree: ast.AST) -> set[int]:
    """ids of the nodes given as ``capped``'s arguments (the full value and its cap), and of
    the items of a sequence cut to a capped length."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name == "capped":
                for argument in node.args:
                    inside.update(id(n) for n in ast.walk(argument))
    for node in ast.walk(tree):
        # [10, 20, 40, 80][:capped(4, 2)]: a list whose length is capped is capped
        if isinstance(node, ast.Subscript) and any(id(n) in inside for n in ast.walk(node.slice)):
            inside.update(id(n) for n in ast.walk(node.value))
    return inside


def _python_only(source: str) -> str:
    """The cell's source with IPython-only lines (magics, shell escapes) blanked."""
    return "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()
    )


COST_NAME = re.compile(
    r"(^n$|^n_|_n$|epoch|iter|step|train|subset|repeat|batch|per_|sample|images|trials|seeds"
    r"|size|side)",
    re.IGNORECASE,
)


def _alternatives(value: ast.AST) -> list[list[ast.expr]]:
    """The literal sequences a value can be: a tuple or a list, either side of an
    if-expression, each value of a dict that is looked up (``{...}[PROFILE]``)."""
    if isinstance(value, ast.Tuple | ast.List):
        return [value.elts]
    if isinstance(value, ast.IfExp):
        return _alternatives(value.body) + _alternatives(value.orelse)
    if isinstance(value, ast.Subscript) and isinstance(value.value, ast.Dict):
        return [elts for v in value.value.values for elts in _alternatives(v)]
    return []


def _pairs(target: ast.AST, value: ast.AST):
    """(name, expression) of an assignment; a tuple or list target is paired element by
    element with each sequence the value can be (nested targets too)."""
    if isinstance(target, ast.Name):
        yield target.id, value
    elif isinstance(target, ast.Tuple | ast.List):
        for elts in _alternatives(value):
            if len(elts) == len(target.elts):
                for element, part in zip(target.elts, elts, strict=True):
                    yield from _pairs(element, part)


def _named_values(tree: ast.AST):
    """(name, expression) for every assignment, keyword argument and string key of a dict
    literal in the code (``_pairs``)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if node.value is not None:
                for target in targets:
                    yield from _pairs(target, node.value)
        elif isinstance(node, ast.keyword) and node.arg:
            yield node.arg, node.value
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    yield key.value, value


def escapes_in_cell(source: str, cell: int = 0) -> list[Escape]:
    """The uncapped full-profile training sizes of one cell's code.

    A size is a value given to a name that says what it counts or measures (``n_train``,
    ``iterations``, ``epochs``, ``batch_size``, ``repeats``, ``steps``, ``PER_DOSE``,
    ``sizes``, ``SIDE``): architecture widths are not costs the stand-in run needs to cut.
    """
    try:
        tree = ast.parse(_python_only(source))
    except SyntaxError:
        return []  # the build itself reports code that does not parse
    lines = source.splitlines()
    capped = _capped_firsts(tree)
    in_full = {id(n) for branch in full_profile_branches(tree) for n in ast.walk(branch)}
    # A key that looks a value up (``loaders[96]``) is no size; a slice (``X[:10_000]``) is.
    keys = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.Subscript) and not isinstance(node.slice, ast.Slice)
        for n in ast.walk(node.slice)
    }
    found: dict[tuple[int, int], Escape] = {}
    for name, expression in _named_values(tree):
        if not COST_NAME.search(name):
            continue
        for node in ast.walk(expression):
            if (
                isinstance(node, ast.Constant)
                and type(node.value) is int
                and node.value >= SMALLEST_SIZE
                and id(node) in in_full
                and id(node) not in capped
                and id(node) not in keys
                and not EXEMPT.search(lines[node.lineno - 1])
            ):
                code = lines[node.lineno - 1].strip()
                found[(node.lineno, node.col_offset)] = Escape(
                    cell, node.lineno, node.value, code, name
                )
    return [found[key] for key in sorted(found)]


def page_escapes(page: Path) -> list[tuple[Escape, int | None]]:
    """Every escape of a MyST page, with the page line where its cell's code starts."""
    import jupytext

    notebook = jupytext.read(page)
    text = page.read_text(encoding="utf-8").splitlines()
    results = []
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    search_from = 0
    for index, cell in enumerate(code_cells):
        first_line = _locate(cell.source, text, search_from)
        if first_line is not None:
            search_from = first_line
        for escape in escapes_in_cell(cell.source, index):
            results.append((escape, first_line))
    return results


def _locate(source: str, page_lines: list[str], start: int) -> int | None:
    """The 1-based page line where a cell's first code line is, searching from ``start``."""
    first = next((line for line in source.splitlines() if line.strip()), None)
    if first is None:
        return None
    for number in range(start, len(page_lines)):
        if page_lines[number] == first:
            return number + 1
    return None


def chapter_pages() -> list[Path]:
    return sorted((ROOT / "chapters").glob("*/*.md"))


def main(argv: list[str]) -> int:
    pages = [Path(p) for p in argv] or chapter_pages()
    problems = []
    for page in pages:
        name = page.resolve().relative_to(ROOT) if page.resolve().is_relative_to(ROOT) else page
        problems += [escape.describe(str(name), line) for escape, line in page_escapes(page)]
    for problem in problems:
        print(problem)
    if problems:
        print(
            f"{len(problems)} full-profile setting(s) escape course_utils.capped: a stand-in "
            "build (make book-full-standin) would run them at full size on a CPU."
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
