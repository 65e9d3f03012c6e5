"""The static half of the library bans: a submission's code read on the trusted side.

``BANS`` (course_utils/checking/bans.py) states, per part, what the part may not call. Here,
outside every student process, the submission's code cells are parsed (never run) and
everything the part's code can *reach* is read, with Python's scopes and the notebook's order:

- the part's own cells, and every binding of the names they define that a later cell makes
  before the part's last test (``conv1d_full`` redefined in an ordinary cell is the part's
  code from then on);
- from there, every global name the code loads: the functions, classes (their ``forward``
  included), lambdas, ``functools.partial`` objects, containers of functions and values that
  any cell binds to it (an assignment, ``ops.append(f)``, ``ops["k"] = f``, ``global`` in a
  function); a parameter or a local variable is the function's own and reaches no cell's
  global of the same name (a parameter ``f`` is not a scratch cell's ``f = np.convolve``);
- attributes that the notebook sets on modules and objects (``torch.foo = ...``,
  ``setattr(torch, "foo", ...)``) where the code reads them; ``getattr`` with a constant
  name, ``importlib.import_module("...")`` and ``__import__("...")`` are followed like
  attributes and imports; threads and pools run functions the code names, so they are read.

A dotted library name the code reaches is banned when it is one of the ban's names or inside a
banned module, or names the same object as a banned routine
(``torch.nn.modules.batchnorm.F.batch_norm``); a test cell of such a part fails.

What the reading cannot decide is never passed in silence (``Scan.flags``):

- code that turns off what watches the bans in the kernel (``torch._C._DisableTorchDispatch``,
  ``sys.setprofile``, ``ctypes``, ...; ``EVASIONS``) fails the part's tests like a banned
  routine: a from-scratch part has no honest use for it, and with it the watch's verdict means
  nothing;
- dynamic code (``exec``, ``eval``, ``getattr`` with a computed name, ``importlib`` with a
  computed module, ``globals()``, ...; ``DYNAMIC``) keeps its points but is *flagged for the
  instructor* in the autograde summary: honest code uses some of it (``getattr(nn, name)``),
  and the in-kernel watch still sees the routines it reaches, so a person decides;
- the whole notebook (``notebook_flags``: every cell but the tests and the course's install
  cell, whatever part it belongs to) naming a way to start threads or processes
  (``CONCURRENCY``) or an evasion is flagged the same way: the in-kernel watch profiles only
  the test's thread and those its block starts, so work handed to an earlier thread or a
  process (a worker loop fed by a queue) is out of its sight, and out of the part's reach.
"""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass, field

from course_utils.checking.bans import BANS, Ban

from .checker import Verdict
from .notebooks import is_test_cell, nbgrader_meta

# Top-level packages whose attributes the scan may look up to compare objects (never the
# student's code: only installed libraries are imported here).
_LIBRARIES = ("torch", "torchvision", "numpy", "scipy", "skimage", "sklearn", "course_utils")

# Dotted names (and prefixes) that switch off or bypass the in-kernel watch.
EVASIONS = (
    "torch._C._DisableTorchDispatch",
    "torch._C.DisableTorchFunction",
    "torch._C.DisableTorchFunctionSubclass",
    "torch._C._DisableFuncTorch",
    "torch._C._unset_dispatch_mode",
    "torch._C._set_dispatch_mode",
    "torch._C._pop_torch_dispatch_stack",
    "torch._C._pop_torch_function_stack",
    "torch._C._set_torch_function_mode",
    "torch.utils._python_dispatch._disable_current_modes",
    "torch.utils._python_dispatch._pop_mode",
    "torch.overrides._pop_mode",
    "torch._C._disabled_torch_function_impl",
    "torch._C._disabled_torch_dispatch_impl",
    "sys.setprofile",
    "sys.settrace",
    "sys.monitoring",
    "sys._current_frames",
    "threading.setprofile",
    "threading.settrace",
    "threading.setprofile_all_threads",
    "threading.settrace_all_threads",
    "ctypes",
    "_ctypes",
    "course_utils.bans",
    "course_utils.checking.bans",
    # red team 4: torch's own ways to run code below the watch's dispatch mode (a guard
    # entered by a torch file, a custom operator whose body runs with the modes popped), and
    # the teaching library's recording (a rewritten send_record would forge the ban's record)
    "torch.utils._mode_utils",
    "torch.utils._python_dispatch",
    "torch._dispatch",
    "torch.library",
    "torch._library",
    "course_utils.checking.checks",
    "course_utils.checking.rules",
)
# Dotted names and builtins whose effect a reading of the code cannot know.
DYNAMIC = (
    "exec",
    "eval",
    "compile",
    "globals",
    "vars",
    "locals",
    "__builtins__",
    "builtins",
    "sys.modules",
    "importlib.reload",
    "importlib.util",
    "importlib.machinery",
    "importlib.__import__",
    "runpy",
    "marshal",
    "pickle",
    "types.FunctionType",
    "types.CodeType",
    "subprocess",
    "os.system",
    "os.popen",
    "os.execv",
    "os.execve",
    "os.execl",
    "os.spawnl",
    "get_ipython",
    # calls by a name made of strings, and threads that no threading.Thread object announces
    "operator.attrgetter",
    "operator.methodcaller",
    "_thread",
)
# What starts threads or processes: the in-kernel watch profiles the thread of the test cell
# and the threads started in it, so work handed to a thread or process that the notebook
# started earlier is out of its sight. A notebook that names one of these anywhere (outside
# the course's install cell) is flagged for the instructor (``notebook_flags``).
CONCURRENCY = (
    "threading.Thread",
    "threading.Timer",
    "threading._start_new_thread",
    "threading._start_joinable_thread",
    "_thread",
    "concurrent.futures",
    "multiprocessing",
    "torch.multiprocessing",
    "subprocess",
    "os.fork",
    "os.forkpty",
    "os.posix_spawn",
    "os.posix_spawnp",
    "os.spawnl",
    "os.spawnle",
    "os.spawnlp",
    "os.spawnv",
    "os.spawnve",
    "os.spawnvp",
    "os.system",
    "os.popen",
    "pty",
    "joblib",
    "loky",
    "multiprocess",
    # red team 4: the kernel's own event loops run what is scheduled on them, in threads
    # the watch takes for the kernel's machinery
    "asyncio",
    "tornado",
    "ipykernel",
    "zmq",
    "sys.stdout._io_loop",
    "sys.stderr._io_loop",
)
# Attributes of any object that reach code or namespaces a reading cannot follow.
_DYNAMIC_ATTRIBUTES = (
    "__code__",
    "__globals__",
    "__dict__",
    "__builtins__",
    "__closure__",
    "__subclasses__",
    "__getattribute__",
)
_MUTATORS = ("append", "extend", "insert", "update", "setdefault", "add", "__setitem__")
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)

UNREADABLE = "(code that cannot be read as Python)"


def _matches(dotted: str, names) -> str | None:
    for name in names:
        if dotted == name or dotted.startswith(name + "."):
            return name
    return None


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
    hit = _matches(dotted, ban.names())
    if hit:
        return hit
    obj = _resolve(dotted)
    if obj is not None and id(obj) in banned_ids:
        return banned_ids[id(obj)]
    module = getattr(obj, "__module__", None) if obj is not None else None
    for name in ban.modules:
        if isinstance(module, str) and (module == name or module.startswith(name + ".")):
            return name
    return None


def _python_source(source: str) -> str:
    """A cell's source as the kernel runs it: IPython's syntax (``%timeit``, ``!ls``, ``obj?``)
    turned into Python, and a ``%%time``-style cell magic's body read as the cell's code."""
    from IPython.core.inputtransformer2 import TransformerManager

    lines = source.lstrip("\n").splitlines()
    if lines and lines[0].startswith("%%"):
        source = "\n".join(lines[1:])
    return TransformerManager().transform_cell(source)


def _parse(source: str) -> ast.Module | None:
    """The cell's syntax tree; None where Python cannot read it (a syntax error, or code nested
    deeper than Python's parser builds: CPython cannot compile it either)."""
    try:
        return ast.parse(_python_source(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


# -- scopes -----------------------------------------------------------------------------------
@dataclass(eq=False)
class _Binding:
    """A value a name is bound to: an expression, a def/class, or an imported dotted name."""

    node: ast.AST | None
    scope: _Scope
    position: tuple[int, int] | None = None  # (cell, statement) of a module-level statement
    unconditional: bool = False  # a module-level statement of its own (not under if/for/try)
    dotted: str | None = None  # an import's dotted name


@dataclass(eq=False)
class _Scope:
    """A module, function, lambda, class body or comprehension: what its names are bound to."""

    node: ast.AST | None
    parent: _Scope | None  # the enclosing scope a load looks in next (class bodies skipped)
    names: set[str] = field(default_factory=set)
    declared_global: set[str] = field(default_factory=set)
    bindings: dict[str, list[_Binding]] = field(default_factory=dict)

    def bind(self, name: str, binding: _Binding) -> None:
        self.bindings.setdefault(name, []).append(binding)


def _targets(target: ast.AST, value: ast.AST | None):
    """``(name node, value)`` pairs of an assignment target (tuples paired where they can be)."""
    if isinstance(target, (ast.Tuple, ast.List)):
        values = value.elts if isinstance(value, (ast.Tuple, ast.List)) else None
        if values is not None and len(values) != len(target.elts):
            values = None
        for index, element in enumerate(target.elts):
            yield from _targets(element, values[index] if values else value)
    elif isinstance(target, ast.Starred):
        yield from _targets(target.value, value)
    else:
        yield target, value


class _Notebook:
    """Every scope of a notebook's code cells and what each name and attribute is bound to."""

    def __init__(self, cells: list[tuple[int, ast.Module]]):
        self.module = _Scope(None, None)
        self.scopes: dict[int, _Scope] = {}
        # attributes set: (the object's expression, its scope, attribute, value)
        self.attributes: list[tuple[ast.AST, _Scope, str, _Binding]] = []
        self.dynamic_sets: list[tuple[ast.AST, _Scope]] = []  # setattr with a computed name
        self._targets: dict[int, set[str]] = {}
        for cell, tree in cells:
            for index, statement in enumerate(tree.body):
                self._collect(statement, self.module, (cell, index), top=True)

    # scope of a function, lambda, class or comprehension node (made once)
    def scope_of(self, node: ast.AST, parent: _Scope) -> _Scope:
        known = self.scopes.get(id(node))
        if known is not None:
            return known
        lookup_parent = parent
        while lookup_parent.node is not None and isinstance(lookup_parent.node, ast.ClassDef):
            lookup_parent = lookup_parent.parent
        scope = _Scope(node, lookup_parent)
        self.scopes[id(node)] = scope
        if isinstance(node, _FUNCTIONS):
            args = node.args
            for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
                if arg is not None:
                    scope.names.add(arg.arg)
            body = node.body if isinstance(node.body, list) else [node.body]
            for statement in body:
                if isinstance(statement, ast.AST):
                    self._collect(statement, scope, None, top=False)
        elif isinstance(node, ast.ClassDef):
            for statement in node.body:
                self._collect(statement, scope, None, top=False)
        else:  # a comprehension: its targets are its own
            for generator in node.generators:
                for target, _ in _targets(generator.target, None):
                    if isinstance(target, ast.Name):
                        scope.names.add(target.id)
            for child in ast.iter_child_nodes(node):
                self._collect(child, scope, None, False)
        return scope

    def _owner(self, name: str, scope: _Scope) -> _Scope:
        """The scope a binding of ``name`` made in ``scope`` belongs to (``global`` honoured)."""
        return self.module if name in scope.declared_global else scope

    def _bind(self, name, value, scope, position, top, dotted=None) -> None:
        owner = self._owner(name, scope)
        if owner is scope:
            scope.names.add(name)
        owner.bind(
            name,
            _Binding(
                value,
                scope,
                position if owner is scope else None,
                top and owner is self.module,
                dotted,
            ),
        )

    def _collect(self, node: ast.AST, scope: _Scope, position, top: bool) -> None:
        """Record the bindings ``node`` makes in ``scope`` (nested scopes are made lazily but
        their bindings of globals and attributes are recorded now)."""
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            if isinstance(node, ast.Global):
                scope.declared_global.update(node.names)
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self._bind(node.name, node, scope, position, top)
            for child in [*node.decorator_list, *getattr(node, "bases", [])]:
                self._collect(child, scope, position, False)
            if not isinstance(node, ast.ClassDef):
                for default in [*node.args.defaults, *node.args.kw_defaults]:
                    if default is not None:
                        self._collect(default, scope, position, False)
            self.scope_of(node, scope)
            return
        if isinstance(node, ast.Lambda) or isinstance(node, _COMPREHENSIONS):
            self.scope_of(node, scope)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for item in node.names:
                if isinstance(node, ast.Import):
                    name = item.asname or item.name.split(".")[0]
                    dotted = item.name if item.asname else item.name.split(".")[0]
                elif node.module and not node.level:
                    name, dotted = item.asname or item.name, f"{node.module}.{item.name}"
                else:
                    continue
                self._bind(name, None, scope, position, top, dotted=dotted)
            return
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for single, value in _targets(target, node.value):
                    self._assign(single, value, scope, position, top)
            if node.value is not None:
                self._collect(node.value, scope, position, False)
            return
        if isinstance(node, ast.NamedExpr):
            self._assign(node.target, node.value, scope, position, False)
        if isinstance(node, (ast.For, ast.AsyncFor)):
            for single, _ in _targets(node.target, None):
                self._assign(single, node.iter, scope, position, False)
        if isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None:
                    for single, _ in _targets(item.optional_vars, None):
                        self._assign(single, item.context_expr, scope, position, False)
        if isinstance(node, ast.ExceptHandler) and node.name:
            self._bind(node.name, None, scope, position, False)
        if isinstance(node, ast.Call):
            self._call_binding(node, scope, position)
        for child in ast.iter_child_nodes(node):
            self._collect(child, scope, position, False)

    def _assign(self, target, value, scope, position, top) -> None:
        if isinstance(target, ast.Name):
            self._bind(target.id, value, scope, position, top)
        elif isinstance(target, ast.Attribute):
            self.attributes.append((target.value, scope, target.attr, _Binding(value, scope)))
        elif isinstance(target, ast.Subscript):  # ops["k"] = f: ops holds f
            self._assign(_base(target), value, scope, position, False)

    def _call_binding(self, call: ast.Call, scope, position) -> None:
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr in _MUTATORS:
            receiver = _base(func.value)
            if isinstance(receiver, ast.Name):
                # ``ops.append(f)`` fills the container where ``ops`` lives: it binds no local
                # (``numpy.add(a, b)`` in a function leaves ``numpy`` the module's)
                owner = self.lookup(receiver.id, scope)
                for argument in [*call.args, *(k.value for k in call.keywords)]:
                    self._assign(receiver, argument, owner, position, False)
        if isinstance(func, ast.Name) and func.id == "setattr" and len(call.args) >= 3:
            name = call.args[1]
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                self.attributes.append(
                    (call.args[0], scope, name.value, _Binding(call.args[2], scope))
                )
            else:
                self.dynamic_sets.append((call.args[0], scope))

    def attribute_targets(self, index: int) -> set[str]:
        """The dotted names the ``index``-th attribute assignment can set (resolved once every
        cell's bindings are known)."""
        if index not in self._targets:
            obj, scope, attr, _ = self.attributes[index]
            self._targets[index] = {f"{b}.{attr}" for b in self.dotted(obj, scope)}
        return self._targets[index]

    # -- name resolution --------------------------------------------------------------------
    def lookup(self, name: str, scope: _Scope) -> _Scope:
        """The scope whose ``name`` a load in ``scope`` reads (the module for globals)."""
        current = scope
        while current is not None and current is not self.module:
            if name in current.declared_global:
                return self.module
            if name in current.names:
                return current
            current = current.parent
        return self.module

    def bindings(
        self, name: str, scope: _Scope, before: tuple[int, int] | None, latest: bool = True
    ) -> list:
        """The bindings of ``name`` a load in ``scope`` can see: a local's all; a global's made
        ``before`` a position, and with ``latest`` (a load that runs at that position) only
        from the last unconditional one on."""
        owner = self.lookup(name, scope)
        found = owner.bindings.get(name, [])
        if owner is not self.module or before is None:
            return found
        # a global bound in a function (``global``) may be bound whenever it is called
        anytime = [b for b in found if b.position is None]
        earlier = [b for b in found if b.position is not None and b.position < before]
        cut = max((b.position for b in earlier if b.unconditional), default=(-1, 0))
        return anytime + [b for b in earlier if not latest or b.position >= cut]

    def dotted(self, node: ast.AST, scope: _Scope, before=None, depth: int = 0) -> set[str]:
        """The dotted names an expression can refer to (library names through imports and
        aliases; a global of the notebook by its own name, for the attributes set on it)."""
        if depth > 8:
            return set()
        if isinstance(node, ast.Name):
            owner = self.lookup(node.id, scope)
            found = {node.id} if owner is self.module else set()
            for binding in self.bindings(node.id, scope, before):
                if binding.dotted:
                    found.add(binding.dotted)
                elif isinstance(binding.node, (ast.Name, ast.Attribute, ast.Call)):
                    found |= self.dotted(binding.node, binding.scope, None, depth + 1)
            return found
        if isinstance(node, ast.Attribute):
            return {f"{b}.{node.attr}" for b in self.dotted(node.value, scope, before, depth)}
        if isinstance(node, ast.Call):
            strings = [
                a.value
                for a in node.args
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            ]
            func = self.dotted(node.func, scope, before, depth)
            if func & {"getattr", "builtins.getattr"} and len(node.args) >= 2:
                name = node.args[1]
                if isinstance(name, ast.Constant) and isinstance(name.value, str):
                    bases = self.dotted(node.args[0], scope, before, depth)
                    return {f"{b}.{name.value}" for b in bases}
            if func & {"importlib.import_module", "__import__", "builtins.__import__"}:
                return set(strings[:1])
        return set()


def _base(node: ast.AST) -> ast.AST:
    """The innermost value of a subscript or attribute chain (``ops`` of ``ops["k"].f``)."""
    while isinstance(node, (ast.Subscript, ast.Attribute)):
        node = node.value
    return node


@dataclass
class Scan:
    """What one banned part's code reaches: banned names, evasions and dynamic code."""

    banned: set[str] = field(default_factory=set)
    evasions: set[str] = field(default_factory=set)
    dynamic: set[str] = field(default_factory=set)


class _Reach:
    """Everything one part's code reaches, walked from its cells (see the module docstring)."""

    def __init__(self, notebook: _Notebook, ban: Ban, last_test: tuple[int, int]):
        self.notebook, self.ban, self.last_test = notebook, ban, last_test
        self.banned_ids = {}
        for name in ban.routines:
            obj = _resolve(name)
            if obj is not None:
                self.banned_ids[id(obj)] = name
        self.scan = Scan()
        self.pending: list[tuple[ast.AST, _Scope, tuple[int, int] | None]] = []
        self.seen: set[tuple[int, int]] = set()
        self.followed: set[tuple[str, int]] = set()

    def add(self, node: ast.AST, scope: _Scope, position=None) -> None:
        key = (id(node), id(scope))
        if key not in self.seen:
            self.seen.add(key)
            self.pending.append((node, scope, position))

    def run(self) -> Scan:
        while self.pending:
            node, scope, position = self.pending.pop()
            self.visit(node, scope, position)
        return self.scan

    def follow_name(self, name: str, scope: _Scope, position) -> None:
        """A load of ``name``: what it is bound to, where it can be seen, is reached."""
        owner = self.notebook.lookup(name, scope)
        if owner is self.notebook.module:
            # a module-level statement runs once, where it is: the binding then in force; a
            # function's body runs whenever it is called (from a cell before the last test, or
            # by the test): any binding made before the last test
            if position is not None:
                bindings = self.notebook.bindings(name, scope, position)
            else:
                bindings = self.notebook.bindings(name, scope, self.last_test, latest=False)
            if not bindings and name in DYNAMIC:
                self.scan.dynamic.add(name)
        else:
            bindings = owner.bindings.get(name, [])
        for binding in bindings:
            if binding.dotted:
                self.check(binding.dotted)
            elif binding.node is not None:
                self.add(binding.node, binding.scope)

    def follow_attributes(self, dotted: set[str], whole: bool) -> None:
        """Attributes the notebook set on what ``dotted`` names (all of them, for ``whole``)."""
        for index, (_, _, _, binding) in enumerate(self.notebook.attributes):
            for target in self.notebook.attribute_targets(index):
                if any(
                    target == d
                    or d.startswith(target + ".")
                    or (whole and target.startswith(d + "."))
                    for d in dotted
                ):
                    if binding.node is not None:
                        self.add(binding.node, binding.scope)
                    break
        for obj, scope in self.notebook.dynamic_sets:
            if self.notebook.dotted(obj, scope) & dotted:
                self.scan.dynamic.add("setattr with a computed name")

    def check(self, dotted: str) -> None:
        hit = _banned_name(dotted, self.ban, self.banned_ids)
        if hit:
            self.scan.banned.add(hit)
        evasion = _matches(dotted, EVASIONS)
        if evasion:
            self.scan.evasions.add(evasion)
        dynamic = _matches(dotted, DYNAMIC)
        if dynamic and dotted.split(".")[0] != "course_utils":
            self.scan.dynamic.add(dynamic)

    def visit(self, node: ast.AST, scope: _Scope, position) -> None:
        """Walk ``node`` (in ``scope``; ``position``: where a module-level statement runs)."""
        notebook = self.notebook
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for child in [*node.decorator_list, *getattr(node, "bases", [])]:
                self.visit(child, scope, position)
            for keyword in getattr(node, "keywords", []):
                self.visit(keyword.value, scope, position)
            if not isinstance(node, ast.ClassDef):
                for default in [*node.args.defaults, *node.args.kw_defaults]:
                    if default is not None:
                        self.visit(default, scope, position)
            inner = notebook.scope_of(node, scope)
            for statement in node.body:
                self.visit(statement, inner, None)
            return
        if isinstance(node, ast.Lambda):
            for default in [*node.args.defaults, *node.args.kw_defaults]:
                if default is not None:
                    self.visit(default, scope, position)
            self.visit(node.body, notebook.scope_of(node, scope), None)
            return
        if isinstance(node, _COMPREHENSIONS):
            inner = notebook.scope_of(node, scope)
            for generator in node.generators:
                self.visit(generator.iter, scope, position)
                for condition in generator.ifs:
                    self.visit(condition, inner, position)
            for part in ("elt", "key", "value"):
                if getattr(node, part, None) is not None:
                    self.visit(getattr(node, part), inner, position)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            for item in node.names:
                self.check(f"{module}.{item.name}" if module else item.name)
            return
        if isinstance(node, (ast.Attribute, ast.Call)) or (
            isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
        ):
            self.reference(node, scope, position)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            # the base of ``torch.zeros``: its bindings, not every attribute set on it (those
            # that the chain names were followed by ``reference``)
            self.follow_name(node.value.id, scope, position)
            return
        for child in ast.iter_child_nodes(node):
            self.visit(child, scope, position)

    def reference(self, node: ast.AST, scope: _Scope, position) -> None:
        notebook = self.notebook
        if isinstance(node, ast.Name):
            self.follow_name(node.id, scope, position)
            if notebook.lookup(node.id, scope) is notebook.module:
                self.follow_attributes({node.id}, whole=True)
            return
        dotted = notebook.dotted(node, scope, position)
        for name in dotted:
            self.check(name)
        if dotted:
            self.follow_attributes(dotted, whole=False)
        if isinstance(node, ast.Attribute) and node.attr in _DYNAMIC_ATTRIBUTES:
            self.scan.dynamic.add(node.attr)
        if isinstance(node, ast.Call):
            func = notebook.dotted(node.func, scope, position)
            computed = not (
                len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
            )
            if func & {"getattr", "builtins.getattr", "setattr", "delattr"} and computed:
                self.scan.dynamic.add(f"{sorted(func)[0]} with a computed name")
            constant_import = (
                node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            )
            if func & {"importlib.import_module", "__import__"} and not constant_import:
                self.scan.dynamic.add("an import of a computed module name")


TOO_DEEP = "code nested deeper than the scan follows"


def scan(nb, exercise: str) -> dict[str, Scan]:
    """``{part: Scan}`` of every banned part of ``exercise`` in the submission ``nb``.

    Code that Python compiles but that nests deeper than this reading can follow (a sum of
    thousands of terms) is flagged for the instructor in every banned part (``TOO_DEEP``,
    points kept), never a crash of the class's grading."""
    try:
        return _scan(nb, exercise)
    except RecursionError:
        return {part: Scan(dynamic={TOO_DEEP}) for part in BANS.get(exercise, {})}


def _scan(nb, exercise: str) -> dict[str, Scan]:
    bans = BANS.get(exercise, {})
    if not bans:
        return {}
    cells: list[tuple[int, ast.Module]] = []
    unreadable: set[str] = set()
    tests: dict[str, int] = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        grade_id = nbgrader_meta(cell).get("grade_id")
        if is_test_cell(cell):
            tests[str(grade_id)] = index
            continue
        tree = _parse(cell.source)
        if tree is None:
            unreadable.add(str(grade_id))
        else:
            cells.append((index, tree))
    notebook = _Notebook(cells)
    grade_of = {index: nbgrader_meta(nb.cells[index]).get("grade_id") for index, _ in cells}
    found: dict[str, Scan] = {}
    for part, ban in bans.items():
        positions = [tests[t] for t in ban.tests if t in tests]
        last_test = (max(positions) if positions else len(nb.cells), 0)
        reach = _Reach(notebook, ban, last_test)
        own = [(index, tree) for index, tree in cells if grade_of[index] == part]
        for index, tree in own:
            for number, statement in enumerate(tree.body):
                reach.add(statement, notebook.module, (index, number))
                for name in _defined(statement):  # the test calls these: as bound at test time
                    reach.follow_name(name, notebook.module, None)
                    reach.follow_attributes({name}, whole=True)  # conv1d_full.__code__ = ...
        result = reach.run()
        if part in unreadable:
            result.banned.add(UNREADABLE)
        found[part] = result
    return found


def _defined(statement: ast.AST) -> list[str]:
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [statement.name]
    if isinstance(statement, (ast.Assign, ast.AnnAssign)):
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        return [
            t.id for target in targets for t, _ in _targets(target, None) if isinstance(t, ast.Name)
        ]
    return []


def violations(nb, exercise: str) -> dict[str, list[str]]:
    """``{test grade_id: [banned names]}`` for the banned parts whose code reaches a banned
    name or turns off the watch (an evasion)."""
    found: dict[str, list[str]] = {}
    for part, result in scan(nb, exercise).items():
        hits = result.banned | result.evasions
        if hits:
            for test in BANS[exercise][part].tests:
                found.setdefault(test, []).extend(sorted(hits))
    return found


def flags(nb, exercise: str) -> dict[str, list[str]]:
    """``{part: [what]}``: dynamic code a part reaches that the reading cannot decide."""
    return {part: sorted(r.dynamic) for part, r in scan(nb, exercise).items() if r.dynamic}


def _install_cell(source: str) -> bool:
    """Whether ``source`` is the course's install cell (``coursekit.install``), any version."""
    import re

    from coursekit.install import DISTRIBUTION, INSTALL_CELL

    marker = "\x00version\x00"
    template = INSTALL_CELL.format(distribution=DISTRIBUTION, version=marker).strip()
    pieces = template.split(marker)
    pattern = r"[0-9A-Za-z.+!-]+".join(re.escape(piece) for piece in pieces)
    return re.fullmatch(pattern, source.strip()) is not None


# Dynamic code that could reach a thread starter, or make code that passes for a library's,
# with no name the notebook-wide reading would see (honest notebooks have no use for it).
_HIDDEN_ANYWHERE = (
    "an import of a computed module name",
    "sys.modules",
    "importlib.util",
    "importlib.machinery",
    "__builtins__",
    "builtins",
    "__subclasses__",
    "__code__",
    "types.CodeType",
    "types.FunctionType",
)


def notebook_flags(nb) -> list[str]:
    """What the whole notebook's code (every code cell but the tests and the course's install
    cell, whatever part it belongs to) names that starts threads or processes (``CONCURRENCY``),
    turns off the in-kernel watch (``EVASIONS``) or could hide either (a computed import, code
    objects made or replaced: ``_HIDDEN_ANYWHERE``), sorted: the watch cannot see work done
    there, so the instructor reads it. Only the notebook's own code is read, never a library's
    (tqdm's or torch's threads are not the notebook's)."""
    cells: list[tuple[int, ast.Module]] = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or is_test_cell(cell) or _install_cell(cell.source):
            continue
        tree = _parse(cell.source)
        if tree is not None:
            cells.append((index, tree))
    notebook = _Notebook(cells)
    reach = _Reach(notebook, Ban(modules=CONCURRENCY), (len(nb.cells), 0))
    for index, tree in cells:
        for number, statement in enumerate(tree.body):
            reach.add(statement, notebook.module, (index, number))
    result = reach.run()
    hidden = result.dynamic & set(_HIDDEN_ANYWHERE)
    return sorted(result.banned | result.evasions | hidden)


def apply(verdicts: dict[str, dict[str, Verdict]], notebooks: dict, exercise: str) -> list[str]:
    """Fail, in ``verdicts``, every test cell of a part whose code reaches a banned routine or
    an evasion; return the notes for the instructor about dynamic code (flagged, not failed).

    ``notebooks`` maps a notebook's name to its sanitized submission (nbformat); the messages
    name the ban's routines and the constructs (trusted text), never the student's code.
    """
    notes = []
    for name, nb in notebooks.items():
        results = scan(nb, exercise)
        for part, result in results.items():
            hits = sorted(result.banned | result.evasions)
            for grade_id in BANS[exercise][part].tests if hits else ():
                current = verdicts.get(name, {}).get(grade_id)
                if current is not None:  # read from the source: the student may see it
                    why = reason(hits)
                    verdicts[name][grade_id] = Verdict(grade_id, False, why, current.checks, why)
            if result.dynamic:
                notes.append(
                    f"flagged for the instructor: {part}'s code uses "
                    f"{', '.join(sorted(result.dynamic))}, which the library-ban scan cannot "
                    "follow (points kept; read the code)"
                )
        concurrent = notebook_flags(nb) if results else []
        if concurrent:
            notes.append(
                f"flagged for the instructor: the notebook's code uses {', '.join(concurrent)}"
                ": threads, processes or what turns the watch off, where the library-ban watch "
                "cannot see the work done (points kept; read the code)"
            )
    return notes


def reason(names: list[str]) -> str:
    """The one sentence a ban violation reads as (trusted text: names from ``BANS``)."""
    names = sorted(set(names))
    if names == [UNREADABLE]:
        return (
            "the part's code cannot be read as Python, so it cannot be cleared of the "
            "part's library ban"
        )
    evasions = [n for n in names if n in EVASIONS]
    banned = [n for n in names if n != UNREADABLE and n not in EVASIONS]
    if not banned:
        return (
            f"the part's code uses {', '.join(evasions)}, which turns off the watch of the "
            "part's library ban: remove it from the part's code"
        )
    return (
        f"the part's code uses {', '.join(banned)}, which the "
        "part forbids (library ban): remove it from the part's code"
    )
