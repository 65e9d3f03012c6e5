"""The static scan follows what a banned part's code reaches across the whole notebook.

Names are followed with Python's scopes and the notebook's order: lambdas, partials,
containers, attributes set on modules, threads and pools, later redefinitions, and ``nn``
modules whose ``forward`` calls the routine. Honest code that shares a name with a scratch
cell keeps its points; code that turns off the in-kernel watch fails; dynamic code is flagged.
"""

from __future__ import annotations

import nbformat
import pytest

from coursekit.grading.bans import flags, reason, scan, violations
from coursekit.grading.notebooks import nbgrader_cell

HONEST_CONV = (
    "def conv1d_full(f, g):\n"
    "    n = len(f) + len(g) - 1\n"
    "    return np.fft.irfft(np.fft.rfft(f, n) * np.fft.rfft(g, n), n)\n"
)
HONEST_CORR = (
    "def corr2d(X, K):\n"
    "    h, w = K.shape\n"
    "    Y = torch.zeros(X.shape[0] - h + 1, X.shape[1] - w + 1)\n"
    "    for i in range(Y.shape[0]):\n"
    "        for j in range(Y.shape[1]):\n"
    "            Y[i, j] = (X[i:i + h, j:j + w] * K).sum()\n"
    "    return Y\n"
)
IMPORTS = "import numpy as np\nimport torch\nfrom torch.nn import functional as F\n"


def _tests(part: str, exercise: str = "ex01_convolution") -> tuple[str, ...]:
    from course_utils.checking.bans import BANS

    return BANS[exercise][part].tests


def _notebook(cells):
    """Cells ``(grade_id, source)``: a solution cell, ``"test:<id>"`` a test cell, None plain."""
    nb = nbformat.v4.new_notebook()
    for grade_id, source in cells:
        if grade_id is None:
            cell = nbformat.v4.new_code_cell(source)
        elif grade_id.startswith("test:"):
            cell = nbgrader_cell(source, grade_id[5:], points=1)
        else:
            cell = nbgrader_cell(source, grade_id)
        nb.cells.append(cell)
    return nb


def test_a_parameter_is_not_a_scratch_cells_global_of_the_same_name():
    nb = _notebook(
        [
            ("imports", IMPORTS),
            (None, "f = np.convolve\ng = np.correlate\nprint(f([1, 2], [1, 1]))"),
            ("conv1d_full", HONEST_CONV),
            ("test:test_conv1d_full", "conv1d_full(np.ones(3), np.ones(2))"),
            (None, "corr = F.conv2d\nK = torch.ones(2, 2)"),
            ("corr2d", HONEST_CORR),
        ]
    )
    assert violations(nb, "ex01_convolution") == {}
    assert flags(nb, "ex01_convolution") == {}


def test_a_global_the_part_really_calls_is_followed_to_the_scratch_cell():
    nb = _notebook(
        [
            ("imports", IMPORTS),
            (None, "helper = np.convolve"),
            ("conv1d_full", "def conv1d_full(a, b):\n    return helper(a, b)\n"),
        ]
    )
    assert violations(nb, "ex01_convolution") == {"test_conv1d_full": ["numpy.convolve"]}


def test_a_lambda_from_another_cell_run_in_a_thread_is_followed():
    nb = _notebook(
        [
            ("imports", IMPORTS + "import threading\n"),
            (None, "_op = lambda X, K: F.conv2d(X[None, None], K[None, None])[0, 0]"),
            (
                "corr2d",
                "def corr2d(X, K):\n    out = {}\n"
                "    t = threading.Thread(target=lambda: out.update(y=_op(X, K)))\n"
                "    t.start()\n    t.join()\n    return out['y']\n",
            ),
        ]
    )
    assert violations(nb, "ex01_convolution") == {
        test: ["torch.nn.functional.conv2d"] for test in _tests("corr2d")
    }


def test_a_later_cell_that_redefines_the_part_before_its_test_is_the_parts_code():
    pool = (
        "from concurrent.futures import ThreadPoolExecutor\n"
        "def conv1d_full(f, g):\n"
        "    with ThreadPoolExecutor(2) as pool:\n"
        "        return pool.submit(np.convolve, f, g).result()\n"
    )
    cells = [
        ("imports", IMPORTS),
        ("conv1d_full", HONEST_CONV),
        (None, pool),
        ("test:test_conv1d_full", "conv1d_full(np.ones(3), np.ones(2))"),
    ]
    assert violations(_notebook(cells), "ex01_convolution") == {
        "test_conv1d_full": ["numpy.convolve"]
    }
    # after the last test the redefinition changes no grade
    late = [cells[0], cells[1], cells[3], cells[2]]
    assert violations(_notebook(late), "ex01_convolution") == {}


@pytest.mark.parametrize(
    "setup, body",
    [
        ("import functools\n_c = functools.partial(np.convolve, mode='full')", "_c(f, g)"),
        ("OPS = {}\nOPS['conv'] = np.convolve", "OPS['conv'](f, g)"),
        ("OPS = []\nOPS.append(np.correlate)", "OPS[0](f, g[::-1], 'full')"),
        ("np.my_conv = np.convolve", "np.my_conv(f, g)"),
        ("setattr(np, 'my_conv', np.convolve)", "np.my_conv(f, g)"),
        ("class Box:\n    pass\nbox = Box()\nbox.op = np.convolve", "box.op(f, g)"),
        ("", "getattr(np, 'convolve')(f, g)"),
        (
            "def _make():\n    global _hidden\n    _hidden = np.convolve\n_make()",
            "_hidden(f, g)",
        ),
    ],
)
def test_partials_containers_attributes_and_globals_are_followed(setup, body):
    nb = _notebook(
        [
            ("imports", IMPORTS),
            (None, setup),
            ("conv1d_full", f"def conv1d_full(f, g):\n    return {body}\n"),
        ]
    )
    found = violations(nb, "ex01_convolution")
    assert set(found) == {"test_conv1d_full"}, found
    assert set(found["test_conv1d_full"]) <= {"numpy.convolve", "numpy.correlate"}


def test_code_swapped_into_the_parts_function_by_a_later_cell_is_followed():
    nb = _notebook(
        [
            ("imports", IMPORTS),
            ("conv1d_full", HONEST_CONV),
            (None, "def _other(f, g):\n    return np.convolve(f, g)\n"),
            (None, "conv1d_full.__code__ = _other.__code__"),
        ]
    )
    assert violations(nb, "ex01_convolution") == {"test_conv1d_full": ["numpy.convolve"]}
    assert flags(nb, "ex01_convolution") == {"conv1d_full": ["__code__"]}


def test_an_import_by_a_constant_name_is_decided_not_flagged():
    nb = _notebook(
        [
            ("imports", "import importlib\nimport numpy as np\n"),
            (
                "conv1d_full",
                "def conv1d_full(f, g):\n"
                "    return importlib.import_module('numpy').convolve(f, g)\n",
            ),
        ]
    )
    assert violations(nb, "ex01_convolution") == {"test_conv1d_full": ["numpy.convolve"]}
    assert flags(nb, "ex01_convolution") == {}


def test_a_global_rebound_after_a_module_level_call_is_still_followed():
    """``_make()`` runs in the part's cell, while ``op`` is still ``np.convolve``."""
    nb = _notebook(
        [
            ("imports", IMPORTS),
            (None, "op = np.convolve"),
            (
                "conv1d_full",
                "def _make():\n    o = op\n    return lambda f, g: o(f, g)\n"
                "conv1d_full = _make()\n",
            ),
            (None, "op = None"),
            ("test:test_conv1d_full", "conv1d_full(np.ones(3), np.ones(2))"),
        ]
    )
    assert violations(nb, "ex01_convolution") == {"test_conv1d_full": ["numpy.convolve"]}


def test_an_nn_module_whose_forward_calls_the_routine_is_followed():
    nb = _notebook(
        [
            ("imports", IMPORTS + "from torch import nn\n"),
            (
                None,
                "class Corr(nn.Module):\n    def forward(self, X, K):\n"
                "        return F.conv2d(X[None, None], K[None, None])[0, 0]\n",
            ),
            ("corr2d", "def corr2d(X, K):\n    return Corr()(X, K)\n"),
        ]
    )
    assert violations(nb, "ex01_convolution") == {
        test: ["torch.nn.functional.conv2d"] for test in _tests("corr2d")
    }


def test_an_attribute_set_on_a_module_reaches_only_the_parts_that_read_it():
    nb = _notebook(
        [
            ("imports", IMPORTS),
            (None, "np.my_conv = np.convolve\ntorch.fastconv = torch.ops.aten.convolution"),
            ("conv1d_full", HONEST_CONV),
            ("corr2d", HONEST_CORR),
            ("fft_convolve", "def fft_convolve(f, g):\n    return torch.fastconv(f, g)\n"),
        ]
    )
    assert set(violations(nb, "ex01_convolution")) == set(_tests("fft_convolve"))


def test_native_batch_norm_stored_on_torch_under_disabled_dispatch_fails():
    nb = _notebook(
        [
            ("imports", "import torch\n"),
            (None, "torch.fast_norm = torch.ops.aten.native_batch_norm"),
            (
                "batch_norm",
                "def batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum):\n"
                "    with torch._C._DisableTorchDispatch():\n"
                "        Y = torch.fast_norm(X, gamma, beta, moving_mean, moving_var, True,"
                " momentum, eps)[0]\n"
                "    return Y, moving_mean, moving_var\n",
            ),
        ]
    )
    found = violations(nb, "ex04_architectures")
    names = set(found["test_batch_norm_training"])
    assert "torch._C._DisableTorchDispatch" in names
    assert any("native_batch_norm" in n for n in names), names
    assert "library ban" in reason(sorted(names))


def test_turning_off_the_watch_alone_fails_the_part_with_its_own_reason():
    nb = _notebook(
        [
            ("imports", "import sys\nimport numpy as np\n"),
            ("conv1d_full", "def conv1d_full(f, g):\n    sys.setprofile(None)\n    return f\n"),
        ]
    )
    names = violations(nb, "ex01_convolution")["test_conv1d_full"]
    assert names == ["sys.setprofile"]
    assert "turns off the watch" in reason(names)


def test_dynamic_code_is_flagged_for_the_instructor_not_failed():
    nb = _notebook(
        [
            ("imports", IMPORTS),
            (None, "name = 'conv' + 'olve'"),
            ("conv1d_full", "def conv1d_full(f, g):\n    return getattr(np, name)(f, g)\n"),
            ("corr2d", "def corr2d(X, K):\n    return eval('X')\n"),
        ]
    )
    assert violations(nb, "ex01_convolution") == {}
    found = flags(nb, "ex01_convolution")
    assert found == {
        "conv1d_full": ["getattr with a computed name"],
        "corr2d": ["eval"],
    }
    assert scan(nb, "ex01_convolution")["fft_convolve"].dynamic == set()


@pytest.mark.parametrize("terms", [1500, 20_000])
def test_code_nested_too_deep_to_read_is_flagged_or_unreadable_never_a_crash(terms):
    """A sum of 1,500 terms compiles in CPython but nests deeper than the scan's reading goes:
    flagged for the instructor (points kept). 20,000 terms: CPython cannot compile it either, so
    the part's code cannot be read as Python (the part's ban fails, as for a syntax error)."""
    from coursekit.grading.bans import TOO_DEEP, UNREADABLE

    deep = "_x = 1" + " + 1" * terms + "\n"
    nb = _notebook([("imports", IMPORTS), ("corr2d", HONEST_CORR + deep)])
    found = scan(nb, "ex01_convolution")
    if terms == 1500:
        compile(deep, "cell", "exec")
        assert found["corr2d"].dynamic == {TOO_DEEP} and not found["corr2d"].banned
    else:
        assert found["corr2d"].banned == {UNREADABLE}


def test_the_solutions_with_scratch_cells_that_mention_banned_routines_stay_clean():
    from pathlib import Path

    from course_utils.checking.bans import BANS

    root = Path(__file__).resolve().parents[1]
    scratch = (
        "import numpy as np\nimport torch\nfrom torch.nn import functional as F\n"
        "f = np.convolve\ng = F.conv2d\nX = torch.nn.functional.batch_norm\n"
        "K = F.max_pool2d\nn = np.linalg.solve\n"
    )
    for exercise in sorted(BANS):
        nb = nbformat.read(root / "solutions" / exercise / f"{exercise}.ipynb", as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell(scratch))
        nb.cells.insert(1, nbformat.v4.new_code_cell(scratch))
        assert violations(nb, exercise) == {}, exercise
        assert flags(nb, exercise) == {}, exercise


# -- threads and processes the notebook starts (red team, issue 28 item 2) --------------------
_WORKER = (
    "import queue\n"
    "from threading import Thread as _T\n"
    "jobs, answers = queue.Queue(), queue.Queue()\n"
    "_table = {'c': np.convolve}\n"
    "def _work():\n"
    "    while True:\n"
    "        name, f, g = jobs.get()\n"
    "        answers.put(_table[name](f, g))\n"
    "_T(target=_work, daemon=True).start()\n"
)
_QUEUED_CONV = "def conv1d_full(f, g):\n    jobs.put(('c', f, g))\n    return answers.get()\n"


def test_a_worker_thread_started_in_an_earlier_cell_is_flagged_for_the_instructor():
    """The part's code hands its inputs to a queue; the banned routine runs in a thread that a
    scratch cell started. The part's own reach has no banned name (the queue's contents are
    not followed), so the notebook as a whole is flagged: the watch cannot see that thread."""
    from coursekit.grading.bans import apply, notebook_flags

    nb = _notebook(
        [
            ("imports", IMPORTS),
            (None, _WORKER),
            ("conv1d_full", _QUEUED_CONV),
            ("test:test_conv1d_full", "conv1d_full(np.ones(3), np.ones(2))"),
        ]
    )
    assert notebook_flags(nb) == ["threading.Thread"]
    notes = apply({}, {"ex01_convolution": nb}, "ex01_convolution")
    assert any("threading.Thread" in n and "points kept" in n for n in notes), notes


@pytest.mark.parametrize(
    "starter, named",
    [
        ("import _thread as t\nt.start_new_thread(print, ('x',))", "_thread"),
        (
            "from concurrent.futures import ThreadPoolExecutor\npool = ThreadPoolExecutor(1)",
            "concurrent.futures",
        ),
        ("import multiprocessing as mp\np = mp.Process(target=print)", "multiprocessing"),
        ("import os\ndef spawn():\n    return os.fork()\n", "os.fork"),
        ("import torch.multiprocessing as tmp\nq = tmp.Queue()", "torch.multiprocessing"),
        ("import sys\nsys._current_frames = lambda: {}", "sys._current_frames"),
        ("t = __import__('thr' + 'eading')", "an import of a computed module name"),
        (
            "import torch\ndef work():\n    pass\n"
            "work.__code__ = work.__code__.replace(co_filename=torch.__file__)",
            "__code__",
        ),
    ],
)
def test_every_way_to_start_a_thread_or_process_is_named_wherever_it_is(starter, named):
    from coursekit.grading.bans import notebook_flags

    nb = _notebook([("imports", IMPORTS), (None, starter), ("conv1d_full", HONEST_CONV)])
    assert named in notebook_flags(nb)


def test_the_install_cell_and_honest_solutions_with_scratch_cells_are_not_flagged():
    """The course's install cell runs pip with subprocess: it is the course's, not the
    student's. Only an unchanged install cell is passed over."""
    from pathlib import Path

    from course_utils.checking.bans import BANS
    from coursekit.grading.bans import apply, notebook_flags
    from coursekit.install import install_cell_source

    root = Path(__file__).resolve().parents[1]
    scratch = "import numpy as np\nf = np.convolve\nprint(f([1, 2], [1]))\nimport queue\n"
    for exercise in sorted(BANS):
        nb = nbformat.read(root / "exercises" / exercise / f"{exercise}.ipynb", as_version=4)
        solution = nbformat.read(root / "solutions" / exercise / f"{exercise}.ipynb", as_version=4)
        solution.cells.insert(0, nbformat.v4.new_code_cell(install_cell_source("0.2.0")))
        solution.cells.append(nbformat.v4.new_code_cell(scratch))
        assert notebook_flags(nb) == [] and notebook_flags(solution) == [], exercise
        assert apply({}, {exercise: solution}, exercise) == [], exercise
    edited = _notebook([(None, install_cell_source() + "\nsubprocess.Popen(['sleep', '9'])\n")])
    assert notebook_flags(edited) == ["subprocess"]
