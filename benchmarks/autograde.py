"""Plain ``nbgrader autograde`` against ``course autograde --jobs 2`` on the same class.

    .venv/bin/python benchmarks/autograde.py [--students 10] [--jobs 2] [--assignment tensors]

Builds the test suite's fixture course in a temporary folder (``tensors`` imports torch and
checks with course_utils.testing, like the real exercises), hands in a class of full, partial
and empty submissions, grades it both ways from scratch and prints both wall times, the ratio,
and whether every score is identical. Exit status 1 if any score differs.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from grading_fixture import fill, make_course, released, submit  # noqa: E402

from coursekit.grading.course import Course, open_gradebook  # noqa: E402
from coursekit.grading.release import release  # noqa: E402

ANSWERS = {
    "tensors": [("double", "def double(x):\n    return 2 * x\n"),
                ("double", "def double(x):\n    return x + x\n"),
                ("double", "def double(x):\n    return x\n")],
    "arith": [("add", "def add(a, b):\n    return a + b\n"),
              ("mul", "def mul(a, b):\n    return a * b\n"),
              ("add", "def add(a, b):\n    return a - b\n")],
}


def hand_in_class(root: Path, assignment: str, students: int) -> None:
    stub = released(root, assignment)
    answers = ANSWERS[assignment]
    for i in range(students):
        nb = stub if i % 4 == 3 else fill(stub, *answers[i % len(answers)])
        submit(root, f"student{i:02d}", assignment, nb)


def scores(course: Course, assignment: str) -> dict[str, float]:
    with open_gradebook(course) as gb:
        return {s.student.id: s.score for s in gb.find_assignment(assignment).submissions}


def fresh_gradebook(course: Course, root: Path, assignment: str) -> None:
    shutil.rmtree(root / ".grading" / "autograded", ignore_errors=True)
    (root / ".grading" / "gradebook.db").unlink(missing_ok=True)
    release(course, assignment)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--assignment", choices=sorted(ANSWERS), default="tensors")
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="course-bench-") as tmp:
        root = make_course(Path(tmp) / "course", (args.assignment,))
        course = Course(root)
        release(course, args.assignment)
        hand_in_class(root, args.assignment, args.students)

        start = time.perf_counter()
        subprocess.run([str(bin_dir / "nbgrader"), "autograde", args.assignment, "--force"],
                       cwd=root, check=True, capture_output=True)
        plain_seconds = time.perf_counter() - start
        plain = scores(course, args.assignment)

        fresh_gradebook(course, root, args.assignment)
        start = time.perf_counter()
        subprocess.run([str(bin_dir / "course"), "autograde", args.assignment, "--jobs",
                        str(args.jobs), "--quiet"], cwd=root, check=True, capture_output=True)
        ours_seconds = time.perf_counter() - start
        ours = scores(course, args.assignment)

    same = plain == ours and len(ours) == args.students
    print(f"{args.students} submissions of {args.assignment!r}")
    print(f"plain nbgrader autograde:        {plain_seconds:7.1f} s")
    print(f"course autograde --jobs {args.jobs}:       {ours_seconds:7.1f} s (sandboxed)")
    print(f"speed-up: {plain_seconds / ours_seconds:.2f}x; scores identical: {same}")
    if not same:
        print(f"plain: {plain}\ncourse: {ours}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
