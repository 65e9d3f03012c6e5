"""The autograde summary: what an instructor reads without opening any feedback."""

from __future__ import annotations

from coursekit.grading.autograde import banned_parts
from coursekit.grading.checker import Verdict, judge_cell
from coursekit.grading.records import Records
from coursekit.grading.report import table


class _NoArrays:
    files: tuple[str, ...] = ()


def _watch_verdict(grade_id: str, part: str, reached: list[str]) -> Verdict:
    """The checker's verdict on a BanWatch record of ``reached`` routines, as graded."""
    name = f"the library routines that {part} reached (it may call none)"
    reference = [{"kind": "equal", "name": name, "expected": {"list": []}, "line": 3}]
    got = {
        "kind": "equal",
        "actual": {"list": [{"py": r, "type": "str"} for r in reached]},
    }
    records = Records({}, _NoArrays())
    return judge_cell(
        grade_id, reference, records, set(), [got], records, {"ran": True, "error": False}
    )


def test_a_watched_ban_hit_is_named_by_its_part():
    hit = _watch_verdict("test_vgg_block", "vgg_block", ["torch.nn.Conv2d"])
    clean = _watch_verdict("test_nin_block", "nin_block", [])
    assert not hit.passed and clean.passed
    verdicts = {"ex04_architectures": {v.grade_id: v for v in (hit, clean)}}
    assert banned_parts(verdicts, "ex04_architectures") == ["vgg_block"]


def test_a_static_ban_hit_is_named_and_other_failures_are_not():
    static = Verdict(
        "test_batch_norm_evaluation",
        False,
        "the part's code uses torch.nn.functional.batch_norm, which the part forbids (library ban)",
        2,
    )
    wrong = Verdict("test_residual", False, "check 1 of 3, 'Residual', has the wrong shape", 3)
    verdicts = {"ex04_architectures": {v.grade_id: v for v in (static, wrong)}}
    assert banned_parts(verdicts, "ex04_architectures") == ["batch_norm"]
    assert banned_parts({"ex04_architectures": {"test_residual": wrong}}, "x") == []
    assert (
        banned_parts({"ex04_architectures": {"test_residual": wrong}}, "ex04_architectures") == []
    )


def test_long_notes_are_wrapped_at_spaces_never_cut():
    note = "test test_add edited (original restored); library ban: batch_norm, vgg_block; " * 3
    text = table(["student", "notes"], [["bob", note], ["al", "ok"]], max_width=40)
    lines = text.splitlines()
    assert all(len(line) <= len("student  ") + 40 for line in lines)
    assert "…" not in text
    notes = " ".join(line[len("student  ") :].strip() for line in lines[2:-1])
    assert notes == " ".join(note.split())
    assert lines[-1].split() == ["al", "ok"]
