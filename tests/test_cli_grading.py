"""The ``course`` command line: help, exit codes, bad input, ``course check``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from grading_fixture import fill, make_course, released

from coursekit.cli import build_parser
from coursekit.cli import main as course_main
from coursekit.grading.course import Course
from coursekit.grading.release import release

COURSE = str(Path(sys.executable).parent / "course")


def run(*args, cwd=None):
    return subprocess.run([COURSE, *args], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize(
    "command", ["check", "release", "validate", "autograde", "feedback", "export", "collect"]
)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: course" in capsys.readouterr().out


def test_cli_starts_without_torch():
    code = (
        "import sys; from coursekit.cli import build_parser; build_parser(); "
        "import coursekit.grading.course, coursekit.grading.check; "
        "sys.exit('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_validate_with_no_assignments_fails(tmp_path):
    """A check that finds nothing to check must not pass."""
    root = make_course(tmp_path / "c", ())
    result = run("validate", cwd=root)
    assert result.returncode == 1 and "no assignments" in result.stderr
    assert "nothing was validated" in result.stderr


@pytest.mark.parametrize(
    "args, words",
    [
        (["check", "missing.ipynb"], "does not exist"),
        (["check", "notes.txt"], "not a notebook"),
        (["check", "broken.ipynb"], "not a valid notebook"),
        (["autograde", "nope"], "unknown assignment"),
        (["validate", "nope"], "unknown assignment"),
        (["autograde", "arith"], "no submissions"),
        (["feedback", "arith"], "no autograded submissions"),
        (["collect", "arith", "missing.zip"], "does not exist"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_1(tmp_path, capsys, args, words):
    root = make_course(tmp_path / "c", ("arith",))
    (root / "notes.txt").write_text("hello")
    (root / "broken.ipynb").write_text("{ not json")
    args = [a if not a.endswith((".ipynb", ".txt", ".zip")) else str(root / a) for a in args]
    assert course_main(["--root", str(root), *args]) == 1
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1


def test_outside_a_course(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert course_main(["release"]) == 1
    assert "nbgrader_config.py" in capsys.readouterr().err


def test_collect_an_lms_zip(tmp_path, capsys):
    import zipfile

    root = make_course(tmp_path / "c", ("arith",))
    archive = tmp_path / "download.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("jsmith_12345_67890_arith.ipynb", "{}")
        zf.writestr("folder/adoe_late_111_arith.ipynb", "{}")
        zf.writestr("../../evil_arith.ipynb", "{}")  # a path is never trusted, only the name
        zf.writestr("readme.txt", "not a submission")
    # readme.txt is no submission: named, and the exit status says something was skipped
    assert course_main(["--root", str(root), "collect", "arith", str(archive)]) == 1
    assert "SKIPPED: readme.txt" in capsys.readouterr().out
    submitted = root / ".grading" / "submitted"
    assert sorted(p.name for p in submitted.iterdir()) == ["adoe", "evil", "jsmith"]
    assert (submitted / "jsmith" / "arith" / "arith.ipynb").is_file()
    assert (submitted / "jsmith" / "arith" / "timestamp.txt").is_file()
    assert not (tmp_path / "evil_arith.ipynb").exists()


@pytest.mark.slow
def test_check_completed_and_empty_notebooks(tmp_path):
    root = make_course(tmp_path / "c", ("arith",))
    release(Course(root), "arith")
    stub = released(root, "arith")
    import nbformat

    done = fill(
        fill(stub, "add", "def add(a, b):\n    return a + b"),
        "mul",
        "def mul(a, b):\n    return a * b",
    )
    nbformat.write(done, tmp_path / "done.ipynb")
    half = fill(stub, "add", "def add(a, b):\n    return a + b")
    nbformat.write(half, tmp_path / "half.ipynb")
    ok = run("check", str(tmp_path / "done.ipynb"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "5 / 5" in ok.stdout and "passed" in ok.stdout
    partial = run("check", str(tmp_path / "half.ipynb"))
    assert partial.returncode == 1 and "2 / 5" in partial.stdout
    empty = run("check", str(root / "exercises" / "arith" / "arith.ipynb"))
    assert empty.returncode == 1
    assert "0 / 5" in empty.stdout and "NotImplementedError" in empty.stdout


@pytest.mark.slow
def test_check_shows_a_library_ban_as_grading_will(tmp_path):
    """A part answered with the course library's own routine: ``course check`` gives it 0
    and says why in full (a long reason wraps in the table instead of being cut)."""
    import nbformat

    root = Path(__file__).resolve().parents[1]
    exercise = "ex02_filters"
    solution = nbformat.read(root / "solutions" / exercise / f"{exercise}.ipynb", 4)
    nb = nbformat.read(root / "exercises" / exercise / f"{exercise}.ipynb", 4)
    for cell in solution.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and not meta.get("grade"):
            nb = fill(nb, meta["grade_id"], cell.source)
    nb = fill(
        nb,
        "pass_type",
        "from course_utils.filters import pass_type as _library_pass_type\n\n\n"
        "def pass_type(kernel):\n    return _library_pass_type(kernel)\n",
    )
    nbformat.write(nb, tmp_path / f"{exercise}.ipynb")
    checked = run("check", str(tmp_path / f"{exercise}.ipynb"))
    assert checked.returncode == 1, checked.stdout + checked.stderr
    row = next(line for line in checked.stdout.splitlines() if line.startswith("test_pass_type"))
    assert "0 / 2" in row, checked.stdout
    lines = checked.stdout.splitlines()
    at = lines.index(row)
    why = " ".join([row, *[line.strip() for line in lines[at + 1 :] if line.startswith(" ")][:3]])
    assert "course_utils.filters" in why and "remove it from the part's code" in why
    gaussian = next(line for line in lines if line.startswith("test_gaussian_kernel"))
    assert "passed" in gaussian  # the other parts keep their points
