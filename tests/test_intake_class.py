"""End to end: a class whose submissions arrive as they really do, through collect, autograde,
feedback and export. Every student is accounted for: graded fairly, or named with a reason."""

from __future__ import annotations

import csv
import json
import os
import unicodedata

import nbformat
import pytest
from grading_fixture import ARITH_SOLUTION, fill, make_course, released, submit
from test_intake import NB as NB_EMPTY
from test_intake import big_notebook, colab_widgets, make_zip, zip_bytes

from coursekit.cli import main as course_main
from coursekit.grading.course import Course, open_gradebook
from coursekit.grading.intake import student_folder
from coursekit.grading.release import release
from coursekit.grading.sandbox import sandbox_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        sandbox_available() is not None and os.environ.get("COURSE_ALLOW_NO_SANDBOX") == "1",
        reason=f"no sandbox here: {sandbox_available()}",
    ),
]

# A widget output as Colab leaves it (no comm: the grading kernel creates no widget state).
WIDGET = (
    "from IPython.display import display\n"
    "display({'application/vnd.jupyter.widget-view+json': {'model_id': '4f1c', "
    "'version_major': 2, 'version_minor': 0}, 'text/plain': 'progress'}, raw=True)\n"
)


def _graded_cell(nb, grade_id):
    return next(
        i
        for i, c in enumerate(nb.cells)
        if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    )


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("class")
    root = make_course(tmp / "c", ("arith",))
    course = Course(root)
    release(course, "arith")
    stub = released(root, "arith")
    full = fill(fill(stub, "add", ARITH_SOLUTION["add"]), "mul", ARITH_SOLUTION["mul"])
    good = nbformat.writes(full).encode()
    wrong = nbformat.writes(fill(stub, "add", ARITH_SOLUTION["add"])).encode()  # 2 of 5

    # a solution cell duplicated with its metadata: the import in one half, the function in
    # the other
    split = nbformat.from_dict(full)
    index = _graded_cell(split, "add")
    half = nbformat.from_dict(split.cells[index])
    split.cells[index].source = "import operator"
    half.source, half.id = "def add(a, b):\n    return operator.add(a, b)", "pasted-copy"
    split.cells.insert(index + 1, half)

    big = json.loads(big_notebook(60))
    big["cells"] = json.loads(good)["cells"] + big["cells"]

    canvas = make_zip(
        tmp / "canvas.zip",
        {
            "doejohn_1002_52002_arith-1.ipynb": good,
            "roemary_1003_52003_arith.colab.ipynb": good,
            "leeann_1004_52004_arith.zip": zip_bytes({"work/arith.ipynb": good}),
            "bigfig_1007_52007_arith.ipynb": json.dumps(big).encode(),
        },
    )
    moodle = make_zip(
        tmp / "moodle.zip",
        {
            "Jürgen Groß_210002_assignsubmission_file_/arith.ipynb": nbformat.writes(
                split
            ).encode(),
        },
    )
    blackboard = make_zip(
        tmp / "bb.zip",
        {
            "ex01_s1000001_attempt_2024-10-14-21-00-00_arith.ipynb": good,
            "ex01_s1000001_attempt_2024-10-12-09-00-00_arith.ipynb": wrong,
            "ex01_s1000001_attempt_2024-10-14-21-00-00.txt": b"receipt",
        },
        times={"ex01_s1000001_attempt_2024-10-12-09-00-00_arith.ipynb": (2024, 12, 1, 0, 0, 0)},
    )
    for archive in (canvas, moodle, blackboard):
        assert course_main(["--root", str(root), "collect", "arith", str(archive)]) == 0

    # folders made by hand, named as students are named
    vscode = json.loads(good)
    vscode["nbformat_minor"] = 4  # VS Code / Jupytext / Colab: 4.4 with cell ids
    submit(root, "José", "arith", raw=json.dumps(vscode).encode())
    colab = fill(full, "add", WIDGET + ARITH_SOLUTION["add"])
    colab.metadata["widgets"] = colab_widgets()
    submit(root, "Anna Schmidt", "arith", colab)
    # a copied test cell and a test cell turned into Markdown: the grader restores both
    meddled = json.loads(good)
    tests = {c["metadata"].get("nbgrader", {}).get("grade_id"): c for c in meddled["cells"]}
    meddled["cells"].append({**tests["test_add"], "id": "copied-test"})
    tests["test_mul"]["cell_type"] = "markdown"
    del tests["test_mul"]["outputs"], tests["test_mul"]["execution_count"]
    submit(root, "meddler", "arith", raw=json.dumps(meddled).encode())
    submit(root, "scratcher", "arith", raw=good)  # and a second notebook
    submit(root, "scratcher", "arith", raw=NB_EMPTY, name="scratch.ipynb")
    (course.submitted_dir / "only-ex02" / "ex02").mkdir(parents=True)
    return root, course


@pytest.fixture(scope="module")
def autograded(graded):
    root, course = graded
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = course_main(["--root", str(root), "autograde", "arith", "--jobs", "2", "-q"])
    return code, out.getvalue(), err.getvalue()


EXPECTED = {
    "doejohn": "",
    "roemary": "",
    "leeann": "",
    "bigfig": "outputs removed",
    student_folder("Jürgen Groß"): "joined",
    "s1000001": "",
    "José": "4.4 to 4.5",
    "Anna Schmidt": "widget state",
    "meddler": "test test_mul edited",
    "scratcher": "scratch.ipynb is not a notebook of arith (not graded)",
}


def test_every_student_is_graded_fairly(graded, autograded):
    _, course = graded
    code, out, err = autograded
    with open_gradebook(course) as gb:
        scores = {s.id: gb.find_submission("arith", s.id).score for s in gb.students}
    assert scores == {student: 5 for student in EXPECTED}, out
    rows = {line.split("  ")[0]: line for line in out.splitlines()}
    for student, word in EXPECTED.items():
        row = next(line for name, line in rows.items() if name.startswith(student))
        assert "5 / 5" in row and word in row, row


def test_the_summary_accounts_for_every_folder(graded, autograded):
    _, course = graded
    code, out, err = autograded
    folders = sorted(p.name for p in course.submitted_dir.iterdir())
    assert len(folders) == len(EXPECTED) + 1
    for folder in folders:
        assert any(line.startswith(folder) for line in out.splitlines()), folder
    assert "only-ex02" in out and "NOT GRADED: no arith folder (holds ex02)" in out
    assert "Jürgen Groß" in out  # the original id next to its folder
    assert code == 1 and "1 folder(s) under submitted/ were not graded" in err


def test_one_student_is_graded_by_the_name_as_typed(graded, autograded):
    root, _ = graded
    assert course_main(["--root", str(root), "autograde", "arith", "--student", "José", "-q"]) == 0


def test_feedback_for_everyone_and_export_with_original_ids(graded, autograded, tmp_path):
    root, course = graded
    typed = unicodedata.normalize("NFD", "José")  # as a macOS terminal may pass it
    assert course_main(["--root", str(root), "feedback", "arith", "--student", typed]) == 0
    assert [p.parent.parent.name for p in course.feedback_dir.rglob("*.html")] == ["José"]
    assert course_main(["--root", str(root), "feedback", "arith"]) == 0
    pages = sorted(p.parent.parent.name for p in course.feedback_dir.rglob("*.html"))
    assert pages == sorted(EXPECTED)
    out = tmp_path / "grades.csv"
    assert course_main(["--root", str(root), "export", "--to", str(out)]) == 0
    rows = {r["student_id"]: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert set(rows) == set(EXPECTED)
    assert rows[student_folder("Jürgen Groß")]["lms_user_id"] == "Jürgen Groß"
    assert rows[student_folder("Jürgen Groß")]["last_name"] == "Groß"
    assert {r["score"] for r in rows.values()} == {"5.0"}
