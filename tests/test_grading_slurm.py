"""``course autograde --backend slurm`` on a one-node Slurm cluster started by the test.

The same class is graded on this machine and through a Slurm job array: the scores must be the
same. Marked ``slurm`` (it runs in ``make test``); it starts the cluster itself and fails when it
cannot.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
from grading_fixture import fill, make_course, released, submit
from slurm_cluster import ensure_slurm_cluster

from coursekit.cli import main as course_main
from coursekit.grading.autograde import autograde
from coursekit.grading.backends import Task, make_backend
from coursekit.grading.course import Course, open_gradebook
from coursekit.grading.release import release
from coursekit.grading.sandbox import Limits

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

ADD = "def add(a, b):\n    return a + b\n"
MUL = "def mul(a, b):\n    return a * b\n"
LIMITS = Limits(cell_timeout=15, submission_timeout=120, memory_bytes=2 * 2**30)  # load headroom


def six_submissions(root):
    """Full, empty, partial, wrong, a crash and an endless loop: (student, expected score)."""
    stub = released(root, "arith")
    answers = {
        "full": (fill(fill(stub, "add", ADD), "mul", MUL), 5),
        "empty": (stub, 0),
        "add-only": (fill(stub, "add", ADD), 2),
        "wrong": (fill(fill(stub, "add", "def add(a, b):\n    return a - b\n"), "mul", MUL), 3),
        "crash": (fill(fill(stub, "add", ADD), "mul", "import os\nos._exit(3)\n"), 2),
        "loop": (fill(fill(stub, "add", ADD + "while True:\n    pass\n"), "mul", MUL), 5),
    }
    for student, (nb, _) in answers.items():
        submit(root, student, "arith", nb)
    return {student: score for student, (_, score) in answers.items()}


def gradebook_scores(course):
    with open_gradebook(course) as gb:
        return {s.student.id: s.score for s in gb.find_assignment("arith").submissions}


def test_a_class_graded_through_slurm_gets_the_local_scores(tmp_path, capsys):
    partition = ensure_slurm_cluster()
    root = make_course(tmp_path / "course", ("arith",))
    course = Course(root)
    release(course, "arith")
    expected = six_submissions(root)

    local = {
        r.student: r.score
        for r in autograde(course, "arith", jobs=2, limits=LIMITS, progress=False)
    }
    local_book = gradebook_scores(course)
    shutil.rmtree(root / ".grading" / "autograded")
    (root / ".grading" / "gradebook.db").unlink()

    backend = make_backend("slurm", partition=partition, work_dir=tmp_path / "shared")
    results = autograde(course, "arith", jobs=2, limits=LIMITS, progress=True, backend=backend)
    slurm = {r.student: r.score for r in results}
    assert local == expected
    assert slurm == local, {r.student: r.status for r in results}
    assert gradebook_scores(course) == local_book
    notes = {r.student: r.status for r in results}
    assert "kernel died" in notes["crash"] and notes["full"] == "ok"
    assert "6/6 arith" in capsys.readouterr().err  # progress while the array ran
    if not os.environ.get("COURSE_KEEP_WORK"):  # the run's work folder is cleaned up
        assert not list((tmp_path / "shared").glob("course-autograde-*"))


def test_a_task_that_fails_is_retried_once_then_reported_by_student(tmp_path, capsys):
    partition = ensure_slurm_cluster()
    work = tmp_path / "run"
    work.mkdir()
    broken = work / "job-broken.json"
    broken.write_text(json.dumps({"sandbox": False}))  # the worker dies on a job missing keys
    backend = make_backend("slurm", partition=partition, work_dir=tmp_path)
    advanced = []
    outcomes = backend.run(
        [Task("broken", broken, work / "worker-broken.log")],
        jobs=1,
        timeout=60,
        progress=advanced.append,
    )
    outcome = outcomes["broken"]
    assert not outcome.ok and not outcome.timed_out
    assert outcome.attempts == 2 and "KeyError" in outcome.message
    assert advanced == ["broken"]
    err = capsys.readouterr().err
    assert "retrying 1 failed task(s) once: broken" in err
    assert "broken failed 2 time(s)" in err


def test_dry_run_prints_a_throttled_job_array_on_the_named_partition(tmp_path, capsys):
    root = make_course(tmp_path / "course", ("arith",))
    release(Course(root), "arith")
    six_submissions(root)
    assert (
        course_main(
            [
                "--root",
                str(root),
                "autograde",
                "arith",
                "--backend",
                "slurm",
                "--partition",
                "gpu-a",
                "--jobs",
                "3",
                "--dry-run",
            ]
        )
        == 0
    )
    script = capsys.readouterr().out
    assert "#SBATCH --array=0-5%3" in script and "#SBATCH --partition=gpu-a" in script
    assert "-m coursekit.grading.backends.task" in script
    with open_gradebook(Course(root)) as gb:  # nothing ran, nothing was recorded
        assert gb.find_assignment("arith").submissions == []
