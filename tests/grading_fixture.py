"""A small nbgrader course built in a temporary folder for the grading tests.

Two assignments: ``arith`` (pure Python numbers, fast) and ``tensors`` (imports torch); both
check with ``course_utils.testing``, whose records the grader compares. ``make_course`` copies
the real ``nbgrader_config.py`` so the tests exercise the configuration the course ships.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

from coursekit.grading.notebooks import nbgrader_cell

ROOT = Path(__file__).resolve().parents[1]
HB, HE = "### BEGIN " + "HIDDEN TESTS", "### END " + "HIDDEN TESTS"
SB, SE = "### BEGIN " + "SOLUTION", "### END " + "SOLUTION"


def solution_cell(grade_id: str, body: str):
    return nbgrader_cell(body, grade_id)


def test_cell(grade_id: str, body: str, points: float):
    return nbgrader_cell(body, grade_id, points)


def notebook(cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Exercise\nCheck your work with `course check`."),
        *cells,
    ]
    return nb


ARITH_SOLUTION = {
    "add": f"def add(a, b):\n    {SB}\n    return a + b\n    {SE}",
    "mul": f"def mul(a, b):\n    {SB}\n    return a * b\n    {SE}",
}


def arith_notebook(add_body=None, mul_body=None):
    return notebook(
        [
            solution_cell("add", add_body or ARITH_SOLUTION["add"]),
            test_cell(
                "test_add",
                "from course_utils.testing import check_close, check_equal\n"
                "check_equal(add(2, 3), 5, 'add(2, 3)')\n"
                f"{HB}\nimport random\n_rng = random.Random(7)\n"
                "for _ in range(5):\n    _a, _b = _rng.random(), _rng.random()\n"
                "    check_close(add(_a, _b), _a + _b, 'add on random inputs', atol=1e-12)\n"
                f"{HE}",
                2,
            ),
            solution_cell("mul", mul_body or ARITH_SOLUTION["mul"]),
            test_cell(
                "test_mul",
                "from course_utils.testing import check_equal\n"
                "check_equal(mul(2, 3), 6, 'mul(2, 3)')\n"
                f"{HB}\ncheck_equal(mul(-4, 2.5), -10.0, 'mul on negatives')\n{HE}",
                3,
            ),
        ]
    )


TENSORS_SOLUTION = f"import torch\n\ndef double(x):\n    {SB}\n    return 2 * x\n    {SE}"


def tensors_notebook(body=None):
    return notebook(
        [
            solution_cell("double", body or TENSORS_SOLUTION),
            test_cell(
                "test_double",
                "import torch\nfrom course_utils.testing import check_tensor, random_tensor\n"
                "check_tensor(double(torch.ones(3)), torch.full((3,), 2.0))\n"
                f"{HB}\nx_hidden = random_tensor(4, 5, seed=3)\n"
                "check_tensor(double(x_hidden), x_hidden + x_hidden, name='double(x)')\n"
                f"{HE}",
                4,
            ),
        ]
    )


def make_course(folder: Path, assignments=("arith",)) -> Path:
    """A course in ``folder`` with the given assignments in solutions/ and released."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", folder / "nbgrader_config.py")
    builders = {"arith": arith_notebook, "tensors": tensors_notebook}
    for name in assignments:
        (folder / "solutions" / name).mkdir(parents=True, exist_ok=True)
        nbformat.write(builders[name](), folder / "solutions" / name / f"{name}.ipynb")
    return folder


def submit(
    course: Path,
    student: str,
    assignment: str,
    nb=None,
    name: str | None = None,
    raw: bytes | None = None,
) -> Path:
    """Put a submission in submitted/STUDENT/ASSIGNMENT/ (a notebook node or raw bytes)."""
    folder = Path(course) / ".grading" / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"{assignment}.ipynb")
    if raw is not None:
        path.write_bytes(raw)
    else:
        nbformat.write(nb, path)
    return path


def released(course: Path, assignment: str):
    return nbformat.read(Path(course) / "exercises" / assignment / f"{assignment}.ipynb", 4)


def fill(nb, grade_id: str, code: str):
    """The released notebook with the solution cell ``grade_id`` answered by ``code``."""
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = code
    return nb
