"""Kernel-side integrity check: a clear message for students, never a verdict.

Grades are decided outside the student's process (``checker.py``): this check runs only where a
student reads the result (``course check`` and the feedback run) to say in plain words that the
notebook replaced code the tests rely on; it has been beaten ten ways and decides nothing.
Before every test cell the grader loads this file fresh from its read-only location and calls
``run``, which

1. loads ``course_utils`` and ``course_utils.testing`` (with the checks and rulebook it
   re-exports) afresh from their read-only files into
   ``sys.modules`` and rebinds the helper names in the user namespace, so a test cell always
   checks with the genuine helpers (a planted ``course_utils/`` in the scratch folder or a
   replaced ``check_tensor`` are bypassed);
2. refuses replaced code where a test's verdict comes from: every function reachable from
   ``builtins``, ``math``, ``operator``, ``torch``, ``torch.Tensor``, ``numpy``, IPython's and
   ipykernel's execution machinery, import hooks, event callbacks and live threads must be C code
   or Python code from a file under the read-only install (no lambda or function from the
   notebook); ``sys.settrace``/``setprofile`` hooks are refused;
3. prints the grader's one-time token, so a guard that did not run is noticed.

Limits (documented in docs/authoring-exercises.md): code that forges a file name with
``compile(..., filename=...)`` or patches memory with ``ctypes`` can still fool an in-process
check; objects with lying comparisons are caught by the strict type checks of
``course_utils.testing``, not here.
"""

import builtins
import sys
import threading
import types

_FUNCTION_TYPES = (types.FunctionType, types.MethodType)
_EXEC_NAMES = (
    "run_cell",
    "run_cell_async",
    "run_code",
    "run_ast_nodes",
    "showtraceback",
    "_showtraceback",
    "showsyntaxerror",
    "transform_cell",
    "transform_ast",
    "should_run_async",
    "_run_cell",
    "ex",
    "ev",
    "safe_execfile",
    "do_execute",
    "execute_request",
    "send_response",
    "dispatch_shell",
    "process_one",
    "dispatch_queue",
    "_publish_execute_input",
)


class GradingIntegrityError(Exception):
    """The submission replaced code that the tests rely on."""


def _trusted_roots(package_dir):
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, package_dir}
    return tuple(r.rstrip("/") + "/" for r in roots if r)


def _origin(obj, depth=0):
    """The file a callable's code comes from; '' for C code; None when unknown."""
    if depth > 5:
        return None
    if isinstance(obj, (staticmethod, classmethod)):
        return _origin(obj.__func__, depth + 1)
    if isinstance(obj, property):
        files = [_origin(f, depth + 1) for f in (obj.fget, obj.fset, obj.fdel) if f]
        return next((f for f in files if f), "")
    if isinstance(obj, types.MethodType):
        return _origin(obj.__func__, depth + 1)
    if isinstance(obj, types.FunctionType):
        return obj.__code__.co_filename
    func = vars(type(obj)).get("__call__") if isinstance(type(obj), type) else None
    if hasattr(obj, "func") and type(obj).__name__ == "partial":
        return _origin(obj.func, depth + 1)
    if isinstance(func, types.FunctionType) and not isinstance(obj, type):
        return func.__code__.co_filename  # a callable instance of a Python class
    return ""


class _Checker:
    def __init__(self, roots):
        self.roots = roots
        self.problems = []

    def trusted(self, obj):
        origin = _origin(obj)
        # "<frozen ...>": the standard library's modules compiled into the interpreter
        return origin is None or origin == "" or origin.startswith(self.roots + ("<frozen ",))

    def check(self, owner, name, obj):
        if not self.trusted(obj):
            self.problems.append(f"{owner}.{name} was replaced by code from the notebook")

    def namespace(self, owner, mapping, skip=()):
        for name, obj in list(mapping.items()):
            if name in skip:
                continue
            if callable(obj) or isinstance(obj, (staticmethod, classmethod, property)):
                self.check(owner, name, obj)

    def module(self, name):
        module = sys.modules.get(name)
        if module is None:
            return
        if not isinstance(module, types.ModuleType):
            self.problems.append(f"sys.modules[{name!r}] is not a module")
            return
        path = getattr(module, "__file__", None) or ""
        if path and not path.startswith(self.roots):
            self.problems.append(f"module {name} was loaded from {path}, not the installation")
        self.namespace(name, vars(module))

    def classes(self, owner, cls, names=None):
        for klass in type.mro(cls):
            entries = vars(klass)
            for name in names or entries:
                if name in entries:
                    self.check(f"{owner}({klass.__name__})", name, entries[name])


# The modules a test cell checks with, loaded afresh in this order (each imports the ones above).
_FRESH = (
    ("course_utils.tolerances", "tolerances.py"),
    ("course_utils.checking", "checking/__init__.py"),
    ("course_utils.checking.rules", "checking/rules.py"),
    ("course_utils.checking.checks", "checking/checks.py"),
    ("course_utils.testing", "testing.py"),
)


def _load_fresh(package_dir):
    """Import course_utils and the checks (``course_utils.testing`` and what it re-exports)
    anew from their read-only files; return ``course_utils.testing``."""
    import importlib.util
    import os

    def load(name, path, package=False):
        locations = [os.path.dirname(path)] if package else None
        spec = importlib.util.spec_from_file_location(
            name, path, submodule_search_locations=locations
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    package = load("course_utils", package_dir + "/__init__.py", package=True)
    module = package
    for name, relative in _FRESH:
        path = package_dir + "/" + relative
        if not os.path.exists(path):
            continue
        module = load(name, path, package=relative.endswith("__init__.py"))
        parent, _, child = name.rpartition(".")
        setattr(sys.modules[parent], child, module)
    return module


def run(token, package_dir, shell, load_testing):
    """Check the kernel before a test cell; print ``token`` if all is well."""
    checker = _Checker(_trusted_roots(package_dir))
    if load_testing:
        testing = _load_fresh(package_dir)
        for name in (
            "check_tensor",
            "check_close",
            "check_equal",
            "check_type",
            "check_raises",
            "check_calls",
            "check_that",
            "random_tensor",
            "tolerances",
        ):
            if name in shell.user_ns:
                shell.user_ns[name] = getattr(testing, name)
        if (
            "testing" in shell.user_ns
            and getattr(shell.user_ns["testing"], "__name__", "") == "course_utils.testing"
        ):
            shell.user_ns["testing"] = testing
    if sys.gettrace() is not None or sys.getprofile() is not None:
        checker.problems.append("a trace or profile hook was installed")
    checker.namespace("builtins", vars(builtins), skip=("_", "__", "___"))
    for name in (
        "math",
        "operator",
        "numpy",
        "numpy.testing",
        "torch",
        "torch.testing",
        "torch.nn.functional",
        "course_utils.testing",
        "course_utils.checking.checks",
        "course_utils.checking.rules",
        "course_utils.tolerances",
        "importlib",
        "sys",
    ):
        checker.module(name)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(getattr(torch, "Tensor", None), type):
        checker.classes("torch.Tensor", torch.Tensor)
    checker.classes("IPython shell", type(shell), _EXEC_NAMES)
    for name in _EXEC_NAMES:
        if name in vars(shell):
            checker.check("the IPython shell", name, vars(shell)[name])
    kernel = getattr(shell, "kernel", None)
    if kernel is not None:
        checker.classes("kernel", type(kernel), _EXEC_NAMES)
        for name in _EXEC_NAMES:
            if name in vars(kernel):
                checker.check("the kernel", name, vars(kernel)[name])
        for table in ("shell_handlers", "control_handlers"):
            checker.namespace(f"kernel.{table}", getattr(kernel, table, {}) or {})
    for hooks, label in (
        (shell.ast_transformers, "an AST transformer"),
        (shell.input_transformers_post, "an input transformer"),
        (shell.input_transformers_cleanup, "an input transformer"),
        (sys.meta_path, "an import hook"),
        (sys.path_hooks, "a path hook"),
    ):
        for hook in hooks:
            target = hook if callable(hook) else type(hook)
            if not checker.trusted(target) or not checker.trusted(
                getattr(type(hook), "find_spec", None) or target
            ):
                checker.problems.append(f"{label} from the notebook is installed")
    for event, callbacks in getattr(shell.events, "callbacks", {}).items():
        for callback in callbacks:
            if not checker.trusted(callback):
                checker.problems.append(f"a {event} callback from the notebook is registered")
    for thread in threading.enumerate():
        target = getattr(thread, "_target", None)
        if target is not None and not checker.trusted(target):
            checker.problems.append(f"a thread started by the notebook is running ({thread.name})")
    if checker.problems:
        unique = sorted(set(checker.problems))
        more = f" (and {len(unique) - 1} more)" if len(unique) > 1 else ""
        raise GradingIntegrityError(unique[0] + more)
    print(token)
