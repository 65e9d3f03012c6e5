"""The same class graded locally and through the one-node Slurm test cluster.

    sudo .venv/bin/python benchmarks/cluster.py [--students 6] [--jobs 2] [--assignment arith]

Starts (or finds) the cluster of ``scripts/slurm-test-cluster.sh``, builds the test suite's
fixture course in a temporary folder, hands in a class, grades it with ``course autograde``
(``--backend local``, then ``--backend slurm``) from a fresh gradebook each time, and prints
both wall times, the overhead per task (the extra wall time divided by the number of
submissions) and whether every score is identical. Exit status 1 if any score differs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

from autograde import ANSWERS, fresh_gradebook, hand_in_class, scores  # noqa: E402
from grading_fixture import make_course  # noqa: E402

from coursekit.grading.autograde import ensure_reference  # noqa: E402
from coursekit.grading.course import Course  # noqa: E402
from coursekit.grading.release import release  # noqa: E402


def grade(root: Path, assignment: str, jobs: int, *backend: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "coursekit.cli",
            "autograde",
            assignment,
            "--jobs",
            str(jobs),
            "--quiet",
            *backend,
        ],
        cwd=root,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=6)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--assignment", choices=sorted(ANSWERS), default="arith")
    args = parser.parse_args()
    cluster = subprocess.run(
        ["bash", str(ROOT / "scripts" / "slurm-test-cluster.sh")], capture_output=True, text=True
    )
    if cluster.returncode != 0:
        print(cluster.stderr.strip() or cluster.stdout.strip(), file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="course-bench-") as tmp:
        root = make_course(Path(tmp) / "course", (args.assignment,))
        course = Course(root)
        release(course, args.assignment)
        hand_in_class(root, args.assignment, args.students)
        # the reference run happens once, on this machine, whatever the backend: cache it first
        # so that both timings are of the graded runs alone
        ensure_reference(course, args.assignment)
        local_seconds = grade(root, args.assignment, args.jobs)
        local = scores(course, args.assignment)
        fresh_gradebook(course, root, args.assignment)
        slurm_seconds = grade(
            root, args.assignment, args.jobs, "--backend", "slurm", "--partition", "grading"
        )
        slurm = scores(course, args.assignment)
    same = local == slurm and len(slurm) == args.students
    overhead = (slurm_seconds - local_seconds) / args.students
    print(f"{args.students} submissions of {args.assignment!r}, {args.jobs} at a time")
    print(f"course autograde --backend local:  {local_seconds:7.1f} s")
    print(
        f"course autograde --backend slurm:  {slurm_seconds:7.1f} s (one-node cluster, "
        "sbatch --array)"
    )
    print(f"overhead per task: {overhead:+.1f} s; scores identical: {same}")
    if not same:
        print(f"local: {local}\nslurm: {slurm}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
