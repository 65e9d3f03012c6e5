"""``course autograde``: a whole class graded in parallel, each submission in its own sandbox.

Three phases, so that only trusted code ever writes the gradebook:

1. intake and sanitize (this process, one submission after another): copy each submission's
   regular files (no links), drop corrupt notebooks, rename a single misnamed one, note edited,
   deleted or duplicated test cells, then nbgrader's own sanitizing step (clear outputs, restore
   locked cells and points from the gradebook's checksums, reset the kernelspec);
2. execute (worker processes, ``--jobs`` at a time): each notebook runs with nbgrader's
   execution code while its kernel sits in the sandbox (``sandbox.py``), bounded per cell and per
   submission; a submission that runs out of time gets an error in every code cell;
3. record (this process): nbgrader's remaining autograde steps (output limits, grades, late
   penalties) on the executed notebooks, i.e. exactly what ``nbgrader autograde`` records;
   a deleted test cell is put back with an error output so that it scores zero.
"""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from .course import Course, GradingError, open_gradebook, passthrough_environment
from .execute import INTEGRITY_ERROR, NOT_RUN_ERROR, error_output
from .intake import notebook_of, same_student, survey
from .normalize import MAX_SUBMISSION_BYTES, normalize_file
from .notebooks import (
    is_test_cell,
    nbgrader_meta,
    read_notebook,
    same_test_code,
)
from .report import Progress
from .sandbox import Limits, sandbox_available

# Workers are forked from this process, which has already imported nbgrader and nbclient:
# starting one costs milliseconds instead of a second of imports per submission.
_FORK = multiprocessing.get_context("fork")


def _work(job_file: str, log_file: str) -> None:
    """Body of a forked worker: its own session (killable as a group), output to a log."""
    os.setsid()
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    code = 1
    try:
        from .worker import main

        code = main([job_file])
    except BaseException:  # noqa: BLE001 - everything goes to the log, the parent reads it
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


@dataclass
class SubmissionResult:
    student: str
    score: float = 0.0
    max_score: float = 0.0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cells: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "; ".join(self.notes) if self.notes else "ok"


def students_of(course: Course, assignment: str) -> list[str]:
    """Student folders holding ``assignment`` (any name nbgrader can grade: ``José`` too);
    ``intake.survey`` says why each other folder under submitted/ is not one."""
    return survey(course, assignment)[0]


def ensure_in_gradebook(course: Course, assignment: str) -> dict[str, dict]:
    """The assignment's notebooks in the gradebook: {notebook: {grade_id: (points, source)}}."""
    from nbgrader.api import MissingEntry

    def read():
        with open_gradebook(course) as gb:
            found = gb.find_assignment(assignment)
            layout = {}
            for nb in found.notebooks:
                sources = {c.name: c.source for c in nb.source_cells}
                layout[nb.name] = {g.name: (float(g.max_score), sources.get(g.name))
                                   for g in nb.grade_cells if g.cell_type == "code"}
            return layout

    try:
        layout = read()
    except MissingEntry:
        layout = {}
    if not layout:
        from .release import generate_into

        with tempfile.TemporaryDirectory(prefix="course-release-") as tmp:
            generate_into(course, assignment, Path(tmp), course.db_url)
        layout = read()
    return layout


def _intake(course: Course, assignment: str, student: str, dest: Path, layout: dict,
            result: SubmissionResult) -> None:
    """Copy a submission's regular files to ``dest`` and note what is wrong with it."""
    source = course.submitted_dir / student / assignment
    dest.mkdir(parents=True)
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            result.notes.append(f"ignored link or special file {rel}")
        elif path.is_dir():
            (dest / rel).mkdir(parents=True, exist_ok=True)
        elif path.stat().st_size > MAX_SUBMISSION_BYTES:
            result.notes.append(f"ignored {rel} (over {MAX_SUBMISSION_BYTES // 2**20} MiB)")
        else:
            shutil.copyfile(path, dest / rel)
    expected = set(layout)
    found = {p.stem: p for p in dest.glob("*.ipynb")}
    for stem in sorted(set(found) - expected):  # "x.colab", "Copy of x", "x (1)", "x-2"
        known = notebook_of(found[stem].name, sorted(expected - set(found)))
        if known is not None:
            found[stem].rename(dest / f"{known[0]}.ipynb")
            result.notes.append(f"renamed {stem}.ipynb to {known[0]}.ipynb")
            found[known[0]] = dest / f"{known[0]}.ipynb"
            del found[stem]
    for name, path in sorted(found.items()):
        try:
            prefix = f"{name}.ipynb: " if len(expected) > 1 else ""
            result.notes.extend(prefix + note for note in normalize_file(path))
        except GradingError:
            pass  # read_notebook below says what is wrong with it
    missing, extra = sorted(expected - set(found)), sorted(set(found) - expected)
    if len(missing) == 1 and len(extra) == 1:
        found[extra[0]].rename(dest / f"{missing[0]}.ipynb")
        result.notes.append(f"renamed {extra[0]}.ipynb to {missing[0]}.ipynb")
        found[missing[0]] = dest / f"{missing[0]}.ipynb"
        del found[extra[0]]
    for name in sorted(set(found) - expected):  # nbgrader skips it with only a log line
        result.notes.append(f"{name}.ipynb is not a notebook of {assignment} (not graded)")
    for name in sorted(expected):
        if name not in found:
            result.notes.append(f"{name}.ipynb missing (0 points)")
            continue
        try:
            nb = read_notebook(found[name])
        except GradingError as error:
            found[name].unlink()
            reason = str(error).split(" is ", 1)[-1]
            result.notes.append(f"{name}.ipynb is {reason} (0 points)")
            continue
        result.notes.extend(_tampering(nb, layout[name]))
        if _drop_duplicates(nb):
            import nbformat

            nbformat.write(nb, found[name])


def _tampering(nb, graded: dict) -> list[str]:
    """Notes on test cells that were edited, deleted, duplicated or re-pointed."""
    notes, seen = [], {}
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        grade_id = meta.get("grade_id")
        if grade_id in graded:
            seen.setdefault(grade_id, []).append(cell)
    for grade_id, (points, original) in graded.items():
        cells = seen.get(grade_id, [])
        if not cells:
            notes.append(f"test {grade_id} deleted (0 points)")
            continue
        if len(cells) > 1:
            notes.append(f"test {grade_id} duplicated (extra copies ignored)")
        cell = cells[0]
        meta = nbgrader_meta(cell)
        if original is not None and (cell.cell_type != "code"
                                     or not same_test_code(cell.source, original)):
            notes.append(f"test {grade_id} edited (original restored)")
        elif float(meta.get("points", points) or 0) != points or not meta.get("grade"):
            notes.append(f"test {grade_id} metadata changed (original restored)")
    return notes


def _drop_duplicates(nb) -> bool:
    """Remove later copies of a graded cell (same grade_id); True if any were removed."""
    seen, kept = set(), []
    for cell in nb.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id is not None and grade_id in seen:
            continue
        seen.add(grade_id)
        kept.append(cell)
    changed = len(kept) != len(nb.cells)
    nb.cells = kept
    return changed


def _executed_stand_in(sanitized: Path, dest: Path, reason: str) -> None:
    """A notebook for a run that produced none: every code cell carries an error."""
    import nbformat

    nb = nbformat.read(sanitized, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [error_output(NOT_RUN_ERROR, reason)]
    nbformat.write(nb, dest)


def _restore_deleted(executed: Path, graded: dict, sources: dict) -> None:
    """Put deleted test cells back at the end with an error output: they score zero."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    present = {nbgrader_meta(c).get("grade_id") for c in nb.cells if is_test_cell(c)}
    changed = False
    for grade_id, (points, _) in graded.items():
        if grade_id in present:
            continue
        cell = nbformat.v4.new_code_cell(sources.get(grade_id, ""))
        cell.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "locked": True,
                                     "points": points, "schema_version": 3,
                                     "solution": False, "task": False}
        cell.outputs = [error_output(NOT_RUN_ERROR, "this test cell was deleted")]
        nb.cells.append(cell)
        changed = True
    if changed:
        nbformat.write(nb, executed)


def _font_cache() -> str | None:
    base = Path(os.environ.get("MPLCONFIGDIR", Path.home() / ".cache" / "matplotlib"))
    caches = sorted(base.glob("fontlist-*.json"))
    return str(caches[-1]) if caches else None


def _record_preprocessors():
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        IgnorePattern,
        LimitOutput,
        SaveAutoGrades,
    )

    return [IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
            AssignLatePenalties, CheckCellMetadata]


def autograde(course: Course, assignment: str, students: list[str] | None = None,
              jobs: int = 1, limits: Limits | None = None, sandbox: bool = True,
              guard: bool = True, progress: bool = True,
              threads_per_job: int | None = None) -> list[SubmissionResult]:
    """Grade every submission of ``assignment``; the gradebook gets nbgrader's scores."""
    limits = limits or Limits(cell_timeout=course.cell_timeout)
    course.require_assignment(assignment)
    if sandbox:
        problem = sandbox_available()
        if problem:
            raise GradingError(problem)
    everyone = students_of(course, assignment)
    if students:
        unknown = sorted(s for s in students if not any(same_student(s, f) for f in everyone))
        if unknown:
            raise GradingError(f"no submission of {assignment} from {', '.join(unknown)} in "
                               f"{course.submitted_dir}")
        everyone = [f for f in everyone if any(same_student(s, f) for s in students)]
    if not everyone:
        raise GradingError(f"no submissions of {assignment} in {course.submitted_dir}")
    layout = ensure_in_gradebook(course, assignment)
    with open_gradebook(course) as gb:
        sources = {}
        for nb in gb.find_assignment(assignment).notebooks:
            sources[nb.name] = {c.name: c.source for c in nb.source_cells}

    from . import execute as _execute  # noqa: F401 - imported once, before forking
    from . import worker as _worker  # noqa: F401

    work = Path(tempfile.mkdtemp(prefix="course-autograde-"))
    results = {s: SubmissionResult(s) for s in everyone}
    try:
        intake, sanitized, executed = work / "intake", work / "sanitized", work / "executed"
        # phase 1: intake and nbgrader's sanitizing, here
        runnable = []
        for student in everyone:
            result = results[student]
            _intake(course, assignment, student, intake / student / assignment, layout, result)
            if not any((intake / student / assignment).glob("*.ipynb")):
                _record_zero(course, assignment, student)
                continue
            try:
                course.run_nbgrader(
                    "Autograde", assignment, student,
                    **{"CourseDirectory.submitted_directory": str(intake),
                       "CourseDirectory.autograded_directory": str(sanitized),
                       "Autograde.autograde_preprocessors": []})
                runnable.append(student)
            except GradingError as error:
                result.notes.append(f"could not be prepared: {error}")
        # phase 2: execution in sandboxed workers
        threads = threads_per_job or max(1, (os.cpu_count() or 1) // max(1, jobs))
        env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
               **passthrough_environment()}
        if "OMP_NUM_THREADS" in os.environ and threads_per_job is None and jobs == 1:
            env["OMP_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"]
        pending = list(runnable)
        running: dict[str, tuple] = {}
        bar = Progress(len(runnable), assignment, stream=None if progress else io.StringIO())
        while pending or running:
            while pending and len(running) < max(1, jobs):
                student = pending.pop(0)
                job = {
                    "sanitized": str(sanitized / student / assignment),
                    "executed": str(executed / student / assignment),
                    "scratch": str(work / "scratch" / student),
                    "events": str(work / f"events-{student}.json"),
                    "limits": limits.__dict__, "env": env, "sandbox": sandbox, "guard": guard,
                    "font_cache": _font_cache(),
                }
                job_file = work / f"job-{student}.json"
                job_file.write_text(json.dumps(job))
                process = _FORK.Process(target=_work, args=(str(job_file),
                                                            str(work / f"worker-{student}.log")))
                process.start()
                running[student] = (process, time.monotonic())
            time.sleep(0.05)
            for student, (process, started) in list(running.items()):
                elapsed = time.monotonic() - started
                code = process.exitcode
                if code is None and elapsed < limits.submission_timeout:
                    continue
                if code is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.join()
                    results[student].notes.append(
                        f"stopped after the {limits.submission_timeout} s limit per submission")
                elif code != 0:
                    tail = (work / f"worker-{student}.log").read_text(errors="replace")
                    last = [x for x in tail.splitlines() if x.strip()][-1:] or ["no output"]
                    results[student].notes.append(f"execution failed: {last[0][:200]}")
                results[student].seconds = elapsed
                del running[student]
                bar.advance(student)
        # phase 3: nbgrader records the grades, here
        for student in runnable:
            result = results[student]
            events_file = work / f"events-{student}.json"
            events = json.loads(events_file.read_text()) if events_file.is_file() else {}
            for notebook, items in events.items():
                for item in items:
                    note = item if len(layout) == 1 else f"{notebook}: {item}"
                    if note not in result.notes:
                        result.notes.append(note)
            out_dir = executed / student / assignment
            out_dir.mkdir(parents=True, exist_ok=True)
            stamp = intake / student / assignment / "timestamp.txt"
            if stamp.is_file():
                shutil.copyfile(stamp, out_dir / "timestamp.txt")
            for notebook in layout:
                clean = sanitized / student / assignment / f"{notebook}.ipynb"
                done = out_dir / f"{notebook}.ipynb"
                if clean.is_file() and not done.is_file():
                    _executed_stand_in(clean, done, "the submission did not finish running")
                if done.is_file():
                    _restore_deleted(done, layout[notebook], sources.get(notebook, {}))
            try:
                course.run_nbgrader(
                    "Autograde", assignment, student,
                    **{"CourseDirectory.submitted_directory": str(executed),
                       "Autograde.sanitize_preprocessors": [],
                       "Autograde.autograde_preprocessors": _record_preprocessors()})
            except GradingError as error:
                result.notes.append(f"could not be recorded: {error}")
        _read_scores(course, assignment, results)
    finally:
        if not os.environ.get("COURSE_KEEP_WORK"):
            shutil.rmtree(work, ignore_errors=True)
    return [results[s] for s in everyone]


def _record_zero(course: Course, assignment: str, student: str) -> None:
    """A submission without a usable notebook: zero for every cell, as nbgrader does."""
    with open_gradebook(course) as gb:
        gb.update_or_create_student(student)
        submission = gb.update_or_create_submission(assignment, student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                grade.auto_score = 0
                grade.needs_manual_grade = False
        gb.db.commit()


def _read_scores(course: Course, assignment: str, results: dict[str, SubmissionResult]) -> None:
    from nbgrader.api import MissingEntry

    with open_gradebook(course) as gb:
        for student, result in results.items():
            try:
                submission = gb.find_submission(assignment, student)
            except MissingEntry:
                result.max_score = gb.find_assignment(assignment).max_score
                continue
            result.score, result.max_score = float(submission.score), float(submission.max_score)
            for nb in submission.notebooks:
                for grade in nb.grades:
                    if grade.cell_type == "code" and grade.auto_score is not None:
                        result.cells[grade.name] = (float(grade.score), float(grade.max_score))


def integrity_failed(nb) -> bool:
    return any(o.get("ename") == INTEGRITY_ERROR for c in nb.cells for o in c.get("outputs", []))
