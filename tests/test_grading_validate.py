"""``course validate`` passes a good assignment and catches each way one can be broken."""

from __future__ import annotations

import nbformat
import pytest
from grading_fixture import SB, SE, arith_notebook, make_course

from coursekit.cli import main as course_main
from coursekit.grading.course import Course
from coursekit.grading.notebooks import (
    find_leaks,
    find_name_leaks,
    hidden_check_names,
    secret_lines,
    visible_lines,
)
from coursekit.grading.release import release
from coursekit.grading.sandbox import Limits
from coursekit.grading.validate import _from_exercises, validate


def _add(root, name, nb):
    folder = root / "solutions" / name
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{name}.ipynb")


@pytest.mark.slow
def test_validate_catches_failing_solution_scoring_stub_and_stale_release(tmp_path, capsys):
    root = make_course(tmp_path / "c", ("arith",))
    _add(
        root,
        "broken",
        arith_notebook(add_body=f"def add(a, b):\n    {SB}\n    return a - b\n    {SE}"),
    )
    scoring = arith_notebook()
    no_mul = "check_equal(2 * 3, 6, 'does not call mul')"
    scoring.cells[-1].source = f"from course_utils.testing import check_equal\n{no_mul}"
    _add(root, "scoring", scoring)
    silent = arith_notebook()
    silent.cells[-1].source = "assert mul(2, 3) == 6  # records nothing for the checker"
    _add(root, "silent", silent)
    course = Course(root)
    for name in ("arith", "broken", "scoring", "silent", "stale"):
        if name != "stale":
            release(course, name)
    _add(root, "stale", arith_notebook())
    release(course, "stale")
    stale = root / "exercises" / "stale" / "stale.ipynb"
    nb = nbformat.read(stale, 4)
    nb.cells.append(nbformat.v4.new_markdown_cell("edited by hand"))
    nbformat.write(nb, stale)

    reports = {
        r.assignment: r
        for r in validate(
            course,
            ["arith", "broken", "scoring", "silent", "stale"],
            jobs=2,
            limits=Limits(cell_timeout=30, submission_timeout=120),
            progress=False,
        )
    }
    assert reports["arith"].ok, reports["arith"].problems
    assert reports["arith"].solution.score == 5 and reports["arith"].stub.score == 0
    assert any(
        "the solution fails test test_add in the clean reference run" in p
        for p in reports["broken"].problems
    ), reports["broken"].problems
    assert any("stub earns 3" in p for p in reports["scoring"].problems)
    assert any("test test_mul records nothing" in p for p in reports["silent"].problems)
    assert any("differs from what nbgrader generates" in p for p in reports["stale"].problems)
    assert not reports["stale"].ok and not reports["scoring"].ok and not reports["silent"].ok

    # the command line says the same with a non-zero exit
    assert course_main(["--root", str(root), "validate", "stale", "-q"]) == 1
    assert "differs" in capsys.readouterr().err


def test_leak_scan_finds_hidden_lines(tmp_path):
    nb = arith_notebook()
    secrets = secret_lines(nb)
    assert "_rng = random.Random(7)" in secrets["hidden test"]
    assert "def add(a, b):" not in secrets["solution"]  # outside the solution block
    page = tmp_path / "page.html"
    page.write_text("<pre><span>_rng</span> = random.<b>Random</b>(7)</pre>")
    clean = tmp_path / "clean.html"
    clean.write_text("<p>assert add(2, 3) == 5</p>")
    problems = find_leaks(secrets, [page, clean], kinds=("hidden test",))
    assert len(problems) == 1 and "page.html" in problems[0]


def test_name_scan_finds_hidden_check_names_the_release_does_not_show(tmp_path):
    """``course validate`` looks for hidden checks' names in the stub's feedback: a name that
    is distinctive and not in the released notebook is a leak wherever it shows."""
    from coursekit.grading.records import Records
    from coursekit.grading.reference import Reference

    checks = [
        {"name": "add(2, 3)", "line": 2},  # visible, and short
        {"name": "add on random inputs", "line": 6},  # hidden
        {"name": "mul of the shown pair", "line": 7},  # hidden, but the release shows it
        {"name": "x", "line": 8},  # hidden, too short to mean a leak
    ]
    reference = Reference(Records({"test_add": checks}, None), {"test_add": {6, 7, 8}}, {})
    public = "check_equal(mul(2, 3), 6, 'mul of the shown pair')"
    names = hidden_check_names({"arith": reference}, public)
    assert names == {"add on random inputs"}
    page = tmp_path / "page.html"
    page.write_text("<pre>GradingVerdict: hidden check 2 of 6, 'add on <b>random</b> inputs'</pre>")
    clean = tmp_path / "clean.html"
    clean.write_text("<pre>check_equal(mul(2, 3), 6, 'mul of the shown pair')</pre>")
    problems = find_name_leaks(names, [page, clean])
    assert len(problems) == 1 and "page.html" in problems[0] and "random inputs" in problems[0]


def test_lines_visible_in_another_exercise_are_no_secret():
    nb = arith_notebook()
    assert "_rng = random.Random(7)" in secret_lines(nb)["hidden test"]
    shared = {"_rng = random.Random(7)"}
    assert "_rng = random.Random(7)" not in secret_lines(nb, public=shared)["hidden test"]
    assert visible_lines(nb) and "_rng = random.Random(7)" not in visible_lines(nb)


def test_only_pages_made_from_exercises_are_scanned_for_hidden_lines(tmp_path):
    course = Course(make_course(tmp_path / "c", ("arith",)))
    site = course.root / "_build" / "html"
    assert _from_exercises(site / "exercises" / "arith" / "arith.html", course)
    assert _from_exercises(site / "_sources" / "exercises" / "arith" / "arith.ipynb", course)
    assert not _from_exercises(site / "chapters" / "01_convolution" / "index.html", course)
