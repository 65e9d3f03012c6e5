"""Plain ``nbgrader autograde`` against ``course autograde --jobs 2`` on the same class.

    .venv/bin/python benchmarks/autograde.py [--students 10] [--jobs 2] [--assignment ex01_...]

Builds a course in a temporary folder (the test suite's fixture course, whose ``tensors`` imports
torch and checks with course_utils.testing, or a copy of one of the course's real exercises),
hands in a class of full, partial and empty submissions, grades it both ways from scratch and
prints the wall times, the ratios, and whether every score is identical. ``course autograde`` is
timed twice: cold (the solution's reference run included, as on the first grading of an
assignment) and warm (the reference cached, as on every later grading). Exit status 1 if any
score differs.
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
    "tensors": [
        ("double", "def double(x):\n    return 2 * x\n"),
        ("double", "def double(x):\n    return x + x\n"),
        ("double", "def double(x):\n    return x\n"),
    ],
    "arith": [
        ("add", "def add(a, b):\n    return a + b\n"),
        ("mul", "def mul(a, b):\n    return a * b\n"),
        ("add", "def add(a, b):\n    return a - b\n"),
    ],
}


def real_exercise(folder: Path, assignment: str) -> Path:
    """A course folder holding one of the course's exercises (solution and release)."""
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", folder / "nbgrader_config.py")
    for part in ("solutions", "exercises"):
        shutil.copytree(ROOT / part / assignment, folder / part / assignment)
    return folder


def hand_in_real_class(root: Path, assignment: str, students: int) -> None:
    """Solutions, stubs and half-done notebooks (the first half of the answers filled in)."""
    import nbformat

    solution = nbformat.read(root / "solutions" / assignment / f"{assignment}.ipynb", 4)
    stub = released(root, assignment)
    answers = [c for c in solution.cells if c.metadata.get("nbgrader", {}).get("solution")]
    half = stub
    for cell in answers[: len(answers) // 2]:
        half = fill(half, cell.metadata["nbgrader"]["grade_id"], cell.source)
    for i in range(students):
        nb = (solution, half, solution, stub)[i % 4]
        submit(root, f"student{i:02d}", assignment, nb)


def hand_in_class(root: Path, assignment: str, students: int) -> None:
    if assignment not in ANSWERS:
        hand_in_real_class(root, assignment, students)
        return
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
    parser.add_argument(
        "--assignment",
        default="tensors",
        help="tensors or arith (the test fixture) or a real exercise, e.g. ex01_convolution",
    )
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="course-bench-") as tmp:
        if args.assignment in ANSWERS:
            root = make_course(Path(tmp) / "course", (args.assignment,))
        else:
            root = real_exercise(Path(tmp) / "course", args.assignment)
        course = Course(root)
        release(course, args.assignment)
        hand_in_class(root, args.assignment, args.students)

        start = time.perf_counter()
        subprocess.run(
            [str(bin_dir / "nbgrader"), "autograde", args.assignment, "--force"],
            cwd=root,
            check=True,
            capture_output=True,
        )
        plain_seconds = time.perf_counter() - start
        plain = scores(course, args.assignment)

        timings = []
        for _ in ("cold", "warm"):
            fresh_gradebook(course, root, args.assignment)
            start = time.perf_counter()
            subprocess.run(
                [
                    str(bin_dir / "course"),
                    "autograde",
                    args.assignment,
                    "--jobs",
                    str(args.jobs),
                    "--quiet",
                ],
                cwd=root,
                check=True,
                capture_output=True,
            )
            timings.append(time.perf_counter() - start)
            ours = scores(course, args.assignment)
        cold_seconds, ours_seconds = timings
        feedback = {}
        for label, extra in (("verdicts only", ["--no-run"]), ("with the feedback run", [])):
            start = time.perf_counter()
            subprocess.run(
                [
                    str(bin_dir / "course"),
                    "feedback",
                    args.assignment,
                    "--jobs",
                    str(args.jobs),
                    *extra,
                ],
                cwd=root,
                check=True,
                capture_output=True,
            )
            feedback[label] = time.perf_counter() - start

    same = plain == ours and len(ours) == args.students
    print(f"{args.students} submissions of {args.assignment!r}")
    print(f"plain nbgrader autograde:        {plain_seconds:7.1f} s")
    print(
        f"course autograde --jobs {args.jobs}, cold: {cold_seconds:7.1f} s (sandboxed, with "
        "the solution's reference run)"
    )
    print(
        f"course autograde --jobs {args.jobs}, warm: {ours_seconds:7.1f} s (sandboxed, "
        "reference cached)"
    )
    print(
        f"speed-up: {plain_seconds / ours_seconds:.2f}x warm, "
        f"{plain_seconds / cold_seconds:.2f}x cold; scores identical: {same}"
    )
    for label, seconds in feedback.items():
        print(f"course feedback, {label}: {seconds:7.1f} s")
    if not same:
        print(f"plain: {plain}\ncourse: {ours}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
