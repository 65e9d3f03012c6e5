"""What feedback tells a student, end to end: nothing the graded kernel could choose.

The graded run's kernel holds the hidden tests (they are in the cell it runs: its frames, its
``linecache``, its history). Whatever of that run reaches the student and varies with what the
kernel did is a channel out for them: which check failed, its place, a value it printed. So
feedback carries of the graded run only each test cell's points; the explanation comes from the
feedback run, with the visible tests only. Checked here with two courses whose hidden tests differ
in one bit, and one submission that reads that bit and picks which visible check fails by it.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import grading_fixture as fixture
import pytest
from grading_fixture import HB, HE, SB, SE, fill, notebook, released, solution_cell
from test_intake import make_zip

from coursekit.cli import main as course_main
from coursekit.grading.checker import GRADED_FAILED
from coursekit.grading.course import Course
from coursekit.grading.notebooks import text_of
from coursekit.grading.recording import details_file
from coursekit.grading.release import release
from coursekit.grading.sandbox import sandbox_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        sandbox_available() is not None and os.environ.get("COURSE_ALLOW_NO_SANDBOX") == "1",
        reason=f"no sandbox here: {sandbox_available()}",
    ),
]

ASSIGNMENT = "leak"


def hidden_lines(bit: int) -> list[str]:
    """The hidden part of ``test_add``: one input, 7 or 8, the bit a kernel would carry out."""
    return [
        f"_hidden = {7 + bit}",
        "check_equal(add(_hidden, 1), _hidden + 1, 'add on a hidden input')",
    ]


def leak_notebook(bit: int):
    """The solution: ``add`` and its test cell, two visible checks and the hidden ones (cell
    ids fixed, so that the two courses' pages differ only where grading makes them)."""
    nb = notebook(
        [
            solution_cell("add", f"def add(a, b):\n    {SB}\n    return a + b\n    {SE}"),
            fixture.test_cell(
                "test_add",
                "from course_utils.testing import check_equal\n"
                "check_equal(add(2, 3), 5, 'add(2, 3)')\n"
                "check_equal(add(4, 5), 9, 'add(4, 5)')\n"
                f"{HB}\n" + "\n".join(hidden_lines(bit)) + f"\n{HE}",
                2,
            ),
        ]
    )
    for index, cell in enumerate(nb.cells):
        cell.id = f"cell-{index}"
    return nb


# Reads the test cell that calls it (as any frame-walking code can) and makes the first
# visible check fail when the hidden input is 7, the second when it is 8.
LEAKER = """import linecache, sys

def add(a, b):
    caller = "".join(linecache.getlines(sys._getframe(1).f_code.co_filename))
    wrong_at = (4, 5) if "= 8" in caller else (2, 3)
    return a + b + 100 * (a + 1) if (a, b) == wrong_at else a + b
"""
# A plain wrong answer for one visible input: the feedback must say which check and why.
WRONG = "def add(a, b):\n    return a + b + 1 if (a, b) == (4, 5) else a + b\n"
STUDENTS = {"leaker": ("1002", "52002", LEAKER), "wrong": ("1003", "52003", WRONG)}


def grade_a_course(folder: Path, bit: int) -> Path:
    """A course whose hidden input is ``7 + bit``, the class collected from a Canvas download,
    autograded, and its feedback written (notebooks run again) and zipped for Canvas."""
    import nbformat

    root = folder / f"course-{bit}"
    (root / "solutions" / ASSIGNMENT).mkdir(parents=True)
    (root / "nbgrader_config.py").write_text(
        (Path(__file__).resolve().parents[1] / "nbgrader_config.py").read_text()
    )
    nbformat.write(leak_notebook(bit), root / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    release(Course(root), ASSIGNMENT)
    stub = released(root, ASSIGNMENT)
    files = {
        f"student{login}_{user}_{attachment}_{ASSIGNMENT}.ipynb": nbformat.writes(
            fill(stub, "add", code)
        ).encode()
        for login, (user, attachment, code) in STUDENTS.items()
    }
    download = make_zip(folder / f"canvas-{bit}.zip", files)
    assert course_main(["--root", str(root), "collect", ASSIGNMENT, str(download)]) == 0
    assert course_main(["--root", str(root), "autograde", ASSIGNMENT, "-q"]) == 0
    to = folder / f"feedback-{bit}.zip"
    assert (
        course_main(
            ["--root", str(root), "feedback", ASSIGNMENT, "--lms", "canvas", "--zip", str(to)]
        )
        == 0
    )
    return root


@pytest.fixture(scope="module")
def two_courses(tmp_path_factory):
    folder = tmp_path_factory.mktemp("feedback-bit")
    return folder, {bit: grade_a_course(folder, bit) for bit in (0, 1)}


# The feedback run's own temporary folder (``tempfile.mkdtemp``), which the released notebook's
# self-check cell prints: random per run, the same whatever the graded kernel did.
FEEDBACK_TMP = re.compile(r"course-feedback-[a-z0-9_]+/")


def _same_run(text: str) -> str:
    return FEEDBACK_TMP.sub("course-feedback-TMP/", text)


def _pages(root: Path) -> dict[str, str]:
    return {
        page.parts[-3]: _same_run(page.read_text(encoding="utf-8"))
        for page in sorted((root / ".grading" / "feedback").rglob("*.html"))
    }


def _student(root: Path) -> dict[str, str]:
    """Each student's folder name, by the login the download gave."""
    folders = [p.name for p in (root / ".grading" / "autograded").iterdir()]
    return {login: next(f for f in folders if login in f) for login in STUDENTS}


def test_feedback_is_the_same_whichever_visible_check_the_kernel_makes_fail(two_courses):
    """The leaker's graded kernel failed check 1 in one course and check 2 in the other (the
    instructor's verdict files say so, so the bit did go out of the kernel); the student's
    feedback page and the Canvas zip are the same in both courses, byte for byte but for the
    name of the feedback run's own temporary folder."""
    folder, roots = two_courses
    leaker = {bit: _student(root)["leaker"] for bit, root in roots.items()}
    details = {
        bit: details_file(Course(root), ASSIGNMENT, leaker[bit]).read_text()
        for bit, root in roots.items()
    }
    assert "FAILED: check 1 of 3, 'add(2, 3)'" in details[0]
    assert "FAILED: check 2 of 3, 'add(4, 5)'" in details[1]
    pages = {bit: _pages(root)[leaker[bit]] for bit, root in roots.items()}
    assert pages[0] == pages[1]
    zips = {}
    for bit in roots:
        with zipfile.ZipFile(folder / f"feedback-{bit}.zip") as zf:
            zips[bit] = {name: _same_run(zf.read(name).decode()) for name in zf.namelist()}
    assert len(zips[0]) == len(STUDENTS)
    assert zips[0] == zips[1]


def test_feedback_shows_no_hidden_line_or_hidden_check_name(two_courses, tmp_path):
    """Neither the feedback pages nor the LMS zip hold a hidden line, marker or check name."""
    folder, roots = two_courses
    texts = []
    for bit, root in roots.items():
        texts += [text_of(p) for p in (root / ".grading" / "feedback").rglob("*.html")]
        with zipfile.ZipFile(folder / f"feedback-{bit}.zip") as zf:
            zf.extractall(tmp_path / str(bit))
        texts += [text_of(p) for p in (tmp_path / str(bit)).rglob("*.html")]
    assert len(texts) == 4 * len(STUDENTS)
    secrets = {HB, HE, "add on a hidden input", *hidden_lines(0), *hidden_lines(1)}
    for text in texts:
        assert not [s for s in secrets if s in text]
        assert "check_equal(add(4, 5), 9, 'add(4, 5)')" in text  # the visible test is shown


def test_a_wrong_visible_answer_is_explained_by_the_feedback_run(two_courses):
    """Honest feedback stays useful: the student's own run of the visible tests names the
    failing check and what differs; the grader's line only says the cell failed."""
    _, roots = two_courses
    root = roots[0]
    page = text_of(
        root / ".grading" / "feedback" / _student(root)["wrong"] / ASSIGNMENT / "leak.html"
    )
    assert "add(4, 5) is not equal" in page, page[-3000:]
    assert " ".join(GRADED_FAILED.split()[:6]) in page
    assert "check 2 of 3" not in page  # the graded run's detail stays with the instructor
    details = details_file(Course(root), ASSIGNMENT, _student(root)["wrong"]).read_text()
    assert "test_add: FAILED: check 2 of 3, 'add(4, 5)'" in details
