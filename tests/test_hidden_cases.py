"""Hidden cases of inverse problems, drawn outside the student's kernel
(course_utils/checking/cases.py, the grader's side in coursekit/grading/cases.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import signal

from course_utils.checking import cases
from course_utils.filters import pass_type
from course_utils.signals import estimate_period
from coursekit.grading import cases as grader_cases
from coursekit.grading.course import GradingError


def _drawn(seed=3):
    return {name: cases.draw(name, seed) for name in cases.CASE_SETS}


def test_a_graded_kernels_file_holds_inputs_and_names_but_no_answer(tmp_path):
    drawn = _drawn()
    cases.write(tmp_path / "graded.npz", drawn, with_answers=False)
    cases.write(tmp_path / "reference.npz", drawn, with_answers=True)
    with np.load(tmp_path / "graded.npz", allow_pickle=False) as stored:
        assert not [key for key in stored.files if key.endswith("/expected")]
    for name, made in drawn.items():
        graded = cases.read(tmp_path / "graded.npz", name)
        reference = cases.read(tmp_path / "reference.npz", name)
        assert [c.name for c in graded] == [c.name for c in reference] == [c.name for c in made]
        assert all(c.expected is None for c in graded)
        for got, want, was in zip(graded, reference, made, strict=True):
            assert got.inputs.keys() == was.inputs.keys()
            for key in was.inputs:
                np.testing.assert_array_equal(got.inputs[key], was.inputs[key])
            np.testing.assert_array_equal(want.expected, was.expected)


def test_each_case_sets_answer_is_what_made_its_input():
    for case in cases.draw("noisy-periods", 7):
        assert estimate_period(torch.as_tensor(case.inputs["x"])) == case.expected
    for case in cases.draw("learned-kernels", 7):
        made = signal.correlate2d(case.inputs["X"], case.expected, mode="valid")
        np.testing.assert_allclose(made, case.inputs["Y"], rtol=1e-5, atol=1e-5)
        assert tuple(case.inputs["shape"]) == case.expected.shape
    labels = []
    for case in cases.draw("pass-types", 7):  # the teaching library's frequency response
        labels.append(case.expected)
        assert pass_type(torch.as_tensor(case.inputs["kernel"])) == case.expected, case.name
    assert labels.count("low-pass") == 20 and labels.count("high-pass") == 16


def test_every_noisy_period_is_unambiguous_for_an_honest_estimator():
    """About 1 random pattern in 400 nearly repeats at half its length, and an honest estimator
    then answers the shorter period: such patterns are drawn again (red team 5 found keys that
    made the solution fail its own reference run)."""
    for seed in range(100):
        for case in cases.draw("noisy-periods", 10_000 + seed):
            assert estimate_period(torch.as_tensor(case.inputs["x"])) == case.expected, seed


def test_a_kernels_signs_and_shape_do_not_tell_its_pass_type():
    """Red team 5 passed the old cases with "no negative entry, or 15x15, is low-pass"."""
    for seed in range(20):
        drawn = cases.draw("pass-types", 20_000 + seed)
        wrong = [
            c
            for c in drawn
            if (
                "low-pass"
                if c.inputs["kernel"].min() >= 0 or c.inputs["kernel"].shape == (15, 15)
                else "high-pass"
            )
            != c.expected
        ]
        assert wrong, seed
        negative = {
            (c.inputs["kernel"].shape, c.expected) for c in drawn if c.inputs["kernel"].min() < 0
        }
        assert {label for _, label in negative} == {"low-pass", "high-pass"}


def test_a_pass_types_name_and_position_give_no_answer_away():
    first, second = cases.draw("pass-types", 1), cases.draw("pass-types", 2)
    assert [c.name for c in first] == [f"pass_type of hidden kernel {i}" for i in range(36)]
    assert [c.expected for c in first] != [c.expected for c in second]  # shuffled per draw


def test_outside_the_grader_a_notebook_gets_the_public_draw_with_answers(monkeypatch):
    monkeypatch.delenv(cases.CASES_ENV, raising=False)
    monkeypatch.delenv("COURSE_RECORD", raising=False)
    got = cases.hidden_cases("noisy-periods")
    assert [c.expected for c in got] == [
        c.expected for c in cases.draw("noisy-periods", cases.PUBLIC_SEED)
    ]


def test_a_graded_kernel_never_draws_its_own_cases(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RECORD", "graded")
    monkeypatch.delenv(cases.CASES_ENV, raising=False)
    with pytest.raises(cases.HiddenCasesError, match="no cases file"):
        cases.hidden_cases("noisy-periods")
    monkeypatch.setenv(cases.CASES_ENV, str(tmp_path / "deleted.npz"))
    with pytest.raises(cases.HiddenCasesError, match="cannot be read"):
        cases.hidden_cases("noisy-periods")
    cases.write(tmp_path / "other.npz", {"pass-types": cases.draw("pass-types", 0)}, False)
    monkeypatch.setenv(cases.CASES_ENV, str(tmp_path / "other.npz"))
    with pytest.raises(cases.HiddenCasesError, match="no case set 'noisy-periods'"):
        cases.hidden_cases("noisy-periods")


def test_a_cases_file_with_a_pickled_object_is_refused(tmp_path):
    path = tmp_path / "forged.npz"
    np.savez(
        path,
        **{
            "noisy-periods/count": np.asarray(1),
            "noisy-periods/0/name": np.asarray("x"),
            "noisy-periods/0/input/x": np.asarray([object()], dtype=object),
        },
    )
    with pytest.raises(cases.HiddenCasesError, match="cannot be read"):
        cases.read(path, "noisy-periods")


def test_the_grader_reads_which_sets_a_test_names_and_refuses_what_it_cannot_draw():
    named = grader_cases.named_sets(
        [
            "for _c in hidden_cases('pass-types'):\n    pass\n",
            "x = hidden_cases('noisy-periods') + hidden_cases('pass-types')\n",
            "this is not python (",
        ]
    )
    assert named == ["pass-types", "noisy-periods"]
    with pytest.raises(GradingError, match="one string literal"):
        grader_cases.named_sets(["_name = 'pass-types'\nhidden_cases(_name)\n"])
    with pytest.raises(GradingError, match="unknown hidden case set 'periods'"):
        grader_cases.named_sets(["hidden_cases('periods')\n"])


def test_the_secret_seed_is_fixed_per_course_assignment_and_set():
    key, other = b"k" * 32, b"o" * 32
    seed = grader_cases.seed(key, "ex01_convolution", "noisy-periods")
    assert seed == grader_cases.seed(key, "ex01_convolution", "noisy-periods")  # a regrade
    assert seed != grader_cases.seed(other, "ex01_convolution", "noisy-periods")
    assert seed != grader_cases.seed(key, "ex02_filters", "noisy-periods")
    assert seed != grader_cases.seed(key, "ex01_convolution", "pass-types")
    public = cases.draw("noisy-periods", cases.PUBLIC_SEED)
    secret = cases.draw("noisy-periods", seed)
    assert [c.expected for c in public] != [c.expected for c in secret]


def test_the_worker_puts_the_graders_file_in_the_scratch_folder_and_nothing_else(tmp_path):
    """A submission's own entry of a name the grader gives meaning to is not copied, whatever
    it is (red team 5 crashed the worker with a folder named like the cases file)."""
    from coursekit.grading.worker import RESERVED_NAMES, _fill_scratch, _kernel_env

    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / cases.CASES_FILE).mkdir()
    (submission / cases.CASES_FILE / "answers.txt").write_text("the student's own answers")
    (submission / ".matplotlib").write_text("a file where the font cache's folder goes")
    (submission / "data.txt").write_text("the student's own data")
    font_cache = tmp_path / "fontlist.json"
    font_cache.write_text("{}")
    scratch = tmp_path / "scratch"
    job = {"sandbox": False, "env": {}, "mode": "graded", "font_cache": str(font_cache)}
    _fill_scratch(job, scratch, submission, 0)
    assert not (scratch / cases.CASES_FILE).exists()  # no cases: nothing of that name
    assert (scratch / ".matplotlib" / "fontlist.json").is_file()
    assert (scratch / "data.txt").read_text() == "the student's own data"
    graded = tmp_path / "graded.npz"
    cases.write(graded, _drawn(), with_answers=False)
    scratch = tmp_path / "scratch-with-cases"
    _fill_scratch({**job, "cases": str(graded)}, scratch, submission, 0)
    assert (scratch / cases.CASES_FILE).read_bytes() == graded.read_bytes()
    assert _kernel_env(job, scratch)[cases.CASES_ENV] == str(scratch / cases.CASES_FILE)
    assert cases.CASES_FILE in RESERVED_NAMES


@pytest.mark.parametrize(("sigma", "size"), [(0.6, 15), (3.0, 15), (1.0, 15), (2.0, 7), (0.7, 7)])
def test_the_case_sets_gaussian_is_scipys_impulse_response(sigma, size):
    from scipy import ndimage

    impulse = np.zeros((size, size))
    impulse[size // 2, size // 2] = 1.0
    expected = ndimage.gaussian_filter(impulse, sigma, mode="constant")
    np.testing.assert_allclose(cases._gaussian(sigma, size), expected, rtol=1e-12, atol=1e-15)


def test_the_case_sets_import_no_library_a_watched_part_may_ban():
    """They run inside ``watching_bans`` of the part under test (scipy is banned in some)."""
    import subprocess
    import sys

    program = (
        "import sys\nfrom course_utils.checking import cases\n"
        "for name in cases.CASE_SETS:\n    cases.draw(name, 0)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'scipy', 'sklearn', 'torch'}))"
    )
    run = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.strip() == "[]", (run.stdout, run.stderr)
