"""One rulebook: a value gets the same verdict in the student's kernel as through record -> checker.

The kernel side is the check a test cell calls (``course_utils.testing``, in a plain run); the
grader's side is the value recorded as a graded kernel records it, written and read back as the
worker stores records (JSON + npz) and judged by ``coursekit.grading.checker`` against a
reference record. Hypothesis draws values of every kind: Python and NumPy scalars of every
dtype, bools, NaN, inf, huge and tiny numbers, 0-d and n-d tensors of every dtype with and
without grad, arrays, lists, tuples, dicts, strings, None.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from course_utils.checking import rules
from course_utils.testing import (
    check_close,
    check_equal,
    check_tensor,
    check_that,
    check_type,
    encode,
)
from coursekit.grading import records as records_io
from coursekit.grading.checker import judge_cell

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NUMPY_SCALARS = (
    np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
    np.float16, np.float32, np.float64, np.complex64, np.complex128,
)  # fmt: skip
TENSOR_DTYPES = (
    torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.float16,
    torch.bfloat16, torch.float32, torch.float64, torch.complex64, torch.complex128,
)  # fmt: skip
SPECIAL = st.sampled_from([0.0, -0.0, float("nan"), float("inf"), -float("inf"), 1e308, 5e-324])
floats = st.floats(allow_nan=True, allow_infinity=True) | SPECIAL
python_scalars = (
    st.booleans()
    | st.integers(-(2**70), 2**70)
    | floats
    | st.complex_numbers(allow_nan=True, allow_infinity=True)
    | st.text(max_size=5)
    | st.none()
)


@st.composite
def numpy_scalars(draw):
    kind = draw(st.sampled_from(NUMPY_SCALARS))
    if kind is np.bool_:
        return np.bool_(draw(st.booleans()))
    if np.issubdtype(kind, np.integer):
        info = np.iinfo(kind)
        return kind(draw(st.integers(int(info.min), int(info.max))))
    with np.errstate(over="ignore"):
        if np.issubdtype(kind, np.complexfloating):
            return kind(draw(st.complex_numbers(allow_nan=True, allow_infinity=True)))
        return kind(draw(floats))


@st.composite
def tensors(draw):
    dtype = draw(st.sampled_from(TENSOR_DTYPES))
    shape = draw(st.lists(st.integers(0, 3), max_size=3))
    values = draw(st.lists(floats, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    with np.errstate(invalid="ignore", over="ignore"):
        base = torch.tensor(values, dtype=torch.float64).reshape(shape)
        if not dtype.is_floating_point and not dtype.is_complex:
            base = torch.nan_to_num(base, posinf=100.0, neginf=-100.0).clamp(-100, 100)
        tensor = base.to(dtype)
    if (dtype.is_floating_point or dtype.is_complex) and draw(st.booleans()):
        tensor = tensor.clone().requires_grad_(True) * 1  # with grad (a non-leaf, like a result)
    return tensor


arrays = hnp.arrays(
    dtype=hnp.scalar_dtypes().filter(lambda d: d.kind in "biufc"),
    shape=hnp.array_shapes(min_dims=0, max_dims=2, max_side=3),
)
leaves = python_scalars | numpy_scalars() | tensors() | arrays
values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)


def _variant(value):
    """A value that should often pass against ``value``: a copy, or the same number in another
    form (Python vs NumPy scalar, another dtype)."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, np.generic):
        return value.item()
    if type(value) in (int, float, bool):
        return np.array(value)[()]
    return value


pairs = values.flatmap(lambda v: st.tuples(st.just(v), st.sampled_from([v, _variant(v)]) | values))


def _retyped(value):
    """The same number under another type (the int 2 as the float 2.0, True as 1, a NumPy
    float as a Python int): equal by value, never by the type rule."""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, np.integer)):
        return float(value)
    if isinstance(value, (float, np.floating)) and math.isfinite(value):
        return int(value)
    return value


element_pairs = (leaves | values).flatmap(
    lambda v: st.tuples(st.just(v), st.sampled_from([v, _variant(v), _retyped(v)]) | values)
)


def _kernel(check, actual, expected, **params) -> bool:
    """The verdict of the check in the student's own kernel (a plain run)."""
    try:
        check(actual, expected, **params)
    except AssertionError as error:
        assert str(error) and "\n" not in str(error)  # one sentence
        return False
    return True


def _grader(kind, actual, expected, **params) -> bool:
    """The verdict through record -> checker: records written and read back as the worker does."""
    reference = [
        {
            "kind": kind,
            "actual": encode(None),
            "name": "x",
            "expected": encode(expected),
            "params": params,
            "line": 1,
        }
    ]
    student = [{"kind": kind, "actual": encode(actual)}]
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        records_io.write({"t": reference}, folder / "ref", "nb")
        records_io.write({"t": student}, folder / "got", "nb")
        ref, got = records_io.read(folder / "ref", "nb"), records_io.read(folder / "got", "nb")
        verdict = judge_cell(
            "t", ref.cells["t"], ref, set(), got.cells["t"], got, {"ran": True, "error": False}
        )
    return verdict.passed


@pytest.fixture(autouse=True)
def _plain_run(monkeypatch):
    monkeypatch.delenv("COURSE_RECORD", raising=False)


@SETTINGS
@given(pairs)
def test_check_equal_gives_one_verdict_in_the_kernel_and_through_the_checker(pair):
    actual, expected = pair
    assert _kernel(check_equal, actual, expected) == _grader("equal", actual, expected)


@SETTINGS
@given(pairs)
def test_check_close_gives_one_verdict_in_the_kernel_and_through_the_checker(pair):
    actual, expected = pair
    if rules.number(rules.decode(encode(expected), rules.array_from_base64)) is None:
        expected = 0.5  # check_close's expected is a number the test computed
    params = {"rtol": 1e-6, "atol": 1e-8}
    assert _kernel(check_close, actual, expected, **params) == _grader(
        "close", actual, expected, **params
    )


@SETTINGS
@given(tensors() | leaves, tensors(), st.booleans())
def test_check_tensor_gives_one_verdict_in_the_kernel_and_through_the_checker(
    actual, expected, same
):
    if isinstance(actual, torch.Tensor) and same:
        expected = actual.detach().clone()
    expected = expected.detach()
    params = {"rtol": None, "atol": None, "check_dtype": True, "check_device": False}
    assert _kernel(check_tensor, actual, expected) == _grader(
        "tensor", actual, expected, device="cpu", **params
    )


@SETTINGS
@given(
    values | st.lists(numpy_scalars() | floats | tensors(), max_size=4),
    st.sampled_from(rules.PREDICATES),
    floats | numpy_scalars(),
)
def test_check_that_gives_one_verdict_in_the_kernel_and_through_the_checker(
    actual, predicate, bound
):
    kernel = _kernel(lambda a, b: check_that(a, predicate, b), actual, bound)
    from course_utils.checking.checks import _plain

    assert kernel == _grader("that", _plain(actual), _plain(bound), predicate=predicate)


@SETTINGS
@given(values, st.sampled_from([int, float, bool, str, list, tuple, dict, torch.Tensor]))
def test_check_type_gives_one_verdict_in_the_kernel_and_through_the_checker(actual, kind):
    from course_utils.checking.checks import _type_names

    expected = f"{kind.__module__}.{kind.__qualname__}"
    kernel = _kernel(check_type, actual, kind)
    assert kernel == _grader("type", _type_names(actual), expected)


# -- the cases the rulebook was made to settle (issue 24) ------------------------------------
@pytest.mark.parametrize(
    ("actual", "expected", "passes"),
    [
        (np.float64(2.0), 2, False),  # a float is not the int 2, on both sides
        (np.True_, True, True),  # a NumPy bool is a bool
        (np.int64(5), 5, True),
        (np.float64(0.5), 0.5, True),
        (True, 1, False),
        (float("nan"), float("nan"), False),
        ((1, 2.0), (1, 2), False),  # the type rule holds inside containers too
        ((9.0, 9.0), (9, 9), False),
        ([np.float64(2.0)], [2], False),
        ({"k": True}, {"k": 1}, False),
        ([[1, (2, np.int64(3))]], [[1, (2, 3)]], True),  # a NumPy int is an int at any depth
        ({"k": [np.True_]}, {"k": [True]}, True),
    ],
)
def test_the_equal_rule_on_numpy_scalars(actual, expected, passes):
    assert _kernel(check_equal, actual, expected) is passes
    assert _grader("equal", actual, expected) is passes


@SETTINGS
@given(st.lists(element_pairs, max_size=4), st.sampled_from(["list", "tuple", "dict", "nested"]))
def test_a_container_is_equal_when_each_element_is_by_the_top_level_rule(elements, container):
    """The equal rule for elements is the top-level rule, at every depth: two containers of the
    same kind and length are equal exactly when each pair of elements is (kernel and checker).
    Elements are drawn as the same number under another type too (2 and 2.0, True and 1)."""
    wrap = {
        "list": list,
        "tuple": tuple,
        "dict": lambda items: {str(i): v for i, v in enumerate(items)},
        "nested": lambda items: [{"k": (v,)} for v in items],
    }[container]
    each = all(_kernel(check_equal, a, e) for a, e in elements)
    actual, expected = wrap([a for a, _ in elements]), wrap([e for _, e in elements])
    assert _kernel(check_equal, actual, expected) == each
    assert _grader("equal", actual, expected) == each


def _through_records(value):
    """``value`` recorded by a graded kernel, written and read back as the worker stores
    records (JSON + npz), and decoded by the checker."""
    with tempfile.TemporaryDirectory() as folder:
        records_io.write({"t": [{"kind": "equal", "actual": encode(value)}]}, Path(folder), "nb")
        got = records_io.read(Path(folder), "nb")
        return rules.decode(got.cells["t"][0]["actual"], got.array)


@SETTINGS
@given(tensors() | arrays)
def test_a_tensor_or_array_keeps_its_exact_shape_through_record_to_checker(value):
    """A 0-d tensor stays 0-d (a batch-norm counter), a transposed or sliced one keeps its
    shape and values: the record holds what the kernel held."""
    kind, raw = _through_records(value)
    array = raw["array"] if kind == "tensor" else raw
    assert array.shape == tuple(value.shape)
    if kind == "tensor" and not (value.is_complex() or value.dtype == torch.bool):
        original = value.detach().to(torch.float64).numpy()
        assert np.array_equal(array.astype(np.float64), original, equal_nan=True)


def test_a_0d_tensor_is_not_a_1_element_vector_in_the_kernel_or_through_the_checker():
    for actual, expected in ((torch.tensor(3.0), torch.tensor([3.0])), (torch.tensor([3.0]),
                             torch.tensor(3.0))):  # fmt: skip
        params = {"rtol": None, "atol": None, "check_dtype": True, "check_device": False}
        assert not _kernel(check_tensor, actual, expected)
        assert not _grader("tensor", actual, expected, device="cpu", **params)
    assert _through_records(torch.ones((), dtype=torch.long))[1]["array"].shape == ()
    assert _through_records(torch.ones(4, 3).T)[1]["array"].shape == (3, 4)


def _nested(levels: int, leaf=1):
    """A list nested ``levels`` deep, built without recursion."""
    value = leaf
    for _ in range(levels):
        value = [value]
    return value


def test_a_value_nested_deeper_than_the_limit_fails_with_one_sentence_on_both_sides():
    deep = _nested(rules.MAX_NESTING + 1)
    with pytest.raises(AssertionError, match=f"is nested deeper than {rules.MAX_NESTING} levels"):
        check_equal(deep, deep, "x")
    assert not _grader("equal", deep, deep)
    ok = _nested(rules.MAX_NESTING)
    assert _kernel(check_equal, ok, ok) and _grader("equal", ok, ok)


def _judged(student_record: dict):
    """The verdict of the checker on a raw record message (as a kernel may forge it)."""
    reference = [{"kind": "equal", "actual": encode(None), "name": "x", "expected": encode(1),
                  "params": {}, "line": 1}]  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        records_io.write({"t": reference}, folder / "ref", "nb")
        records_io.write({"t": [student_record]}, folder / "got", "nb")
        ref, got = records_io.read(folder / "ref", "nb"), records_io.read(folder / "got", "nb")
        return judge_cell(
            "t", ref.cells["t"], ref, set(), got.cells["t"], got, {"ran": True, "error": False}
        )


@pytest.mark.parametrize("levels", [30, 10**5])
def test_a_forged_record_nested_far_too_deep_gets_one_sentence_not_a_crash(levels):
    """A kernel can send any JSON as a record: 100,000 levels (Python's own parser and every
    recursive walk would raise RecursionError) give the check one clear sentence."""
    raw = {"py": 1, "type": "int"}
    for _ in range(levels):
        raw = {"list": [raw]}
    verdict = _judged({"kind": "equal", "actual": raw})
    assert not verdict.passed
    assert f"'x', is nested deeper than {rules.MAX_NESTING} levels" in verdict.message


def test_a_records_file_nested_too_deep_is_no_records(tmp_path):
    (tmp_path / "nb.records.json").write_text('{"t": ' + "[" * 10**5 + "]" * 10**5 + "}")
    np.savez(tmp_path / "nb.records.npz")
    assert records_io.read(tmp_path, "nb") is None


def test_json_depth_counts_brackets_outside_strings():
    assert rules.json_depth(b'[[1], {"a": []}]') == 3
    assert rules.json_depth(r'"[[[\\"') == 0  # a string ending in a backslash
    assert rules.json_depth(r'["]\\", "\"[", {}]') == 2
    with pytest.raises(rules.TooDeep, match="nested deeper than 3 levels"):
        rules.loads("[[[[]]]]", 3)
    assert rules.loads("[[[]]]", 3) == [[[]]]
    cut = {"object": "nested too deeply"}
    deep = '{"a": [[[[1]]]], "b": "[[[[", "c": {"d": {}}}'
    assert rules.loads(deep, 3, cut=True) == {"a": [[cut]], "b": "[[[[", "c": {"d": {}}}
    assert rules.loads("[" * 10**5 + "]" * 10**5, 2, cut=True) == [[cut]]


def test_numpy_scalars_are_recorded_under_their_kind():
    assert encode(np.float64(0.5)) == {"py": 0.5, "type": "float", "numpy": "float64"}
    assert encode(np.True_)["type"] == "bool"
    assert encode(np.uint64(2**64 - 1))["type"] == "bigint"


def test_a_record_saying_cuda_does_not_loosen_the_tolerance():
    """The float32 tolerance follows the reference run's device, not the student's record."""
    expected = torch.zeros(3)
    actual = torch.full((3,), 1e-3)  # within CUDA's 2e-3, far outside the CPU's 1e-5
    record = encode(actual)
    record["device"] = "cuda"
    reference = [
        {
            "kind": "tensor",
            "actual": encode(None),
            "name": "x",
            "expected": encode(expected),
            "params": {"device": "cpu"},
            "line": 1,
        }
    ]
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        records_io.write({"t": reference}, folder / "ref", "nb")
        records_io.write({"t": [{"kind": "tensor", "actual": record}]}, folder / "got", "nb")
        ref, got = records_io.read(folder / "ref", "nb"), records_io.read(folder / "got", "nb")
        verdict = judge_cell(
            "t", ref.cells["t"], ref, set(), got.cells["t"], got, {"ran": True, "error": False}
        )
    assert not verdict.passed and "differs from the reference values" in verdict.message


def test_the_rulebook_imports_numpy_only():
    import subprocess
    import sys

    code = (
        "import sys; import course_utils.checking.rules\n"
        "bad = [m for m in ('torch', 'nbgrader', 'coursekit') if m in sys.modules]\n"
        "print(bad)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
