"""The checking phase: a test's verdict, computed here from data, outside every student process.

For each test cell, the reference run (the instructor's solution in a clean kernel) recorded a
list of checks: kind, name, the expected value and the tolerances or predicate. The student's
graded run recorded, for the same cell, the values the student's functions returned, in the same
order. A cell passes when every reference check has a student record that this module accepts,
and the cell ran to its end without an error. A missing record fails; nothing the student's
kernel says about itself (no error, a printed token) is evidence of passing.

Only trusted text reaches a verdict's message: the reference's name for the check and a fixed
reason. A value from the student's graded run is never quoted, since that kernel also ran the
hidden tests and could have written them into any value it returned. Only numpy is used here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .records import RecordError, Records

FLOAT32_TOLERANCE = {"cpu": (1e-4, 1e-5), "cuda": (2e-3, 2e-3), "mps": (2e-3, 2e-3)}


@dataclass
class Verdict:
    grade_id: str
    passed: bool
    message: str
    checks: int = 0


class Mismatch(Exception):
    """A student's record that does not match the reference; the message is a fixed reason."""


# -- decoding a record into plain Python/numpy values ----------------------------------------
def _decode(value, records: Records, depth: int = 0):
    if depth > 25 or not isinstance(value, dict):
        raise Mismatch("is not a value the grader can read")
    if "py" in value:
        kind, raw = value.get("type"), value["py"]
        if kind == "float-special":
            return ("float", float(raw) if raw in ("nan", "inf", "-inf") else math.nan)
        if kind == "bigint":
            return ("int", int(raw))
        if kind not in ("NoneType", "bool", "str", "int", "float"):
            raise Mismatch("is not a value the grader can read")
        if value.get("numpy") and kind == "int":
            kind = "npint"
        return (kind, raw)
    if "dtype" in value and len(value) == 1:
        return ("dtype", str(value["dtype"]))
    if "tensor" in value:
        return (
            "tensor",
            {
                "array": records.array(value["tensor"]),
                "dtype": str(value["dtype"]),
                "device": str(value.get("device", "cpu")),
                "plain": bool(value.get("plain")),
                "key": value["tensor"]["npz"],
            },
        )
    if "array" in value:
        return ("array", records.array(value["array"]))
    for container in ("list", "tuple"):
        if container in value and isinstance(value[container], list):
            return (container, [_decode(v, records, depth + 1) for v in value[container]])
    if "dict" in value and isinstance(value["dict"], dict):
        return ("dict", {k: _decode(v, records, depth + 1) for k, v in value["dict"].items()})
    if "object" in value:
        return ("object", str(value["object"]))
    raise Mismatch("is not a value the grader can read")


def _number(decoded):
    kind, raw = decoded
    if (
        kind in ("int", "npint", "float")
        and isinstance(raw, (int, float))
        and not isinstance(raw, bool)
    ):
        return float(raw)
    if kind == "tensor" and raw["array"].size == 1 and raw["array"].dtype.kind in "iuf":
        return float(raw["array"].reshape(-1)[0])
    return None


def _strings(decoded) -> list[str]:
    kind, raw = decoded
    if kind != "list" or not all(k == "str" for k, _ in raw):
        raise Mismatch("is not what the check records")
    return [v for _, v in raw]


# -- the kinds of check ----------------------------------------------------------------------
def _tolerances(dtype: str, device: str) -> tuple[float, float]:
    if dtype == "torch.float64":
        return 1e-7, 1e-9
    if dtype in ("torch.float16", "torch.bfloat16"):
        return 1e-2, 1e-2
    return FLOAT32_TOLERANCE.get(device, FLOAT32_TOLERANCE["cuda"])


def _as_float64(array: np.ndarray) -> np.ndarray:
    if np.iscomplexobj(array):
        return np.stack([array.real, array.imag], axis=-1).astype(np.float64)
    return array.astype(np.float64)


def _check_tensor(student, expected, params) -> None:
    kind, got = student
    if kind != "tensor" or not got["plain"]:
        raise Mismatch("is not a torch.Tensor")
    _, want = expected
    if got["array"].shape != want["array"].shape:
        raise Mismatch("has the wrong shape")
    if params.get("check_dtype", True) and got["dtype"] != want["dtype"]:
        raise Mismatch("has the wrong dtype")
    if params.get("check_device") and got["device"] != want["device"]:
        raise Mismatch("is on the wrong device")
    rtol, atol = _tolerances(want["dtype"], got["device"])
    rtol = rtol if params.get("rtol") is None else float(params["rtol"])
    atol = atol if params.get("atol") is None else float(params["atol"])
    if np.iscomplexobj(got["array"]) != np.iscomplexobj(want["array"]):
        a = _as_float64(got["array"].astype(np.complex128))
        e = _as_float64(want["array"].astype(np.complex128))
    else:
        a, e = _as_float64(got["array"]), _as_float64(want["array"])
    if a.shape != e.shape:
        raise Mismatch("has the wrong shape")
    if np.any(np.isnan(a) != np.isnan(e)):
        raise Mismatch("has NaN where the reference has none (or the reverse)")
    a, e = np.nan_to_num(a), np.nan_to_num(e)
    if np.any(np.abs(a - e) > atol + rtol * np.abs(e)):
        raise Mismatch("differs from the reference values")


def _check_close(student, expected, params) -> None:
    number = _number(student)
    kind = student[0]
    if number is None or kind == "bool" or (kind == "tensor" and student[1]["array"].size != 1):
        raise Mismatch("is not a single number")
    want = float(expected[1])
    if not math.isclose(
        number,
        want,
        rel_tol=float(params.get("rtol", 1e-6)),
        abs_tol=float(params.get("atol", 1e-8)),
    ):
        raise Mismatch("is not close to the reference value")


def _same(a, b) -> bool:
    """Python's == on decoded values (numbers compare by value, containers by kind)."""
    (ka, va), (kb, vb) = a, b
    numeric = ("int", "npint", "float", "bool")
    if ka in numeric and kb in numeric:
        return va == vb
    if ka != kb:
        return False
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


def _check_equal(student, expected, params) -> None:
    (ks, _), (ke, _) = student, expected
    # check_equal's type rule: the same type, or any integer where an int is expected
    if ks != ke and not (ke == "int" and ks == "npint"):
        raise Mismatch("has the wrong type")
    if not _same(student, expected):
        raise Mismatch("is not equal to the reference")


def _check_type(student, expected, params) -> None:
    names = _strings(student)
    want = str(expected[1])
    if want == "torch.Tensor":
        if not names or not (names[0] == "torch.Tensor" or "torch.nn.parameter.Parameter" in names):
            raise Mismatch("is not a torch.Tensor")
    elif want not in names:
        raise Mismatch("has the wrong type")


def _check_raises(student, expected, params) -> None:
    names = _strings(student)
    if str(expected[1]) not in names:
        raise Mismatch(f"does not raise a {str(expected[1]).rsplit('.', 1)[-1]}")


def _check_that(student, expected, params) -> None:
    predicate = params.get("predicate")
    kind, raw = student
    if predicate == "true":
        if (kind, raw) != ("bool", True):
            raise Mismatch("is not True")
        return
    if predicate in ("falls", "falls_by"):
        if kind not in ("list", "tuple") or not raw:
            raise Mismatch("is not a list of numbers")
        values = [_number(v) for v in raw]
        if any(
            v is None or not math.isfinite(v) or k == "bool"
            for v, (k, _) in zip(values, raw, strict=True)
        ):
            raise Mismatch("is not a list of finite numbers")
        factor = 1.0 if predicate == "falls" else float(expected[1])
        if not values[-1] < factor * values[0]:
            raise Mismatch("does not fall as required")
        return
    bound = _number(expected)
    value = _number(student)
    if value is None or kind == "bool" or not math.isfinite(value) or bound is None:
        raise Mismatch("is not a finite number")
    ok = {
        "less_than": value < bound,
        "greater_than": value > bound,
        "at_least": value >= bound,
        "at_most": value <= bound,
    }.get(predicate)
    if ok is None:
        raise Mismatch("is checked with an unknown predicate")
    if not ok:
        raise Mismatch(f"is not {predicate.replace('_', ' ')} the bound")


KINDS = {
    "tensor": _check_tensor,
    "close": _check_close,
    "equal": _check_equal,
    "type": _check_type,
    "raises": _check_raises,
    "that": _check_that,
}


def check_one(
    ref: dict,
    ref_records: Records,
    got: dict | None,
    got_records: Records,
    sandbox: bool = True,
    seed: int | None = None,
) -> None:
    """Raise Mismatch unless the student's record ``got`` passes the reference check ``ref``.

    ``sandbox``: whether an exported model runs in the grader's sandbox (``heldout.py``); False
    only where the grader runs without one (trusted notebooks). ``seed``: the held-out draw of
    this check for this submission (``heldout.Draw``; None: a fresh secret one).
    """
    if got is None:
        raise Mismatch("was not reached (the cell stopped before it)")
    if not isinstance(got, dict) or got.get("kind") != ref["kind"]:
        raise Mismatch("was not recorded by the same check")
    try:
        student = _decode(got.get("actual"), got_records)
        expected = _decode(ref["expected"], ref_records)
    except RecordError:
        raise Mismatch("is not a value the grader can read") from None
    params = dict(ref.get("params") or {})
    if ref["kind"] == "exported":
        from .heldout import check_exported

        check_exported(student, expected, params, sandbox=sandbox, seed=seed)
        return
    if ref["kind"] == "heldout":  # weights evaluated by a fresh trusted process
        from .heldout import check_heldout

        check_heldout(student, expected, params, seed=seed)
        return
    KINDS[ref["kind"]](student, expected, params)


def judge_cell(
    grade_id: str,
    reference: list,
    ref_records: Records,
    hidden_lines: set[int],
    student: list | None,
    got_records: Records | None,
    status: dict | None,
    sandbox: bool = True,
    draw=None,
) -> Verdict:
    """The verdict on one test cell (see the module's docstring). ``draw``: the submission's
    ``heldout.Draw`` (each held-out check's seed follows from it, the test and the check's
    name); None only for direct calls, which draw a fresh secret seed."""
    if not reference:
        return Verdict(
            grade_id,
            False,
            "this test records nothing, so the grader cannot judge "
            "it (an error of the exercise, not of your work)",
        )
    student = student or []
    for index, ref in enumerate(reference):
        got = student[index] if index < len(student) else None
        try:
            if got_records is None:
                raise Mismatch("was not reached (the notebook did not run)")
            seed = None
            if draw is not None and ref.get("kind") in ("heldout", "exported"):
                seed = draw.seed(f"{grade_id}/{ref.get('name', '')}")
            check_one(ref, ref_records, got, got_records, sandbox, seed)
        except Mismatch as reason:
            where = "hidden check" if ref.get("line") in hidden_lines else "check"
            name = str(ref.get("name", ""))[:300]
            return Verdict(
                grade_id,
                False,
                f"{where} {index + 1} of {len(reference)}, {name!r}, {reason}",
                len(reference),
            )
        except Exception as error:  # noqa: BLE001 - a malformed record fails, plainly
            return Verdict(
                grade_id,
                False,
                f"check {index + 1} of {len(reference)} could not be read ({type(error).__name__})",
                len(reference),
            )
    if status is None or not status.get("ran"):
        return Verdict(grade_id, False, "the test cell did not run", len(reference))
    if status.get("error"):
        return Verdict(
            grade_id,
            False,
            "the test cell stopped with an error after its checks "
            "(course check shows it for the visible tests)",
            len(reference),
        )
    return Verdict(grade_id, True, f"all {len(reference)} checks passed", len(reference))
