"""The predict-a-number questions: an unanswered one says so; the solution's answer passes."""

from __future__ import annotations

import math
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from course_utils.testing import prediction

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.name.startswith("ex"))


def test_prediction_returns_an_answer_and_refuses_a_missing_or_none_one():
    assert prediction({"predicted_shape": (1, 16, 7, 7)}, "predicted_shape") == (1, 16, 7, 7)
    assert prediction({"predicted_peak": 0.0}, "predicted_peak") == 0.0
    for namespace in ({}, {"predicted_shape": None}):
        with pytest.raises(AssertionError, match=r"^predicted_shape: not answered yet - "):
            prediction(namespace, "predicted_shape")


def _question(path: Path) -> tuple[str, str]:
    """The answer cell's and the test cell's source of the notebook's one predict question."""
    nb = nbformat.read(path, as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id", ""): c.source for c in nb.cells}
    [name] = [g for g in cells if g.startswith("predicted_")]
    return cells[name], cells[f"test_{name}"]


def _namespace() -> dict:
    return {"math": math, "np": np, "torch": torch, "nn": nn, "F": F}


@pytest.mark.parametrize("exercise", EXERCISES)
def test_an_unanswered_question_fails_with_a_sentence_and_the_solution_passes(exercise):
    stub_answer, stub_test = _question(ROOT / "exercises" / exercise / f"{exercise}.ipynb")
    namespace = _namespace()
    with pytest.raises(NotImplementedError):
        exec(stub_answer, namespace)
    with pytest.raises(
        AssertionError,
        match=r"^predicted_\w+: not answered yet - replace `raise NotImplementedError\(\)`",
    ):
        exec(stub_test, namespace)

    answer, test = _question(ROOT / "solutions" / exercise / f"{exercise}.ipynb")
    assert test == stub_test
    namespace = _namespace()
    exec(answer, namespace)
    exec(test, namespace)  # the checks assert outside grading: no exception is a pass
