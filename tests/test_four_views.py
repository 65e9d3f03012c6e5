"""One verdict per test cell, whoever gives it (issue 24): plain Jupyter, the in-notebook
self-check (the sentence under the cell and the ``report()`` table), ``course check`` and
``course autograde``.

A small assignment made here has a part for every kind of check (a tensor, a close number, an
exact int, bool and dict, a type, an exception, a property), and the class answers it in every
way that matters: right, with NumPy types instead of Python or torch ones, with wrong values,
with wrong types, and not at all (the stub). Each submission is run as a student runs it, checked
with ``course check``, and graded with ``course autograde``; the verdicts must be the same.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import grading_fixture as fixture
import nbformat
import pytest
from grading_fixture import ROOT, SB, SE, notebook, solution_cell

import course_utils
from coursekit.grading.autograde import autograde
from coursekit.grading.check import check_notebook
from coursekit.grading.course import Course
from coursekit.grading.notebooks import is_test_cell, nbgrader_meta
from coursekit.grading.release import release
from coursekit.grading.sandbox import Limits, sandbox_available
from coursekit.install import install_cell_source

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        sandbox_available() is not None and os.environ.get("COURSE_ALLOW_NO_SANDBOX") == "1",
        reason=f"no sandbox here: {sandbox_available()}",
    ),
]
LIMITS = Limits(cell_timeout=30, submission_timeout=180, memory_bytes=3 * 2**30)
IMPORT = "from course_utils.testing import "

# grade_id of the part -> (the solution's body, its test cell)
PARTS = {
    "double": (
        "def double(x):\n    return 2 * x",
        "import torch\n" + IMPORT + "check_tensor\n"
        "check_tensor(double(torch.arange(4.0)), torch.tensor([0.0, 2.0, 4.0, 6.0]), 'double')",
    ),
    "mean": (
        "def mean(values):\n    return sum(values) / len(values)",
        IMPORT + "check_close\ncheck_close(mean([1.0, 2.0, 4.0]), 7 / 3, 'mean([1, 2, 4])')",
    ),
    "count": (
        "def count(text, letter):\n    return text.count(letter)",
        IMPORT + "check_equal\ncheck_equal(count('banana', 'a'), 3, 'count of a in banana')",
    ),
    "is_even": (
        "def is_even(n):\n    return n % 2 == 0",
        IMPORT + "check_equal\ncheck_equal(is_even(4), True, 'is_even(4)')",
    ),
    "describe": (
        "def describe():\n    return {'shape': (2, 3), 'name': 'conv', 'sizes': [1, 2]}",
        IMPORT + "check_equal\ncheck_equal(describe(), "
        "{'shape': (2, 3), 'name': 'conv', 'sizes': [1, 2]}, 'describe()')",
    ),
    "layer": (
        "import torch\n\ndef layer():\n    return torch.nn.Linear(2, 3)",
        "import torch\n" + IMPORT + "check_type\ncheck_type(layer(), torch.nn.Linear, 'layer()')",
    ),
    "root": (
        "import math\n\ndef root(x):\n    if x < 0:\n        raise ValueError('negative')\n"
        "    return math.sqrt(x)",
        IMPORT + "check_raises\ncheck_raises(ValueError, root, -1.0, name='root(-1)')",
    ),
    "losses": (
        "def losses():\n    return [1.0, 0.5, 0.25]",
        IMPORT + "check_that\ncheck_that(losses(), 'falls_by', 0.5, 'the losses')",
    ),
}

# a student -> their answer for each part (a part left out keeps the released stub)
ANSWERS = {
    "right": {part: body for part, (body, _) in PARTS.items()},
    "numpy": {
        "double": "def double(x):\n    return (2 * x).numpy()",
        "mean": "import numpy as np\n\ndef mean(values):\n    return np.mean(values)",
        "count": "import numpy as np\n\ndef count(text, letter):\n"
        "    return np.int64(text.count(letter))",
        "is_even": "import numpy as np\n\ndef is_even(n):\n    return np.bool_(n % 2 == 0)",
        "describe": "import numpy as np\n\ndef describe():\n"
        "    return {'shape': (2, 3), 'name': 'conv', 'sizes': [np.int64(1), np.int64(2)]}",
        "losses": "import numpy as np\n\ndef losses():\n"
        "    return list(np.array([1.0, 0.5, 0.25]))",
    },
    "wrong": {
        "double": "def double(x):\n    return 2 * x + 1",
        "mean": "def mean(values):\n    return sum(values) / (len(values) - 1)",
        "count": "def count(text, letter):\n    return text.count(letter) + 1",
        "is_even": "def is_even(n):\n    return n % 2 == 1",
        "describe": "def describe():\n"
        "    return {'shape': (3, 2), 'name': 'conv', 'sizes': [1, 2]}",
        "layer": "import torch\n\ndef layer():\n    return torch.nn.Conv2d(2, 3, 1)",
        "root": "import math\n\ndef root(x):\n    return math.sqrt(abs(x))",
        "losses": "def losses():\n    return [1.0, 0.9, 0.8]",
    },
    "types": {
        "double": "def double(x):\n    return (2 * x).double()",
        "mean": "def mean(values):\n    return str(sum(values) / len(values))",
        "count": "def count(text, letter):\n    return float(text.count(letter))",
        "is_even": "def is_even(n):\n    return int(n % 2 == 0)",
        "describe": "def describe():\n"
        "    return {'shape': [2, 3], 'name': 'conv', 'sizes': (1, 2)}",
        "layer": "import torch\n\ndef layer():\n"
        "    return torch.nn.Sequential(torch.nn.Linear(2, 3))",
        "root": "import math\n\ndef root(x):\n    if x < 0:\n        raise TypeError('negative')\n"
        "    return math.sqrt(x)",
        "losses": "def losses():\n    return 'falling'",
    },
    "stub": {},
}


def views_notebook():
    cells = []
    for part, (body, test) in PARTS.items():
        cells.append(solution_cell(part, f"{SB}\n{body}\n{SE}"))
        cells.append(fixture.test_cell(f"test_{part}", test, 1))
    return notebook(cells)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("views-course")
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    (root / "solutions" / "views").mkdir(parents=True)
    nbformat.write(views_notebook(), root / "solutions" / "views" / "views.ipynb")
    course = Course(root)
    release(course, "views")
    return course


def _submission(course: Course, student: str) -> Path:
    nb = nbformat.read(course.release_dir / "views" / "views.ipynb", as_version=4)
    for cell in nb.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if nbgrader_meta(cell).get("solution") and grade_id in ANSWERS[student]:
            cell.source = ANSWERS[student][grade_id]
    folder = course.root / ".grading" / "submitted" / student / "views"
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / "views.ipynb")
    return folder / "views.ipynb"


def _run_in_jupyter(path: Path):
    """The notebook run top to bottom as Jupyter runs it (JupyterLab names the file in
    ``JPY_SESSION_NAME``, which the report cell reads)."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COURSE_RECORD", "NBGRADER"))}
    env["JPY_SESSION_NAME"] = str(path)
    client = NotebookClient(nb, timeout=120, allow_errors=True, kernel_name="python3")
    return client.execute(cwd=str(path.parent), env=env)


def _stdout(cell) -> str:
    return "".join(
        o.text for o in cell.get("outputs", []) if o.output_type == "stream" and o.name == "stdout"
    )


@pytest.fixture(scope="module")
def views(course):
    plain, sentence, table, checked = {}, {}, {}, {}
    for student in ANSWERS:
        path = _submission(course, student)
        executed = _run_in_jupyter(path)
        for cell in executed.cells:
            if is_test_cell(cell):
                key = (student, nbgrader_meta(cell)["grade_id"])
                plain[key] = not any(o.output_type == "error" for o in cell.outputs)
                said = _stdout(cell)
                assert said.count("This part") == 1, (key, said)
                sentence[key] = "✔ This part passes" in said
        report = _stdout(executed.cells[-1])
        for grade_id, earned, possible in re.findall(
            r"^(test_\w+)\s+(\S+) / (\S+)", report, flags=re.MULTILINE
        ):
            table[(student, grade_id)] = earned == possible
        for cell in check_notebook(path).cells:
            checked[(student, cell.grade_id)] = cell.earned == cell.possible
    graded = {}
    for result in autograde(course, "views", jobs=2, limits=LIMITS, progress=False):
        for grade_id, (earned, possible) in result.cells.items():
            graded[(result.student, grade_id)] = earned == possible
    return {
        "plain Jupyter": plain,
        "the sentence under the cell": sentence,
        "the report() table": table,
        "course check": checked,
        "course autograde": graded,
    }


def test_every_view_judges_every_test_cell_of_every_student(views):
    expected = {(s, f"test_{p}") for s in ANSWERS for p in PARTS}
    for name, verdicts in views.items():
        assert set(verdicts) == expected, name


def test_the_answers_are_not_all_judged_alike(views):
    graded = views["course autograde"]
    assert all(graded[("right", f"test_{p}")] for p in PARTS)
    assert not any(graded[(s, f"test_{p}")] for s in ("wrong", "types", "stub") for p in PARTS)
    numpy = {p for p in PARTS if graded.get(("numpy", f"test_{p}"))}
    assert numpy and numpy != set(ANSWERS["numpy"]), numpy  # some NumPy answers pass, not all


def test_the_four_views_give_one_verdict_per_test_cell(views):
    graded = views["course autograde"]
    disagreements = {
        name: sorted(
            f"{student}/{grade_id}: {verdicts.get((student, grade_id))} (graded: {verdict})"
            for (student, grade_id), verdict in graded.items()
            if verdicts.get((student, grade_id)) != verdict
        )
        for name, verdicts in views.items()
    }
    assert not any(disagreements.values()), {k: v for k, v in disagreements.items() if v}


def _in_the_sandbox(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run Python code in the grading sandbox, with a graded kernel's environment."""
    from coursekit.grading import sandbox
    from coursekit.grading.course import kernel_environment
    from coursekit.grading.execute import teaching_library_dir

    sandbox.prepare_scratch(tmp_path)
    env = kernel_environment(
        {
            "HOME": str(tmp_path),
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "PYTHONNOUSERSITE": "1",
            "PYTHONPATH": str(Path(teaching_library_dir()).parent),
            "PIP_NO_INDEX": "1",  # a pip that runs fails at once (no network there anyway)
        }
    )
    command = sandbox.bwrap_command(
        tmp_path, Limits(), env, [sys.executable, "-c", code], masked=()
    )
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def test_the_install_cell_does_nothing_in_the_grading_sandbox(tmp_path):
    """The sandbox's library reports the version the release pins, so pip never runs there;
    a notebook pinned to another version would try to install (and fail without a network)."""
    ran = _in_the_sandbox(install_cell_source() + "\nprint('found', _installed)\n", tmp_path)
    assert ran.returncode == 0 and ran.stdout.strip() == f"found {course_utils.__version__}", (
        ran.stdout + ran.stderr
    )
    other = tmp_path / "other"
    other.mkdir()
    stale = _in_the_sandbox(install_cell_source("0.0.1") + "\nprint('found', _installed)\n", other)
    assert stale.returncode != 0 and "found" not in stale.stdout
