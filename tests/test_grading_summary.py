"""The autograde summary: what an instructor reads without opening any feedback."""

from __future__ import annotations

import nbformat

from coursekit.grading import bans as static_bans
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


def _part(grade_id: str, source: str):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": False, "grade_id": grade_id, "solution": True}
    return cell


def test_a_static_ban_hit_is_named_and_other_failures_are_not():
    """The static scan's own verdicts (``bans.apply``), whatever sentence they are worded in."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _part("batch_norm", "import torch.nn.functional as F\nnorm = F.batch_norm\n"),
        _part("vgg_block", "def vgg_block(:\n"),  # unreadable code cannot be cleared
        _part("residual", "def residual(x):\n    return x\n"),
    ]
    ok = "all 2 checks passed"
    verdicts = {
        "ex04": {
            "test_batch_norm_training": Verdict("test_batch_norm_training", True, ok, 2),
            "test_vgg_block": Verdict("test_vgg_block", True, ok, 2),
            "test_residual": Verdict(
                "test_residual", False, "check 1 of 3, 'r', has the wrong shape"
            ),
            "test_nin_block": Verdict("test_nin_block", True, ok, 2),
        }
    }
    static_bans.apply(verdicts, {"ex04": nb}, "ex04_architectures")
    assert not verdicts["ex04"]["test_vgg_block"].passed
    assert banned_parts(verdicts, "ex04_architectures") == ["vgg_block", "batch_norm"]
    honest = {"ex04": {"test_residual": verdicts["ex04"]["test_residual"]}}
    assert banned_parts(honest, "ex04_architectures") == []
    assert banned_parts(verdicts, "ex05_detection") == []


def test_long_notes_are_wrapped_at_spaces_never_cut():
    note = "test test_add edited (original restored); library ban: batch_norm, vgg_block; " * 3
    text = table(["student", "notes"], [["bob", note], ["al", "ok"]], max_width=40)
    lines = text.splitlines()
    assert all(len(line) <= len("student  ") + 40 for line in lines)
    assert "…" not in text
    notes = " ".join(line[len("student  ") :].strip() for line in lines[2:-1])
    assert notes == " ".join(note.split())
    assert lines[-1].split() == ["al", "ok"]
