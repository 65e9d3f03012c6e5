"""Submissions as they really arrive: LMS downloads, editors' notebook files, odd names.

Each case comes from a public report (nbgrader's and Colab's issue trackers, the Canvas, Moodle
and Blackboard download formats); the files are built here. Nothing may be dropped or
mis-assigned in silence: every file is collected or named with a reason, and the exit status
says so.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import unicodedata
import zipfile
from pathlib import Path

import nbformat
import pytest
from grading_fixture import ARITH_SOLUTION, fill, make_course, released

from coursekit.cli import main as course_main
from coursekit.grading.check import restore_tests
from coursekit.grading.course import Course, GradingError, open_gradebook
from coursekit.grading.intake import (
    entries,
    folders_named,
    notebook_of,
    plan_collection,
    same_student,
    student_folder,
    survey,
)
from coursekit.grading.normalize import (
    WIDGET_STATE,
    normalize_file,
    normalize_notebook,
    repair_widget_state,
)
from coursekit.grading.notebooks import graded_tests, read_notebook
from coursekit.grading.release import release

NB = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def make_zip(path: Path, files: dict[str, bytes], times: dict[str, tuple] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(times or {}).get(name, (2024, 10, 1, 12, 0, 0)))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return path


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def course(tmp_path):
    return Course(make_course(tmp_path / "c", ("arith",)))


def collect(course, archive, *options):
    return course_main(["--root", str(course.root), "collect", "arith", str(archive), *options])


def submitted(course) -> dict[str, list[str]]:
    root = course.submitted_dir
    return {
        p.name: sorted(f.name for f in (p / "arith").iterdir())
        for p in sorted(root.iterdir())
        if p.is_dir()
    }


# -- a fresh clone -------------------------------------------------------------------------------
@pytest.mark.slow
def test_plain_nbgrader_works_on_a_fresh_clone(tmp_path):
    """No .grading/ yet and the virtual environment not activated: nbgrader still works."""
    root = make_course(tmp_path / "c", ("arith",))
    assert not (root / ".grading").exists()
    env = {**os.environ, "PATH": "/usr/bin:/bin", "PYTHONPATH": os.pathsep.join(sys.path)}
    nbgrader = str(Path(sys.executable).parent / "nbgrader")
    done = subprocess.run(
        [nbgrader, "generate_assignment", "arith"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "error accessing the nbgrader database" not in done.stderr
    assert (root / "exercises" / "arith" / "arith.ipynb").is_file()
    assert (root / ".grading" / "gradebook.db").is_file()


# -- Canvas ----------------------------------------------------------------------------------------
def test_canvas_resubmission_colab_and_nested_zip_are_all_collected(course, tmp_path, capsys):
    archive = make_zip(
        tmp_path / "canvas.zip",
        {
            "doejohn_1002_52002_arith-1.ipynb": NB,  # a resubmission
            "roemary_1003_52003_arith.colab.ipynb": NB,  # downloaded from Colab
            "leeann_1004_52004_arith.zip": zip_bytes({"arith/arith.ipynb": NB}),  # a zip in a zip
            "kimbo_1005_52005_arith.ipynb": NB,
            "parkjo_late_1006_52006_arith.ipynb": NB,  # Canvas marks it late
        },
    )
    assert collect(course, archive) == 0
    out = capsys.readouterr().out
    assert submitted(course) == {
        s: ["arith.ipynb", "timestamp.txt"]
        for s in ("doejohn", "kimbo", "leeann", "parkjo", "roemary")
    }
    assert "collected 5 student(s)" in out and "0 skipped" in out
    assert "marked late" in out and "arith-1.ipynb taken as arith.ipynb" in out


def test_a_file_that_is_not_a_submission_is_named_and_exit_is_1(course, tmp_path, capsys):
    archive = make_zip(
        tmp_path / "canvas.zip",
        {
            "doejohn_1002_52002_arith.ipynb": NB,
            "doejohn_1002_52002_notes.pdf": b"%PDF",
            "readme.txt": b"hello",
            "kimbo_1005_52005_broken.zip": b"not a zip",
        },
    )
    assert collect(course, archive) == 1
    captured = capsys.readouterr()
    for name in ("doejohn_1002_52002_notes.pdf", "readme.txt", "kimbo_1005_52005_broken.zip"):
        assert f"SKIPPED: {name}: " in captured.out
    assert "3 file(s) of the download were skipped" in captured.err
    assert collect(course, archive, "--allow-skipped") == 0  # the instructor expected it


def test_the_newest_canvas_copy_wins(course, tmp_path):
    archive = make_zip(
        tmp_path / "canvas.zip",
        {
            "doejohn_1002_52002_arith-2.ipynb": b'{"newest": 1}' + NB[1:],
            "doejohn_1002_52002_arith.ipynb": NB,
            "doejohn_1002_52002_arith-1.ipynb": NB,
        },
    )
    report = plan_collection(list(entries(zipfile.ZipFile(archive))), ["arith"])
    assert [s.entry.path for s in report.taken] == ["doejohn_1002_52002_arith-2.ipynb"]
    assert len(report.replaced) == 2 and not report.skipped


# -- Moodle ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["folders", "flat"])
def test_moodle_names_with_spaces_and_accents_are_kept(course, tmp_path, capsys, layout):
    sep = "/" if layout == "folders" else ""
    archive = make_zip(
        tmp_path / "moodle.zip",
        {
            f"Anna Schmidt_210002_assignsubmission_file_{sep}arith.ipynb": NB,
            f"José Núñez_210003_assignsubmission_file_{sep}arith.ipynb": NB,
            f"Jose Nunez_210004_assignsubmission_file_{sep}arith.ipynb": NB,
            "Anna Schmidt_210002_assignsubmission_onlinetext_/onlinetext.html": b"<p>hi</p>",
        },
    )
    assert collect(course, archive, "--lms", "moodle") == 0
    out = capsys.readouterr().out
    folders = set(submitted(course))
    assert len(folders) == 3
    assert student_folder("José Núñez") in folders and student_folder("Anna Schmidt") in folders
    assert student_folder("José Núñez") != student_folder("Jose Nunez")
    assert student_folder("Jose Nunez") in folders
    assert all(name.isascii() and " " not in name for name in folders)
    assert "onlinetext" in out and "0 skipped" in out
    with open_gradebook(course) as gb:
        anna = gb.find_student(student_folder("Anna Schmidt"))
        assert (anna.lms_user_id, anna.first_name, anna.last_name) == (
            "Anna Schmidt",
            "Anna",
            "Schmidt",
        )
        assert gb.find_student(student_folder("José Núñez")).lms_user_id == "José Núñez"


def test_a_folder_name_is_stable_and_student_can_be_named_as_typed():
    assert student_folder("José") == student_folder(unicodedata.normalize("NFD", "José"))
    assert student_folder("s1000001") == "s1000001"
    assert same_student("José", student_folder("José"))
    assert same_student(unicodedata.normalize("NFD", "José"), "José")
    assert not same_student("Jose", student_folder("José"))


def test_student_is_found_whatever_the_case_and_spacing(course):
    from coursekit.grading.autograde import _select

    for folder in ("Mo Magic", "s1000001"):
        (course.submitted_dir / folder / "arith").mkdir(parents=True)
    assert _select(course, "arith", ["mo magic"]) == ["Mo Magic"]
    assert _select(course, "arith", ["  MO   magic "]) == ["Mo Magic"]
    assert _select(course, "arith", ["S1000001", "Mo Magic"]) == ["Mo Magic", "s1000001"]
    with pytest.raises(GradingError, match="no submission of arith from Mo Magician"):
        _select(course, "arith", ["Mo Magician"])
    assert folders_named("José", [student_folder("José"), "jose"]) == [student_folder("José")]


def test_a_student_name_that_fits_several_folders_is_refused(course):
    from coursekit.grading.autograde import _select

    for folder in ("Mo Magic", "mo magic"):
        (course.submitted_dir / folder / "arith").mkdir(parents=True)
    assert _select(course, "arith", ["mo magic"]) == ["mo magic"]  # typed exactly: that one
    with pytest.raises(GradingError) as refused:
        _select(course, "arith", ["MO MAGIC"])
    assert str(refused.value) == (
        "--student 'MO MAGIC' could name any of 'Mo Magic', 'mo magic': "
        "type the folder's name exactly"
    )


def test_a_pattern_sees_the_whole_path(course, tmp_path):
    archive = make_zip(
        tmp_path / "folders.zip", {"Anna Schmidt/arith.ipynb": NB, "bob/arith.ipynb": NB}
    )
    pattern = r"^(?P<student_id>[^/]+)/(?P<file_id>[^/]+)$"
    assert collect(course, archive, "--pattern", pattern) == 0
    assert set(submitted(course)) == {"bob", student_folder("Anna Schmidt")}


# -- Blackboard ------------------------------------------------------------------------------------
BB = "ex01_s1000001_attempt_{}_arith.ipynb"


def test_blackboard_takes_the_newest_attempt_and_its_time(course, tmp_path, capsys):
    newer, older = "2024-10-14-21-00-00", "2024-10-12-09-30-00"
    archive = make_zip(
        tmp_path / "bb.zip",
        {
            BB.format(newer): b'{"attempt": 2}',  # listed first, so order cannot decide
            BB.format(older): b'{"attempt": 1}',
            f"ex01_s1000001_attempt_{newer}.txt": b"Name: Student One\n",
            "ex01_s1000002_attempt_2024-10-13-08-00-00_arith.ipynb": NB,
        },
        times={BB.format(older): (2024, 11, 1, 0, 0, 0)},
    )  # a misleading zip-entry time
    assert collect(course, archive) == 0
    out = capsys.readouterr().out
    assert set(submitted(course)) == {"s1000001", "s1000002"}  # not everyone under "ex01"
    folder = course.submitted_dir / "s1000001" / "arith"
    assert json.loads((folder / "arith.ipynb").read_text()) == {"attempt": 2}
    assert (folder / "timestamp.txt").read_text().strip() == "2024-10-14 21:00:00"
    assert "older attempt of s1000001" in out and "receipt" in out


def test_nbgraders_documented_blackboard_pattern_keeps_the_extension(course, tmp_path):
    archive = make_zip(tmp_path / "bb.zip", {BB.format("2024-10-14-21-00-00"): NB})
    pattern = r".*_(?P<student_id>\w+)_attempt_(?P<timestamp>[0-9\-]+)_(?P<file_id>\w+)"
    assert collect(course, archive, "--pattern", pattern) == 0
    assert submitted(course) == {"s1000001": ["arith.ipynb", "timestamp.txt"]}


def test_variants_of_a_notebook_name():
    names = ["ex01_convolution", "ex01"]
    assert notebook_of("ex01_convolution.colab.ipynb", names) == ("ex01_convolution", 0)
    assert notebook_of("Copy of ex01_convolution (2).ipynb", names) == ("ex01_convolution", 2)
    assert notebook_of("ex01_convolution-3.ipynb", names) == ("ex01_convolution", 3)
    assert notebook_of("12_ex01.ipynb", names) == ("ex01", 0)
    assert notebook_of("ex01_convolution", names) == ("ex01_convolution", 0)
    assert notebook_of("ex01_convolution.pdf", names) is None
    assert notebook_of("homework.ipynb", names) is None


# -- size ------------------------------------------------------------------------------------------
def big_notebook(mib: int) -> bytes:
    nb = fill(nbformat.v4.new_notebook(), "x", "")
    cell = nbformat.v4.new_code_cell("plot()")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "A" * (mib * 2**20)})]
    nb.cells = [cell]
    return nbformat.writes(nb).encode()


def test_a_60_mib_notebook_is_collected_and_made_gradable(course, tmp_path):
    data = big_notebook(60)
    archive = make_zip(tmp_path / "big.zip", {"doejohn_1002_52002_arith.ipynb": data})
    assert collect(course, archive) == 0
    path = course.submitted_dir / "doejohn" / "arith" / "arith.ipynb"
    assert path.stat().st_size == len(data)
    notes = normalize_file(path)
    assert any("outputs removed from a 60 MiB file" in n for n in notes)
    assert path.stat().st_size < 2**20 and read_notebook(path).cells[0].outputs == []


def test_the_feedback_run_gets_the_files_the_graded_run_got(course, tmp_path, monkeypatch):
    from coursekit.grading import feedback_run

    submission = course.submitted_dir / "doejohn" / "arith"
    submission.mkdir(parents=True)
    (submission / "data.csv").write_text("1,2\n")
    (submission / "huge.bin").write_bytes(b"x" * 2048)
    (submission / "link.csv").symlink_to(submission / "data.csv")
    graded = course.autograded_dir / "doejohn" / "arith"
    graded.mkdir(parents=True)
    (graded / "arith.ipynb").write_bytes(NB)
    monkeypatch.setattr(feedback_run, "MAX_SUBMISSION_BYTES", 1024)  # as intake: none over it
    dest = tmp_path / "staged"
    assert feedback_run._stage_inputs(course, "arith", "doejohn", dest)
    assert sorted(p.name for p in dest.iterdir()) == ["arith.ipynb", "data.csv"]


# -- notebook files as editors write them ----------------------------------------------------------
def nb44_with_ids() -> dict:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_markdown_cell("text")]
    raw = json.loads(nbformat.writes(nb))
    raw["nbformat_minor"] = 4  # VS Code, Jupytext and Colab keep 4.4 but write cell ids
    raw["cells"][0]["id"] = "vscode-cell-1"
    raw["metadata"]["vscode"] = {"interpreter": {"hash": "ab12"}}
    return raw


def test_nbformat_44_with_cell_ids_is_upgraded_not_refused(tmp_path):
    path = tmp_path / "vscode.ipynb"
    path.write_text(json.dumps(nb44_with_ids()))
    with pytest.raises(GradingError, match="not a valid notebook"):
        read_notebook(path)  # what grading said before
    notes = normalize_file(path)
    assert notes and "4.4 to 4.5" in notes[0] and "ids" in notes[0]
    nb = read_notebook(path)
    assert nb.nbformat_minor == 5 and nb.cells[0].id == "vscode-cell-1"
    assert nb.cells[1].id and nb.metadata["vscode"]


def colab_widgets() -> dict:
    return {
        WIDGET_STATE: {
            "4f1c": {
                "model_name": "FloatProgressModel",
                "model_module": "@jupyter-widgets/controls",
                "model_module_version": "1.5.0",
                "state": {"value": 3},
            }
        }
    }


def test_colab_widget_state_gets_its_wrapper(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = colab_widgets()
    fixed, notes = normalize_notebook(json.loads(nbformat.writes(nb)))
    state = fixed.metadata["widgets"][WIDGET_STATE]
    assert state["state"]["4f1c"]["model_name"] == "FloatProgressModel"
    assert state["version_major"] == 2 and any("Colab" in n for n in notes)
    path = tmp_path / "graded.ipynb"
    nbformat.write(nb, path)
    path.chmod(0o444)  # nbgrader's autograded files are read-only
    assert (
        repair_widget_state(path)
        and "state" in read_notebook(path).metadata["widgets"][WIDGET_STATE]
    )
    assert repair_widget_state(path) == []


def test_a_duplicated_solution_cell_keeps_both_halves_in_order():
    stub = released_arith()
    nb = fill(stub, "add", "import math")
    copy = nbformat.from_dict(
        next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "add")
    )
    copy.source = "def add(a, b):\n    return math.fsum([a, b])"
    copy.id = "copied-cell"
    index = next(
        i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "add"
    )
    nb.cells.insert(index + 1, copy)
    fixed, notes = normalize_notebook(json.loads(nbformat.writes(nb)))
    cells = [c for c in fixed.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "add"]
    assert len(cells) == 1
    assert cells[0].source == "import math\n\ndef add(a, b):\n    return math.fsum([a, b])"
    assert any("cell add appeared 2 times" in n and "joined" in n for n in notes)


def test_an_unreadable_notebook_says_why():
    with pytest.raises(GradingError, match="nbformat 7"):
        normalize_notebook({"cells": [], "nbformat": 7, "nbformat_minor": 0})


_RELEASED = {}


def released_arith():
    """The released arith notebook (built once per test session)."""
    if "nb" not in _RELEASED:
        import tempfile

        root = make_course(Path(tempfile.mkdtemp()) / "c", ("arith",))
        release(Course(root), "arith")
        _RELEASED["nb"] = released(root, "arith")
    return nbformat.from_dict(_RELEASED["nb"])


# -- course check counts what grading counts ------------------------------------------------------
def _graded(nb, grade_id):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]


def test_check_counts_a_copied_test_once_and_a_markdown_test_as_code():
    stub = released_arith()
    layout = graded_tests(stub)
    assert layout == {
        "test_add": (2.0, layout["test_add"][1]),
        "test_mul": (3.0, layout["test_mul"][1]),
    }
    nb = nbformat.from_dict(stub)
    nb.cells.append(nbformat.from_dict(_graded(nb, "test_add")[0]))  # a copied test cell
    _graded(nb, "test_mul")[0].cell_type = "markdown"  # a test made Markdown
    notes = restore_tests(nb, layout, exact=True)
    assert len(_graded(nb, "test_add")) == 1
    assert _graded(nb, "test_mul")[0].cell_type == "code"
    assert any("more than once" in n for n in notes) and any("markdown" in n for n in notes)


def test_check_names_an_added_cell_that_claims_to_be_a_graded_test():
    """What the grader does (``autograde._foreign_cells``): the cell counts nothing, and the
    student is told, not left to find a score that ignores it."""
    from coursekit.grading.notebooks import nbgrader_cell

    stub = released_arith()
    layout = graded_tests(stub)
    nb = nbformat.from_dict(stub)
    nb.cells.append(nbgrader_cell("pass", "bonus", 100))
    notes = restore_tests(nb, layout, exact=True)
    assert any("graded test 'bonus' is not in the exercise" in n for n in notes)
    assert set(layout) == {"test_add", "test_mul"}  # what is scored


def test_check_restores_an_edited_test_and_reports_a_deleted_one():
    stub = released_arith()
    layout = graded_tests(stub)
    nb = nbformat.from_dict(stub)
    _graded(nb, "test_add")[0].source = "pass"
    nb.cells.remove(_graded(nb, "test_mul")[0])
    notes = restore_tests(nb, layout, exact=True)
    assert _graded(nb, "test_add")[0].source == layout["test_add"][1]
    assert any("test_add was edited" in n for n in notes)
    assert any("test_mul was deleted" in n for n in notes)


@pytest.mark.slow
def test_course_check_total_equals_what_grading_counts(tmp_path, capsys):
    root = make_course(tmp_path / "c", ("arith",))
    release(Course(root), "arith")
    nb = fill(
        fill(released(root, "arith"), "add", ARITH_SOLUTION["add"]), "mul", ARITH_SOLUTION["mul"]
    )
    nb.cells.append(nbformat.from_dict(_graded(nb, "test_add")[0]))
    nb.cells[-1].id = "copied-test"
    raw = json.loads(nbformat.writes(nb))
    as_markdown = next(
        c for c in raw["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "test_mul"
    )
    as_markdown["cell_type"] = "markdown"  # as Jupyter writes it: no outputs, no count
    del as_markdown["outputs"], as_markdown["execution_count"]
    raw["nbformat_minor"] = 4  # and written by VS Code, in its own environment
    raw["metadata"]["kernelspec"] = {"name": ".venv", "display_name": ".venv", "language": "python"}
    path = root / "exercises" / "arith" / "arith (1).ipynb"
    path.write_text(json.dumps(raw))
    assert course_main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "visible tests: 5 / 5 points" in out  # not 7 / 7, not 2 / 2
    assert "more than once" in out and "markdown" in out and "'.venv'" in out


@pytest.mark.slow
def test_course_check_counts_by_grade_id_and_the_guard_is_only_a_message(tmp_path, capsys):
    root = make_course(tmp_path / "c", ("arith",))
    release(Course(root), "arith")
    meddling = "import math\nmath.sqrt = lambda x: 2.0\n"  # code the tests may rely on
    nb = fill(
        fill(released(root, "arith"), "add", meddling + ARITH_SOLUTION["add"]),
        "mul",
        ARITH_SOLUTION["mul"],
    )
    nb.cells.append(nbformat.from_dict(_graded(nb, "test_add")[0]))
    nb.cells[-1].id = "copied-test"
    path = root / "exercises" / "arith" / "Copy of arith.ipynb"
    nbformat.write(nb, path)
    assert course_main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "visible tests: 5 / 5 points" in out  # the copy counts once, the guard takes none
    assert "your notebook replaced code the tests rely on" in out and "more than once" in out


# -- what is under submitted/ ---------------------------------------------------------------------
def test_survey_names_every_folder(course):
    root = course.submitted_dir
    for folder in ("José", "Anna Schmidt", "bob"):
        (root / folder / "arith").mkdir(parents=True)
    (root / "only-ex02" / "ex02").mkdir(parents=True)
    (root / "weird[1]" / "arith").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "stray.ipynb").write_bytes(NB)
    graded, other = survey(course, "arith")
    assert graded == ["Anna Schmidt", "José", "bob"]
    reasons = dict(other)
    assert set(reasons) == {"only-ex02", "weird[1]", ".hidden", "stray.ipynb"}
    assert "no arith folder (holds ex02)" in reasons["only-ex02"]
    assert "rename" in reasons["weird[1]"]


def test_export_has_the_original_id(course, tmp_path):
    archive = make_zip(
        tmp_path / "moodle.zip", {"José Núñez_210003_assignsubmission_file_arith.ipynb": NB}
    )
    assert collect(course, archive) == 0
    release(course, "arith")
    out = tmp_path / "grades.csv"
    assert course_main(["--root", str(course.root), "export", "--to", str(out)]) == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["student_id"], r["lms_user_id"]) for r in rows] == [
        (student_folder("José Núñez"), "José Núñez")
    ]


def test_a_cell_type_changed_by_hand_is_repaired():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("assert True"), nbformat.v4.new_markdown_cell("x")]
    raw = json.loads(nbformat.writes(nb))
    raw["cells"][0]["cell_type"] = "markdown"  # keeps outputs and execution_count
    raw["cells"][1]["cell_type"] = "code"  # has neither
    fixed, notes = normalize_notebook(raw)
    assert "outputs" not in fixed.cells[0] and fixed.cells[1].outputs == []
    assert any("2 cell(s)" in n for n in notes)


# -- feedback --------------------------------------------------------------------------------------
WIDGET_OUTPUT = (
    "from IPython.display import display\n"
    "display({'application/vnd.jupyter.widget-view+json': {'model_id': '4f1c', "
    "'version_major': 2, 'version_minor': 0}, 'text/plain': 'bar'}, raw=True)\n"
)


@pytest.fixture
def colab_graded_by_plain_nbgrader(tmp_path):
    """Two students graded by plain `nbgrader autograde`: one notebook from Colab."""
    from grading_fixture import submit

    root = make_course(tmp_path / "c", ("arith",))
    release(Course(root), "arith")
    stub = released(root, "arith")
    colab = fill(stub, "add", WIDGET_OUTPUT + ARITH_SOLUTION["add"])
    colab.metadata["widgets"] = colab_widgets()
    submit(root, "colab", "arith", colab)
    submit(root, "zeta", "arith", stub)
    nbgrader = str(Path(sys.executable).parent / "nbgrader")
    subprocess.run(
        [nbgrader, "autograde", "arith"], cwd=root, check=True, capture_output=True, timeout=600
    )
    return root


@pytest.mark.slow
def test_feedback_repairs_colab_widgets_and_never_stops_at_one_student(
    colab_graded_by_plain_nbgrader, monkeypatch, capsys
):
    root = colab_graded_by_plain_nbgrader
    feedback = root / ".grading" / "feedback"
    # without the repair nbconvert fails on Colab's widget state: the student is named with
    # the reason, and the students after them still get feedback
    monkeypatch.setattr("coursekit.grading.feedback.repair_widget_state", lambda path: [])
    assert course_main(["--root", str(root), "feedback", "arith"]) == 1
    err = capsys.readouterr().err
    assert "no feedback for 1 of 2 student(s)" in err and "colab (KeyError: 'state')" in err
    assert (feedback / "zeta" / "arith" / "arith.html").is_file()
    monkeypatch.undo()
    assert course_main(["--root", str(root), "feedback", "arith"]) == 0
    assert (feedback / "colab" / "arith" / "arith.html").is_file()


def test_folder_names_spell_letters_out():
    assert student_folder("Jürgen Groß").startswith("Jurgen_Gross-")
    assert student_folder("Søren Łukasz").startswith("Soren_Lukasz-")
    assert student_folder("李雷").startswith("student-")  # no ASCII spelling: the hash decides
    assert student_folder("李雷") != student_folder("韩梅梅")


def test_utf8_names_without_the_zip_flag_are_read_as_utf8(tmp_path):
    name = "José Núñez_210003_assignsubmission_file_arith.ipynb"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(name, NB)
    raw = bytearray(buffer.getvalue())
    # what macOS's Archive Utility writes: UTF-8 bytes, the UTF-8 flag (bit 11) not set
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = raw.find(signature)
        raw[at + offset + 1] &= ~0x08
    report = plan_collection(list(entries(zipfile.ZipFile(io.BytesIO(bytes(raw))))), ["arith"])
    assert [s.original for s in report.taken] == ["José Núñez"]


def test_check_runs_in_an_installed_kernel_whatever_the_editor_wrote():
    from coursekit.grading.check import use_course_kernel

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3.11.4-64bit", "display_name": "VS Code"}
    assert "python3.11.4-64bit" in use_course_kernel(nb, None)[0]
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert use_course_kernel(nb, None) == []


@pytest.mark.slow
def test_plain_nbgrader_zip_collect_knows_the_lms_layouts(tmp_path):
    root = make_course(tmp_path / "c", ("arith",))
    release(Course(root), "arith")
    archive = root / ".grading" / "downloaded" / "arith" / "archive"
    archive.mkdir(parents=True)
    make_zip(
        archive / "canvas.zip",
        {
            "doejohn_1002_52002_arith-1.ipynb": NB,
            "leeann_1004_52004_arith.zip": zip_bytes({"work/arith.ipynb": NB}),
            "Anna Schmidt_210002_assignsubmission_file_/arith.ipynb": NB,
            "ex01_s1000001_attempt_2024-10-14-21-00-00_arith.ipynb": b'{"attempt": 2}',
            "ex01_s1000001_attempt_2024-10-12-09-30-00_arith.ipynb": b'{"attempt": 1}',
        },
    )
    nbgrader = str(Path(sys.executable).parent / "nbgrader")
    done = subprocess.run(
        [nbgrader, "zip_collect", "arith"], cwd=root, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    folders = {p.name for p in (root / ".grading" / "submitted").iterdir()}
    assert folders == {"doejohn", "leeann", student_folder("Anna Schmidt"), "s1000001"}
    newest = root / ".grading" / "submitted" / "s1000001" / "arith"
    assert json.loads((newest / "arith.ipynb").read_text()) == {"attempt": 2}
    assert (newest / "timestamp.txt").read_text().startswith("2024-10-14 21:00:00")


def test_a_notebook_without_a_student_in_its_name_is_named_not_guessed():
    archive = zipfile.ZipFile(
        io.BytesIO(zip_bytes({"ex01_convolution.ipynb": NB, "Copy of ex01_convolution.ipynb": NB}))
    )
    report = plan_collection(list(entries(archive)), ["ex01_convolution"])
    assert not report.taken
    assert [why for _, why in report.skipped] == ["the name carries no student id"] * 2
