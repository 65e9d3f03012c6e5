"""The weekly run where students run the course (.github/workflows/weekly.yml), without Colab:
the notebooks it runs (scripts/student_notebooks.py) and its runner (scripts/run_notebooks.py)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

import course_utils
from coursekit.install import install_cell_source

ROOT = Path(__file__).resolve().parent.parent


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


student_notebooks = _load("student_notebooks")
run_notebooks = _load("run_notebooks")


def test_every_chapter_and_every_solved_exercise_is_written_with_the_install_cell(tmp_path):
    written = student_notebooks.write_student_notebooks(tmp_path)
    chapters = [
        docname
        for docname in student_notebooks.toc_files(ROOT / "_toc.yml")
        if docname.startswith("chapters/")
        and (ROOT / f"{docname}.md").is_file()
        and re.search(r"^kernelspec:", (ROOT / f"{docname}.md").read_text()[:2000], re.M)
    ]
    solutions = sorted((ROOT / "solutions").glob("ex*/*.ipynb"))
    assert chapters and solutions
    names = {path.relative_to(tmp_path).as_posix() for path in written}
    assert {f"{d}.ipynb" for d in chapters} | {f"exercises/{s.name}" for s in solutions} == names
    for path in written:
        notebook = nbformat.read(path, as_version=4)
        setups = [c for c in notebook.cells if "course-setup" in c.metadata.get("tags", [])]
        assert len(setups) == 1 and setups[0].source == install_cell_source(), path
    solved = nbformat.read(tmp_path / "exercises" / solutions[0].name, as_version=4)
    assert "### BEGIN SOLUTION" in "\n".join(c.source for c in solved.cells)  # filled in


@pytest.mark.slow
def test_the_wheel_is_this_checkouts_course_utils(tmp_path):
    before = sorted(p.name for p in (ROOT / "course_utils").iterdir())
    wheel = student_notebooks.build_wheel(tmp_path)
    assert wheel.name.startswith(f"cnn_course_utils-{course_utils.__version__}-")
    # Nothing written into the library's folder (it would change the execution cache's key).
    assert sorted(p.name for p in (ROOT / "course_utils").iterdir()) == before


def _notebook(path: Path, *sources: str) -> None:
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources]),
                   path)  # fmt: skip


@pytest.mark.slow
def test_the_runner_reports_each_notebook_and_fails_when_one_fails(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    _notebook(folder / "a_clean.ipynb", "import os", "assert os.listdir('.') == []")
    _notebook(folder / "b_broken.ipynb", "x = 1", "raise ValueError('the loss is NaN')")
    report = tmp_path / "report.md"
    code = run_notebooks.main(
        [str(folder), "--report", str(report), "--where", "a test", "--timeout", "60"]
    )
    text = report.read_text()
    assert code == 1
    assert "1 of 2 notebooks failed" in text and "Where: a test; Python" in text
    assert "| `a_clean.ipynb` | ran clean |" in text
    assert "| `b_broken.ipynb` | **failed** |" in text and "the loss is NaN" in text
    (folder / "b_broken.ipynb").unlink()
    assert run_notebooks.main([str(folder), "--report", str(report)]) == 0
    assert "All ran clean" in report.read_text()
    assert run_notebooks.main([str(tmp_path / "none"), "--report", str(report)]) == 2
