"""The one rulebook: whether a value passes a check, for every kind of check. NumPy only.

Every verdict of the course is decided here, once: by the checks in a student's kernel
(``course_utils.testing``, which assert with it in a plain run and ``course check``), by the
in-notebook self-check, and by the grader's checker (``coursekit/grading/checker.py``), which
applies it to the records of a graded run. A value is judged in one form, whatever side holds it:
the kernel encodes it (``checks.encode``: JSON with arrays as ``.npy`` bytes) and decodes it
here exactly as the grader decodes a record, so a value gets the same verdict on both sides.

Public API
----------
``decode(encoded, load_array) -> Value``
    A decoded value: a pair ``(kind, raw)`` (kinds in ``KINDS_OF_VALUE``). ``load_array`` turns
    an encoded array field into an ``ndarray`` (``array_from_base64`` in a kernel; the records'
    npz in the grader). Raises ``Mismatch`` for what is not a readable value.
``judge(check, student, expected, params, device=None) -> None``
    Raise ``Mismatch`` unless the decoded ``student`` value passes the check kind ``check``
    (``CHECKS``: tensor, close, equal, type, raises, calls, that) against the reference side's
    decoded ``expected`` and ``params`` (tolerances, predicate, ...). ``device``: where the
    grader (or this kernel) computed the value, for the float32 tolerance (``tolerances``);
    None means the strict CPU one. Nothing of the student's record chooses a tolerance.
``MAX_NESTING``, ``NESTED_TOO_DEEPLY``
    How many containers deep a value may be (lists, tuples, dicts inside each other); a deeper
    value, as the kernel records it or as anything claims it, fails its check with the one
    sentence ``NESTED_TOO_DEEPLY``, on both sides, never with a crash.
``loads(text, max_depth, cut=False) -> object``
    ``json.loads`` for text from a student's side (a kernel's messages, a record file, an
    exported archive's members): its nesting is measured first, without recursion, and text
    nested deeper than ``max_depth`` brackets raises ``TooDeep`` (a ``ValueError``: "is nested
    deeper than N levels") instead of parsing (where Python's parser would raise
    ``RecursionError``); with ``cut``, each value that deep is read as ``{"object": "nested
    too deeply"}`` instead, which no check accepts.
``Mismatch(reason, detail="")``
    ``str(error)`` is a fixed reason (trusted text: it never quotes a student's value);
    ``error.detail`` adds what differs (for the student's own kernel only).
``SELF_REPORTED``
    The check kinds whose fact only the student's kernel can report (``raises``: what was
    raised; ``calls``: which operators ran); a test cell
    holding one carries at most ``SELF_REPORTED_MAX_POINTS`` points and at most
    ``SELF_REPORTED_MAX_SHARE`` of its part's points (``course validate`` enforces it).
``PREDICATES``, ``tolerances``
    The predicates ``check_that`` knows; the one tolerance table (``course_utils.tolerances``).
"""

from __future__ import annotations

import base64
import io
import json
import math
import re

import numpy as np

from course_utils.tolerances import tolerances

PREDICATES = ("less_than", "greater_than", "at_least", "at_most", "falls", "falls_by", "true")
CHECKS = ("tensor", "close", "equal", "type", "raises", "calls", "that")
SELF_REPORTED = ("raises", "calls")
SELF_REPORTED_MAX_POINTS = 1
SELF_REPORTED_MAX_SHARE = 0.25
KINDS_OF_VALUE = (
    "NoneType", "bool", "npbool", "int", "npint", "float", "npfloat", "complex", "npcomplex",
    "str", "dtype", "tensor", "array", "list", "tuple", "dict", "object",
)  # fmt: skip
_SCALAR_CLASS = {
    "bool": "bool",
    "npbool": "bool",
    "int": "int",
    "npint": "int",
    "float": "float",
    "npfloat": "float",
    "complex": "complex",
    "npcomplex": "complex",
}
_SPECIAL = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
MAX_NESTING = 20
NESTED_TOO_DEEPLY = f"is nested deeper than {MAX_NESTING} levels"
# A record's JSON: two brackets per container level ({"list": [...]}), and a few around it
MAX_RECORD_JSON_DEPTH = 2 * MAX_NESTING + 10


class TooDeep(ValueError):
    """JSON text nested deeper than its reader allows (``loads``)."""


_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_JSON_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_CUT = b'{"object": "nested too deeply"}'  # a value every check refuses


def _bytes(text: str | bytes) -> bytes:
    return text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)


def json_depth(text: str | bytes) -> int:
    """How deep the brackets of JSON ``text`` nest (strings skipped), counted without parsing
    or recursion: ``[[1], {"a": []}]`` is 3 deep."""
    data = _bytes(text)
    brackets = _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    codes = np.frombuffer(brackets, np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1)
    return int(np.cumsum(steps).max(initial=0))


def _cut(data: bytes, max_depth: int) -> bytes:
    """``data`` with every value nested deeper than ``max_depth`` replaced by ``_CUT``."""
    parts, depth, start, last = [], 0, None, 0
    for match in _JSON_TOKEN.finditer(data):
        token = match.group()
        if token[:1] == b'"':
            continue
        depth += 1 if token in (b"[", b"{") else -1
        if depth == max_depth + 1 and token in (b"[", b"{"):
            start = match.start()
        elif depth == max_depth and start is not None:
            parts += [data[last:start], _CUT]
            last, start = match.end(), None
    return b"".join([*parts, data[last:]])


def loads(text: str | bytes, max_depth: int, cut: bool = False):
    """``json.loads(text)`` unless ``text`` nests deeper than ``max_depth`` (``TooDeep``; with
    ``cut``, each value that deep is read as a value every check refuses instead)."""
    data = _bytes(text)
    if data.count(b"[") + data.count(b"{") > max_depth and json_depth(data) > max_depth:
        if not cut:
            raise TooDeep(f"is nested deeper than {max_depth} levels")
        data = _cut(data, max_depth)
    return json.loads(data.decode("utf-8", "replace"))


class Mismatch(Exception):
    """A value that fails its check. ``str()``: a fixed reason; ``detail``: what differs."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason)
        self.detail = detail


# -- decoding ----------------------------------------------------------------------------------
def array_from_base64(text) -> np.ndarray:
    """An array encoded as base64 ``.npy`` bytes (never pickle)."""
    array = np.load(io.BytesIO(base64.b64decode(text, validate=True)), allow_pickle=False)
    if not isinstance(array, np.ndarray) or array.dtype.hasobject:
        raise Mismatch("is not a value the grader can read")
    return array


def _float(raw) -> float:
    if isinstance(raw, str) and raw in _SPECIAL:
        return _SPECIAL[raw]
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw)
    raise Mismatch("is not a value the grader can read")


def _scalar(value: dict):
    kind, raw = value.get("type"), value["py"]
    numpy = "np" if value.get("numpy") else ""
    if kind == "float-special":
        return (numpy + "float", _float(raw))
    if kind == "bigint":
        try:
            return (numpy + "int", int(str(raw)))
        except ValueError:
            raise Mismatch("is not a value the grader can read") from None
    if kind == "complex":
        if not isinstance(raw, list) or len(raw) != 2:
            raise Mismatch("is not a value the grader can read")
        return (numpy + "complex", complex(_float(raw[0]), _float(raw[1])))
    expected_type = {"NoneType": type(None), "bool": bool, "str": str, "int": int, "float": float}
    if kind not in expected_type or type(raw) is not expected_type[kind]:
        if not (kind == "float" and type(raw) is int):  # JSON writes 2.0 as 2 in some encoders
            raise Mismatch("is not a value the grader can read")
        raw = float(raw)
    if numpy and kind in ("bool", "int", "float"):
        return (numpy + kind, raw)
    return (kind, raw)


def decode(value, load_array, depth: int = 0):
    """The ``(kind, raw)`` of an encoded value (see the module's docstring)."""
    if depth > MAX_NESTING:
        raise Mismatch(NESTED_TOO_DEEPLY)
    if not isinstance(value, dict):
        raise Mismatch("is not a value the grader can read")
    if "py" in value:
        return _scalar(value)
    if "dtype" in value and len(value) == 1:
        return ("dtype", str(value["dtype"]))
    if "tensor" in value:
        array = load_array(value["tensor"])
        return (
            "tensor",
            {
                "array": array,
                "dtype": str(value.get("dtype")),
                "device": str(value.get("device", "cpu")),
                "plain": value.get("plain") is True,
            },
        )
    if "array" in value:
        return ("array", load_array(value["array"]))
    for container in ("list", "tuple"):
        if container in value and isinstance(value[container], list):
            return (container, [decode(v, load_array, depth + 1) for v in value[container]])
    if "dict" in value and isinstance(value["dict"], dict):
        items = value["dict"].items()
        return ("dict", {str(k): decode(v, load_array, depth + 1) for k, v in items})
    if "object" in value:
        return ("object", str(value["object"]))
    raise Mismatch("is not a value the grader can read")


# -- helpers on decoded values -----------------------------------------------------------------
def _class(kind: str) -> str:
    return _SCALAR_CLASS.get(kind, kind)


def number(value) -> float | None:
    """The real number a value stands for: a Python or NumPy int or float (not a bool), or a
    one-element real tensor or array; None for anything else."""
    kind, raw = value
    if _class(kind) in ("int", "float"):
        try:
            return float(raw)
        except OverflowError:
            return math.inf if raw > 0 else -math.inf
    if kind in ("tensor", "array"):
        array = raw["array"] if kind == "tensor" else raw
        if array.size == 1 and array.dtype.kind in "iuf":
            return float(array.reshape(-1)[0])
    return None


def _same(a, b) -> bool:
    """Python's ``==`` on decoded values under the type rule, at every level: numbers of the
    same class by value (a NumPy scalar counts as its Python kind; a float is never an int, a
    bool never one), containers of the same kind element by element, tensors and arrays by
    dtype, shape and values."""
    (ka, va), (kb, vb) = a, b
    if _class(ka) != _class(kb):
        return False
    if _class(ka) in _SCALAR_CLASS.values():
        return bool(va == vb)
    if ka in ("list", "tuple"):
        return len(va) == len(vb) and all(_same(x, y) for x, y in zip(va, vb, strict=True))
    if ka == "dict":
        return va.keys() == vb.keys() and all(_same(va[k], vb[k]) for k in va)
    if ka == "tensor":
        return (
            va["dtype"] == vb["dtype"]
            and va["array"].shape == vb["array"].shape
            and bool(np.array_equal(va["array"], vb["array"]))
        )
    if ka == "array":
        return va.dtype == vb.dtype and va.shape == vb.shape and bool(np.array_equal(va, vb))
    if ka == "object":
        return False
    return va == vb


def _type_word(kind: str) -> str:
    return _class(kind)


def _as_float64(array: np.ndarray) -> np.ndarray:
    if np.iscomplexobj(array):
        return np.stack([array.real, array.imag], axis=-1).astype(np.float64)
    return array.astype(np.float64)


# -- the kinds of check ------------------------------------------------------------------------
def _check_tensor(student, expected, params, device) -> None:
    kind, got = student
    if kind != "tensor" or not got["plain"]:
        raise Mismatch("is not a torch.Tensor", f"got {_type_word(kind)}")
    if expected[0] == "array":
        want = {"array": expected[1], "dtype": "torch." + str(expected[1].dtype), "device": "cpu"}
    elif expected[0] == "tensor":
        want = expected[1]
    else:
        raise Mismatch("cannot be compared (the reference is not a tensor)")
    if got["array"].shape != want["array"].shape:
        raise Mismatch(
            "has the wrong shape",
            f"got {tuple(got['array'].shape)}, expected {tuple(want['array'].shape)}",
        )
    if params.get("check_dtype", True) is not False and got["dtype"] != want["dtype"]:
        raise Mismatch("has the wrong dtype", f"got {got['dtype']}, expected {want['dtype']}")
    if params.get("check_device") and got["device"] != want["device"]:
        raise Mismatch("is on the wrong device", f"got {got['device']}, expected {want['device']}")
    rtol, atol = tolerances(want["dtype"], device)
    rtol = rtol if params.get("rtol") is None else float(params["rtol"])
    atol = atol if params.get("atol") is None else float(params["atol"])
    if np.iscomplexobj(got["array"]) or np.iscomplexobj(want["array"]):
        a = _as_float64(got["array"].astype(np.complex128))
        e = _as_float64(want["array"].astype(np.complex128))
    else:
        a, e = _as_float64(got["array"]), _as_float64(want["array"])
    if np.any(np.isnan(a) != np.isnan(e)):
        raise Mismatch("has NaN where the reference has none (or the reverse)")
    with np.errstate(invalid="ignore", over="ignore"):
        a, e = np.nan_to_num(a), np.nan_to_num(e)
        bad = ~(np.abs(a - e) <= atol + rtol * np.abs(e))
    if np.any(bad):
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise Mismatch(
            "differs from the reference values",
            f"at {int(bad.sum())} of {bad.size} places, e.g. at index {index}: "
            f"got {a[index]:.6g}, expected {e[index]:.6g}",
        )


def _check_close(student, expected, params, device) -> None:
    value, kind = number(student), student[0]
    if value is None:
        raise Mismatch("is not a single number", f"got {_type_word(kind)}")
    want = number(expected)
    if want is None:
        raise Mismatch("cannot be compared (the reference is not a number)")
    rtol = 1e-6 if params.get("rtol") is None else float(params["rtol"])
    atol = 1e-8 if params.get("atol") is None else float(params["atol"])
    if not math.isclose(value, want, rel_tol=rtol, abs_tol=atol):
        raise Mismatch("is not close to the reference value", f"got {value!r}, expected {want!r}")


def _check_equal(student, expected, params, device) -> None:
    (ks, vs), (ke, ve) = student, expected
    # the type rule: the same type, where a NumPy scalar counts as its Python kind (np.int64
    # is an int, np.True_ a bool, np.float64 a float; a float is never an int, a bool never one)
    if _class(ks) != _class(ke):
        raise Mismatch("has the wrong type", f"should be a {_class(ke)}, got {_class(ks)}")
    if not _same(student, expected):
        plain = ("NoneType", "str", *_SCALAR_CLASS)
        shown = f"got {vs!r}, expected {ve!r}" if ks in plain and ke in plain else ""
        raise Mismatch("is not equal to the reference", " ".join(shown.split())[:300])


def _strings(value) -> list[str]:
    kind, raw = value
    if kind != "list" or not all(k == "str" for k, _ in raw):
        raise Mismatch("is not what the check records")
    return [v for _, v in raw]


def _check_type(student, expected, params, device) -> None:
    names = _strings(student)
    want = str(expected[1])
    short = want.rsplit(".", 1)[-1]
    got = names[0].rsplit(".", 1)[-1] if names else "nothing"
    if want == "torch.Tensor":
        if not names or not (names[0] == "torch.Tensor" or "torch.nn.parameter.Parameter" in names):
            raise Mismatch("is not a torch.Tensor", f"got {got}")
    elif want not in names:
        raise Mismatch("has the wrong type", f"should be a {short}, got {got}")


def _check_raises(student, expected, params, device) -> None:
    names = _strings(student)
    want = str(expected[1]).rsplit(".", 1)[-1]
    if str(expected[1]) not in names:
        got = "nothing" if not names else f"a {names[0].rsplit('.', 1)[-1]}"
        raise Mismatch(f"does not raise a {want}", f"raised {got}")


def _check_calls(student, expected, params, device) -> None:
    names = _strings(student)
    want = str(expected[1])
    if not any(n.startswith(want) for n in names):
        raise Mismatch(f"does not run {want}", f"ran {len(names)} other operators")


def _finite_numbers(value) -> list[float]:
    kind, raw = value
    if kind not in ("list", "tuple") or not raw:
        raise Mismatch("is not a non-empty list of finite numbers")
    values = [None if _class(k) == "bool" else number((k, v)) for k, v in raw]
    if any(v is None or not math.isfinite(v) for v in values):
        raise Mismatch("is not a non-empty list of finite numbers")
    return values


def _check_that(student, expected, params, device) -> None:
    predicate = params.get("predicate")
    if predicate not in PREDICATES:
        raise Mismatch("is checked with an unknown predicate", f"known: {', '.join(PREDICATES)}")
    kind, raw = student
    if predicate == "true":
        if kind in ("tensor", "array"):
            array = raw["array"] if kind == "tensor" else raw
            kind, raw = ("bool", bool(array.item())) if array.size == 1 else (kind, raw)
            kind = kind if array.dtype.kind == "b" else "object"
        if _class(kind) != "bool" or raw is not True:
            raise Mismatch("is not True")
        return
    if predicate in ("falls", "falls_by"):
        values = _finite_numbers(student)
        factor = 1.0 if predicate == "falls" else number(expected)
        if factor is None:
            raise Mismatch("cannot be compared (the reference's factor is not a number)")
        if not values[-1] < factor * values[0]:
            raise Mismatch(
                "does not fall as required",
                f"last {values[-1]:.4g}, first {values[0]:.4g}"
                + (f", factor {factor:g}" if predicate == "falls_by" else ""),
            )
        return
    value = None if _class(kind) == "bool" else number(student)
    if value is None or not math.isfinite(value):
        raise Mismatch("is not a finite number")
    bound = number(expected)
    if bound is None:
        raise Mismatch("cannot be compared (the reference's bound is not a number)")
    ok = {
        "less_than": value < bound,
        "greater_than": value > bound,
        "at_least": value >= bound,
        "at_most": value <= bound,
    }[predicate]
    if not ok:
        words = predicate.replace("_", " ")
        detail = f"is {value:.6g}, should be {words} {bound:.6g}"
        raise Mismatch(f"is not {words} the bound", detail)


_JUDGES = {
    "tensor": _check_tensor,
    "close": _check_close,
    "equal": _check_equal,
    "type": _check_type,
    "raises": _check_raises,
    "calls": _check_calls,
    "that": _check_that,
}


def judge(check: str, student, expected, params: dict | None = None, device=None) -> None:
    """Raise ``Mismatch`` unless ``student`` passes check ``check`` (see the module docstring)."""
    if check not in _JUDGES:
        raise Mismatch("is a check this grader does not know")
    _JUDGES[check](student, expected, dict(params or {}), device)
