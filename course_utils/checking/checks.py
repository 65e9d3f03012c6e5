"""Checks for exercise test cells: clear one-line failures, nothing written to stderr.

A test cell compares the student's answer with a reference the test computes itself (never with
the student's own function), on fixed and on random inputs::

    from course_utils.testing import check_tensor, check_close, random_tensor
    X = random_tensor(5, 7, seed=1)
    check_tensor(corr2d(X, K), reference, name="corr2d(X, K)")

Every check raises ``AssertionError`` with one sentence that names what differs, so that
``course check`` can show it as the first line of the failure. Tolerances hold on CPU and GPU
(cuDNN convolutions may use TF32 on a GPU, so float32 results on CUDA get a looser tolerance).

When a notebook is graded, the same calls also *record* values (``COURSE_RECORD`` in the
kernel's environment): in the instructor's clean reference run (``reference``) each check
asserts and records what it compared; in a student's graded run (``graded``) it only records the
student's value, and the verdict is computed outside the student's process by comparing it with
the reference run's record (see docs/authoring-exercises.md). A record is sent to the grader as a
display message of type ``RECORD_MIME``: JSON, with arrays as base64 ``.npy`` bytes (never
pickle).
"""

from __future__ import annotations

import base64
import io
import math
import os
import sys

import numpy as np

from course_utils.tolerances import tolerances

RECORD_MIME = "application/vnd.course-record+json"
# The trusted vocabulary of properties a test may ask of a recorded value (``check_that``).
PREDICATES = ("less_than", "greater_than", "at_least", "at_most", "falls", "falls_by", "true")


def _torch():
    import torch

    return torch


def recording_mode() -> str | None:
    """``"reference"`` or ``"graded"`` while the grader runs this kernel (``COURSE_RECORD``);
    None in a plain run, where checks only assert."""
    mode = os.environ.get("COURSE_RECORD")
    return mode if mode in ("graded", "reference") else None


# -- records ---------------------------------------------------------------------------------
def _npy(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def encode(value, depth: int = 0):
    """A JSON-able description of ``value``: numbers, strings, tensors and arrays, containers.

    Anything else becomes ``{"object": type name}``, which never equals a reference value.
    """
    if depth > 20:
        return {"object": "nested too deeply"}
    torch = sys.modules.get("torch")
    if value is None or isinstance(value, (bool, str)):
        return {"py": value, "type": type(value).__name__}
    if isinstance(value, (int, float)):
        kind = "bool" if isinstance(value, bool) else type(value).__name__
        if isinstance(value, float) and not math.isfinite(value):
            return {"py": repr(value), "type": "float-special"}
        if isinstance(value, int) and abs(value) > 2**62:
            return {"py": str(value), "type": "bigint"}
        return {"py": value, "type": kind if kind in ("int", "float") else "int"}
    if isinstance(value, np.generic):
        return encode(value.item(), depth + 1) | {"numpy": type(value).__name__}
    if torch is not None and isinstance(value, torch.dtype):
        return {"dtype": str(value)}
    if torch is not None and isinstance(value, torch.Tensor):
        plain = type(value) is torch.Tensor or isinstance(value, torch.nn.Parameter)
        data = value.detach().to("cpu")
        dtype = str(data.dtype)
        if data.dtype in (torch.bfloat16, torch.float16):
            data = data.float()
        return {
            "tensor": _npy(data.resolve_conj().numpy()),
            "dtype": dtype,
            "device": value.device.type,
            "plain": bool(plain),
            "requires_grad": bool(value.requires_grad),
        }
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            return {"object": "ndarray of objects"}
        return {"array": _npy(value)}
    if isinstance(value, (list, tuple)):
        return {
            type(value).__name__ if type(value) in (list, tuple) else "list": [
                encode(v, depth + 1) for v in value
            ]
        }
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: encode(v, depth + 1) for k, v in value.items()}}
    return {"object": type(value).__name__}


def _call_site() -> int | None:
    """The line of the test cell's top-level statement that made this check (1-based)."""
    frame, line = sys._getframe(1), None
    while frame is not None:
        if frame.f_code.co_name == "<module>" and "get_ipython" in frame.f_globals:
            line = frame.f_lineno
        frame = frame.f_back
    return line


def _publish(record: dict) -> None:
    from IPython.display import publish_display_data

    publish_display_data({RECORD_MIME: record})


def send_record(kind: str, name: str, actual, expected=None, **params) -> None:
    """Send one record to the grader (nothing outside a graded or reference run)."""
    mode = recording_mode()
    if mode is None:
        return
    record = {"kind": kind, "actual": encode(actual)}
    if mode == "reference":
        record.update(name=str(name), expected=encode(expected), params=params, line=_call_site())
    _publish(record)


def _type_names(value) -> list[str]:
    return [f"{k.__module__}.{k.__qualname__}" for k in type(value).__mro__]


# -- the checks ------------------------------------------------------------------------------
def random_tensor(*shape: int, seed: int = 0, low: float = -1.0, high: float = 1.0, dtype=None):
    """A reproducible uniform random tensor on the CPU (tests move it where they need it)."""
    torch = _torch()
    dtype = torch.float32 if dtype is None else dtype
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=generator, dtype=dtype) * (high - low) + low


def _type_error(value, expected_type, name: str) -> str | None:
    torch = sys.modules.get("torch")
    if torch is not None and expected_type is torch.Tensor:
        if type(value) is not torch.Tensor and not isinstance(value, torch.nn.Parameter):
            return f"{name} should be a torch.Tensor, got {type(value).__name__}"
        return None
    if not isinstance(value, expected_type):
        wanted = getattr(expected_type, "__name__", str(expected_type))
        return f"{name} should be a {wanted}, got {type(value).__name__}"
    return None


def check_type(value, expected_type, name: str = "the result") -> None:
    """Fail unless ``value`` is an instance of ``expected_type`` (subclasses of tensors refused)."""
    mode = recording_mode()
    if mode == "graded":
        send_record("type", name, _type_names(value))
        return
    problem = _type_error(value, expected_type, name)
    if problem:
        raise AssertionError(problem)
    if mode == "reference":
        send_record(
            "type",
            name,
            _type_names(value),
            expected=f"{expected_type.__module__}.{expected_type.__qualname__}",
        )


def tensor_problem(
    actual, expected, name: str, rtol=None, atol=None, check_dtype=True, check_device=False
) -> str | None:
    """Why ``actual`` fails ``check_tensor`` against ``expected`` (None when it passes)."""
    torch = _torch()
    expected = torch.as_tensor(expected)
    problem = _type_error(actual, torch.Tensor, name)
    if problem:
        return problem
    actual = actual.detach()
    if tuple(actual.shape) != tuple(expected.shape):
        return f"{name} has shape {tuple(actual.shape)}, expected {tuple(expected.shape)}"
    if check_dtype and actual.dtype != expected.dtype:
        return f"{name} has dtype {actual.dtype}, expected {expected.dtype}"
    if check_device and actual.device.type != expected.device.type:
        return f"{name} is on {actual.device}, expected {expected.device}"
    default_rtol, default_atol = tolerances(expected.dtype, actual.device)
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    if actual.is_complex() or expected.is_complex():
        a = torch.view_as_real(actual.to("cpu", torch.complex128))
        e = torch.view_as_real(expected.detach().to("cpu", torch.complex128))
    else:
        a = actual.to("cpu", torch.float64)
        e = expected.detach().to("cpu", torch.float64)
    nan_mismatch = torch.isnan(a) != torch.isnan(e)
    if bool(nan_mismatch.any()):
        return f"{name} has NaN where the reference has none (or the reverse)"
    a, e = torch.nan_to_num(a), torch.nan_to_num(e)
    bad = (a - e).abs() > atol + rtol * e.abs()
    if bool(bad.any()):
        index = tuple(int(i) for i in torch.nonzero(bad)[0])
        return (
            f"{name} differs from the reference at {int(bad.sum())} of {bad.numel()} "
            f"places, e.g. at index {index}: got {float(a[index]):.6g}, "
            f"expected {float(e[index]):.6g}"
        )
    return None


def check_tensor(
    actual,
    expected,
    name: str = "the result",
    rtol: float | None = None,
    atol: float | None = None,
    check_dtype: bool = True,
    check_device: bool = False,
) -> None:
    """Fail unless ``actual`` is a plain tensor with ``expected``'s shape, dtype and values.

    ``expected`` is a tensor (or array) the test computed independently. Values are compared on
    the CPU in float64, with ``tolerances`` for the dtype and device unless given.
    """
    mode = recording_mode()
    if mode == "graded":
        send_record("tensor", name, actual)
        return
    problem = tensor_problem(actual, expected, name, rtol, atol, check_dtype, check_device)
    if problem:
        raise AssertionError(problem)
    if mode == "reference":
        send_record(
            "tensor",
            name,
            actual,
            expected=_torch().as_tensor(expected),
            rtol=rtol,
            atol=atol,
            check_dtype=check_dtype,
            check_device=check_device,
        )


def close_problem(
    actual, expected, name: str, rtol: float = 1e-6, atol: float = 1e-8
) -> str | None:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(actual, torch.Tensor):
        if actual.numel() != 1:
            return f"{name} should be a single number, got shape {tuple(actual.shape)}"
        actual = actual.item()
    if isinstance(actual, np.generic):
        actual = actual.item()
    if isinstance(actual, bool) or not isinstance(actual, (int, float)):
        return f"{name} should be a number, got {type(actual).__name__}"
    if not math.isclose(float(actual), float(expected), rel_tol=rtol, abs_tol=atol):
        return f"{name} is {actual!r}, expected {expected!r}"
    return None


def check_close(
    actual, expected: float, name: str = "the result", rtol: float = 1e-6, atol: float = 1e-8
) -> None:
    """Fail unless the real number ``actual`` is close to ``expected``."""
    mode = recording_mode()
    if mode == "graded":
        send_record("close", name, actual)
        return
    problem = close_problem(actual, expected, name, rtol, atol)
    if problem:
        raise AssertionError(problem)
    if mode == "reference":
        send_record("close", name, actual, expected=float(expected), rtol=rtol, atol=atol)


def equal_problem(actual, expected, name: str) -> str | None:
    if type(actual) is not type(expected) and not (
        isinstance(actual, (int, np.integer))
        and isinstance(expected, int)
        and not isinstance(actual, bool)
    ):
        return f"{name} should be a {type(expected).__name__}, got {type(actual).__name__}"
    if not bool(actual == expected):
        return f"{name} is {actual!r}, expected {expected!r}"
    return None


def check_equal(actual, expected, name: str = "the result") -> None:
    """Fail unless ``actual == expected`` for exact things (ints, tuples, strings)."""
    mode = recording_mode()
    if mode == "graded":
        send_record("equal", name, actual)
        return
    problem = equal_problem(actual, expected, name)
    if problem:
        raise AssertionError(problem)
    if mode == "reference":
        send_record("equal", name, actual, expected=expected)


def prediction(namespace: dict, name: str):
    """The answer a notebook gave to a predict-a-number question: ``namespace[name]``.

    ``check_equal(prediction(globals(), "predicted_shape"), ...)``: a question not answered yet
    (the name never set, because the answer cell still raises ``NotImplementedError``, or set
    to ``None``) fails with one sentence that says so, not with a ``NameError``.
    """
    value = namespace.get(name)
    if value is None:
        raise AssertionError(
            f"{name}: not answered yet - replace `raise NotImplementedError()` in its cell "
            f"with `{name} = ...`, your prediction"
        )
    return value


def check_raises(exception, function, *args, name: str = "the call", **kwargs) -> None:
    """Fail unless ``function(*args, **kwargs)`` raises ``exception`` (or a subclass)."""
    raised = None
    try:
        function(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - which one it was is the point
        raised = error
    names = _type_names(raised) if raised is not None else []
    mode = recording_mode()
    if mode == "graded":
        send_record("raises", name, names)
        return
    if not isinstance(raised, exception):
        got = "nothing" if raised is None else f"a {type(raised).__name__}"
        raise AssertionError(f"{name} should raise a {exception.__name__}, but raised {got}")
    if mode == "reference":
        expected = f"{exception.__module__}.{exception.__qualname__}"
        send_record("raises", name, names, expected=expected)


def predicate_problem(predicate: str, actual, bound, name: str) -> str | None:
    """Why ``actual`` does not have the property ``predicate`` (with ``bound``), or None."""
    if predicate not in PREDICATES:
        return f"unknown predicate {predicate!r} (known: {', '.join(PREDICATES)})"
    if predicate == "true":
        return None if actual is True else f"{name} should be True"
    if predicate in ("falls", "falls_by"):
        values = list(actual) if isinstance(actual, (list, tuple)) else None
        if not values or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in values
        ):
            return f"{name} should be a non-empty list of finite numbers"
        factor = 1.0 if predicate == "falls" else float(bound)
        if not values[-1] < factor * values[0]:
            return f"{name} should fall (last {values[-1]:.4g}, first {values[0]:.4g}" + (
                f", factor {factor:g})" if predicate == "falls_by" else ")"
            )
        return None
    if (
        isinstance(actual, bool)
        or not isinstance(actual, (int, float))
        or not math.isfinite(actual)
    ):
        return f"{name} should be a finite number"
    ok = {
        "less_than": actual < bound,
        "greater_than": actual > bound,
        "at_least": actual >= bound,
        "at_most": actual <= bound,
    }[predicate]
    words = predicate.replace("_", " ")
    return None if ok else f"{name} is {actual:.6g}, it should be {words} {bound:.6g}"


def _plain_number(value):
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain_number(v) for v in value]
    return value


def check_that(actual, predicate: str, bound=None, name: str = "the result") -> None:
    """Fail unless ``actual`` has a named property: ``predicate`` is one of ``PREDICATES``.

    ``check_that(acc, "at_least", 0.9)``, ``check_that(losses, "falls")``,
    ``check_that(losses, "falls_by", 0.01)`` (last below 1 % of first),
    ``check_that(blurred.std(), "less_than", image.std())``. The bound is computed by the test
    (in a graded run it comes from the reference run, never from the student's kernel).
    """
    actual = _plain_number(actual)
    bound = _plain_number(bound)
    mode = recording_mode()
    if mode == "graded":
        send_record("that", name, actual)
        return
    problem = predicate_problem(predicate, actual, bound, name)
    if problem:
        raise AssertionError(problem)
    if mode == "reference":
        send_record("that", name, actual, expected=bound, predicate=predicate)


def record(value, name: str = "a value") -> None:
    """Record a value that the checker compares exactly with the reference run's value."""
    if recording_mode() == "graded":
        send_record("equal", name, value)
    else:
        check_equal(value, value, name)
