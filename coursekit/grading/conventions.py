"""The conventions of an exercise's source notebook, linted by ``course validate``.

Test cells are teaching material a student reads, and what a kernel can say about itself must
not be worth much. ``lint_notebook`` reads a source notebook (never runs it):

- **cell names**: a solution cell is named for its part (``corr2d``), its test cells
  ``test_`` + the part's name, optionally with a suffix (``test_corr2d``,
  ``test_batch_norm_training``); nothing else (no ``otsu_solution``/``otsu_tests``);
- **no plain globals**: a test cell binds only underscore names (``_X``, ``_model``), so it
  never overwrites a student's ``model`` or ``X``; imports are allowed;
- **no bare assert or raise**: every verdict of a test cell is a recorded check (a bare
  ``assert``, or a ``raise`` under the test's own condition, would decide in the student's
  kernel, where it can be silenced);
- **self-reported facts carry little**: a test cell with a check only the kernel can report
  (``check_raises``, ``check_calls``: ``rules.SELF_REPORTED``) holds at most
  ``SELF_REPORTED_MAX_POINTS`` points and at most ``SELF_REPORTED_MAX_SHARE`` of its part's
  points;
- **facts about a model come from its exported program**: a check whose value counts the parts
  of a model the notebook's code built (``sum(p.numel() for p in net.parameters())``, a list of
  ``net.modules()``, a notebook function that counts them), directly or through the cell's
  assignments, is a self-reported check (the same cap); the grader reads such facts from the
  exported model instead (``record_architecture``).

- **no answer left in a graded kernel**: a hidden check's expected value is computed only for
  the check (the grader strips it, ``rewrite.py``), never bound by a statement that also builds
  the inputs (``_period`` that made the signal): an inverse problem draws its cases outside the
  kernel (``hidden_cases``); a line that compares with an input or an unchanged state says so
  with ``# not a leak: <why>``.

``lint_hidden_names`` reads the reference run's records: no hidden check's name may give away its
expected value (``the period of a pattern of period 37`` with expected value 37), since a
graded kernel sees the names of the checks it runs.
"""

from __future__ import annotations

import ast
import math
import re

from course_utils.checking import rules

from .notebooks import HIDDEN_BEGIN, HIDDEN_END, is_test_cell, marked_lines, nbgrader_meta
from .rewrite import NOT_A_LEAK, kept_answers

SELF_REPORTING_CHECKS = {"raises": "check_raises", "calls": "check_calls"}
TEST_PREFIX = "test_"
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")


def _grade_id(cell) -> str:
    return str(nbgrader_meta(cell).get("grade_id", ""))


def _is_solution(cell) -> bool:
    meta = nbgrader_meta(cell)
    return bool(meta.get("solution")) and not meta.get("grade")


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def _module_level_bindings(tree: ast.Module) -> list[tuple[int, str]]:
    """``(line, name)`` of every name the cell binds at module level (not inside a function or
    class body), imports left out."""
    found = []

    def visit(node, top):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if top:
                found.append((node.lineno, node.name))
            return  # their bodies are their own scope
        if isinstance(node, ast.Lambda):
            return
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            return  # comprehension variables are local to the comprehension
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            found.append((node.lineno, node.id))
        if isinstance(node, ast.ExceptHandler) and node.name:
            found.append((node.lineno, node.name))
        for child in ast.iter_child_nodes(node):
            visit(child, top)

    for statement in tree.body:
        visit(statement, True)
    return found


def _calls(tree: ast.AST, names: set[str]) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name in names:
                found.add(name)
    return found


# -- facts about a model the notebook built, computed in the kernel -------------------------
# Walking these (or calling a notebook function that counts with them) gives a fact about a
# model; when the model is the student's own (built by the notebook's code), only the kernel
# can report it, and a kernel can forge it. Such facts are read from the exported model
# (``record_architecture``).
MODEL_PARTS = {
    "parameters",
    "named_parameters",
    "buffers",
    "named_buffers",
    "modules",
    "named_modules",
    "children",
    "named_children",
    "state_dict",
}
VALUE_CHECKS = {"check_tensor", "check_close", "check_equal", "check_type", "check_that"}


def _names_in(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _student_names(nb) -> set[str]:
    """Names that the notebook's own (non-test) code cells define or bind at module level."""
    names: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type != "code" or is_test_cell(cell):
            continue
        tree = _parse(cell.source)
        if tree is not None:
            names |= {name for _, name in _module_level_bindings(tree)}
    return names


def _method_calls(node: ast.AST) -> set[str]:
    return {
        call.func.attr
        for call in ast.walk(node)
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
    }


def _counting_functions(nb) -> set[str]:
    """Functions, anywhere in the notebook, that count a model's parameters: their body walks
    its parts and counts numbers (``sum(p.numel() for p in module.parameters())``)."""
    found: set[str] = set()
    for cell in nb.cells:
        tree = _parse(cell.source) if cell.cell_type == "code" else None
        for node in ast.walk(tree) if tree is not None else ():
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                methods = _method_calls(node)
                if methods & MODEL_PARTS and "numel" in methods:
                    found.add(node.name)
    return found


def _bindings(tree: ast.AST) -> list[tuple[list[str], ast.AST]]:
    """``(names bound, the expression they come from)`` for every assignment, loop and
    ``with ... as`` of a cell, in every scope (a test cell's helper functions included)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and node.value:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found.append(([n for t in targets for n in _names_in(t)], node.value))
        elif isinstance(node, (ast.For, ast.AsyncFor)):  # a comprehension's are its own
            found.append((sorted(_names_in(node.target)), node.iter))
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            found.append((sorted(_names_in(node.optional_vars)), node.context_expr))
    return found


def model_fact_checks(tree: ast.AST, student: set[str], counting: set[str]) -> list[int]:
    """Lines of the checks in ``tree`` whose value walks the parts of a model the notebook's
    code built (``.parameters()``, ``.modules()``, ... of an object that comes from a
    ``student`` name, or a ``counting`` function called on it), directly or through the cell's
    assignments and loops."""
    bindings = _bindings(tree)
    built = set(student)
    facts: set[str] = set()

    def counts(expression: ast.AST) -> bool:
        for node in ast.walk(expression):
            if isinstance(node, ast.Name) and node.id in facts:
                return True
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in MODEL_PARTS:
                if _names_in(func.value) & built:
                    return True
            if isinstance(func, ast.Name) and func.id in counting:
                if any(_names_in(argument) & built for argument in node.args):
                    return True
        return False

    changed = True
    while changed:
        changed = False
        for names, value in bindings:
            if _names_in(value) & built and not set(names) <= built:
                built |= set(names)
                changed = True
            if counts(value) and not set(names) <= facts:
                facts |= set(names)
                changed = True
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name not in VALUE_CHECKS:
                continue
            values = node.args[:1] + [k.value for k in node.keywords if k.arg == "actual"]
            if any(counts(value) for value in values):
                lines.append(node.lineno)
    return sorted(lines)


def lint_notebook(nb, label: str = "the notebook") -> list[str]:
    """What in a source notebook breaks the conventions (see the module's docstring)."""
    problems = []
    part = None
    part_points: dict[str, float] = {}
    self_reported: list[tuple[str, str, float, str]] = []
    student, counting = _student_names(nb), _counting_functions(nb)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        grade_id = _grade_id(cell)
        if _is_solution(cell) and grade_id:
            part = grade_id
            if grade_id.startswith(TEST_PREFIX) or grade_id.endswith(("_solution", "_tests")):
                problems.append(
                    f"{label}: solution cell {grade_id!r} is not named for its part (a part "
                    "'corr2d' has the solution cell 'corr2d' and test cells 'test_corr2d...')"
                )
            continue
        if not is_test_cell(cell):
            continue
        if part is None or not (
            grade_id == TEST_PREFIX + part or grade_id.startswith(f"{TEST_PREFIX}{part}_")
        ):
            wanted = f"'{TEST_PREFIX}{part}' or '{TEST_PREFIX}{part}_...'" if part else "after"
            problems.append(
                f"{label}: test cell {grade_id!r} is off the naming convention ({wanted})"
            )
        points = float(nbgrader_meta(cell).get("points", 0) or 0)
        part_points[part or ""] = part_points.get(part or "", 0.0) + points
        tree = _parse(cell.source)
        if tree is None:
            continue  # the reference run reports it
        plain = sorted(
            {
                (line, name)
                for line, name in _module_level_bindings(tree)
                if not name.startswith("_")
            }
        )
        if plain:
            line, name = plain[0]
            problems.append(
                f"{label}: test cell {grade_id!r} sets the global {name!r} (line {line}); a "
                "test cell binds only underscore names, so it never overwrites a student's"
            )
        asserts = [n for n in ast.walk(tree) if isinstance(n, (ast.Assert, ast.Raise))]
        if asserts:
            word = "assert" if isinstance(asserts[0], ast.Assert) else "raise"
            problems.append(
                f"{label}: test cell {grade_id!r} has a bare {word} (line "
                f"{asserts[0].lineno}); use a recorded check of course_utils.testing (a bare "
                f"{word} decides in the student's kernel, where it can be silenced)"
            )
        reporting = _calls(tree, set(SELF_REPORTING_CHECKS.values()))
        if reporting:
            what = (
                f"a self-reported check ({', '.join(sorted(reporting))}: only the student's "
                "kernel can say what was raised or what ran)"
            )
            self_reported.append((grade_id, part or "", points, what))
        model_facts = model_fact_checks(tree, student, counting)
        if model_facts:
            what = (
                f"a check of a fact about a model the notebook built, counted in the kernel "
                f"(line {model_facts[0]}: .parameters(), .modules(), ...), which a "
                "kernel can forge: read it from the exported model with record_architecture, "
                "or keep it self-reported"
            )
            self_reported.append((grade_id, part or "", points, what))
    problems += _kept_hidden_answers(nb, label)
    for grade_id, owner, points, what in self_reported:
        share = points / part_points[owner] if part_points.get(owner) else 1.0
        if points > rules.SELF_REPORTED_MAX_POINTS or share > rules.SELF_REPORTED_MAX_SHARE:
            problems.append(
                f"{label}: test cell {grade_id!r} holds {what} and {points:g} of its "
                f"part's {part_points.get(owner, 0):g} points; such a cell may carry at most "
                f"{rules.SELF_REPORTED_MAX_POINTS} point and "
                f"{rules.SELF_REPORTED_MAX_SHARE:.0%} of its part's points"
            )
    return problems


def _kept_hidden_answers(nb, label: str) -> list[str]:
    """Hidden checks whose expected value a graded kernel still holds (``rewrite.kept_answers``):
    visible checks are left out, since the released notebook shows their answers anyway."""
    tests = [c for c in nb.cells if is_test_cell(c)]
    problems = []
    for cell, line, text in kept_answers([c.source for c in tests], _student_names(nb)):
        marked = marked_lines(tests[cell].source, HIDDEN_BEGIN, HIDDEN_END)
        hidden = {number for number, _, inside in marked if inside}
        if line not in hidden:
            continue
        problems.append(
            f"{label}: test cell {_grade_id(tests[cell])!r} line {line}: the hidden check's "
            f"expected value is made from {text}, which stays in the graded kernel (a "
            "statement that also builds the inputs binds it) and is no input of the checked "
            "value: the student's function could read it instead of computing the answer; "
            "draw such cases outside the kernel with hidden_cases "
            f"(course_utils.checking.cases), or put '{NOT_A_LEAK} <why>' on the check's line when "
            "the value is an input of the function or a state it must leave unchanged"
        )
    return problems


# -- hidden check names ----------------------------------------------------------------------
def _answer_texts(value) -> tuple[set[float], list[str]]:
    """The numbers and the texts an expected value gives away when written out."""
    kind, raw = value
    number = rules.number(value)
    if kind in ("bool", "npbool"):
        return set(), []
    if number is not None and math.isfinite(number):
        return {number}, []
    if kind == "str" and len(raw.strip()) >= 2:
        return set(), [raw.strip().lower()]
    if kind in ("list", "tuple") and raw and all(rules.number(v) is not None for v in raw):
        numbers = [rules.number(v) for v in raw]
        text = ",".join(f"{n:g}" for n in numbers)
        return set(), [text]
    return set(), []


def leaked_answer(name: str, expected) -> str | None:
    """The part of a check's ``name`` that gives away its decoded ``expected`` value, or None."""
    numbers, texts = _answer_texts(expected)
    for token in _NUMBER.findall(name):
        if float(token) in numbers:
            return token
    squeezed = re.sub(r"[()\[\]]", " ", re.sub(r"\s*,\s*", ",", name.lower()))
    for text in texts:
        if re.search(
            rf"(?<![\w.]){re.escape(text)}(?![\w.])", squeezed if "," in text else name.lower()
        ):
            return text
    return None


def _template(name: str) -> str:
    return _NUMBER.sub("#", name)


def leaks_in_group(checks: list[tuple[str, object]]) -> list[tuple[str, str]]:
    """``(name, leaked)`` for the checks of one template (names equal but for their numbers)
    whose names give the answer away: a text of the answer in the name, or (a template used
    once) any number equal to it, or (used more often) a number at the same place that equals
    the answer in every check, so a kernel could read each answer off its name. A number that
    equals the answer by chance in some checks only (``conv_output_size(8, 3, padding=1)`` is
    8) tells a kernel nothing."""
    found = []
    numbered = []
    for name, expected in checks:
        numbers, texts = _answer_texts(expected)
        leaked = None
        squeezed = re.sub(r"[()\[\]]", " ", re.sub(r"\s*,\s*", ",", name.lower()))
        for text in texts:
            haystack = squeezed if "," in text else name.lower()
            if re.search(rf"(?<![\w.]){re.escape(text)}(?![\w.])", haystack):
                leaked = text
        if leaked is not None:
            found.append((name, leaked))
        numbered.append((name, [float(t) for t in _NUMBER.findall(name)], numbers))
    if len(checks) == 1:
        name, values, numbers = numbered[0]
        hits = [v for v in values if v in numbers]
        if hits and name not in {n for n, _ in found}:
            found.append((name, f"{hits[0]:g}"))
        return found
    width = min(len(values) for _, values, _ in numbered)
    for place in range(width):
        if all(numbers and values[place] in numbers for _, values, numbers in numbered):
            found += [(name, f"{values[place]:g}") for name, values, _ in numbered]
            break
    return found


def lint_hidden_names(references: dict) -> list[str]:
    """Hidden checks whose names give their expected values away (``references``: as
    ``ensure_reference`` returns them, notebook -> ``Reference``)."""
    problems = []
    for notebook, reference in references.items():
        for grade_id, checks in reference.records.cells.items():
            hidden = reference.hidden_lines.get(grade_id, set())
            groups: dict[str, list] = {}
            for check in checks:
                if check.get("line") not in hidden or "expected" not in check:
                    continue
                try:
                    expected = rules.decode(check["expected"], reference.records.array)
                except Exception:  # noqa: BLE001 - an unreadable record is reported elsewhere
                    continue
                name = str(check.get("name", ""))
                groups.setdefault(_template(name), []).append((name, expected))
            for group in groups.values():
                for name, leaked in leaks_in_group(group)[:1]:
                    problems.append(
                        f"{notebook}: hidden check {name!r} of {grade_id} gives its expected "
                        f"value away ({leaked!r} in its name); a graded kernel sees the names"
                    )
    return problems
