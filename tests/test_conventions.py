"""course validate's lint of an exercise's conventions (coursekit/grading/conventions.py)."""

from __future__ import annotations

import nbformat
import pytest

from course_utils.checking.checks import encode
from course_utils.checking.rules import array_from_base64, decode
from coursekit.grading.conventions import leaked_answer, lint_notebook
from coursekit.grading.notebooks import nbgrader_cell


def _notebook(*cells):
    """Cells ``(grade_id, source, points)``: points None makes a solution cell."""
    nb = nbformat.v4.new_notebook()
    for grade_id, source, points in cells:
        if points is None:
            nb.cells.append(nbgrader_cell(source, grade_id))
        else:
            nb.cells.append(nbgrader_cell(source, grade_id, points=points))
    return nb


def test_a_notebook_that_keeps_the_conventions_passes():
    nb = _notebook(
        ("corr2d", "def corr2d(X, K):\n    return X\n", None),
        ("test_corr2d", "_X = 1\nfor _i in range(2):\n    check_equal(corr2d(_X, 1), 1)\n", 1.5),
        ("test_corr2d_errors", "check_raises(ValueError, corr2d, 1, 2)\n", 0.5),
    )
    assert lint_notebook(nb) == []


@pytest.mark.parametrize(
    ("cells", "problem"),
    [
        ([("otsu_solution", "x = 1", None), ("test_otsu_solution", "check_equal(1, 1)", 1)], "for"),
        ([("otsu", "x = 1", None), ("otsu_tests", "check_equal(1, 1)", 1)], "naming convention"),
        ([("f", "x = 1", None), ("test_f", "model = 1\ncheck_equal(model, 1)", 1)], "'model'"),
        ([("f", "x = 1", None), ("test_f", "with w():\n    X = 2", 1)], "global 'X'"),
        ([("f", "x = 1", None), ("test_f", "assert f(1) == 2", 1)], "bare assert"),
        (
            [("f", "x = 1", None), ("test_f", "if f(1) != 2:\n    raise AssertionError", 1)],
            "bare raise",
        ),
        ([("f", "x = 1", None), ("test_f", "check_raises(ValueError, f, 1)", 2)], "self-reported"),
        ([("f", "x = 1", None), ("test_f", "check_calls('aten::_fft', f, 1)", 2)], "self-reported"),
        (
            [
                ("f", "x = 1", None),
                ("test_f", "check_equal(f(1), 1)", 1),
                ("test_f_errors", "check_raises(ValueError, f, 1)", 1),
            ],
            "at most 1 point and 25%",
        ),
    ],
)
def test_each_convention_is_linted(cells, problem):
    problems = lint_notebook(_notebook(*cells))
    assert len(problems) == 1 and problem in problems[0], problems


def test_a_test_cells_own_functions_and_comprehensions_are_its_own_scope():
    nb = _notebook(
        ("f", "x = 1", None),
        (
            "test_f",
            "import numpy as np\ndef _ref(a):\n    total = a + 1\n    return total\n"
            "check_equal([v for v in range(2)], [0, 1])\n",
            1,
        ),
    )
    assert lint_notebook(nb) == []


@pytest.mark.parametrize(
    ("name", "expected", "leaked"),
    [
        ("the period of a random pattern of period 37 plus noise", 37, "37"),
        ("the period of random pattern 3 plus noise", 37, None),
        ("the threshold of two clusters at 0.25 and 0.75 (threshold 0.5)", 0.5, "0.5"),
        ("the shape (2, 8, 8, 8) of the block's output", (2, 8, 8, 8), "2,8,8,8"),
        ("the output shape of vgg_block(2, 3, 8) on (2, 3, 16, 16)", (2, 8, 8, 8), None),
        ("the pass type of a high-pass kernel", "high", "high"),
        ("conv_output_size(10, 5, stride=1, padding=0)", 6, None),
        ("a check named 10", True, None),
    ],
)
def test_a_hidden_checks_name_may_not_give_its_answer_away(name, expected, leaked):
    assert leaked_answer(name, decode(encode(expected), array_from_base64)) == leaked


def _group(*pairs):
    return [(name, decode(encode(value), array_from_base64)) for name, value in pairs]


def test_a_name_template_that_carries_every_answer_is_a_leak_and_a_coincidence_is_not():
    from coursekit.grading.conventions import leaks_in_group

    periods = _group(
        ("pattern of period 37 plus noise", 37), ("pattern of period 12 plus noise", 12)
    )
    assert [leak for _, leak in leaks_in_group(periods)] == ["37", "12"]
    sizes = _group(
        ("conv_output_size(11, 4, stride=2, padding=0)", 4),
        ("conv_output_size(39, 1, stride=1, padding=0)", 39),
        ("conv_output_size(9, 3, stride=1, padding=0)", 7),
    )
    assert leaks_in_group(sizes) == []
    assert leaks_in_group(_group(("threshold at 0.5", 0.5))) == [("threshold at 0.5", "0.5")]


HIDDEN = "### BEGIN HIDDEN TESTS\n{}\n### END HIDDEN TESTS\n"


LEAKS = {
    # the answer made the input and stays bound beside it (red team 3's period-global)
    "period": "for _seed in range(3):\n    _period = 10 + _seed\n    _x = make(_period)\n"
    "    check_equal(f(_x), {answer})",
    # labels listed with their inputs stay in the kernel with the loop
    "labels": "_cases = [(1, 'low'), (2, 'high')]\nfor _k, _label in _cases:\n"
    "    check_equal(f(_k), _label)",
    # an answer passed to a helper's parameter
    "helper": "def _check(x, answer):\n    check_equal(f(x), answer)\n_check(3, 9)",
    # a reference output computed in the kernel before the function runs
    "output": "_X = 3\n_Y = _X * 2\n_Y = _Y + 1\ncheck_equal(f(_X), _Y)",
    # zip with hidden cases does not make the other values safe
    "zip": "for _case, _p in zip(hidden_cases('noisy-periods'), _periods):\n"
    "    check_equal(f(_case.inputs['x']), _p)",
    "with": "with make() as _period:\n    check_equal(f(_x), _period)",
}


@pytest.mark.parametrize(
    ("hidden", "kept"),
    [
        (LEAKS["period"].format(answer="_period"), "_period"),
        # red team 5: computed from the kept answer, still the answer
        (LEAKS["period"].format(answer="int(_period)"), "_period"),
        (LEAKS["period"].format(answer="_period + 0"), "_period"),
        (LEAKS["period"].format(answer="len([0] * _period)"), "_period"),
        (LEAKS["labels"], "_label"),
        (LEAKS["helper"], "answer"),
        (LEAKS["output"], "_Y"),
        (LEAKS["zip"], "_p"),
        (LEAKS["with"], "_period"),  # red team 5: this crashed the rule
        # computed only for the check: the grader strips it
        ("_x = 3\n_expected = _x ** 2\ncheck_equal(f(_x), _expected)", None),
        ("_x = 3\ncheck_equal(f(_x), _x ** 2)", None),
        # from the inputs of the student's function, also through a name it was assigned to
        ("_X = 3\n_Y = f(_X)\ncheck_equal(_Y, _X * 2)", None),
        ("_m = make()\n_n = 4\nf(_m, _n)\ncheck_equal(_m.size, _n)", None),
        # drawn outside the kernel: a graded kernel's cases hold no answers
        (
            "for _case in hidden_cases('noisy-periods'):\n    check_equal(f(_case.inputs['x']), "
            "_case.expected)",
            None,
        ),
        # an input or an unchanged state, said so on the check's line
        ("_x = make()\ncheck_equal(g(_x), _x)  # not a leak: the identity on an input", None),
        ("import math\ncheck_close(f(1), math.pi)", None),
    ],
)
def test_a_hidden_checks_answer_may_not_stay_in_the_graded_kernel(hidden, kept):
    nb = _notebook(
        ("f", "def f(x, n=1):\n    return x\n", None), ("test_f", HIDDEN.format(hidden), 1)
    )
    problems = lint_notebook(nb)
    if kept is None:
        assert problems == []
    else:
        assert len(problems) == 1 and f"made from {kept}, which stays" in problems[0], problems


def test_a_name_is_judged_by_the_statements_of_its_own_cell():
    """Red team 5: a visible helper's parameter ``_expected`` in one cell made the rule refuse
    a hidden ``_expected`` that the graded run removes in another."""
    nb = _notebook(
        ("f", "def f(x):\n    return x\n", None),
        ("test_f", "def _check_twice(x, _expected):\n    check_equal(f(x), _expected)\n", 1),
        (
            "test_f_more",
            HIDDEN.format("_a = 2\n_expected = _a * 2\ncheck_equal(f(_a), _expected)"),
            1,
        ),
    )
    assert lint_notebook(nb) == []


def test_a_visible_checks_answer_may_stay_the_released_notebook_shows_it_anyway():
    visible = LEAKS["period"].format(answer="_period")
    nb = _notebook(("f", "x = 1", None), ("test_f", visible, 1))
    assert lint_notebook(nb) == []
