"""The checking phase: a test's verdict, computed here from data, outside every student process.

For each test cell, the reference run (the instructor's solution in a clean kernel) recorded a
list of checks: kind, name, the expected value and the tolerances or predicate. The student's
graded run recorded, for the same cell, the values the student's functions returned, in the same
order. A cell passes when every reference check has a student record that this module accepts,
and the cell ran to its end without an error. A missing record fails; nothing the student's
kernel says about itself (no error, a printed token) is evidence of passing.

Only trusted text reaches a verdict's message: the reference's name for the check and a fixed
reason. A value from the student's graded run is never quoted, since that kernel also ran the
hidden tests and could have written them into any value it returned. Whether a value passes is
the rulebook's decision (``course_utils.checking.rules``, NumPy only), the same one the checks in
a student's kernel make; the tolerances, predicate and bound are the reference record's, and the
float32 tolerance's device is the reference run's (``grading_device``), never the student's.
"""

from __future__ import annotations

from dataclasses import dataclass

from course_utils.checking import rules
from course_utils.checking.rules import Mismatch

from .records import RecordError, Records

__all__ = ["Mismatch", "Verdict", "check_one", "judge_cell"]


@dataclass
class Verdict:
    grade_id: str
    passed: bool
    message: str
    checks: int = 0


HIDDEN_FAILED = "a hidden check failed (hidden checks use inputs your notebook does not show)"


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
        return Verdict(
            grade_id,
            False,
            "this test records nothing, so the grader cannot judge "
            "it (an error of the exercise, not of your work)",
        )
    student = student or []

    def seed_of(ref: dict) -> int | None:
        if draw is None or ref.get("kind") not in ("heldout", "exported", "architecture"):
            return None
        return draw.seed(f"{grade_id}/{ref.get('name', '')}")

    facts = _architecture_facts(reference, student, got_records, seed_of, sandbox)
    hidden_failed = False
    for index, ref in enumerate(reference):
        got = student[index] if index < len(student) else None
        hidden = ref.get("line") in hidden_lines
        try:
            if got_records is None:
                raise Mismatch("was not reached (the notebook did not run)")
            check_one(ref, ref_records, got, got_records, sandbox, seed_of(ref), facts.get(index))
        except Exception as error:  # noqa: BLE001 - a malformed record fails, plainly
            if hidden:
                # The kernel could choose which hidden check fails: its name, its reason
                # and its place would tell the student one hidden input. Go on to the
                # first failing visible check, if there is one.
                hidden_failed = True
                continue
            if isinstance(error, Mismatch):
                name = str(ref.get("name", ""))[:300]
                message = f"check {index + 1} of {len(reference)}, {name!r}, {error}"
            else:
                message = (
                    f"check {index + 1} of {len(reference)} could not be read "
                    f"({type(error).__name__})"
                )
            return Verdict(grade_id, False, message, len(reference))
    if hidden_failed:
        return Verdict(grade_id, False, HIDDEN_FAILED, len(reference))
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
