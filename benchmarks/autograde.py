"""Plain ``nbgrader autograde`` against ``course autograde --jobs 2`` on the same class.

One command, the case of issue 30 (8 submissions of ex01: 4 full solutions, 4 untouched stubs):

    .venv/bin/python benchmarks/autograde.py

Options: ``--students N`` (8), ``--jobs N`` (2), ``--assignment NAME`` (``ex01_convolution``;
any exercise of the course, or ``tensors``/``arith``, the test suite's fixture course),
``--mix full,stub`` (what the class hands in, in turn: ``full`` solutions, released ``stub``s,
``half``-done notebooks), ``--rounds R`` (1; the measurements of a round are interleaved and
their order turns from round to round, so a machine's changing load falls on all of them),
``--baseline-ref REF`` (also time ``course autograde`` of a git revision, e.g. ``main``, on
the same class; ``--baseline-src DIR``: of a source tree holding ``coursekit`` and
``course_utils``), ``--profile`` (also one cold run with ``COURSE_TIMINGS`` on: a table of where
a submission's wall and CPU time go, ``coursekit/grading/timings.py``), ``--feedback`` (also
time ``course feedback``, with and without its run).

Builds a course in a temporary folder, hands in the class, and per round grades it:

- **plain**: ``nbgrader autograde ASSIGNMENT --force`` on a fresh gradebook (serial, unsandboxed);
- **cold**: ``course autograde --jobs N`` on a fresh gradebook, the solution's reference run not
  cached (the first grading of an assignment);
- **warm**: ``course autograde --jobs N`` again on that gradebook, the reference cached (a regrade).

Each line gives the wall time, the CPU time of every process the command ran (kernels, workers,
nbgrader: a cgroup v1 ``cpuacct`` group where root can make one, else the children's ``rusage``)
and the load average before and after (other work on the
machine slows every run; compare ratios taken in the same round). Then the ratios, plain / ours,
as the median over rounds, and whether every score is identical to plain nbgrader's. Exit status
1 if any score differs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
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


def hand_in_real_class(root: Path, assignment: str, students: int, mix: list[str]) -> None:
    """Solutions (``full``), stubs and half-done notebooks (the first half of the answers)."""
    import nbformat

    solution = nbformat.read(root / "solutions" / assignment / f"{assignment}.ipynb", 4)
    stub = released(root, assignment)
    answers = [c for c in solution.cells if c.metadata.get("nbgrader", {}).get("solution")]
    half = stub
    for cell in answers[: len(answers) // 2]:
        half = fill(half, cell.metadata["nbgrader"]["grade_id"], cell.source)
    kinds = {"full": solution, "half": half, "stub": stub}
    for i in range(students):
        submit(root, f"student{i:02d}", assignment, kinds[mix[i % len(mix)]])


def hand_in_class(root: Path, assignment: str, students: int, mix: list[str]) -> None:
    if assignment not in ANSWERS:
        hand_in_real_class(root, assignment, students, mix)
        return
    stub = released(root, assignment)
    answers = ANSWERS[assignment]
    for i in range(students):
        nb = stub if mix[i % len(mix)] == "stub" else fill(stub, *answers[i % len(answers)])
        submit(root, f"student{i:02d}", assignment, nb)


def scores(course: Course, assignment: str) -> dict[str, float]:
    with open_gradebook(course) as gb:
        return {s.student.id: s.score for s in gb.find_assignment(assignment).submissions}


def fresh_gradebook(course: Course, root: Path, assignment: str) -> None:
    shutil.rmtree(root / ".grading" / "autograded", ignore_errors=True)
    (root / ".grading" / "gradebook.db").unlink(missing_ok=True)
    release(course, assignment)


def load() -> str:
    """The 1-minute load average now (the machine's other work)."""
    return Path("/proc/loadavg").read_text().split()[0]


CPUACCT = Path("/sys/fs/cgroup/cpuacct")  # cgroup v1's CPU accounting, where root can use it


def timed(command: list[str], cwd: Path, env: dict | None = None) -> dict:
    """Run ``command``; its wall and CPU seconds and the load average before and after.

    CPU: where root can make a cgroup v1 ``cpuacct`` group, that of every process the command
    started, wherever it ended up (a kernel killed with its sandbox is reaped by no one of
    ours, so ``rusage`` would miss it); else the children's ``rusage``.
    """
    group = None
    if CPUACCT.is_dir() and os.access(CPUACCT, os.W_OK):
        group = CPUACCT / f"course-bench-{os.getpid()}-{time.monotonic_ns()}"
        try:
            group.mkdir()
        except OSError:
            group = None
    join = None if group is None else lambda: (group / "cgroup.procs").write_text(str(os.getpid()))
    before, load_before = resource.getrusage(resource.RUSAGE_CHILDREN), load()
    start = time.perf_counter()
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, env=env, preexec_fn=join
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    how = "rusage"
    if group is not None:
        time.sleep(0.5)  # what was killed last is gone
        cpu, how = int((group / "cpuacct.usage").read_text()) / 1e9, "cpuacct"
        try:
            group.rmdir()
        except OSError:
            pass
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return {"wall": wall, "cpu": cpu, "cpu_by": how, "load": f"{load_before}->{load()}"}


class Runner:
    """The ways of grading one class that a round measures."""

    def __init__(self, root: Path, course: Course, args, baseline: Path | None):
        self.root, self.course, self.args, self.baseline = root, course, args, baseline
        self.bin = Path(sys.executable).parent
        self.scores: dict[str, dict] = {}

    def course_command(self, source: Path | None) -> tuple[list[str], dict | None]:
        command = ["autograde", self.args.assignment, "--jobs", str(self.args.jobs), "--quiet"]
        if source is None:
            return [str(self.bin / "course"), *command], None
        env = {**os.environ, "PYTHONPATH": str(source), "PYTHONDONTWRITEBYTECODE": "1"}
        return [sys.executable, "-c", "from coursekit.cli import main; main()", *command], env

    def plain(self) -> dict:
        fresh_gradebook(self.course, self.root, self.args.assignment)
        nbgrader = [str(self.bin / "nbgrader"), "autograde", self.args.assignment, "--force"]
        result = timed(nbgrader, self.root)
        self.scores["plain"] = scores(self.course, self.args.assignment)
        return result

    def ours(self, name: str, source: Path | None, env_extra: dict | None = None) -> dict:
        """``name`` is "cold" or "warm" (prefixed with "baseline " for ``--baseline-ref``)."""
        if name.endswith("cold"):
            shutil.rmtree(self.root / ".grading" / "references", ignore_errors=True)
            fresh_gradebook(self.course, self.root, self.args.assignment)
        command, env = self.course_command(source)
        if env_extra:
            env = {**(env or os.environ), **env_extra}
        result = timed(command, self.root, env)
        self.scores[name] = scores(self.course, self.args.assignment)
        return result


def profile_table(path: Path, students: int) -> str:
    """Where a submission's time goes: a Markdown table from a ``COURSE_TIMINGS`` file."""
    stamps = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not stamps:
        return "(no timings were written)"
    t0 = min(s["start"] for s in stamps)
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for stamp in stamps:
        who = "reference" if stamp["label"] in ("reference", ".reference") else "run"
        if stamp["label"] not in ("reference", ".reference", "-"):
            who = "submission"
        row = totals[(who, stamp["phase"])]
        row["n"] += 1
        for key in ("wall", "cpu", "kernel_cpu"):
            row[key] += stamp.get(key, 0.0)
    lines = [
        "| who | phase | count | wall s (sum) | wall s / submission | grader CPU s / submission"
        " | kernel CPU s / submission |",
        "|---|---|---|---|---|---|---|",
    ]
    order = {"run": 0, "reference": 1, "submission": 2}
    for (who, phase), row in sorted(totals.items(), key=lambda x: (order[x[0][0]], x[0][1])):
        per = students if who == "submission" else 1
        lines.append(
            f"| {who} | {phase} | {int(row['n'])} | {row['wall']:.2f} | {row['wall'] / per:.2f} "
            f"| {row['cpu'] / per:.2f} | {row['kernel_cpu'] / per:.2f} |"
        )
    lines.append("")
    lines.append("Schedule (seconds from the first stamp):")
    ref = [s for s in stamps if s["label"] in ("reference", ".reference")]
    if ref:
        start = min(s["start"] for s in ref) - t0
        end = max(s["start"] + s["wall"] for s in ref) - t0
        lines.append(f"- reference run: {start:.1f} to {end:.1f}")
    kernels = sorted(
        (
            s
            for s in stamps
            if s["phase"] == "kernel start" and s["label"] not in ("reference", ".reference")
        ),
        key=lambda s: s["start"],
    )
    if kernels:
        first = kernels[0]
        lines.append(f"- first submission kernel starts: {first['start'] - t0:.1f}")
    last = max(s["start"] + s["wall"] for s in stamps) - t0
    lines.append(f"- last stamp ends: {last:.1f}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--assignment",
        default="ex01_convolution",
        help="a real exercise, e.g. ex01_convolution, or tensors or arith (the test fixture)",
    )
    parser.add_argument("--mix", default="full,stub", help="e.g. full,stub or full,half,full,stub")
    parser.add_argument("--baseline-ref", help="also time course autograde of this git revision")
    parser.add_argument("--baseline-src", help="or of this source tree (coursekit, course_utils)")
    parser.add_argument("--profile", action="store_true", help="print where the time goes")
    parser.add_argument("--no-warm", action="store_true", help="skip the regrade")
    parser.add_argument("--feedback", action="store_true", help="also time course feedback")
    args = parser.parse_args()
    mix = args.mix.split(",")
    if not set(mix) <= {"full", "half", "stub"}:
        parser.error("--mix takes full, half and stub")
    with tempfile.TemporaryDirectory(prefix="course-bench-") as tmp:
        baseline = Path(args.baseline_src).resolve() if args.baseline_src else None
        if args.baseline_ref:
            baseline = Path(tmp) / "baseline"
            baseline.mkdir()
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", args.baseline_ref, "coursekit", "course_utils"],
                capture_output=True,
                check=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(baseline)], input=archive, check=True)
        if args.assignment in ANSWERS:
            root = make_course(Path(tmp) / "course", (args.assignment,))
        else:
            root = real_exercise(Path(tmp) / "course", args.assignment)
        course = Course(root)
        release(course, args.assignment)
        hand_in_class(root, args.assignment, args.students, mix)
        runner = Runner(root, course, args, baseline)

        def graded_twice(prefix: str, source: Path | None):
            def step() -> dict:
                got = {f"{prefix}cold": runner.ours(f"{prefix}cold", source)}
                if not args.no_warm:
                    got[f"{prefix}warm"] = runner.ours(f"{prefix}warm", source)
                return got

            return step

        steps = [lambda: {"plain": runner.plain()}, graded_twice("", None)]
        if baseline is not None:
            steps.append(graded_twice("baseline ", baseline))
        results: dict[str, list[dict]] = defaultdict(list)
        identical = True
        print(
            f"{args.students} submissions of {args.assignment!r} ({args.mix}), "
            f"course autograde --jobs {args.jobs}, {os.cpu_count()} cores"
            + (f", baseline = {args.baseline_ref or baseline}" if baseline else "")
        )
        for number in range(args.rounds):
            turn = number % len(steps)
            for step in steps[turn:] + steps[:turn]:
                for label, result in step().items():
                    results[label].append(result)
                    print(
                        f"round {number + 1} {label:14s} wall {result['wall']:7.1f} s  "
                        f"cpu {result['cpu']:7.1f} s ({result['cpu_by']})  load {result['load']}",
                        flush=True,
                    )
            for label, found in runner.scores.items():
                if found != runner.scores["plain"] or len(found) != args.students:
                    identical = False
                    print(f"scores differ: plain {runner.scores['plain']}, {label} {found}")
        print()
        plain_wall = [r["wall"] for r in results["plain"]]
        plain_cpu = [r["cpu"] for r in results["plain"]]
        for label in results:
            if label == "plain":
                continue
            ratios = [p / r["wall"] for p, r in zip(plain_wall, results[label], strict=True)]
            cpu = [p / r["cpu"] for p, r in zip(plain_cpu, results[label], strict=True)]
            print(
                f"speed-up {label:14s} {statistics.median(ratios):.2f}x wall "
                f"(rounds: {', '.join(f'{x:.2f}' for x in ratios)}); plain's CPU / ours "
                f"{statistics.median(cpu):.2f}"
            )
        print(f"scores identical to plain nbgrader: {identical}")
        if args.feedback:
            for label, extra in (("verdicts only", ["--no-run"]), ("with the feedback run", [])):
                command = [str(runner.bin / "course"), "feedback", args.assignment]
                got = timed([*command, "--jobs", str(args.jobs), *extra], root)
                print(
                    f"course feedback, {label}: wall {got['wall']:.1f} s, cpu {got['cpu']:.1f} s,"
                    f" load {got['load']}"
                )
        if args.profile:
            timings_file = Path(tmp) / "timings.jsonl"
            shutil.rmtree(root / ".grading" / "references", ignore_errors=True)
            fresh_gradebook(course, root, args.assignment)
            command, env = runner.course_command(None)
            got = timed(command, root, {**os.environ, "COURSE_TIMINGS": str(timings_file)})
            print(
                f"\nprofiled cold run: wall {got['wall']:.1f} s, cpu {got['cpu']:.1f} s, "
                f"load {got['load']}"
            )
            print(profile_table(timings_file, args.students))
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
