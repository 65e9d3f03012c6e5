"""Monkeypatches and lying objects against a torch exercise checked with course_utils.testing.

The verdict comes from the checker outside the kernel: whatever a submission replaces inside its
own process, a wrong answer is recorded as what it is and earns nothing.
"""

from __future__ import annotations

import os

import pytest
from grading_fixture import fill, make_course, released, submit

from coursekit.grading.autograde import autograde
from coursekit.grading.course import Course
from coursekit.grading.release import release
from coursekit.grading.sandbox import Limits, sandbox_available

# Grading untrusted code needs the sandbox: without it these tests fail, unless a maintainer
# says explicitly (COURSE_ALLOW_NO_SANDBOX=1) that this machine is not meant to grade.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        sandbox_available() is not None and os.environ.get("COURSE_ALLOW_NO_SANDBOX") == "1",
        reason=f"no sandbox here: {sandbox_available()}",
    ),
]

RIGHT = "def double(x):\n    return 2 * x\n"
WRONG = "def double(x):\n    return x\n"

CLASS = {
    # student: (code in the solution cell, expected score, a word the notes must contain)
    "full": (RIGHT, 4, ""),
    "wrong": (WRONG, 0, ""),
    "fake-helper": (
        "import course_utils.testing as t\nt.check_tensor = lambda *args, **kwargs: None\n" + WRONG,
        0,
        "",
    ),
    "fake-allclose": (
        "import torch\ntorch.allclose = lambda *a, **k: True\n"
        "torch.Tensor.__sub__ = lambda self, other: torch.zeros_like(self)\n" + WRONG,
        0,
        "",
    ),
    # this one breaks the kernel itself (ipykernel relies on isinstance): zero, noted
    "fake-isinstance": (
        "import builtins\nbuiltins.isinstance = lambda obj, cls: True\n" + WRONG,
        0,
        "",
    ),
    "liar": (
        "class Liar:\n    shape = (3,)\n    def __eq__(self, other):\n        return True\n"
        "def double(x):\n    return Liar()\n",
        0,
        "",
    ),
    "planted": (
        "import os, sys\nos.makedirs('course_utils', exist_ok=True)\n"
        "open('course_utils/__init__.py', 'w').close()\n"
        "open('course_utils/testing.py', 'w').write("
        "'def check_tensor(*a, **k): pass\\ndef random_tensor(*s, **k):\\n"
        "    import torch\\n    return torch.ones(s)\\n')\n"
        "sys.path.insert(0, os.getcwd())\n"
        "for name in [m for m in sys.modules if m.startswith('course_utils')]:\n"
        "    del sys.modules[name]\n" + WRONG,
        0,
        "",
    ),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("course"), ("tensors",))
    course = Course(root)
    release(course, "tensors")
    stub = released(root, "tensors")
    for student, (code, _, _) in CLASS.items():
        submit(root, student, "tensors", fill(stub, "double", code))
    limits = Limits(cell_timeout=60, submission_timeout=240)
    return {
        r.student: r for r in autograde(course, "tensors", jobs=2, limits=limits, progress=False)
    }


@pytest.mark.parametrize("student", sorted(CLASS))
def test_comparisons_cannot_be_made_to_lie(graded, student):
    _, score, word = CLASS[student]
    result = graded[student]
    assert result.score == score, (student, result.status)
    assert word in result.status
    if student == "full":
        assert result.notes == []
