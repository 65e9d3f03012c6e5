"""The checking phase: a test's verdict, computed here from data, outside every student process.

For each test cell, the reference run (the instructor's solution in a clean kernel) recorded a
list of checks: kind, name, the expected value and the tolerances or predicate. The student's
graded run recorded, for the same cell, the values the student's functions returned, in the same
order. A cell passes when every reference check has a student record that this module accepts,
and the cell ran to its end without an error. A missing record fails; nothing the student's
kernel says about itself (no error, a printed token) is evidence of passing.

A verdict has two texts. ``message`` is for the instructor (``.grading/verdicts/``, written by
``recording.write_details``): the first failing visible check, else the first failing hidden one,
named, with a fixed reason, never a value the graded run returned. ``shown`` is what the student
may read, fixed by the pass or fail alone (or by the submission's source, for a library ban):
the graded kernel held the hidden tests, so anything that varies with what it chose to do (which
check fails, how, where, when) could carry them out. The student's explanation of a failure
comes from the feedback run (``feedback_run.py``), whose kernel never held a hidden test.

Whether a value passes is the rulebook's decision (``course_utils.checking.rules``, NumPy only),
the same one the checks in a student's kernel make; the tolerances, predicate and bound are the
reference record's, and the float32 tolerance's device is the reference run's
(``grading_device``), never the student's.
"""

from __future__ import annotations

from dataclasses import dataclass

from course_utils.checking import rules
from course_utils.checking.rules import Mismatch

from .records import RecordError, Records

__all__ = ["GRADED_FAILED", "Mismatch", "Verdict", "check_one", "judge_cell"]


# What a student reads of a failed test cell whose reason the graded kernel could have chosen:
# one sentence for every such failure (the points already say that it failed).
# A passed cell's sentence names no number: a count of its checks would tell the student how many
# hidden checks the cell holds
GRADED_PASSED = "passed (every check, hidden ones included)"
GRADED_FAILED = (
    "this test cell earned no points. The graded run also ran hidden checks, on inputs your "
    "notebook does not show, and does not say which check failed or why. Your notebook ran "
    "again with the visible tests only for this feedback: what its checks found is shown "
    "above (and by course check)."
)


@dataclass
class Verdict:
    """The checker's verdict on one test cell.

    ``message``: the detail, for the instructor only. ``public``: where it is not None, a
    sentence the student may read in place of ``GRADED_FAILED`` because nothing the graded
    kernel did can change it (a library ban read from the submission's source, an exercise
    whose test records nothing).
    """

    grade_id: str
    passed: bool
    message: str
    checks: int = 0
    public: str | None = None

    @property
    def shown(self) -> str:
        """The verdict as the student reads it (feedback): fixed by ``passed`` alone, or
        ``public``."""
        if self.passed:
            return GRADED_PASSED
        return self.public if self.public is not None else GRADED_FAILED


def _decode(value, records: Records):
    """A record's value decoded by the rulebook, its arrays read from the records' npz."""
    return rules.decode(value, records.array)


def grading_device(ref: dict) -> str:
    """The device whose float32 tolerance applies: where the reference run (the grader's own
    run of the solution, on this grader's devices) computed the value; the strict CPU one when
    the reference says nothing. Never the student's record: it could say ``cuda`` to loosen it."""
    device = (ref.get("params") or {}).get("device")
    return device if device in ("cpu", "cuda", "mps") else "cpu"


def check_one(
    ref: dict,
    ref_records: Records,
    got: dict | None,
    got_records: Records,
    sandbox: bool = True,
    seed: int | None = None,
    facts=None,
) -> None:
    """Raise Mismatch unless the student's record ``got`` passes the reference check ``ref``.

    ``sandbox``: whether an exported model runs in the grader's sandbox (``heldout.py``); False
    only where the grader runs without one (trusted notebooks). ``seed``: the held-out draw of
    this check for this submission (``heldout.Draw``; None: a fresh secret one). ``facts``:
    for an ``architecture`` check, the facts of the student's program computed already (with
    the other checks of its cell, in one sandboxed process), or the error that says why not.
    """
    if got is None:
        raise Mismatch("was not reached (the cell stopped before it)")
    if not isinstance(got, dict) or got.get("kind") != ref["kind"]:
        raise Mismatch("was not recorded by the same check")
    try:
        student = _decode(got.get("actual"), got_records)
        expected = _decode(ref["expected"], ref_records)
    except RecordError:
        raise Mismatch("is not a value the grader can read") from None
    params = dict(ref.get("params") or {})
    if ref["kind"] == "exported":
        from .heldout import check_exported

        check_exported(student, expected, params, sandbox=sandbox, seed=seed)
        return
    if ref["kind"] == "architecture":  # facts read from the exported program, outside
        from .heldout import check_architecture

        check_architecture(student, expected, params, sandbox=sandbox, seed=seed, facts=facts)
        return
    if ref["kind"] == "heldout":  # weights evaluated by a fresh trusted process
        from .heldout import check_heldout

        check_heldout(student, expected, params, sandbox=sandbox, seed=seed)
        return
    rules.judge(ref["kind"], student, expected, params, grading_device(ref))


def _architecture_facts(reference, student, got_records, seed_of, sandbox) -> dict:
    """index -> facts (or the error) of every ``architecture`` check of a cell whose record
    holds a loadable program, computed together in one sandboxed process (``heldout.py``);
    a record that holds none is left to ``check_one``, which says why."""
    from .heldout import architecture_job, evaluate_architectures

    jobs = {}
    for index, ref in enumerate(reference):
        got = student[index] if index < len(student) else None
        if ref.get("kind") != "architecture" or got_records is None or not isinstance(got, dict):
            continue
        if got.get("kind") != "architecture":
            continue
        try:
            value = _decode(got.get("actual"), got_records)
            jobs[index] = architecture_job(value, dict(ref.get("params") or {}), seed_of(ref))
        except Exception:  # noqa: BLE001 - check_one gives the reason
            continue
    if not jobs:
        return {}
    try:
        results = evaluate_architectures(list(jobs.values()), sandbox)
    except ValueError:  # a probe shape the grader refuses: each check says so itself
        return {}
    return dict(zip(jobs, results, strict=True))


def judge_cell(
    grade_id: str,
    reference: list,
    ref_records: Records,
    hidden_lines: set[int],
    student: list | None,
    got_records: Records | None,
    status: dict | None,
    sandbox: bool = True,
    draw=None,
) -> Verdict:
    """The verdict on one test cell (see the module's docstring). ``draw``: the submission's
    ``heldout.Draw`` (each held-out check's seed follows from it, the test and the check's
    name); None only for direct calls, which draw a fresh secret seed."""
    if not reference:
        why = (
            "this test records nothing, so the grader cannot judge "
            "it (an error of the exercise, not of your work)"
        )
        return Verdict(grade_id, False, why, public=why)
    student = student or []

    def seed_of(ref: dict) -> int | None:
        if draw is None or ref.get("kind") not in ("heldout", "exported", "architecture"):
            return None
        return draw.seed(f"{grade_id}/{ref.get('name', '')}")

    facts = _architecture_facts(reference, student, got_records, seed_of, sandbox)
    hidden_failed = None  # the first failing hidden check's message (the instructor's)
    for index, ref in enumerate(reference):
        got = student[index] if index < len(student) else None
        hidden = ref.get("line") in hidden_lines
        try:
            if got_records is None:
                raise Mismatch("was not reached (the notebook did not run)")
            check_one(ref, ref_records, got, got_records, sandbox, seed_of(ref), facts.get(index))
        except Exception as error:  # noqa: BLE001 - a malformed record fails, plainly
            which = f"{'hidden ' if hidden else ''}check {index + 1} of {len(reference)}"
            if isinstance(error, Mismatch):
                name = str(ref.get("name", ""))[:300]
                message = f"{which}, {name!r}, {error}"
            else:
                message = f"{which} could not be read ({type(error).__name__})"
            if hidden:  # the first failing visible check, if any, is named first
                hidden_failed = hidden_failed or message
                continue
            return Verdict(grade_id, False, message, len(reference))
    if hidden_failed:
        return Verdict(grade_id, False, hidden_failed, len(reference))
    if status is None or not status.get("ran"):
        return Verdict(grade_id, False, "the test cell did not run", len(reference))
    if status.get("error"):
        return Verdict(
            grade_id,
            False,
            "the test cell stopped with an error after its checks "
            "(course check shows it for the visible tests)",
            len(reference),
        )
    if status.get("stderr"):
        # nbgrader's own rule (and course check's, and the notebook's self-check): a test cell
        # that writes to stderr earns nothing. Only the student's own kernel can lose by it.
        return Verdict(
            grade_id,
            False,
            "the test cell wrote to stderr (a warning or an error message), which earns a "
            "test cell zero, as in nbgrader",
            len(reference),
        )
    return Verdict(grade_id, True, f"all {len(reference)} checks passed", len(reference))
