"""The ``course`` command: nbgrader for this course, with the parts nbgrader lacks.

    course check NOTEBOOK            a student's visible tests in a fresh kernel
    course release [ASSIGNMENT...]   regenerate exercises/ from solutions/
    course validate [ASSIGNMENT...]  every assignment grades right (CI runs this)
    course autograde ASSIGNMENT      grade a class in parallel, each submission sandboxed
                                     (here, or --backend slurm|kubernetes)
    course feedback ASSIGNMENT       HTML feedback without hidden tests
                                     (--lms canvas|moodle --zip FILE: the LMS's upload zip)
    course export [--to FILE.csv]    the gradebook as CSV
                                     (--lms canvas|moodle|blackboard --assignment A: the
                                     LMS's own import file)
    course collect ASSIGNMENT ZIP    an LMS download into submitted/
    course due ASSIGNMENT DATETIME   the due date (late penalties are computed again)
    course extend STUDENT ASSIGNMENT --until DATETIME   one student's extension

Exit status: 0 when everything asked for succeeded, 1 when something failed (a test, a check,
bad input: one sentence on stderr), 2 for a wrong command line. Nothing here imports torch.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _course(args):
    from .grading.course import Course, find_root

    return Course(Path(args.root) if args.root else find_root())


def _assignments(course, names):
    if names:
        return [course.require_assignment(n) for n in names]
    return course.assignments()


def _limits(args, course):
    from .grading.sandbox import GIB, Limits

    limits = Limits(
        cell_timeout=args.timeout or course.cell_timeout, memory_bytes=int(args.memory * GIB)
    )
    if args.submission_timeout:
        limits.submission_timeout = args.submission_timeout
    return limits


def cmd_check(args) -> int:
    from course_utils.checking.selfcheck import render_table

    from .grading.check import DEFAULT_CELL_TIMEOUT, check_notebook

    started = time.monotonic()
    result = check_notebook(Path(args.notebook), timeout=args.timeout or DEFAULT_CELL_TIMEOUT)
    print(render_table(result.cells, result.notes, time.monotonic() - started))
    return EXIT_OK if result.passed else EXIT_FAIL


def cmd_release(args) -> int:
    from .grading.release import release

    course = _course(args)
    names = _assignments(course, args.assignments)
    if not names:
        print(f"No assignments in {course.source_dir}: nothing to release.")
        return EXIT_OK
    for name in names:
        files = release(course, name)
        print(f"released {name}: {len(files)} file(s) in {course.release_dir / name}")
    return EXIT_OK


def cmd_validate(args) -> int:
    from .grading.report import points, table
    from .grading.sandbox import sandbox_available
    from .grading.validate import validate

    course = _course(args)
    names = _assignments(course, args.assignments)
    if not names:
        # A check that finds nothing to check must not pass.
        print(
            f"error: no assignments in {course.source_dir}, so nothing was validated.",
            file=sys.stderr,
        )
        return EXIT_FAIL
    if not (course.root / "_build" / "html").is_dir():
        print(
            "note: no built site in _build/html, so the site was not searched for leaked "
            "hidden tests (build the book first, as make test does)",
            file=sys.stderr,
        )
    sandbox = None if not args.no_sandbox else False
    if sandbox is None and sandbox_available():
        print(f"note: grading without the sandbox ({sandbox_available()})", file=sys.stderr)
    reports = validate(
        course,
        names,
        jobs=args.jobs,
        limits=_limits(args, course),
        sandbox=sandbox,
        progress=not args.quiet,
    )
    rows = []
    for r in reports:
        sol = points(r.solution.score, r.solution.max_score) if r.solution else "-"
        stub = points(r.stub.score, r.stub.max_score) if r.stub else "-"
        rows.append(
            [r.assignment, sol, stub, f"{r.seconds:.0f} s", "ok" if r.ok else r.problems[0]]
        )
    print(table(["assignment", "solution", "stub", "time", "result"], rows, max_width=110))
    failed = [r for r in reports if not r.ok]
    for r in failed:
        for problem in r.problems:
            print(f"{r.assignment}: {problem}", file=sys.stderr)
    print(f"\n{len(reports) - len(failed)} of {len(reports)} assignment(s) valid.")
    return EXIT_FAIL if failed else EXIT_OK


def _backend(args, course):
    from .grading.backends import make_backend

    options = {}
    if args.backend == "slurm":  # the course folder is usually on the nodes' shared storage
        options["work_dir"] = (
            Path(args.work_dir) if args.work_dir else (course.submitted_dir.parent / "cluster")
        )
        options["partition"] = args.partition
    if args.backend == "kubernetes":
        options.update(
            pvc=args.pvc, image=args.image, namespace=args.namespace, work_dir=args.work_dir
        )
    return make_backend(args.backend, **options)


def cmd_autograde(args) -> int:
    from .grading.autograde import autograde, students_of
    from .grading.intake import original_ids, survey
    from .grading.recording import details_file
    from .grading.report import points, table

    course = _course(args)
    assignment = course.require_assignment(args.assignment)
    backend = _backend(args, course)
    if args.dry_run:  # what would be submitted, for the students found; nothing runs
        students = args.student or students_of(course, assignment)
        print(
            backend.dry_run(
                args.assignment, students, jobs=args.jobs, limits=_limits(args, course)
            ),
            end="",
        )
        return EXIT_OK
    started = time.monotonic()
    results = autograde(
        course,
        assignment,
        students=args.student or None,
        jobs=args.jobs,
        limits=_limits(args, course),
        sandbox=not args.no_sandbox,
        progress=not args.quiet,
        backend=backend,
    )
    names = original_ids(course)

    def who(folder):
        original = names.get(folder)
        return folder if not original or original == folder else f"{folder} ({original})"

    late = _late_notes(course, assignment)
    rows = [
        [
            who(r.student),
            points(r.score, r.max_score),
            f"{r.seconds:.1f} s",
            "; ".join(n for n in (late.get(r.student), r.status) if n and n != "ok") or "ok",
        ]
        for r in results
    ]
    skipped = [] if args.student else survey(course, assignment)[1]
    rows += [[who(folder), "-", "-", f"NOT GRADED: {reason}"] for folder, reason in skipped]
    print(table(["student", "score", "time", "notes"], rows, max_width=110))
    flagged = sum(1 for r in results if r.notes)
    print(
        f"\n{len(results)} submission(s) graded in {time.monotonic() - started:.1f} s with "
        f"{args.jobs} job(s); {flagged} with notes; {len(skipped)} folder(s) under "
        f"{course.submitted_dir} not graded. Grades are in {course.db_url}; why each test "
        f"cell failed, in {details_file(course, assignment, '*').parent} (for you: feedback "
        "shows students only passed or failed, and their own run of the visible tests)."
    )
    if skipped and not args.allow_skipped:
        print(
            f"course autograde: {len(skipped)} folder(s) under submitted/ were not graded "
            "(listed above); pass --allow-skipped if that is expected",
            file=sys.stderr,
        )
        return EXIT_FAIL
    return EXIT_OK


def _late_notes(course, assignment) -> dict[str, str]:
    """{student: 'late 2 d 8 h (penalty 2)'} for the late submissions, as the gradebook has
    them (nbgrader's due date, extension and late-submission plugin); the score shown next to
    it is before the penalty."""
    from .grading.course import GradingError
    from .grading.lms_export import assignment_grades

    try:
        grades = assignment_grades(course, assignment)
    except GradingError:  # nothing recorded: the summary says why
        return {}
    return {g.student: g.lateness() for g in grades if g.submitted and g.seconds_late > 0}


def cmd_feedback(args) -> int:
    from .grading.course import GradingError
    from .grading.feedback import generate_feedback, pack_feedback_zip

    course = _course(args)
    assignment = course.require_assignment(args.assignment)
    if bool(args.lms) != bool(args.zip):
        print("course feedback: --lms and --zip go together", file=sys.stderr)
        return EXIT_USAGE
    if args.zip and Path(args.zip).exists() and not args.force:
        raise GradingError(f"{args.zip} already exists: choose another --zip or pass --force")
    problem = None
    try:
        files = generate_feedback(
            course, assignment, args.student or None, run=not args.no_run, jobs=args.jobs
        )
        print(
            f"wrote {len(files)} feedback file(s) under {course.feedback_dir} "
            "(hidden tests removed)"
        )
    except GradingError as error:
        if not args.zip:
            raise
        problem = str(error)  # the others' feedback is written: pack it, then say what failed
    if args.zip:
        report = pack_feedback_zip(course, assignment, args.lms, Path(args.zip), force=args.force)
        for student, name in report.placed:
            print(f"{student}: {name}")
        for student, reason in report.unplaced:
            print(f"NOT IN THE ZIP: {student}: {reason}")
        print(f"wrote {args.zip}: feedback of {len(report.placed)} file(s) for {args.lms}")
        if problem:
            print(f"course feedback: {problem}", file=sys.stderr)
            return EXIT_FAIL
        if report.unplaced and not args.allow_unplaced:
            print(
                f"course feedback: {len(report.unplaced)} student(s) are not in the zip "
                "(listed above); pass --allow-unplaced if that is expected",
                file=sys.stderr,
            )
            return EXIT_FAIL
    return EXIT_OK


def cmd_export(args) -> int:
    from .grading.export import export_csv

    course = _course(args)
    if not args.lms:
        for option in ("assignment", "worksheet", "gradebook", "column", "column_id"):
            if getattr(args, option):
                print(f"course export: --{option.replace('_', '-')} needs --lms", file=sys.stderr)
                return EXIT_USAGE
        path = export_csv(course, Path(args.to))
        print(f"wrote {path}")
        return EXIT_OK
    return _export_lms(args, course)


def _export_lms(args, course) -> int:
    from .grading.lms_export import export_lms
    from .grading.report import points, table

    if not args.assignment:
        print("course export: --lms needs --assignment ASSIGNMENT", file=sys.stderr)
        return EXIT_USAGE
    placement = export_lms(
        course,
        args.lms,
        course.require_assignment(args.assignment),
        Path(args.to),
        worksheet=Path(args.worksheet) if args.worksheet else None,
        gradebook=Path(args.gradebook) if args.gradebook else None,
        column=args.column,
        column_id=args.column_id,
        force=args.force,
        comments=not args.no_comments,
    )
    rows = [
        [
            g.student if g.name == g.student else f"{g.student} ({g.name})",
            where,
            points(g.score, g.max_score),
            g.lateness(),
        ]
        for g, where in placement.placed
    ]
    rows += [[who, "-", "-", f"NOT IN THE FILE: {why}"] for who, why in placement.unplaced]
    rows += [[who, "-", "-", f"ONLY IN THE LMS FILE: {why}"] for who, why in placement.lms_only]
    print(table(["student", f"{args.lms} id", "score", "late"], rows, max_width=110))
    for note in placement.notes:
        print(f"note: {note}")
    print(
        f"\nwrote {args.to} for {args.lms}: {len(placement.placed)} grade(s); "
        f"{len(placement.unplaced)} gradebook student(s) not in it; "
        f"{len(placement.lms_only)} LMS row(s) without a grade"
    )
    if placement.unplaced and not args.allow_unplaced:
        print(
            f"course export: {len(placement.unplaced)} student(s) of the gradebook are not in "
            f"{args.to} (listed above); pass --allow-unplaced if that is expected",
            file=sys.stderr,
        )
        return EXIT_FAIL
    return EXIT_OK


def cmd_due(args) -> int:
    from .grading.deadlines import parse_when, set_due

    course = _course(args)
    assignment = course.require_assignment(args.assignment)
    when = parse_when(args.datetime)
    count = set_due(course, assignment, when)
    print(
        f"{assignment} is due {when:%Y-%m-%d %H:%M:%S} (UTC, as nbgrader keeps it); late "
        f"penalties computed again for {count} submission(s)"
    )
    return EXIT_OK


def cmd_extend(args) -> int:
    from .grading.deadlines import grant_extension, parse_when
    from .grading.lms_export import assignment_grades

    course = _course(args)
    assignment = course.require_assignment(args.assignment)
    folder = grant_extension(course, args.student, assignment, parse_when(args.until))
    grade = next(g for g in assignment_grades(course, assignment) if g.student == folder)
    print(
        f"{folder}: {assignment} due {grade.duedate:%Y-%m-%d %H:%M:%S} UTC "
        f"(extension {grade.extension}); {grade.lateness()}"
    )
    return EXIT_OK


def cmd_collect(args) -> int:
    from .grading.intake import collect_zip

    course = _course(args)
    report = collect_zip(
        course,
        course.require_assignment(args.assignment),
        Path(args.archive),
        args.pattern,
        args.lms,
    )
    for student, items in sorted(report.students.items()):
        who = student if items[0].original == student else f"{student} ({items[0].original})"
        for item in items:
            extra = [*item.notes, *(["marked late by the LMS"] if item.late else [])]
            print(
                f"{who}: {item.notebook}.ipynb from {item.entry.path}"
                + (f" [{'; '.join(extra)}]" if extra else "")
            )
    for path, reason in report.replaced + report.lms_files:
        print(f"not taken: {path}: {reason}")
    for path, reason in report.skipped:
        print(f"SKIPPED: {path}: {reason}")
    print(
        f"collected {len(report.students)} student(s), {len(report.taken)} notebook(s), into "
        f"{course.submitted_dir}; {len(report.replaced)} older attempt(s) replaced, "
        f"{len(report.lms_files)} LMS file(s) not submissions, {len(report.skipped)} skipped"
    )
    if report.skipped and not args.allow_skipped:
        print(
            f"course collect: {len(report.skipped)} file(s) of the download were skipped "
            "(listed above); pass --allow-skipped if that is expected",
            file=sys.stderr,
        )
        return EXIT_FAIL
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="course",
        description="Check, release, validate and grade the course's exercises.",
        epilog="Run 'course COMMAND --help' for a command's options.",
    )
    parser.add_argument(
        "--root", help="the course folder (default: the nearest folder with nbgrader_config.py)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def add(name, func, help_text, description):
        p = sub.add_parser(name, help=help_text, description=description)
        p.set_defaults(func=func)
        p.add_argument("--root", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        return p

    def grading_options(p):
        p.add_argument(
            "--jobs", "-j", type=int, default=2, help="submissions graded at once (default 2)"
        )
        p.add_argument(
            "--timeout",
            type=int,
            default=None,
            help="seconds per cell (default: Execute.timeout of nbgrader_config.py)",
        )
        p.add_argument(
            "--submission-timeout",
            type=int,
            default=None,
            help="seconds per submission (default 900)",
        )
        p.add_argument(
            "--memory",
            type=float,
            default=float(os.environ.get("COURSE_GRADING_MEMORY_GB", 4)),
            help="GiB of memory per kernel (default 4)",
        )
        p.add_argument(
            "--no-sandbox",
            action="store_true",
            help="run kernels unsandboxed (only for notebooks you trust)",
        )
        p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    p = add(
        "check",
        cmd_check,
        "run a notebook's visible tests (for students)",
        "Run NOTEBOOK top to bottom in a fresh kernel and score its visible tests. Exit 0 "
        "only when all visible points are earned.",
    )
    p.add_argument("notebook", help="your exercise notebook, e.g. ex01_convolution.ipynb")
    p.add_argument("--timeout", type=int, default=None, help="seconds per cell (default 180)")

    p = add(
        "release",
        cmd_release,
        "regenerate exercises/ from solutions/",
        "Regenerate the student versions of ASSIGNMENTs (default: all) with nbgrader.",
    )
    p.add_argument("assignments", nargs="*", metavar="ASSIGNMENT")

    p = add(
        "validate",
        cmd_validate,
        "check that assignments grade right",
        "For each ASSIGNMENT (default: all in solutions/): the solution earns full marks "
        "twice with the same scores, the released stub earns zero, exercises/ is in sync, "
        "and no hidden test leaks into exercises/, the built site or feedback.",
    )
    p.add_argument("assignments", nargs="*", metavar="ASSIGNMENT")
    grading_options(p)

    p = add(
        "autograde",
        cmd_autograde,
        "grade every submission of an assignment",
        "Grade the submissions in submitted/STUDENT/ASSIGNMENT in parallel, each in a "
        "sandbox, and record nbgrader's scores in the gradebook.",
    )
    p.add_argument("assignment")
    p.add_argument("--student", action="append", help="grade only this student (repeatable)")
    p.add_argument(
        "--allow-skipped",
        action="store_true",
        help="exit 0 even when folders under submitted/ were not graded",
    )
    grading_options(p)
    p.add_argument(
        "--backend",
        choices=("local", "slurm", "kubernetes"),
        default="local",
        help="where submissions run: this machine (default), a Slurm job array, or "
        "a Kubernetes Indexed Job; intake and the gradebook stay here",
    )
    p.add_argument("--partition", help="Slurm partition of the job array")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be submitted (the "
        "sbatch script, or the Kubernetes manifests as YAML) and exit",
    )
    p.add_argument(
        "--work-dir",
        help="slurm: a folder the compute nodes share (default "
        ".grading/cluster); kubernetes: where this machine mounts the --pvc volume",
    )
    p.add_argument(
        "--pvc", help="kubernetes: the PersistentVolumeClaim that carries submissions and results"
    )
    p.add_argument("--image", help="kubernetes: the grading image (docker/grader.Dockerfile)")
    p.add_argument("--namespace", help="kubernetes: namespace (default: the kubeconfig's)")

    p = add(
        "feedback",
        cmd_feedback,
        "write HTML feedback (no hidden tests)",
        "Write feedback for the autograded submissions of ASSIGNMENT into the feedback "
        "folder: each notebook runs again (sandboxed) with the visible tests only, and "
        "shows what those checks found; every test cell shows the grader's verdict, passed or "
        "failed (the detail is in .grading/verdicts/ for the instructor); no hidden test is "
        "shown.",
    )
    p.add_argument("assignment")
    p.add_argument("--student", action="append", help="only this student (repeatable)")
    p.add_argument("--jobs", type=int, default=2, help="notebooks run at once (default 2)")
    p.add_argument(
        "--no-run",
        action="store_true",
        help="do not run the notebooks: feedback shows code and verdicts only",
    )
    p.add_argument(
        "--lms",
        choices=["canvas", "moodle"],
        help="also pack the feedback into the zip this LMS takes for bulk feedback upload",
    )
    p.add_argument("--zip", help="the zip to write (with --lms)")
    p.add_argument("--force", action="store_true", help="replace --zip if it exists")
    p.add_argument(
        "--allow-unplaced",
        action="store_true",
        help="exit 0 even when some students' feedback could not be put in the zip",
    )

    p = add(
        "export",
        cmd_export,
        "export grades as CSV, or in an LMS's import format",
        "Write the gradebook as CSV (nbgrader's format), or, with --lms and --assignment, "
        "the file Canvas (Grades -> Import), Moodle (the offline grading worksheet, filled "
        "in) or Blackboard (Grade Center -> Work Offline -> Upload) imports. Every student is "
        "placed or named with the reason.",
    )
    p.add_argument("--to", default="grades.csv", help="output file (default grades.csv)")
    p.add_argument("--lms", choices=["canvas", "moodle", "blackboard"])
    p.add_argument("--assignment", help="the assignment whose grades go to the LMS")
    p.add_argument(
        "--worksheet", help="Moodle: the offline grading worksheet you downloaded (read only)"
    )
    p.add_argument(
        "--gradebook",
        help="Canvas: the gradebook you exported, filled in (SIS ids, sections and other "
        "columns kept)",
    )
    p.add_argument(
        "--column",
        help="Canvas: the assignment's column ('NAME (id)' for an existing one; default: the "
        "assignment's name); Blackboard: the column's name",
    )
    p.add_argument(
        "--column-id", help="Blackboard: the Grade Center column id (without: a new column)"
    )
    p.add_argument(
        "--no-comments",
        action="store_true",
        help="Moodle: leave the Feedback comments cells alone (default: a one-line summary "
        "into empty ones)",
    )
    p.add_argument("--force", action="store_true", help="replace --to if it exists")
    p.add_argument(
        "--allow-unplaced",
        action="store_true",
        help="exit 0 even when a student of the gradebook is not in the file",
    )

    p = add(
        "due",
        cmd_due,
        "set an assignment's due date",
        "Set ASSIGNMENT's due date in the gradebook (nbgrader's duedate) and compute every "
        "graded submission's late penalty again with nbgrader's late-submission plugin.",
    )
    p.add_argument("assignment")
    p.add_argument("datetime", help="e.g. '2024-10-14 23:59' or '2024-10-14 23:59 Europe/Berlin'")

    p = add(
        "extend",
        cmd_extend,
        "give one student more time",
        "Move STUDENT's due date for ASSIGNMENT to --until (nbgrader's per-submission "
        "extension) and compute the student's late penalty again.",
    )
    p.add_argument("student", help="the student's folder name or the id the LMS gave")
    p.add_argument("assignment")
    p.add_argument("--until", required=True, help="the new due date and time for this student")

    p = add(
        "collect",
        cmd_collect,
        "unpack an LMS zip download into submitted/",
        "Put the notebooks of an LMS download (a zip) where autograde finds them.",
    )
    p.add_argument("assignment")
    p.add_argument("archive", help="the zip file downloaded from the LMS")
    p.add_argument(
        "--lms",
        choices=["canvas", "moodle", "blackboard", "generic"],
        help="the LMS's file-name layout (default: recognised per file)",
    )
    p.add_argument(
        "--pattern",
        help="regular expression, as for nbgrader zip_collect, matched "
        "on each file's whole path inside the zip, with groups student_id and "
        "file_id (optional: timestamp, late, lms_id)",
    )
    p.add_argument(
        "--allow-skipped",
        action="store_true",
        help="exit 0 even when files of the download were skipped",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    import warnings

    from .grading.course import GradingError

    warnings.filterwarnings("ignore")  # nbgrader's SQLAlchemy warnings are not for the user
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "root"):
        args.root = None
    try:
        return args.func(args)
    except GradingError as error:
        print(f"course {args.command}: {error}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        print(f"course {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
