"""``course autograde``: a whole class graded in parallel, as four phases that pass plain data.

The phases are interleaved in time (the next submission's intake and the last one's checking
and recording run here while workers execute others), never in data: each takes the previous
one's output as plain files or values. With a cluster backend (``--backend slurm|kubernetes``)
the graded runs are one array or Job: intake of every submission comes first, and each one is
checked and recorded once its outputs are back.

1. intake (this module, one submission after another): copy each submission's regular files
   (no links, none over 512 MiB), put each notebook in the form nbgrader expects
   (``normalize.py``: nbformat 4.4 with ids, Colab's widget state, joined solution copies,
   outputs stripped over 50 MiB), drop corrupt notebooks, rename misnamed ones, note edited,
   deleted or duplicated test cells, then nbgrader's own sanitizing step (clear outputs, restore
   locked cells and points from the gradebook's checksums, reset the kernelspec). Out: sanitized
   folders. Every folder under submitted/ that is not graded is named with a reason
   (``intake.survey``).
2. execution, untrusted (``execution.py`` running ``worker.py`` jobs): the solution once in a
   clean kernel for the reference values (``reference.py``, cached per assignment; always on
   this machine), then each submission's notebooks with every test, ``--jobs`` at a time, each
   kernel in its own sandbox, through the chosen backend (``backends/``: forked here, a Slurm
   job array or a Kubernetes Indexed Job). Out: value records and a status per test cell, as
   files; no output of a graded run is kept.
3. checking (``checker.py``): each test's verdict from the records, against the reference.
   Out: ``{notebook: {grade_id: Verdict}}``.
4. recording (``recording.py``): the autograded notebooks carry the verdicts as the student may
   read them (passed or failed, no hidden test, no detail the graded kernel could choose) and
   nbgrader's record step puts them in the gradebook; the detail of each verdict goes to the
   instructor's file ``.grading/verdicts/ASSIGNMENT/STUDENT.txt``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import cases as hidden_cases
from . import reference as reference_cache
from . import timings
from .backends import Backend, make_backend
from .course import Course, GradingError, open_gradebook, passthrough_environment
from .intake import folders_named, notebook_of, survey
from .normalize import MAX_SUBMISSION_BYTES, normalize_file
from .notebooks import nbgrader_meta, read_notebook, same_test_code
from .report import Progress
from .sandbox import Limits, sandbox_available


@dataclass
class SubmissionResult:
    student: str
    score: float = 0.0
    max_score: float = 0.0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cells: dict[str, tuple[float, float]] = field(default_factory=dict)
    verdicts: dict = field(default_factory=dict)  # {notebook: {grade_id: Verdict}}

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
                layout[nb.name] = {
                    g.name: (float(g.max_score), sources.get(g.name))
                    for g in nb.grade_cells
                    if g.cell_type == "code"
                }
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


def gradebook_cells(course: Course, assignment: str) -> dict[str, dict[str, bool]]:
    """The assignment's cells in the gradebook: ``{notebook: {grade_id: whether graded}}``
    (every cell nbgrader knows by id: graded tests and answers, solution and locked cells)."""
    with open_gradebook(course) as gb:
        return {
            nb.name: {c.name: False for c in nb.source_cells}
            | {c.name: True for c in nb.grade_cells}
            for nb in gb.find_assignment(assignment).notebooks
        }


def _intake(
    course: Course,
    assignment: str,
    student: str,
    dest: Path,
    layout: dict,
    result: SubmissionResult,
    cells: dict[str, dict[str, bool]] | None = None,
) -> None:
    """Copy a submission's regular files to ``dest`` and note what is wrong with it.

    ``cells``: ``gradebook_cells`` (read here when not given)."""
    cells = gradebook_cells(course, assignment) if cells is None else cells
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
        foreign = _foreign_cells(nb, cells.get(name, {}))
        result.notes.extend(foreign)
        result.notes.extend(_tampering(nb, layout[name]))
        if _drop_duplicates(nb) or foreign:
            import nbformat

            nbformat.write(nb, found[name])


_NBGRADER_ROLES = ("grade", "solution", "locked", "task")


def _foreign_cells(nb, known: dict[str, bool]) -> list[str]:
    """Make ordinary the cells whose nbgrader metadata the gradebook does not vouch for; notes.

    ``known``: the notebook's cells in the gradebook, grade_id -> whether graded. A cell marked
    as a graded test (or any nbgrader cell) under a grade_id the assignment lacks, or under
    none, loses its nbgrader metadata: it runs as an ordinary cell and earns nothing, and the
    student's genuine parts keep their points. A cell claiming points under the id of an
    ungraded cell (a solution cell's) loses the claim. Plain nbgrader deletes an unknown
    grade_id and then refuses the whole notebook, since its metadata check needs one (and a
    claim on an ungraded id stops it with a missing gradebook entry): one added cell would
    zero every part (docs/authoring-exercises.md, "The trust model").
    """
    notes = []
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if not meta:
            continue
        grade_id = meta.get("grade_id")
        if grade_id is None and not any(meta.get(role) for role in _NBGRADER_ROLES):
            continue  # metadata that claims nothing (nbgrader accepts it too)
        if not isinstance(grade_id, str) or grade_id not in known:
            claims = "a graded test" if meta.get("grade") else "an nbgrader cell"
            named = f" {str(grade_id)[:60]!r}" if grade_id else ""
            notes.append(
                f"a cell marked as {claims}{named} is not in the assignment: it earns nothing "
                "(graded as an ordinary cell; plain nbgrader would refuse the whole notebook)"
            )
            del cell.metadata["nbgrader"]
        elif meta.get("grade") and not known[grade_id]:
            notes.append(
                f"a cell claims points as test {grade_id[:60]!r}, which is not graded: it earns "
                "nothing (claim removed; plain nbgrader would refuse the whole notebook)"
            )
            meta["grade"] = False
            meta.pop("points", None)
    return notes


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
        if original is not None and (
            cell.cell_type != "code" or not same_test_code(cell.source, original)
        ):
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


def _font_cache() -> str | None:
    base = Path(os.environ.get("MPLCONFIGDIR", Path.home() / ".cache" / "matplotlib"))
    caches = sorted(base.glob("fontlist-*.json"))
    return str(caches[-1]) if caches else None


def _select(course: Course, assignment: str, students: list[str] | None) -> list[str]:
    everyone = students_of(course, assignment)
    if students:
        named = {s: folders_named(s, everyone) for s in students}
        unknown = sorted(s for s, found in named.items() if not found)
        if unknown:
            raise GradingError(
                f"no submission of {assignment} from {', '.join(unknown)} in {course.submitted_dir}"
            )
        everyone = [f for f in everyone if any(f in found for found in named.values())]
    if not everyone:
        raise GradingError(f"no submissions of {assignment} in {course.submitted_dir}")
    return everyone


def intake_one(
    course: Course,
    assignment: str,
    student: str,
    layout: dict,
    work: Path,
    result: SubmissionResult,
    cells: dict[str, dict[str, bool]] | None = None,
) -> bool:
    """Phase 1 for one student: copy, check and sanitize; True if there is something to run.
    ``cells``: ``gradebook_cells`` (read here when not given)."""
    from .recording import record_zero

    intake, sanitized = work / "intake", work / "sanitized"
    with timings.phase(student, "intake: copy, normalize, tampering"):
        _intake(course, assignment, student, intake / student / assignment, layout, result, cells)
    if not any((intake / student / assignment).glob("*.ipynb")):
        record_zero(course, assignment, student)
        return False
    try:
        with timings.phase(student, "intake: nbgrader sanitize (gradebook)"):
            _sanitize(course, assignment, student, intake, sanitized)
    except GradingError as error:
        result.notes.append(f"could not be prepared: {error}")
        return False
    return True


def _sanitize(course: Course, assignment: str, student: str, intake: Path, sanitized: Path):
    """nbgrader's own sanitizing step (locked cells restored, submission in the gradebook)."""
    course.run_nbgrader(
        "Autograde",
        assignment,
        student,
        **{
            "CourseDirectory.submitted_directory": str(intake),
            "CourseDirectory.autograded_directory": str(sanitized),
            "Autograde.autograde_preprocessors": [],
        },
    )


def _kernel_env(jobs: int, threads_per_job: int | None) -> dict[str, str]:
    threads = threads_per_job or max(1, (os.cpu_count() or 1) // max(1, jobs))
    env = {
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        **passthrough_environment(),
    }
    if "OMP_NUM_THREADS" in os.environ and threads_per_job is None and jobs == 1:
        env["OMP_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"]
    return env


def job_spec(
    mode: str,
    source: Path,
    out: Path,
    work: Path,
    label: str,
    limits: Limits,
    env: dict,
    sandbox: bool,
    guard: bool = False,
    cases: str | None = None,
) -> dict:
    """The worker's job file (see ``worker.py`` for the fields)."""
    return {
        "cases": cases,
        "mode": mode,
        "sanitized": str(source),
        "executed": str(out),
        "scratch": str(work / "scratch" / label),
        "events": str(work / f"events-{label}.json"),
        "limits": limits.__dict__,
        "env": env,
        "sandbox": sandbox,
        "guard": guard,
        "font_cache": _font_cache(),
    }


def reference_phase(
    course: Course,
    assignment: str,
    work: Path,
    limits: Limits,
    env: dict,
    sandbox: bool,
    fresh: bool = False,
):
    """The solution's reference records (cached): ``({notebook: Reference}, problems)``.

    The reference run goes through the worker contract like every other run, but always on this
    machine (the ``local`` backend): its records are what the checker trusts, so they never
    travel through a cluster's shared storage, and the solution never leaves this machine.
    """
    from .execution import Job, run_jobs
    from .reference import reference_for

    def run(folder: Path) -> None:
        spec = job_spec(
            "reference",
            course.source_dir / assignment,
            folder,
            work,
            "reference",
            limits,
            env,
            sandbox,
            cases=hidden_cases.write_for(course, assignment, work, "reference"),
        )
        outcome = run_jobs(
            [Job("reference", spec)], work, 1, limits, backend=make_backend("local")
        )["reference"]
        if outcome.notes:
            raise GradingError(
                f"the reference run of {assignment} failed: {'; '.join(outcome.notes)}"
            )

    return reference_for(course, assignment, run, fresh=fresh)


def ensure_reference(
    course: Course,
    assignment: str,
    limits: Limits | None = None,
    sandbox: bool = True,
    jobs: int = 1,
    threads_per_job: int | None = None,
    fresh: bool = False,
):
    """The assignment's reference records, computed now unless cached: (references, problems)."""
    limits = limits or Limits(cell_timeout=course.cell_timeout)
    work = Path(tempfile.mkdtemp(prefix="course-reference-"))
    try:
        return reference_phase(
            course,
            assignment,
            work,
            limits,
            _kernel_env(jobs, threads_per_job),
            sandbox,
            fresh=fresh,
        )
    finally:
        if not os.environ.get("COURSE_KEEP_WORK"):
            shutil.rmtree(work, ignore_errors=True)


def check_phase(
    references: dict, executed: Path, layout: dict, sandbox: bool = True, draw=None
) -> dict:
    """Phase 3: ``{notebook: {grade_id: Verdict}}`` for one submission's records (``sandbox``:
    whether exported models run in the sandbox, as the submissions did; ``draw``: the
    submission's ``heldout.Draw``, which fixes its held-out images across regrades)."""
    from . import records as records_io
    from .checker import judge_cell

    verdicts = {}
    for notebook in layout:
        reference = references[notebook]
        got = records_io.read(executed, notebook)
        status_file = executed / f"{notebook}.status.json"
        try:
            status = json.loads(status_file.read_text()) if status_file.is_file() else {}
        except ValueError:
            status = {}
        verdicts[notebook] = {
            grade_id: judge_cell(
                grade_id,
                reference.checks(grade_id),
                reference.records,
                reference.hidden_lines.get(grade_id, set()),
                got.cells.get(grade_id) if got else None,
                got,
                status.get(grade_id) if isinstance(status, dict) else None,
                sandbox,
                draw,
            )
            for grade_id in layout[notebook]
        }
    return verdicts


def autograde(
    course: Course,
    assignment: str,
    students: list[str] | None = None,
    jobs: int = 1,
    limits: Limits | None = None,
    sandbox: bool = True,
    guard: bool = True,
    progress: bool = True,
    threads_per_job: int | None = None,
    backend: Backend | None = None,
) -> list[SubmissionResult]:
    """Grade every submission of ``assignment``; the gradebook gets the checker's verdicts.

    ``guard`` is kept for the command line's ``--no-guard``: the in-kernel guard no longer runs
    in graded runs (it decides nothing); it gives messages in feedback runs. ``backend`` runs
    the graded workers (default: forked on this machine; see ``backends``); intake, the
    reference run, checking and recording happen here whatever it is.
    """
    from . import bans as static_bans
    from .execution import Job, run_jobs
    from .heldout import Draw, HeldOutError, course_key
    from .recording import details_file, record_submission, write_details
    from .worker import warm_imports

    setting_up = timings.Stopwatch("-", "setup: survey, gradebook layout, key")
    limits = limits or Limits(cell_timeout=course.cell_timeout)
    backend = backend or make_backend("local")
    course.require_assignment(assignment)
    if sandbox:  # the reference runs here in any case; a cluster's worker checks its own
        problem = sandbox_available()
        if problem:
            raise GradingError(problem)
    everyone = _select(course, assignment, students)
    try:  # on this machine only: checking happens here, whatever runs the kernels
        key = course_key(course.root)
    except (HeldOutError, OSError) as error:
        raise GradingError(f"no key for the held-out draws: {error}") from None
    layout = ensure_in_gradebook(course, assignment)
    cells = gradebook_cells(course, assignment)
    with open_gradebook(course) as gb:
        sources = {
            nb.name: {c.name: c.source for c in nb.source_cells}
            for nb in gb.find_assignment(assignment).notebooks
        }
    setting_up.stop()
    env = _kernel_env(jobs, threads_per_job)
    pooled = None  # the reference run as the first job of this machine's pool
    if backend.name == "local":
        references, problems = reference_cache.cached(course, assignment), []
    else:  # phase 2a: the reference first, on this machine, in a folder of its own (not the
        # cluster's shared one)
        references, problems = ensure_reference(
            course, assignment, limits, sandbox, jobs, threads_per_job
        )
    work = Path(tempfile.mkdtemp(prefix="course-autograde-", dir=backend.work_parent()))
    results = {s: SubmissionResult(s) for s in everyone}
    try:
        if problems:
            raise GradingError(f"{assignment} cannot be graded: {problems[0]}")
        if references is None:
            pooled = PooledReference(course, assignment, work, limits, env, sandbox)
        graded_cases = hidden_cases.write_for(course, assignment, work, "graded")
        sanitized, executed = work / "sanitized", work / "executed"
        bar = Progress(len(everyone), assignment, stream=None if progress else io.StringIO())

        def graded_jobs():
            """Phase 1, intake, one student at a time, while earlier ones execute."""
            if pooled is not None:
                yield pooled.job
            for student in everyone:
                if intake_one(course, assignment, student, layout, work, results[student], cells):
                    yield Job(
                        student,
                        job_spec(
                            "graded",
                            sanitized / student / assignment,
                            executed / student / assignment,
                            work,
                            student,
                            limits,
                            env,
                            sandbox,
                            cases=graded_cases,
                        ),
                    )
                else:  # nothing ran: no verdicts in detail (a regrade's old ones go)
                    details_file(course, assignment, student).unlink(missing_ok=True)
                    bar.advance(student)

        def check_and_record(student: str, outcome) -> None:
            """Phases 3 and 4 for a finished student, while later ones execute."""
            result = results[student]
            result.seconds = outcome.seconds
            result.notes.extend(n for n in outcome.notes if n not in result.notes)
            for notebook, items in outcome.events.items():
                for item in items:
                    note = item if len(layout) == 1 else f"{notebook}: {item}"
                    if note not in result.notes:
                        result.notes.append(note)
            with timings.phase(student, "check (checker.py)"):
                result.verdicts = check_phase(
                    references,
                    executed / student / assignment,
                    layout,
                    sandbox,
                    Draw(key, assignment, student),
                )
            with timings.phase(student, "check: static bans"):
                flagged = static_bans.apply(
                    result.verdicts,
                    _sanitized_notebooks(sanitized / student / assignment, layout),
                    assignment,
                )
            result.notes.extend(n for n in flagged if n not in result.notes)
            banned = banned_parts(result.verdicts, assignment)
            if banned:
                result.notes.append(f"library ban: {', '.join(banned)}")
            write_details(course, assignment, student, result.verdicts)
            try:
                with timings.phase(student, "record (nbgrader, gradebook)"):
                    record_submission(
                        course,
                        assignment,
                        student,
                        sanitized / student / assignment,
                        work / "intake" / student / assignment / "timestamp.txt",
                        work / "autograded",
                        result.verdicts,
                        layout,
                        sources,
                    )
            except GradingError as error:
                result.notes.append(f"could not be recorded: {error}")

        waiting: list[tuple] = []  # finished before the reference: checked once it is there

        def finished(label: str, outcome) -> None:
            nonlocal references
            if pooled is not None and label == pooled.job.label:
                references = pooled.finish(outcome)  # GradingError: nothing is recorded
                for early in waiting:
                    check_and_record(*early)
                waiting.clear()
            elif references is None:
                waiting.append((label, outcome))
            else:
                check_and_record(label, outcome)

        # a kernel for the next submission starts while the current ones run (local only)
        warm = job_spec(
            "graded", sanitized, executed, work, "warm", limits, env, sandbox, cases=graded_cases
        )
        warm["warm_imports"] = warm_imports(course.source_notebooks(assignment))
        # phase 2: execution, untrusted, with intake, checking and recording interleaved here
        run_jobs(
            graded_jobs(),
            work,
            jobs,
            limits,
            _StudentsOnly(bar),
            on_done=finished,
            backend=backend,
            warm=warm,
        )
        with timings.phase("-", "scores read back"):
            _read_scores(course, assignment, results)
    finally:
        if not os.environ.get("COURSE_KEEP_WORK"):
            shutil.rmtree(work, ignore_errors=True)
    return [results[s] for s in everyone]


REFERENCE_LABEL = ".reference"  # a hidden folder's name, never a student's (``intake.survey``)


class PooledReference:
    """The solution's reference run as the first job of this machine's pool (not cached yet).

    It runs beside the first submissions instead of before them: checking waits for it,
    execution does not. Its records go straight to the cache folder (``reference.py``); a run
    with problems stops the grading before anything is checked or recorded.
    """

    def __init__(self, course, assignment, work: Path, limits: Limits, env: dict, sandbox: bool):
        self.course, self.assignment = course, assignment
        self.folder = reference_cache.fresh_folder(course, assignment)
        from .execution import Job

        spec = job_spec(
            "reference",
            course.source_dir / assignment,
            self.folder,
            work,
            REFERENCE_LABEL,
            limits,
            env,
            sandbox,
            cases=hidden_cases.write_for(course, assignment, work, "reference"),
        )
        self.job = Job(REFERENCE_LABEL, spec)

    def finish(self, outcome) -> dict:
        """The references, once the run ended; GradingError when it failed or has problems."""
        if outcome.notes:
            raise GradingError(
                f"the reference run of {self.assignment} failed: {'; '.join(outcome.notes)}"
            )
        references, problems = reference_cache.finish(self.course, self.assignment, self.folder)
        if problems:
            raise GradingError(f"{self.assignment} cannot be graded: {problems[0]}")
        return references


class _StudentsOnly:
    """The progress bar, advanced by the students' jobs only (not the reference's)."""

    def __init__(self, bar: Progress):
        self.bar = bar

    def advance(self, label: str) -> None:
        if label != REFERENCE_LABEL:
            self.bar.advance(label)


def banned_parts(verdicts: dict, exercise: str) -> list[str]:
    """The parts of ``exercise`` (``course_utils.checking.bans.BANS``) with a test that failed for a
    library ban: the static scan's verdict (``bans.apply`` replaces the whole message with one
    about "the part's code" that names the library ban) or a ``BanWatch`` record that named
    banned routines (its check's name, as ``BanWatch.check`` words it, differs from ``[]``)."""
    from course_utils.checking.bans import BANS

    failed = [v for cells in verdicts.values() for v in cells.values() if not v.passed]
    parts = []
    for part, ban in BANS.get(exercise, {}).items():
        watched = repr(f"the library routines that {part} reached (it may call none)")
        if any(
            v.grade_id in ban.tests
            and (
                (v.message.startswith("the part's code ") and "library ban" in v.message)
                or f"{watched}, is not equal to the reference" in v.message
            )
            for v in failed
        ):
            parts.append(part)
    return parts


def _sanitized_notebooks(folder: Path, layout: dict) -> dict:
    """The sanitized submission's notebooks that can be read, by name (for the static bans)."""
    found = {}
    for notebook in layout:
        try:
            found[notebook] = read_notebook(folder / f"{notebook}.ipynb")
        except GradingError:
            continue
    return found


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
