"""Test cells as a graded run executes them: no expected value is ever computed there.

In a graded run the checker compares each recorded value with the reference run's record, so the
``expected`` argument of a check is not needed in the student's kernel, and must not be there: a
submission that hooks ``check_tensor`` could record the expected value as its own answer. The same
holds for everything else the reference side decides: tolerances (``rtol``, ``atol``, a tolerance
computed from the expected value would leak it), the predicate and bound of ``check_that``, the
expected exception type of ``check_raises``, the operator of ``check_calls``. On the trusted
side, before the run, every such argument is replaced by ``None`` and every
statement that only served to compute expected values (``_expected = F.conv2d(...)``, a reference
helper, its import) is replaced by ``pass``. A cell that Python cannot parse is left as it is
(it fails the same way in the reference run, which ``course validate`` reports).
"""

from __future__ import annotations

import ast

from course_utils.checking.cases import hidden_cases

# The arguments of each check that hold the test's own reference, as (position, keyword): the
# expected value first, then tolerances, predicate and bound. The checker reads all of them from
# the reference run's record only.
EXPECTED_ARGUMENTS = {
    "check_tensor": (
        (1, "expected"),
        (3, "rtol"),
        (4, "atol"),
        (5, "check_dtype"),
        (6, "check_device"),
    ),
    "check_close": ((1, "expected"), (3, "rtol"), (4, "atol")),
    "check_equal": ((1, "expected"),),
    "check_type": ((1, "expected_type"),),
    "check_raises": ((0, "exception"),),
    "check_calls": ((0, "operator"),),
    "check_that": ((1, "predicate"), (2, "bound")),
    "record_trained": ((2, "at_least"),),
    "record_exported": ((2, "at_least"), (4, "max_parameters")),
    "record_architecture": ((3, "expected"),),
}


def called_name(call: ast.Call) -> str | None:
    """The name a call calls: ``f`` for ``f(...)`` and ``module.f(...)``; None otherwise."""
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else None


def _check_name(call: ast.Call) -> str | None:
    name = called_name(call)
    return name if name in EXPECTED_ARGUMENTS else None


def _expected_nodes(tree: ast.AST) -> list[ast.expr]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and (name := _check_name(node)):
            for position, keyword in EXPECTED_ARGUMENTS[name]:
                if len(node.args) > position and not any(
                    isinstance(a, ast.Starred) for a in node.args[: position + 1]
                ):
                    found.append(node.args[position])
                found += [k.value for k in node.keywords if k.arg == keyword]
    return found


def _base_name(target: ast.expr) -> str | None:
    while isinstance(target, (ast.Subscript, ast.Attribute)):
        target = target.value
    return target.id if isinstance(target, ast.Name) else None


def _defined_names(statement: ast.stmt) -> list[str] | None:
    """Names a simple statement defines (None: not a statement that only defines names)."""
    if isinstance(statement, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        names = []
        for target in targets:
            parts = target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]
            for part in parts:
                name = _base_name(part)
                if name is None:
                    return None
                names.append(name)
        return names
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [statement.name]
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        if any(a.name == "*" for a in statement.names):
            return None
        return [(a.asname or a.name).split(".")[0] for a in statement.names]
    return None


def _loads(node: ast.AST, skip: set[int]) -> list[str]:
    """Names read in ``node``, outside the subtrees whose ids are in ``skip``."""
    names, stack = [], [node]
    while stack:
        current = stack.pop()
        if id(current) in skip:
            continue
        if isinstance(current, ast.Name) and isinstance(current.ctx, ast.Load):
            names.append(current.id)
        # a subscript or attribute target reads its base (x[0] = 1 needs x)
        stack.extend(ast.iter_child_nodes(current))
    return names


def _simple_statements(tree: ast.Module) -> list[ast.stmt]:
    """Candidate statements: everywhere except directly in a class body (methods are read as
    attributes, never as names)."""
    in_class = {id(s) for n in ast.walk(tree) if isinstance(n, ast.ClassDef) for s in n.body}
    return [n for n in ast.walk(tree) if isinstance(n, ast.stmt) and id(n) not in in_class]


def strip_expected(sources: list[str]) -> list[str]:
    """The test cells ``sources`` with every expected value and its computation removed.

    Names are resolved across all the test cells of a notebook: a name a later test cell reads
    is kept even if this cell computes it only for expected values.
    """
    trees, expected, removable = _analyse(sources)
    result = []
    for source, tree in zip(sources, trees, strict=True):
        if tree is None:
            result.append(source)
            continue
        result.append(ast.unparse(_Strip(expected, removable).visit(tree)))
    return result


def _analyse(sources: list[str]) -> tuple[list, set[int], set[int]]:
    """``(trees, expected, removable)``: each source parsed (None: a syntax error), the ids of
    the expected-value nodes, and the ids of the statements that only serve them."""
    trees = []
    for source in sources:
        try:
            trees.append(ast.parse(source))
        except SyntaxError:
            trees.append(None)
    expected = {id(n) for tree in trees if tree for n in _expected_nodes(tree)}
    statements = [s for tree in trees if tree for s in _simple_statements(tree)]
    # x[i] = v reads x only to write into it: that alone does not keep x alive
    target_bases = set()
    for statement in statements:
        if isinstance(statement, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            for target in targets:
                node = target
                while isinstance(node, (ast.Subscript, ast.Attribute)):
                    node = node.value
                if node is not target and isinstance(node, ast.Name):
                    target_bases.add(id(node))
    removable: set[int] = set()
    while True:
        skip = expected | removable | target_bases
        read = set()
        for tree in trees:
            if tree is not None:
                read.update(_loads(tree, skip))
        added = False
        for statement in statements:
            if id(statement) in removable:
                continue
            names = _defined_names(statement)
            if names and not any(name in read for name in names):
                removable.add(id(statement))
                added = True
        if not added:
            break
    return trees, expected, removable


# Marks a check whose expected value may stay in the graded kernel: it is an input the function
# was given, or a state the function must leave unchanged (``# not a leak: the unchanged image``)
NOT_A_LEAK = "# not a leak:"
HIDDEN_CASES_CALL = hidden_cases.__name__  # its values hold no answer in a graded kernel


def _from_cases(value: ast.AST) -> bool:
    """``hidden_cases("...")`` itself, or ``enumerate`` of it: values that hold no answer in a
    graded kernel (``zip`` with something else does not count)."""
    if isinstance(value, ast.Call) and getattr(value.func, "id", None) == "enumerate":
        value = value.args[0] if len(value.args) == 1 else value
    return isinstance(value, ast.Call) and called_name(value) == HIDDEN_CASES_CALL


def _bindings(tree: ast.AST, removable: set[int]) -> dict[str, bool]:
    """Every name ``tree`` binds, and whether a graded kernel still binds it there: kept
    assignments, loop and ``with`` targets, walrus targets, parameters, functions and classes;
    not imports (a module's attribute is no answer), nor anything bound from ``hidden_cases``."""
    bound: dict[str, bool] = {}

    def bind(target: ast.AST, kept: bool) -> None:
        for name in ast.walk(target):
            if isinstance(name, ast.Name):
                bound[name.id] = bound.get(name.id, False) or kept

    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            kept = id(node) not in removable and not _from_cases(node.value)
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                bind(target, kept)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            bind(node.target, not _from_cases(node.iter))
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            bind(node.optional_vars, True)
        elif isinstance(node, ast.NamedExpr):
            bind(node.target, True)
        elif isinstance(node, ast.arg):
            bound[node.arg] = True
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound[node.name] = bound.get(node.name, False) or id(node) not in removable
    return bound


def _reads(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _inputs(check: ast.Call, answer: ast.AST, tree: ast.AST, removable: set, student: set) -> set:
    """The names the checked value is made from: those its check's other arguments read (the
    value, an input shape) and, for a call of the student's functions in the check's cell that
    assigns one of them or is given one (a model it changes), the names that call reads: the
    function's inputs. One step only: what made an input is no input."""
    names: set[str] = set()
    for argument in [*check.args, *(k.value for k in check.keywords)]:
        if argument is not answer:
            names |= _reads(argument)
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Assign, ast.Expr)) or id(node) in removable:
            continue
        targets = {
            n.id
            for t in getattr(node, "targets", [])
            for n in ast.walk(t)
            if isinstance(n, ast.Name)
        }
        calls = [
            c
            for c in ast.walk(node.value)
            if isinstance(c, ast.Call) and getattr(c.func, "id", None) in student
        ]
        if any(targets & names or _reads(c) & names for c in calls):
            names |= set().union(*(_reads(c) for c in calls))
    return names


def kept_answers(sources: list[str], student: set[str] = frozenset()) -> list[tuple[int, int, str]]:
    """Expected values a graded kernel would still hold: ``(cell, line, name)`` for each name
    that a check's expected value is computed from, that a kept statement binds, and that is
    not an input of the checked value (``_inputs``; ``student``: the notebook's own functions).

    The rewrite removes a statement that only computes an expected value; one that also builds
    the inputs stays (``_period`` made the signal), and the student's function could read it
    there (or call a kept reference helper) instead of computing the answer. A name bound in the
    check's own cell is judged by that cell's statements. A check call with ``NOT_A_LEAK`` on
    one of its lines is left out.
    """
    trees, _, removable = _analyse(sources)
    bindings = [_bindings(tree, removable) if tree is not None else {} for tree in trees]

    def kept(name: str, cell: int) -> bool:
        if name in bindings[cell]:
            return bindings[cell][name]
        return any(b.get(name, False) for b in bindings)

    found = set()
    for cell, tree in enumerate(trees):
        if tree is None:
            continue
        lines = sources[cell].splitlines()
        for call in ast.walk(tree):
            name = _check_name(call) if isinstance(call, ast.Call) else None
            if (
                name is None
                or not call.args
                or any(NOT_A_LEAK in line for line in lines[call.lineno - 1 : call.end_lineno])
            ):
                continue
            position, keyword = EXPECTED_ARGUMENTS[name][0]
            answer = (
                call.args[position]
                if len(call.args) > position
                else next((k.value for k in call.keywords if k.arg == keyword), None)
            )
            if answer is None or position == 0:
                continue
            inputs = _inputs(call, answer, tree, removable, student)
            for read in sorted(_reads(answer) - inputs):
                if kept(read, cell):
                    found.add((cell, answer.lineno, read))
    return sorted(found)


class _Strip(ast.NodeTransformer):
    def __init__(self, expected: set[int], removable: set[int]):
        self.expected, self.removable = expected, removable

    def visit(self, node):
        if id(node) in self.expected:
            return ast.copy_location(ast.Constant(None), node)
        if id(node) in self.removable:
            return ast.copy_location(ast.Pass(), node)
        return super().visit(node)
