"""The static half of the library bans: a submission's code read on the trusted side.

``BANS`` (course_utils/checking/bans.py) states, per part, what a part may not call. Outside every
student process, the submission's own code cells are parsed (never run) and every name a banned
part's code uses is resolved through the notebook's imports and assignments, wherever they are:
``from torchvision.ops import nms as suppress`` in an early cell makes ``suppress(...)`` in the
part a call of ``torchvision.ops.nms``. Attribute chains (``torch.ops.aten.native_batch_norm``),
``getattr(module, "name")``, ``importlib.import_module("...")`` and ``__import__`` are followed;
the functions and classes the part's code calls that are defined in other cells are read too.
A resolved name is banned when it is one of the ban's names or inside a banned module, or when
it names the same object as a banned routine (``torch.nn.modules.batchnorm.F.batch_norm``).
A test cell of a part whose code uses a banned name fails, whatever its checks recorded.
"""

from __future__ import annotations

import ast
import importlib

from course_utils.checking.bans import BANS, Ban

from .checker import Verdict
from .notebooks import is_test_cell, nbgrader_meta

# Top-level packages whose attributes the scan may look up to compare objects (never the
# student's code: only installed libraries are imported here).
_LIBRARIES = ("torch", "torchvision", "numpy", "scipy", "skimage", "sklearn", "course_utils")


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """The dotted name an expression refers to (through ``aliases``), or None."""
    if isinstance(node, ast.Name):
        return aliases.get(node.id, node.id)
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value, aliases)
        return f"{base}.{node.attr}" if base else None
    if isinstance(node, ast.Call):
        func = _dotted(node.func, aliases)
        strings = [
            a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)
        ]
        if func in ("getattr", "builtins.getattr") and len(node.args) >= 2 and strings:
            base = _dotted(node.args[0], aliases)
            return f"{base}.{strings[0]}" if base else None
        if func in ("importlib.import_module", "__import__", "builtins.__import__") and strings:
            return strings[0]
    return None


def _aliases(trees: list[ast.Module]) -> dict[str, str]:
    """Every name the notebook binds to a dotted library name (imports, plain assignments)."""
    aliases: dict[str, str] = {}
    for _ in range(3):  # an alias of an alias, in any cell order
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    for item in node.names:
                        if item.asname:
                            aliases[item.asname] = item.name
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    for item in node.names:
                        aliases[item.asname or item.name] = f"{node.module}.{item.name}"
                elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    value = _dotted(node.value, aliases)
                    if value and "." in value:
                        for target in targets:
                            if isinstance(target, ast.Name):
                                aliases[target.id] = value
    return aliases


def _resolve(dotted: str):
    parts = dotted.split(".")
    if parts[0] not in _LIBRARIES:
        return None
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except Exception:  # noqa: BLE001 - not a module: try a shorter prefix
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except Exception:  # noqa: BLE001 - no such attribute: nothing to compare
            return None
        return obj
    return None


def _banned_name(dotted: str, ban: Ban, banned_ids: dict[int, str]) -> str | None:
    for name in ban.names():
        if dotted == name or dotted.startswith(name + "."):
            return name
    obj = _resolve(dotted)
    if obj is not None and id(obj) in banned_ids:
        return banned_ids[id(obj)]
    module = getattr(obj, "__module__", None) if obj is not None else None
    for name in ban.modules:
        if isinstance(module, str) and (module == name or module.startswith(name + ".")):
            return name
    return None


def _definitions(trees: list[ast.Module]) -> dict[str, list[ast.AST]]:
    found: dict[str, list[ast.AST]] = {}
    for tree in trees:
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found.setdefault(node.name, []).append(node)
    return found


UNREADABLE = "(code that cannot be read as Python)"


def _python_source(source: str) -> str:
    """A cell's source as the kernel runs it: IPython's syntax (``%timeit``, ``!ls``, ``obj?``)
    turned into Python, and a ``%%time``-style cell magic's body read as the cell's code."""
    from IPython.core.inputtransformer2 import TransformerManager

    lines = source.lstrip("\n").splitlines()
    if lines and lines[0].startswith("%%"):
        source = "\n".join(lines[1:])
    return TransformerManager().transform_cell(source)


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(_python_source(source))
    except (SyntaxError, ValueError):
        return None


def violations(nb, exercise: str) -> dict[str, list[str]]:
    """``{test grade_id: [banned names]}`` for the banned parts whose code uses a banned name."""
    bans = BANS.get(exercise, {})
    if not bans:
        return {}
    student = [c for c in nb.cells if c.cell_type == "code" and not is_test_cell(c)]
    trees = [t for t in (_parse(c.source) for c in student) if t is not None]
    aliases, definitions = _aliases(trees), _definitions(trees)
    found: dict[str, list[str]] = {}
    for part, ban in bans.items():
        banned_ids = {}
        for name in ban.routines:
            obj = _resolve(name)
            if obj is not None:
                banned_ids[id(obj)] = name
        cells = [c for c in student if nbgrader_meta(c).get("grade_id") == part]
        pending = [t for t in (_parse(c.source) for c in cells) if t is not None]
        if len(pending) != len(cells):  # code that does not parse cannot be cleared
            hits = {UNREADABLE}
        else:
            hits = set()
        seen: set[int] = set()
        while pending:
            node = pending.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            for child in ast.walk(node):
                if isinstance(child, ast.Name) and child.id in definitions:
                    pending.extend(definitions[child.id])
                if isinstance(child, (ast.Name, ast.Attribute, ast.Call)):
                    dotted = _dotted(child, aliases)
                    hit = dotted and _banned_name(dotted, ban, banned_ids)
                    if hit:
                        hits.add(hit)
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    module = child.module if isinstance(child, ast.ImportFrom) else None
                    for item in child.names:
                        dotted = f"{module}.{item.name}" if module else item.name
                        hit = _banned_name(dotted, ban, banned_ids)
                        if hit:
                            hits.add(hit)
        if hits:
            for test in ban.tests:
                found.setdefault(test, []).extend(sorted(hits))
    return found


def apply(verdicts: dict[str, dict[str, Verdict]], notebooks: dict, exercise: str) -> None:
    """Fail, in ``verdicts``, every test cell of a part whose code uses a banned routine.

    ``notebooks`` maps a notebook's name to its sanitized submission (nbformat); the message
    names the ban's routines (trusted text from ``BANS``), never the student's code.
    """
    for name, nb in notebooks.items():
        for grade_id, names in violations(nb, exercise).items():
            current = verdicts.get(name, {}).get(grade_id)
            if current is None:
                continue
            verdicts[name][grade_id] = Verdict(grade_id, False, reason(names), current.checks)


def reason(names: list[str]) -> str:
    """The one sentence a ban violation reads as (trusted text: names from ``BANS``)."""
    names = sorted(set(names))
    if names == [UNREADABLE]:
        return (
            "the part's code cannot be read as Python, so it cannot be cleared of the "
            "part's library ban"
        )
    return (
        f"the part's code uses {', '.join(n for n in names if n != UNREADABLE)}, which the "
        "part forbids (library ban): remove it from the part's code"
    )
