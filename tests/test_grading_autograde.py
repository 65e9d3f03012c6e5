"""End to end: a simulated class, honest and hostile, graded by ``course autograde``.

Each hostile submission must cost only its own marks: the run completes, the student gets what
their real work earns (the checker judges recorded values, so patching the kernel earns
nothing) and a note where something went wrong, nothing else changes.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from grading_fixture import ARITH_SOLUTION, fill, make_course, released, submit

from course_utils.checking.bans import BANS, Ban
from coursekit.cli import main as course_main
from coursekit.grading.autograde import autograde
from coursekit.grading.course import Course, open_gradebook
from coursekit.grading.heldout import KEY_FILE
from coursekit.grading.notebooks import text_of
from coursekit.grading.release import release
from coursekit.grading.sandbox import Limits, sandbox_available

# Grading untrusted code needs the sandbox: without it these tests fail, unless a maintainer
# says explicitly (COURSE_ALLOW_NO_SANDBOX=1) that this machine is not meant to grade.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        sandbox_available() is not None and os.environ.get("COURSE_ALLOW_NO_SANDBOX") == "1",
        reason=f"no sandbox here: {sandbox_available()}",
    ),
]

ADD = "def add(a, b):\n    return a + b\n"
MUL = "def mul(a, b):\n    return a * b\n"
LIMITS = Limits(cell_timeout=15, submission_timeout=120, memory_bytes=2 * 2**30)  # load headroom


def _with(nb, add=None, mul=None):
    if add is not None:
        nb = fill(nb, "add", add)
    if mul is not None:
        nb = fill(nb, "mul", mul)
    return nb


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def arith_class(root: Path) -> dict[str, tuple[float, str]]:
    """Submissions of ``arith`` and (expected score, a word the note must contain)."""
    stub = released(root, "arith")
    secret = root / "solutions" / "arith" / "arith.ipynb"
    db = root / ".grading" / "gradebook.db"
    others = root / ".grading" / "submitted" / "full"
    key = root / KEY_FILE  # made before any kernel runs: the spy looks for it too
    expected = {}

    def hand_in(student, nb, score, note=""):
        submit(root, student, "arith", nb)
        expected[student] = (score, note)

    hand_in("full", _with(stub, ADD, MUL), 5, "")
    hand_in("zero", stub, 0, "")
    hand_in("partial", _with(stub, ADD), 2, "")
    hand_in("loop", _with(stub, ADD + "while True:\n    pass\n", MUL), 5, "interrupted at its")
    hand_in(
        "stubborn",
        _with(
            stub,
            ADD,
            "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n",
        ),
        2,
        "ignored the interrupt",
    )
    hand_in("crash", _with(stub, ADD, "import os\nos._exit(3)\n"), 2, "kernel died")
    edited = _with(stub, "def add(a, b):\n    return 0\n", MUL)
    _cell(edited, "test_add").source = "pass"
    hand_in("edit-test", edited, 3, "edited")
    deleted = _with(stub, ADD, MUL)
    deleted.cells.remove(_cell(deleted, "test_mul"))
    hand_in("delete-test", deleted, 2, "deleted")
    dup = _with(stub, ADD, MUL)
    _cell(dup, "test_add").metadata["nbgrader"]["points"] = 100
    dup.cells.append(nbformat.from_dict(_cell(dup, "test_add")))
    hand_in("dup-test", dup, 5, "duplicated")
    # the static library ban (the fixture's ban on operator.add in add, set by graded_class)
    hand_in(
        "banned",
        _with(stub, "import operator\ndef add(a, b):\n    return operator.add(a, b)\n", MUL),
        3,
        "library ban: add",
    )
    hand_in("flood", _with(stub, ADD + "print('x' * 30_000_000)\n", MUL), 5, "")
    hand_in(
        "hog",
        _with(
            stub,
            ADD + "try:\n    hog = bytearray(6 * 2**30)\n    add = None\n"
            "except MemoryError:\n    pass\n",
            MUL,
        ),
        5,
        "",
    )
    spy = (
        f"import os\nleaked = any(os.path.exists(p) for p in ({str(secret)!r}, {str(db)!r}, "
        f"{str(others)!r}, {str(key)!r}))\n"
        "def add(a, b):\n    return 0 if leaked else a + b\n"
    )
    hand_in("spy", _with(stub, spy, MUL), 5, "")
    vandal = (
        f"import os, shutil\nfor p in ({str(secret)!r}, {str(db)!r}):\n    try:\n"
        "        os.remove(p)\n    except OSError:\n        pass\n"
        f"shutil.rmtree({str(others)!r}, ignore_errors=True)\n"
        "try:\n    open('/tmp/../etc/passwd', 'a').write('x')\nexcept OSError:\n    pass\n" + ADD
    )
    hand_in("vandal", _with(stub, vandal, MUL), 5, "")
    # patched builtins do not reach the checker: add earns nothing (wrong on hidden inputs)
    hand_in(
        "patcher",
        _with(
            stub,
            "import builtins\nbuiltins.abs = lambda x: 0\n"
            "def add(a, b):\n    return 5 if (a, b) == (2, 3) else 0\n",
            MUL,
        ),
        3,
        "",
    )
    # a thread of its own costs nothing when the answers are right
    hand_in(
        "thread",
        _with(
            stub,
            "import threading, time\n"
            "def _meddle():\n    time.sleep(60)\n"
            "threading.Thread(target=_meddle, daemon=True).start()\n" + ADD,
            MUL,
        ),
        5,
        "",
    )
    submit(root, "corrupt", "arith", raw=b'{"cells": [ this is not json')
    expected["corrupt"] = (0, "not a valid notebook")
    submit(root, "misnamed", "arith", _with(stub, ADD, MUL), name="arith (1).ipynb")
    expected["misnamed"] = (5, "renamed")
    return expected


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("course"), ("arith",))
    course = Course(root)
    release(course, "arith")
    expected = arith_class(root)
    fingerprint = {
        p: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (root / "solutions").rglob("*")
        if p.is_file()
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(BANS, "arith", {"add": Ban(routines=("operator.add",), tests=("test_add",))})
        results = autograde(course, "arith", jobs=2, limits=LIMITS, progress=False)
    return root, course, expected, {r.student: r for r in results}, fingerprint


def test_every_student_gets_what_their_work_earns(graded_class):
    _, _, expected, results, _ = graded_class
    assert set(results) == set(expected)
    wrong = {
        s: (results[s].score, results[s].status)
        for s, (score, _) in expected.items()
        if results[s].score != score
    }
    assert not wrong, wrong
    for student, (_, word) in expected.items():
        assert word in results[student].status, (student, results[student].status)
    assert results["full"].notes == [] and results["zero"].notes == []
    flagged = sorted(s for s, r in results.items() if "library ban" in r.status)
    assert flagged == ["banned"], flagged


def test_course_files_and_gradebook_survive(graded_class):
    root, course, _, results, fingerprint = graded_class
    after = {
        p: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (root / "solutions").rglob("*")
        if p.is_file()
    }
    assert after == fingerprint
    assert (root / ".grading" / "submitted" / "full" / "arith" / "arith.ipynb").is_file()
    key = root / KEY_FILE  # the spy's kernel did not see it (its add earned its points)
    assert key.stat().st_size == 32 and key.stat().st_mode & 0o777 == 0o600
    with open_gradebook(course) as gb:
        assert gb.find_submission("arith", "full").score == 5
        assert gb.find_submission("arith", "vandal").score == 5
        assert len(gb.students) == len(results)


def test_export_csv_and_feedback_without_hidden_tests(graded_class, tmp_path):
    root, _, expected, _, _ = graded_class
    out = tmp_path / "grades.csv"
    assert course_main(["--root", str(root), "export", "--to", str(out)]) == 0
    rows = {r["student_id"]: r for r in csv.DictReader(out.open())}
    assert {s: float(rows[s]["score"]) for s in expected} == {s: e[0] for s, e in expected.items()}
    assert (
        course_main(
            ["--root", str(root), "feedback", "arith", "--student", "partial", "--student", "zero"]
        )
        == 0
    )
    pages = list((root / ".grading" / "feedback").rglob("*.html"))
    assert len(pages) == 2
    for page in pages:
        text = text_of(page)
        assert "HIDDEN TESTS" not in text and "_rng = random.Random(7)" not in text
        assert "check_equal(add(2, 3), 5" in text  # the visible test is shown


def test_plain_nbgrader_feedback_hides_hidden_tests_too(graded_class):
    """nbgrader_config.py makes even plain `nbgrader generate_feedback` strip hidden tests."""
    root = graded_class[0]
    subprocess.run(
        [
            str(Path(sys.executable).parent / "nbgrader"),
            "generate_feedback",
            "arith",
            "--student",
            "full",
            "--force",
        ],
        cwd=root,
        check=True,
        capture_output=True,
    )
    page = root / ".grading" / "feedback" / "full" / "arith" / "arith.html"
    text = text_of(page)
    assert "check_equal(add(2, 3), 5" in text
    assert "HIDDEN TESTS" not in text and "_rng = random.Random(7)" not in text


def test_scores_equal_plain_nbgrader(tmp_path):
    """Honest submissions: course autograde records exactly what nbgrader autograde does."""
    root = make_course(tmp_path / "c", ("arith",))
    course = Course(root)
    release(course, "arith")
    stub = released(root, "arith")
    for student, nb in (
        ("full", _with(stub, ADD, MUL)),
        ("zero", stub),
        ("partial", _with(stub, None, ARITH_SOLUTION["mul"])),
    ):
        submit(root, student, "arith", nb)
    ours = {r.student: r.score for r in autograde(course, "arith", jobs=2, progress=False)}
    shutil.rmtree(root / ".grading" / "autograded")
    (root / ".grading" / "gradebook.db").unlink()
    release(course, "arith")
    subprocess.run(
        [str(Path(sys.executable).parent / "nbgrader"), "autograde", "arith", "--force"],
        cwd=root,
        check=True,
        capture_output=True,
    )
    with open_gradebook(course) as gb:
        plain = {s: gb.find_submission("arith", s).score for s in ours}
    assert ours == plain == {"full": 5, "zero": 0, "partial": 3}


def test_a_regrade_draws_the_same_held_out_images_for_each_student(tmp_path, monkeypatch):
    """Each submission's draw (``heldout.Draw``) is fixed by the course's key, made once."""
    from coursekit.grading import autograde as autograde_module

    root = make_course(tmp_path / "c", ("arith",))
    course = Course(root)
    release(course, "arith")
    stub = released(root, "arith")
    for student in ("ann", "bob"):
        submit(root, student, "arith", _with(stub, ADD, MUL))
    draws = []
    real = autograde_module.check_phase

    def spy(references, executed, layout, sandbox=True, draw=None):
        draws.append(draw)
        return real(references, executed, layout, sandbox, draw)

    monkeypatch.setattr(autograde_module, "check_phase", spy)
    autograde(course, "arith", jobs=2, limits=LIMITS, progress=False)
    key = (root / KEY_FILE).read_bytes()
    autograde(course, "arith", jobs=2, limits=LIMITS, progress=False)
    assert (root / KEY_FILE).read_bytes() == key  # reused, not made again
    first, second = sorted(draws[:2], key=repr), sorted(draws[2:], key=repr)
    assert len(draws) == 4 and first == second
    assert [(d.assignment, d.student, d.key) for d in first] == [
        ("arith", "ann", key),
        ("arith", "bob", key),
    ]
    assert first[0].seed("test_x/check") != first[1].seed("test_x/check")


def test_a_solution_that_fails_its_own_test_stops_the_grading_before_anything_is_recorded(
    tmp_path,
):
    """The reference run is the first job of the pool: the submission beside it runs, but no
    verdict is checked or recorded without a sound reference."""
    from grading_fixture import SB, SE, arith_notebook

    from coursekit.grading.course import GradingError
    from coursekit.grading.reference import cache_dir

    root = make_course(tmp_path / "c", ("arith",))
    wrong = f"def add(a, b):\n    {SB}\n    return a - b\n    {SE}"
    nbformat.write(arith_notebook(add_body=wrong), root / "solutions" / "arith" / "arith.ipynb")
    course = Course(root)
    release(course, "arith")
    submit(root, "ann", "arith", _with(released(root, "arith"), ADD, MUL))
    with pytest.raises(GradingError, match="arith cannot be graded: .*fails test test_add"):
        autograde(course, "arith", jobs=2, limits=LIMITS, progress=False)
    assert not (course.autograded_dir / "ann" / "arith").exists()  # nothing recorded
    assert not (cache_dir(course, "arith") / "complete").exists()  # nothing cached


def _extra_graded_cell(grade_id: str = "bonus"):
    """A cell a student added, with nbgrader metadata claiming 100 points as test ``grade_id``."""
    from coursekit.grading.notebooks import nbgrader_cell

    return nbgrader_cell(
        "from course_utils.testing import check_equal\ncheck_equal(1, 1)", grade_id, 100
    )


def _claim_points(nb, grade_id: str):
    """``nb`` with the (ungraded) cell ``grade_id`` marked as a graded test worth 100 points."""
    nb = nbformat.from_dict(nb)
    _cell(nb, grade_id).metadata["nbgrader"].update(grade=True, points=100)
    return nb


def test_a_cell_claiming_to_be_graded_earns_nothing_and_costs_the_genuine_parts_nothing(tmp_path):
    """An added cell marked as a graded test (an unknown grade_id, or points claimed on a solution
    cell) earns nothing, the student's genuine parts keep their points, and the summary names it.
    Plain nbgrader refuses the whole notebook instead (every part zero): the deviation is
    documented in docs/authoring-exercises.md."""
    root = make_course(tmp_path / "c", ("arith",))
    course = Course(root)
    release(course, "arith")
    stub = released(root, "arith")
    extra = _with(stub, ADD, MUL)
    extra.cells.append(_extra_graded_cell())
    submit(root, "extra", "arith", extra)
    partial = _with(stub, ADD)
    partial.cells.insert(2, _extra_graded_cell("test_bonus"))
    submit(root, "partial-extra", "arith", partial)
    submit(root, "claim", "arith", _claim_points(_with(stub, ADD, MUL), "add"))
    submit(root, "full", "arith", _with(stub, ADD, MUL))
    results = {r.student: r for r in autograde(course, "arith", jobs=2, progress=False)}
    assert {s: r.score for s, r in results.items()} == {
        "extra": 5,
        "partial-extra": 2,
        "claim": 5,
        "full": 5,
    }
    assert (
        "a cell marked as a graded test 'bonus' is not in the assignment" in results["extra"].status
    )
    assert "'test_bonus' is not in the assignment" in results["partial-extra"].status
    assert "claims points as test 'add', which is not graded" in results["claim"].status
    assert results["full"].status == "ok"
    with open_gradebook(course) as gb:
        assert gb.find_submission("arith", "extra").max_score == 5  # no 100-point test added
    # plain nbgrader on the same submission: the whole notebook is refused
    done = subprocess.run(
        [str(Path(sys.executable).parent / "nbgrader"), "autograde", "arith", "--force",
         "--student", "extra"],
        cwd=root,
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert done.returncode != 0
    assert "does not exist in the database" in done.stderr


DEEP_RECORD = """import sys
from IPython.display import publish_display_data

def _forged(levels):
    value = {"py": 1, "type": "int"}
    for _ in range(levels):
        value = {"list": [value]}
    return {"kind": "equal", "actual": value}

def add(a, b):
    sys.setrecursionlimit(100_000)
    publish_display_data({"application/vnd.course-record+json": _forged(LEVELS)})
    return a + b
"""


@pytest.mark.parametrize("levels", [40, 5000])
def test_a_record_nested_too_deep_fails_its_check_with_one_sentence(tmp_path, levels):
    """A kernel forges a record nested far deeper than a value can be (5,000 levels: Python's
    JSON parser and every recursive walk would raise RecursionError): that check fails with one
    sentence, the student's other parts and a classmate keep their points."""
    root = make_course(tmp_path / "c", ("arith",))
    course = Course(root)
    release(course, "arith")
    stub = released(root, "arith")
    submit(root, "deep", "arith", _with(stub, DEEP_RECORD.replace("LEVELS", str(levels)), MUL))
    submit(root, "full", "arith", _with(stub, ADD, MUL))
    results = {r.student: r for r in autograde(course, "arith", jobs=2, progress=False)}
    assert results["full"].score == 5 and results["full"].status == "ok"
    assert results["deep"].score == 3, results["deep"].status
    verdict = results["deep"].verdicts["arith"]["test_add"]
    assert not verdict.passed
    assert "is nested deeper than 20 levels" in verdict.message, verdict.message
