"""The trusted half of grading: records as data, expected values stripped, the checker's verdicts.

No kernel runs here: records are made with ``course_utils.testing.encode`` exactly as a kernel
makes them, written and read back as JSON + npz, and judged.
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np
import pytest
import torch

from course_utils.testing import check_raises, check_that, encode
from coursekit.grading import records as records_io
from coursekit.grading.checker import GRADED_FAILED, judge_cell
from coursekit.grading.reference import hidden_line_numbers
from coursekit.grading.rewrite import strip_expected

HB, HE = "### BEGIN " + "HIDDEN TESTS", "### END " + "HIDDEN TESTS"


def _reference(kind, expected, name="x", line=1, **params):
    return {
        "kind": kind,
        "actual": encode(None),
        "name": name,
        "expected": encode(expected),
        "params": params,
        "line": line,
    }


def _student(kind, actual):
    return {"kind": kind, "actual": encode(actual)}


def _judge(tmp_path, reference, student, status=None, hidden=()):
    records_io.write({"t": reference}, tmp_path / "ref", "nb")
    records_io.write({"t": student}, tmp_path / "got", "nb")
    ref = records_io.read(tmp_path / "ref", "nb")
    got = records_io.read(tmp_path / "got", "nb")
    return judge_cell(
        "t",
        ref.cells["t"],
        ref,
        set(hidden),
        got.cells["t"],
        got,
        status or {"ran": True, "error": False},
    )


def test_rewrite_removes_expected_values_and_what_only_computes_them():
    source = (
        "from scipy import ndimage as _nd\n"
        "_x = torch.rand(3, generator=torch.Generator().manual_seed(1))\n"
        "_expected = torch.tensor(_nd.gaussian_filter(_x.numpy(), 1.0))\n"
        "check_tensor(blur(_x), _expected, 'blur', rtol=1e-6)\n"
        "check_equal(size(7, 3), 5, 'size')\n"
        "check_that(float(loss), 'less_than', float(_x.std()), name='loss')\n"
    )
    (graded,) = strip_expected([source])
    assert "_expected" not in graded and "gaussian_filter" not in graded
    assert "ndimage" not in graded  # the import only served the expected value
    assert "check_tensor(blur(_x), None, 'blur', rtol=None)" in graded
    assert "check_equal(size(7, 3), None, 'size')" in graded
    assert "_x = torch.rand(3" in graded  # an input stays
    # the predicate and the bound are the reference's too: a graded kernel sees neither
    assert "check_that(float(loss), None, None, name='loss')" in graded


def test_rewrite_strips_tolerances_and_exception_types_that_could_carry_the_answer():
    source = (
        "_want = torch.tensor([1.0, 2.0])\n"
        "check_tensor(f(_x), _want, 'f', 1e-3, float(_want.abs().max()))\n"
        "check_close(g(2), 0.5, 'g', atol=abs(_want[0]) / 10)\n"
        "check_raises(ValueError, f, None, name='f(None)')\n"
        "check_calls('aten::_fft', f, _x, name='f(x) runs an FFT')\n"
    )
    (graded,) = strip_expected([source])
    assert "_want" not in graded
    assert "check_tensor(f(_x), None, 'f', None, None)" in graded
    assert "check_close(g(2), None, 'g', atol=None)" in graded
    assert "check_raises(None, f, None, name='f(None)')" in graded
    assert "check_calls(None, f, _x, name='f(x) runs an FFT')" in graded


def test_rewrite_keeps_names_that_another_test_cell_reads():
    first = "_ref = make_reference()\ncheck_equal(f(1), _ref, 'f')\n"
    second = "check_equal(g(_ref), 2, 'g')\n"
    graded_first, _ = strip_expected([first, second])
    assert "_ref = make_reference()" in graded_first


def test_rewrite_keeps_the_methods_of_a_class():
    source = (
        "class _Everywhere(nn.Module):\n    def forward(self, x):\n        return x\n"
        "check_tensor(predict(_Everywhere()), torch.ones(2), 'predict')\n"
    )
    (graded,) = strip_expected([source])
    assert "def forward(self, x)" in graded


def test_a_right_value_passes_and_a_wrong_one_fails_without_being_quoted(tmp_path):
    expected = torch.arange(6.0).reshape(2, 3)
    ok = _judge(tmp_path, [_reference("tensor", expected)], [_student("tensor", expected + 1e-7)])
    assert ok.passed, ok.message
    secret = torch.full((2, 3), 123456.0)
    bad = _judge(
        tmp_path,
        [_reference("tensor", expected, name="the blur", line=3)],
        [_student("tensor", secret)],
        hidden={3},
    )
    assert not bad.passed
    assert bad.message.startswith("hidden check 1 of 1, 'the blur'")  # the instructor's
    assert "123456" not in bad.message
    assert bad.shown == GRADED_FAILED  # the student's


def test_what_a_student_reads_is_fixed_by_pass_or_fail_alone(tmp_path):
    """Whichever check the graded kernel makes fail (hidden or visible, first or last, by how
    much), the student reads the same sentence; the instructor's message says which (the
    first failing visible check, else the first failing hidden one)."""
    references = [
        _reference("equal", 1, name="visible one", line=1),
        _reference("equal", 37, name="the period of a secret signal", line=3),
        _reference("equal", 2, name="visible two", line=5),
    ]
    shown, messages = set(), []
    for values in ((1, 0, 2), (1, 0, 9), (0, 37, 2), (5, 37, 2), (1, 37, 9)):
        verdict = _judge(tmp_path, references, [_student("equal", v) for v in values], hidden={3})
        assert not verdict.passed
        shown.add(verdict.shown)
        messages.append(verdict.message)
    assert shown == {GRADED_FAILED}
    assert messages[0].startswith("hidden check 2 of 3, 'the period of a secret signal'")
    assert messages[1].startswith("check 3 of 3, 'visible two'")
    assert messages[2].startswith("check 1 of 3, 'visible one'")
    assert "5" not in messages[3]  # no value of the graded run is quoted
    passed = _judge(tmp_path, references, [_student("equal", v) for v in (1, 37, 2)], hidden={3})
    assert passed.passed and passed.shown == "passed (every check, hidden ones included)"
    assert "3" not in passed.shown  # no count: it would tell how many hidden checks there are


@pytest.mark.parametrize(
    ("actual", "reason"),
    [
        (torch.zeros(3, 2), "wrong shape"),
        (torch.zeros(2, 3, dtype=torch.float64), "wrong dtype"),
        (np.zeros((2, 3), dtype=np.float32), "not a torch.Tensor"),
        ([[0.0] * 3] * 2, "not a torch.Tensor"),
        (torch.full((2, 3), float("nan")), "NaN"),
    ],
)
def test_tensor_checks_refuse_look_alikes(tmp_path, actual, reason):
    verdict = _judge(
        tmp_path, [_reference("tensor", torch.zeros(2, 3))], [_student("tensor", actual)]
    )
    assert not verdict.passed and reason in verdict.message


def test_a_missing_record_or_an_error_fails(tmp_path):
    reference = [_reference("equal", 5), _reference("equal", 6)]
    short = _judge(tmp_path, reference, [_student("equal", 5)])
    assert not short.passed and "check 2 of 2" in short.message and "not reached" in short.message
    errored = _judge(
        tmp_path,
        reference,
        [_student("equal", 5), _student("equal", 6)],
        status={"ran": True, "error": True},
    )
    assert not errored.passed and "error" in errored.message
    nothing = judge_cell("t", [], None, set(), None, None, None)
    assert not nothing.passed and "records nothing" in nothing.message


def test_a_test_cell_that_wrote_to_stderr_earns_nothing_as_in_nbgrader(tmp_path):
    reference, answers = [_reference("equal", 5)], [_student("equal", 5)]
    assert _judge(tmp_path, reference, answers, status={"ran": True, "error": False}).passed
    warned = _judge(
        tmp_path, reference, answers, status={"ran": True, "error": False, "stderr": True}
    )
    assert not warned.passed and "stderr" in warned.message


def test_a_graded_run_keeps_that_a_cell_wrote_to_stderr_not_what():
    from nbformat import NotebookNode

    from coursekit.grading.execute import GradingClient

    client = GradingClient(nb=NotebookNode(cells=[], metadata={}), keep_outputs=False)
    outs = []
    for text in ("secret hidden input 1", "secret hidden input 2"):
        client.output(
            outs, {"msg_type": "stream", "content": {"name": "stderr", "text": text}}, None, 0
        )
    client.output(outs, {"msg_type": "stream", "content": {"name": "stdout", "text": "x"}}, None, 0)
    assert outs == [{"output_type": "stream", "name": "stderr", "text": ""}]


def test_equal_keeps_check_equals_type_rule(tmp_path):
    assert _judge(tmp_path, [_reference("equal", (5, 5))], [_student("equal", (5, 5))]).passed
    assert not _judge(tmp_path, [_reference("equal", (5, 5))], [_student("equal", [5, 5])]).passed
    assert not _judge(tmp_path, [_reference("equal", 1)], [_student("equal", True)]).passed
    assert _judge(tmp_path, [_reference("equal", 4)], [_student("equal", np.int64(4))]).passed
    assert not _judge(
        tmp_path, [_reference("equal", "low-pass")], [_student("equal", "high-pass")]
    ).passed


def test_raises_and_predicates_come_from_the_reference(tmp_path):
    names = ["builtins.ValueError", "builtins.Exception"]
    raises = _reference("raises", "builtins.ValueError")
    assert _judge(tmp_path, [raises], [_student("raises", names)]).passed
    assert not _judge(tmp_path, [raises], [_student("raises", [])]).passed
    at_least = _reference("that", 0.9, predicate="at_least")
    assert _judge(tmp_path, [at_least], [_student("that", 0.95)]).passed
    assert not _judge(tmp_path, [at_least], [_student("that", 0.85)]).passed
    assert not _judge(tmp_path, [at_least], [_student("that", math.nan)]).passed
    falls = _reference("that", 0.01, predicate="falls_by")
    assert _judge(tmp_path, [falls], [_student("that", [1.0, 0.5, 0.001])]).passed
    assert not _judge(tmp_path, [falls], [_student("that", [1.0, 0.5, 0.1])]).passed


def test_records_never_unpickle(tmp_path):
    buffer = io.BytesIO()
    np.save(buffer, np.array([object()], dtype=object), allow_pickle=True)
    evil = {
        "kind": "tensor",
        "actual": {
            "tensor": base64.b64encode(buffer.getvalue()).decode(),
            "dtype": "torch.float32",
            "plain": True,
        },
    }
    records_io.write({"t": [evil]}, tmp_path, "nb")
    stored = records_io.read(tmp_path, "nb")
    assert stored.cells["t"] == [
        {"kind": "invalid", "reason": "an array that does not load (ValueError)"}
    ]


def test_hidden_lines_are_those_between_the_markers():
    source = f"a = 1\n{HB}\nb = 2\nc = 3\n{HE}\nd = 4\n"
    assert hidden_line_numbers(source) == {3, 4}


def test_check_calls_sees_an_operator_however_it_is_called_and_fails_without_it():
    from course_utils.testing import check_calls

    f = torch.tensor([1.0, 2.0, 3.0])
    rfft = torch.fft.rfft  # an alias: the operator that runs is what counts, not the name
    check_calls("aten::_fft", lambda x: torch.fft.irfft(rfft(x), n=3), f, name="an alias")
    check_calls(
        "aten::_fft", lambda x: torch.stft(x, 2, hop_length=1, return_complex=True), f, name="stft"
    )
    with pytest.raises(AssertionError, match="direct convolution does not run aten::_fft"):
        check_calls("aten::_fft", lambda x: x.flip(0) * 2, f, name="direct convolution")


def test_new_checks_assert_outside_grading():
    check_raises(ValueError, int, "x", name="int('x')")
    with pytest.raises(AssertionError, match="does not raise a ValueError: raised nothing"):
        check_raises(ValueError, int, "3", name="int('3')")
    check_that([3.0, 2.0, 0.01], "falls_by", 0.01, "losses")
    with pytest.raises(AssertionError, match="should be at least"):
        check_that(0.5, "at_least", 0.9, "accuracy")
