"""Checks for exercise test cells: clear one-line failures, nothing written to stderr.

A test cell compares the student's answer with a reference the test computes itself (never with
the student's own function), on fixed and on random inputs::

    from course_utils.testing import check_tensor, check_close, random_tensor
    X = random_tensor(5, 7, seed=1)
    check_tensor(corr2d(X, K), reference, name="corr2d(X, K)")

Every check raises ``AssertionError`` with one sentence that names what differs, so that
``course check`` can show it as the first line of the failure. Whether a value passes is decided
by ``rules`` (the one rulebook, also the grader's): a check encodes the value exactly as it
would record it, decodes it as the grader does, and asks the rulebook, so a value gets the same
verdict in the student's kernel as through record -> checker. Tolerances come from the one table
(``course_utils.tolerances``) for the dtype and the device the value was computed on.

When a notebook is graded, the same calls also *record* values (``COURSE_RECORD`` in the
kernel's environment): in the instructor's clean reference run (``reference``) each check
asserts and records what it compared, with the tolerances, predicate or bound it used; in a
student's graded run (``graded``) it only records the student's value, and the verdict is
computed outside the student's process by comparing it with the reference run's record (see
docs/authoring-exercises.md). A record is sent to the grader as a display message of type
``RECORD_MIME``: JSON, with arrays as base64 ``.npy`` bytes (never pickle).
"""

from __future__ import annotations

import base64
import io
import math
import os
import sys

import numpy as np

from course_utils.checking import rules
from course_utils.checking.rules import PREDICATES
from course_utils.tolerances import device_type, tolerances

RECORD_MIME = "application/vnd.course-record+json"
__all__ = ["PREDICATES", "RECORD_MIME", "tolerances"]


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
    """``array`` as base64 ``.npy`` bytes, its shape kept exactly (a 0-d array stays 0-d:
    ``np.save`` writes any memory layout, where ``np.ascontiguousarray`` would make it 1-d)."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _json_float(value: float):
    return value if math.isfinite(value) else repr(value)


def _encode_number(value, numpy: str = "") -> dict:
    """A bool, int, float or complex (Python's, or NumPy's when ``numpy`` names its dtype)."""
    tag = {"numpy": numpy} if numpy else {}
    if isinstance(value, bool):
        return {"py": value, "type": "bool"} | tag
    if isinstance(value, int):
        if abs(value) > 2**62:
            return {"py": str(value), "type": "bigint"} | tag
        return {"py": value, "type": "int"} | tag
    if isinstance(value, float):
        if not math.isfinite(value):
            return {"py": repr(value), "type": "float-special"} | tag
        return {"py": value, "type": "float"} | tag
    return {"py": [_json_float(value.real), _json_float(value.imag)], "type": "complex"} | tag


def _encode_tensor(value, torch) -> dict:
    plain = type(value) is torch.Tensor or isinstance(value, torch.nn.Parameter)
    try:
        data = value.detach().to("cpu")
        dtype = str(data.dtype)
        if data.is_complex() and data.dtype != torch.complex128:
            data = data.to(torch.complex64)
        elif data.is_floating_point() and data.dtype not in (torch.float32, torch.float64):
            data = data.float()  # float16, bfloat16, float8: NumPy has no such dtype (or not all)
        array = data.resolve_conj().resolve_neg().numpy()
    except (RuntimeError, TypeError, ValueError) as error:
        return {"object": f"tensor that NumPy cannot hold ({type(error).__name__})"}
    return {
        "tensor": _npy(array),
        "dtype": dtype,
        "device": value.device.type,
        "plain": bool(plain),
        "requires_grad": bool(value.requires_grad),
    }


def encode(value, depth: int = 0):
    """A JSON-able description of ``value``: numbers, strings, tensors and arrays, containers.

    Python scalars are recorded under their exact type (``bool``, ``int``, ``float``,
    ``complex``, ``str``, None); NumPy scalars under their kind with the NumPy dtype named
    (``np.float64(0.5)`` is a float, ``np.True_`` a bool, ``np.str_("a")`` a str). Anything
    else, subclasses of these included, becomes ``{"object": type name}``, which never equals a
    reference value.
    """
    if depth > rules.MAX_NESTING:  # the rulebook refuses it: "is nested deeper than ..."
        return {"object": "nested too deeply"}
    torch = sys.modules.get("torch")
    if value is None or type(value) in (bool, str):
        return {"py": value, "type": type(value).__name__}
    if type(value) in (int, float, complex):
        return _encode_number(value)
    if isinstance(value, np.str_):  # an item of an array of strings: a str, as NumPy says
        return {"py": str(value), "type": "str"}
    if isinstance(value, np.generic):
        if isinstance(value, (np.bool_, np.integer, np.floating, np.complexfloating)):
            item = complex(value) if isinstance(value, np.complexfloating) else value.item()
            if isinstance(value, np.floating):
                item = float(value)
            return _encode_number(item, type(value).__name__)
        return {"object": type(value).__name__}
    if torch is not None and isinstance(value, torch.dtype):
        return {"dtype": str(value)}
    if torch is not None and isinstance(value, torch.Tensor):
        return _encode_tensor(value, torch)
    if type(value) is np.ndarray:
        if value.dtype.hasobject:
            return {"object": "ndarray of objects"}
        return {"array": _npy(value)}
    if type(value) in (list, tuple):
        return {type(value).__name__: [encode(v, depth + 1) for v in value]}
    if type(value) is dict and all(type(k) is str for k in value):
        return {"dict": {k: encode(v, depth + 1) for k, v in value.items()}}
    return {"object": type(value).__name__}


def decoded(value):
    """``value`` as the grader sees it after record -> checker: ``rules.decode(encode(value))``."""
    return rules.decode(encode(value), rules.array_from_base64)


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


def _device_of(value) -> str:
    """Where a value was computed: a tensor's device type, else the CPU."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        return device_type(value.device)
    return "cpu"


def _verdict(check: str, name: str, actual, expected, params: dict) -> None:
    """Raise ``AssertionError`` (one sentence) unless the rulebook passes ``actual``."""
    try:
        rules.judge(check, decoded(actual), decoded(expected), params, _device_of(actual))
    except rules.Mismatch as mismatch:
        detail = f": {' '.join(mismatch.detail.split())}" if mismatch.detail else ""
        raise AssertionError(f"{name} {mismatch}{detail}") from None


class _Qualified:
    """The qualified name of a class, computed only where it is judged (a graded kernel's test
    cells hold None in its place)."""

    def __init__(self, kind):
        self.kind = kind

    def __str__(self) -> str:
        return f"{self.kind.__module__}.{self.kind.__qualname__}"


def _check(check: str, name: str, actual, expected, **params) -> None:
    """The common course of every check: record only (graded: the expected value, tolerances
    and predicate are stripped from a graded kernel's test cells and never read here), or judge
    and record."""
    mode = recording_mode()
    if mode == "graded":
        send_record(check, name, actual)
        return
    expected = str(expected) if isinstance(expected, _Qualified) else expected
    _verdict(check, name, actual, expected, params)
    if mode == "reference":
        send_record(check, name, actual, expected=expected, **params)


def check_type(value, expected_type, name: str = "the result") -> None:
    """Fail unless ``value`` is an instance of ``expected_type`` (subclasses of tensors refused)."""
    _check("type", name, _type_names(value), _Qualified(expected_type))


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
    the CPU in float64, with ``tolerances`` for the dtype and the device ``actual`` was computed
    on unless given. In a graded run the tolerances and the device are the reference run's.
    """
    mode = recording_mode()
    if mode == "graded":
        send_record("tensor", name, actual)
        return
    expected = _torch().as_tensor(expected)
    params = dict(rtol=rtol, atol=atol, check_dtype=check_dtype, check_device=check_device)
    _verdict("tensor", name, actual, expected, params)
    if mode == "reference":
        send_record("tensor", name, actual, expected, device=_device_of(actual), **params)


def check_close(
    actual, expected: float, name: str = "the result", rtol: float = 1e-6, atol: float = 1e-8
) -> None:
    """Fail unless the real number ``actual`` is close to ``expected``."""
    _check("close", name, actual, expected, rtol=rtol, atol=atol)


def check_equal(actual, expected, name: str = "the result") -> None:
    """Fail unless ``actual == expected`` for exact things (ints, tuples, strings).

    The type must match too, where a NumPy scalar counts as its Python kind: ``np.int64(5)``
    equals ``5`` and ``np.True_`` equals ``True``, but ``2.0`` is not the int ``2``.
    """
    _check("equal", name, actual, expected)


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
    """Fail unless ``function(*args, **kwargs)`` raises ``exception`` (or a subclass).

    Self-reported: only the student's kernel can say what was raised, so a test cell with this
    check carries at most ``rules.SELF_REPORTED_MAX_POINTS`` points and at most
    ``rules.SELF_REPORTED_MAX_SHARE`` of its part's (``course validate`` enforces it).
    """
    raised = None
    try:
        function(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - which one it was is the point
        raised = error
    names = _type_names(raised) if raised is not None else []
    _check("raises", name, names, _Qualified(exception))


def _operators_called(function, args, kwargs) -> list[str]:
    """The names of the torch operators (``aten::_fft_r2c``, ...) that ``function(*args,
    **kwargs)`` ran, however it called them (``torch.fft.rfft``, an alias, a tensor method)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    called: set[str] = set()

    class _Operators(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            called.add(func._schema.name)
            return func(*args, **(kwargs or {}))

    with _Operators():
        function(*args, **kwargs)
    return sorted(called)


def check_calls(operator, function, *args, name: str = "the call", **kwargs) -> None:
    """Fail unless ``function(*args, **kwargs)`` runs a torch operator whose name starts with
    ``operator``: ``check_calls("aten::_fft", fft_convolve, f, g)`` passes when any FFT of
    ``torch.fft`` ran (``aten::_fft_r2c``, ``aten::_fft_c2c``, ``aten::_fft_c2r``).

    Self-reported: only the student's kernel can say what ran, so a test cell with this check
    carries at most ``rules.SELF_REPORTED_MAX_POINTS`` points and at most
    ``rules.SELF_REPORTED_MAX_SHARE`` of its part's (``course validate`` enforces it).
    """
    _check("calls", name, _operators_called(function, args, kwargs), operator)


def check_that(actual, predicate: str, bound=None, name: str = "the result") -> None:
    """Fail unless ``actual`` has a named property: ``predicate`` is one of ``PREDICATES``.

    ``check_that(acc, "at_least", 0.9)``, ``check_that(losses, "falls")``,
    ``check_that(losses, "falls_by", 0.01)`` (last below 1 % of first),
    ``check_that(blurred.std(), "less_than", image.std())``. The predicate and the bound are
    the test's: in a graded run both come from the reference run's record (the graded kernel
    sees neither), never from the student's kernel.
    """
    _check("that", name, _plain(actual), _plain(bound), predicate=predicate)


def _plain(value):
    """Lists and tuples of one-element tensors as lists of numbers (the losses of a loop)."""
    torch = sys.modules.get("torch")
    if type(value) in (list, tuple) and torch is not None:
        return [v.item() if isinstance(v, torch.Tensor) and v.numel() == 1 else v for v in value]
    return value


def record(value, name: str = "a value") -> None:
    """Record a value that the checker compares exactly with the reference run's value."""
    if recording_mode() == "graded":
        send_record("equal", name, value)
    else:
        check_equal(value, value, name)
