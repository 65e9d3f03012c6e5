"""Every released exercise, opened alone in a fresh Colab-like Python (issue 24).

The notebook is copied alone into an empty folder and run there, in a kernel of a virtual
environment that has Colab's libraries and not the course (``fresh_python.FreshPython``); its
first cell installs ``cnn-course-utils`` by name and version, which pip finds only as the wheel
built from this checkout. Filled with the solution it runs top to bottom, every visible test
passes and the self-check reports full visible points; as released it fails on the exercise
(its own ``NotImplementedError`` or message), never on an import.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from fresh_python import FreshPython

import course_utils
from coursekit.grading.notebooks import is_test_cell, nbgrader_meta

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = sorted(p.parent.name for p in (ROOT / "exercises").glob("*/*.ipynb"))
IMPORT_ERRORS = ("ModuleNotFoundError", "ImportError")


def test_there_are_released_exercises_to_run():
    assert len(EXERCISES) >= 8, EXERCISES


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    python = FreshPython(tmp_path_factory.mktemp("fresh-python"))
    home = tmp_path_factory.mktemp("probe-home")
    probe = python.run("import course_utils", home)
    assert "No module named 'course_utils'" in probe.stderr, "the course leaked into the venv"
    libraries = python.run("import torch, torchvision, skimage, sklearn, scipy", home)
    assert libraries.returncode == 0, libraries.stderr
    return python


def _released(exercise: str):
    return nbformat.read(ROOT / "exercises" / exercise / f"{exercise}.ipynb", as_version=4)


def _with_solutions(nb, exercise: str):
    """The released notebook with each solution cell replaced by the solution's source."""
    source = nbformat.read(ROOT / "solutions" / exercise / f"{exercise}.ipynb", as_version=4)
    answers = {
        nbgrader_meta(c)["grade_id"]: c.source
        for c in source.cells
        if nbgrader_meta(c).get("solution") and nbgrader_meta(c).get("grade_id")
    }
    filled = 0
    for cell in nb.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if nbgrader_meta(cell).get("solution") and grade_id in answers:
            cell.source, filled = answers[grade_id], filled + 1
    assert filled, f"{exercise}: no solution cell to fill"
    return nb


def _run_alone(fresh: FreshPython, nb, exercise: str, tmp_path: Path):
    folder = tmp_path / "student"
    folder.mkdir()
    nbformat.write(nb, folder / f"{exercise}.ipynb")  # the notebook alone, nothing else
    executed = fresh.execute(
        nbformat.read(folder / f"{exercise}.ipynb", 4), folder, path_name=f"{exercise}.ipynb"
    )
    assert sorted(p.name for p in folder.iterdir() if p.suffix == ".ipynb") == [f"{exercise}.ipynb"]
    return executed


def _errors(nb) -> list[tuple[int, str, str]]:
    return [
        (i, out.ename, str(out.evalue))
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.output_type == "error"
    ]


def _stdout(cell) -> str:
    return "".join(
        o.text for o in cell.get("outputs", []) if o.output_type == "stream" and o.name == "stdout"
    )


def _report(nb) -> str:
    cell = nb.cells[-1]
    assert "course-report" in cell.metadata.get("tags", []), "the last cell is not report()"
    return _stdout(cell)


def _installed_version(fresh: FreshPython, tmp_path: Path) -> str:
    probe = fresh.run(
        "import importlib.metadata, course_utils; "
        "print(importlib.metadata.version('cnn-course-utils'), course_utils.__file__)",
        tmp_path,
    )
    assert probe.returncode == 0, probe.stderr
    version, where = probe.stdout.split()
    assert str(fresh.venv) in where and str(ROOT) not in where, where
    return version


@pytest.mark.parametrize("exercise", EXERCISES)
def test_solution_runs_alone_and_passes_every_visible_test(fresh, exercise, tmp_path):
    executed = _run_alone(fresh, _with_solutions(_released(exercise), exercise), exercise, tmp_path)
    assert _errors(executed) == []
    assert _installed_version(fresh, tmp_path) == course_utils.__version__
    tests = [c for c in executed.cells if is_test_cell(c)]
    assert tests, f"{exercise} has no test cells"
    for cell in tests:
        grade_id = nbgrader_meta(cell)["grade_id"]
        streams = [o.name for o in cell.get("outputs", []) if o.output_type == "stream"]
        assert "stderr" not in streams, grade_id
        assert "✔ This part passes" in _stdout(cell), (grade_id, _stdout(cell))
    total = sum(float(nbgrader_meta(c)["points"]) for c in tests)
    report = _report(executed)
    assert f"visible tests: {total:g} / {total:g} points" in report, report
    assert "All visible tests pass" in report and "note:" not in report, report


@pytest.mark.parametrize("exercise", EXERCISES)
def test_released_fails_on_the_exercise_never_on_an_import(fresh, exercise, tmp_path):
    executed = _run_alone(fresh, _released(exercise), exercise, tmp_path)
    errors = _errors(executed)
    assert not [e for e in errors if e[1] in IMPORT_ERRORS], errors
    setup = [c for c in executed.cells if set(c.metadata.get("tags", [])) & {"course-setup"}]
    assert setup and not _errors(nbformat.from_dict({"cells": setup})), "the install cell failed"
    own = [e for e in errors if e[1] == "NotImplementedError" or "not answered yet" in e[2]]
    assert own, f"{exercise} as released did not fail on the exercise: {errors}"
    report = _report(executed)
    match = re.search(r"visible tests: (\S+) / (\S+) points", report)
    assert match and float(match.group(1)) < float(match.group(2)), report
    assert "Some visible tests fail" in report, report
