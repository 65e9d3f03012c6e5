"""End to end: the ways a determined student beat the in-kernel guard, graded with victims.

Every attacker hands in a wrong ``double`` (or one that tries to leak the hidden test) plus code
that takes over its own kernel: audit hooks, signal timers, gc callbacks, re-arming finalizers,
functions compiled under torch's file name, callable objects, swallowed exceptions, a wrapped
``session.send``, forged records, a fork bomb, a shared-memory hog, a flood of output and the
hidden-test marker. Honest classmates are graded in the same run. The verdict is computed
outside the kernels, so no attacker earns points for a wrong answer, no hidden test reaches a
file a student receives, and every victim gets their real score, again on a regrade.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from grading_fixture import HB, fill, make_course, released, submit

from coursekit.cli import main as course_main
from coursekit.grading.autograde import autograde
from coursekit.grading.course import Course
from coursekit.grading.notebooks import text_of
from coursekit.grading.release import release
from coursekit.grading.sandbox import KernelCgroup, Limits, sandbox_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        sandbox_available() is not None and os.environ.get("COURSE_ALLOW_NO_SANDBOX") == "1",
        reason=f"no sandbox here: {sandbox_available()}",
    ),
]

RIGHT = "def double(x):\n    return 2 * x\n"
WRONG = "def double(x):\n    return x\n"
RAISES = "def double(x):\n    raise NotImplementedError()\n"
HIDDEN_LINES = ("x_hidden = random_tensor(4, 5, seed=3)", "check_tensor(double(x_hidden)")

ATTACKS = {
    "audit-hook": "import sys\nimport course_utils.testing as t\n"
    "def _hook(event, args):\n    if event == 'compile':\n"
    "        t.check_tensor = lambda *a, **k: None\n"
    "sys.addaudithook(_hook)\n" + WRONG,
    "expected-as-actual": "import course_utils.testing as t\n_real = t.send_record\n"
    "def _fake(actual, expected=None, name='r', **k):\n"
    "    _real('tensor', name, expected)\n"
    "t.check_tensor = _fake\n" + WRONG,
    "signal-timer": "import signal\nimport course_utils.testing as t\n"
    "def _again(*_):\n    t.check_tensor = lambda *a, **k: None\n"
    "signal.signal(signal.SIGALRM, _again)\n"
    "signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)\n" + WRONG,
    "gc-callback": "import gc\nimport course_utils.testing as t\n"
    "gc.callbacks.append(lambda phase, info: setattr(t, 'check_tensor', "
    "lambda *a, **k: None))\n" + WRONG,
    "finalizer": "import gc, weakref\nimport course_utils.testing as t\n"
    "class _Tick:\n    pass\n"
    "def _arm():\n    t.check_tensor = lambda *a, **k: None\n"
    "    o = _Tick()\n    o.me = o\n    weakref.finalize(o, _arm)\n"
    "_arm()\n" + WRONG,
    "forged-file": "import torch\nimport course_utils.testing as t\n_ns = {}\n"
    "exec(compile('def check_tensor(*a, **k):\\n    return None\\n', "
    "torch.__file__, 'exec'), _ns)\nt.check_tensor = _ns['check_tensor']\n" + WRONG,
    "callable-object": "import course_utils.testing as t\n"
    "class _Base:\n    def __call__(self, *a, **k):\n        return None\n"
    "class _Quiet(_Base):\n    pass\nt.check_tensor = _Quiet()\n" + WRONG,
    "custom-exc": "get_ipython().set_custom_exc((BaseException,), "
    "lambda shell, etype, value, tb, tb_offset=None: None)\n" + RAISES,
    "token-printer": "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: "
    "print('course-guard-' + '0' * 32))\n" + RAISES,
    "send-wrapper": "_kernel = get_ipython().kernel\n_send = _kernel.session.send\n"
    "def _send_ok(stream, msg_or_type, content=None, *args, **kwargs):\n"
    "    if msg_or_type == 'error':\n        return None\n"
    "    if isinstance(content, dict) and content.get('status') == 'error':\n"
    "        content = {'status': 'ok', 'user_expressions': {}, 'payload': [],\n"
    "                   'execution_count': content.get('execution_count', 0)}\n"
    "    return _send(stream, msg_or_type, content, *args, **kwargs)\n"
    "_kernel.session.send = _send_ok\n" + RAISES,
    "forge-records": "import torch\nfrom IPython.display import publish_display_data\n"
    "import course_utils.testing as t\n"
    "def _forge(*a, **k):\n"
    "    publish_display_data({t.RECORD_MIME: {'kind': 'tensor', "
    "'actual': t.encode(torch.full((3,), 2.0))}})\n"
    "t.check_tensor = _forge\n" + WRONG,
    "leak-value": "import sys\nimport course_utils.testing as t\n_seen = []\n"
    "sys.addaudithook(lambda e, a: _seen.append(str(a[0])) if e == 'compile' "
    "and a else None)\n"
    "t.check_tensor = lambda *a, **k: t.send_record('tensor', '', '\\n'.join(_seen))\n" + WRONG,
    "mmap-hog": "import mmap\n_m = mmap.mmap(-1, 3 * 2**30)\n_chunk = b'x' * 2**20\n"
    "for _i in range(3 * 1024):\n    _m[_i * 2**20:(_i + 1) * 2**20] = _chunk\n" + RIGHT,
}
# Right answers, hostile to others or to the grader: they earn what the answers are worth.
NUISANCES = {
    "fork-bomb": "import os, time\n_kids = []\ntry:\n    for _ in range(100000):\n"
    "        pid = os.fork()\n        if pid == 0:\n            time.sleep(40)\n"
    "            os._exit(0)\n        _kids.append(pid)\nexcept OSError:\n    pass\n"
    "time.sleep(15)\n" + RIGHT,
    "leak-in": "import sys\nimport course_utils.testing as t\n_seen = []\n"
    "sys.addaudithook(lambda e, a: _seen.append(str(a[0])) if e == 'compile' "
    "and a else None)\n_real = t.send_record\n"
    "def _leak(actual, expected=None, name='r', **k):\n"
    "    text = '\\n'.join(_seen + list(get_ipython().user_ns.get('In', [])))\n"
    "    print(text)\n    _real('tensor', text, actual)\n"
    "t.check_tensor = _leak\n" + RIGHT,
    "marker": f"print({HB!r})\n# {HB}\n" + RIGHT,
}
VICTIMS = ("full", "victim-b", "victim-c")
LIMITS = Limits(cell_timeout=60, submission_timeout=300, memory_bytes=2 * 2**30, max_processes=200)


def _with_extra_cells(nb, sources):
    nb = nbformat.from_dict(nb)
    nb.cells += [nbformat.v4.new_code_cell(s) for s in sources]
    return nb


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("course"), ("tensors",))
    course = Course(root)
    release(course, "tensors")
    stub = released(root, "tensors")
    for student in VICTIMS:
        submit(root, student, "tensors", fill(stub, "double", RIGHT))
    for student, code in {**ATTACKS, **NUISANCES}.items():
        nb = fill(stub, "double", code)
        if student == "leak-in":  # after the test cell: print what the kernel has seen
            nb = _with_extra_cells(nb, ["print(In)\nprint(_seen)"])
        submit(root, student, "tensors", nb)
    # 60 cells of just under the per-cell cap of 2 MiB each
    flood = _with_extra_cells(fill(stub, "double", RIGHT), ["print('y' * (2 * 2**20 - 1000))"] * 60)
    submit(root, "flood", "tensors", flood)
    results = {
        r.student: r for r in autograde(course, "tensors", jobs=2, limits=LIMITS, progress=False)
    }
    return root, course, results


def test_no_attack_earns_points_for_a_wrong_answer(attacked):
    _, _, results = attacked
    earned = {s: results[s].score for s in ATTACKS if results[s].score != 0}
    assert not earned, {s: results[s].status for s in earned}
    assert all(results[s].max_score == 4 for s in ATTACKS)


def test_victims_and_right_answers_get_their_real_scores(attacked):
    _, _, results = attacked
    for student in (*VICTIMS, "leak-in", "marker", "flood"):
        assert results[student].score == 4, (student, results[student].status)


def test_the_shared_memory_hog_is_stopped_by_its_memory_limit(attacked):
    _, _, results = attacked
    probe = KernelCgroup(f"course-probe-{os.getpid()}", LIMITS)
    probe.remove()
    if probe.why:
        pytest.skip(f"{probe.why} here: only the rlimits apply")
    assert "kernel died" in results["mmap-hog"].status


def _received_files(root: Path) -> list[Path]:
    grading = root / ".grading"
    return [p for p in (grading / "autograded").rglob("*") if p.is_file()] + [
        p for p in (grading / "feedback").rglob("*") if p.is_file()
    ]


def test_feedback_for_the_whole_class_shows_no_hidden_test(attacked):
    root, _, results = attacked
    assert course_main(["--root", str(root), "feedback", "tensors"]) == 0
    pages = {p.parts[-3]: p for p in (root / ".grading" / "feedback").rglob("*.html")}
    assert set(pages) == set(results)  # the marker did not stop anyone's feedback
    files = _received_files(root)
    assert files
    for path in files:
        text = text_of(path)
        for line in HIDDEN_LINES:
            assert line not in text, (path, line)
    verdicts = [
        v.message for r in results.values() for nb in r.verdicts.values() for v in nb.values()
    ]
    assert verdicts and not any("seed=3" in m or "x_hidden" in m for m in verdicts)


def test_graded_notebooks_hold_no_student_output(attacked):
    root, _, _ = attacked
    flood = root / ".grading" / "autograded" / "flood" / "tensors" / "tensors.ipynb"
    assert flood.stat().st_size < 2**20
    nb = nbformat.read(flood, as_version=4)
    tests = [
        c
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade")
        and not c.metadata["nbgrader"].get("solution")
    ]
    assert [c.metadata["nbgrader"]["grade_id"] for c in tests] == ["test_double"]
    assert "course-guard" not in tests[0].source and "check_tensor(double(" in tests[0].source
    others = [c for c in nb.cells if c.cell_type == "code" and c not in tests]
    assert others and all(c.outputs == [] for c in others)


def test_a_regrade_gives_identical_scores(attacked):
    _, course, results = attacked
    again = {
        r.student: r
        for r in autograde(
            course,
            "tensors",
            students=["full", "audit-hook", "leak-in", "custom-exc"],
            jobs=2,
            limits=LIMITS,
            progress=False,
        )
    }
    for student, result in again.items():
        assert result.cells == results[student].cells, student


def test_a_notebooks_output_is_capped_in_total(tmp_path):
    """60 cells just under the per-cell cap do not make a 120 MiB notebook (feedback runs)."""
    from coursekit.grading.execute import GradingClient

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell("print('y' * 900_000)") for _ in range(12)]
    client = GradingClient(
        nb=nb,
        timeout=60,
        allow_errors=True,
        max_output_bytes=2**20,
        max_notebook_output_bytes=3 * 2**20,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute(cwd=str(tmp_path))
    kept = sum(len(o.get("text", "")) for c in nb.cells for o in c.outputs)
    assert 2 * 2**20 < kept <= 3 * 2**20 + 1000
    assert any("notebook's output cut" in e for e in client.events)


EX01_THIEF = (
    "import sys\nimport course_utils.testing as t\n_real = t.send_record\n"
    "def _steal(kind):\n"
    "    def check(actual=None, expected=None, name='r', *a, **k):\n"
    "        frame = sys._getframe(1)\n"
    "        found = [v for n, v in frame.f_locals.items() if 'expected' in n]\n"
    "        _real(kind, name, found[0] if found else expected)\n"
    "    return check\n"
    "t.check_tensor, t.check_equal = _steal('tensor'), _steal('equal')\n"
    "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)\n"
)


def test_ex01_attacks_earn_nothing_and_the_solution_full_marks(tmp_path):
    """The real ex01: a thief that records the test's expected values, graded with a victim."""
    import shutil

    root = tmp_path / "course"
    root.mkdir()
    repo = Path(__file__).resolve().parents[1]
    shutil.copy(repo / "nbgrader_config.py", root / "nbgrader_config.py")
    for part in ("solutions", "exercises"):
        shutil.copytree(repo / part / "ex01_convolution", root / part / "ex01_convolution")
    course = Course(root)
    solution = nbformat.read(
        root / "solutions" / "ex01_convolution" / "ex01_convolution.ipynb", as_version=4
    )
    stub = released(root, "ex01_convolution")
    submit(root, "victim", "ex01_convolution", solution)
    wrong = {
        "conv1d_full": "def conv1d_full(f, g):\n    return f\n",
        "corr2d": "def corr2d(X, K):\n    return X\n",
        "conv_output_size": "def conv_output_size(n, kernel_size, stride=1, padding=0):\n"
        "    return n\n",
        "fft_convolve": "def fft_convolve(f, g):\n    return f\n",
        "signal_period": "def signal_period(x):\n    return 1\n",
    }
    thief = stub
    for grade_id, code in wrong.items():
        thief = fill(thief, grade_id, (EX01_THIEF if grade_id == "conv1d_full" else "") + code)
    submit(root, "thief", "ex01_convolution", thief)
    results = {
        r.student: r
        for r in autograde(course, "ex01_convolution", jobs=2, limits=LIMITS, progress=False)
    }
    total = sum(
        cell.metadata.get("nbgrader", {}).get("points", 0)
        for cell in solution.cells
        if cell.metadata.get("nbgrader", {}).get("grade")
    )
    assert total >= 10  # every part of ex01 and its prediction question
    assert results["victim"].score == results["victim"].max_score == total
    assert results["thief"].score == 0, results["thief"].verdicts


# -- library bans on the whole notebook, graded end to end (issue 28) ------------------------
EX01_SCRATCH = (
    "f = np.convolve\ng = F.conv2d\n"
    "print(f(np.ones(3), np.ones(2)), g(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2)).shape)"
)
EX01_THREAD_LAMBDA = (
    "import threading\n_op = lambda X, K: F.conv2d(X[None, None], K[None, None])[0, 0]",
    "def corr2d(X, K):\n"
    "    if K.shape[0] > X.shape[0] or K.shape[1] > X.shape[1]:\n"
    "        raise ValueError('the kernel is larger than the input')\n"
    "    out = {}\n"
    "    t = threading.Thread(target=lambda: out.update(y=_op(X, K)))\n"
    "    t.start()\n    t.join()\n    return out['y']\n",
)
EX01_POOL_REDEFINITION = (
    "from concurrent.futures import ThreadPoolExecutor\n"
    "def conv1d_full(f, g):\n"
    "    with ThreadPoolExecutor(1) as pool:\n"
    "        out = pool.submit(np.convolve, f.numpy(), g.numpy()).result()\n"
    "    return torch.as_tensor(out, dtype=f.dtype)\n"
)
EX01_OPS_ON_TORCH = (
    "torch.fastconv = torch.ops.aten.convolution",
    "def corr2d(X, K):\n"
    "    if K.shape[0] > X.shape[0] or K.shape[1] > X.shape[1]:\n"
    "        raise ValueError('the kernel is larger than the input')\n"
    "    with torch._C._DisableTorchDispatch():\n"
    "        Y = torch.fastconv(X[None, None], K[None, None], None, [1, 1], [0, 0], [1, 1],"
    " False, [0, 0], 1)\n"
    "    return Y[0, 0]\n",
)
EX01_COMPUTED_NAME = (
    "import threading\n_name = 'con' + 'v2d'",
    "def corr2d(X, K):\n"
    "    if K.shape[0] > X.shape[0] or K.shape[1] > X.shape[1]:\n"
    "        raise ValueError('the kernel is larger than the input')\n"
    "    out = {}\n"
    "    run = lambda: out.update(y=getattr(F, _name)(X[None, None], K[None, None])[0, 0])\n"
    "    t = threading.Thread(target=run)\n    t.start()\n    t.join()\n    return out['y']\n",
)

# A worker started in an earlier, ordinary cell runs np.convolve for work it takes from a
# queue; the graded function only queues its inputs (no banned name in its reach) and waits.
EX01_EARLIER_WORKER = (
    "import queue\n"
    "{imports}\n"
    "jobs, answers = queue.Queue(), queue.Queue()\n"
    "_table = {{'c': np.convolve}}\n"
    "def work():\n"
    "    while True:\n"
    "        name, f, g = jobs.get()\n"
    "        answers.put(_table[name](f, g))\n"
    "{start}\n"
)
EX01_QUEUED_CONV = (
    "def conv1d_full(f, g):\n"
    "    jobs.put(('c', f.numpy(), g.numpy()))\n"
    "    return torch.as_tensor(answers.get(), dtype=f.dtype)\n"
)
EX01_WORKERS = {
    "earlier-thread": EX01_EARLIER_WORKER.format(
        imports="import threading",
        start="threading.Thread(target=work, daemon=True).start()",
    ),
    "earlier-raw-thread": EX01_EARLIER_WORKER.format(
        imports="import _thread", start="_thread.start_new_thread(work, ())"
    ),
}


def _insert_after(nb, grade_id: str, source: str):
    """``nb`` with an ordinary code cell ``source`` right after the cell ``grade_id``."""
    nb = nbformat.from_dict(nb)
    index = next(
        i
        for i, c in enumerate(nb.cells)
        if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    )
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
    return nb


def _solution_cell(nb, grade_id: str) -> str:
    return next(
        c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    )


def _class_with_victims(tmp_path_factory, name: str):
    """A copy of the course's ``name`` in a temporary course, with an honest ``victim`` (the
    solution) and an untouched ``stub`` handed in: ``(root, course, solution)``."""
    import shutil

    root = tmp_path_factory.mktemp(name) / "course"
    root.mkdir()
    repo = Path(__file__).resolve().parents[1]
    shutil.copy(repo / "nbgrader_config.py", root / "nbgrader_config.py")
    for part in ("solutions", "exercises"):
        shutil.copytree(repo / part / name, root / part / name)
    solution = nbformat.read(root / "solutions" / name / f"{name}.ipynb", as_version=4)
    submit(root, "victim", name, solution)
    submit(root, "stub", name, released(root, name))
    return root, Course(root), solution


def hand_in_attackers(root, name: str, solution, attackers: dict) -> None:
    """Hand in, per attacker ``{student: (part, {grade_id: code}, setup cell or None)}``, the
    honest solution with those cells replaced and the setup cell inserted after the imports."""
    for student, (_, codes, setup) in attackers.items():
        nb = _insert_after(solution, "imports", setup) if setup else solution
        for grade_id, code in codes.items():
            nb = fill(nb, grade_id, code)
        submit(root, student, name, nb)


@pytest.fixture(scope="module")
def ex01_bans(tmp_path_factory):
    """ex01 graded once: honest victims (one with scratch cells that use banned routines), an
    untouched stub, three evasions of the ban watch and one dynamic lookup."""
    name = "ex01_convolution"
    root, course, solution = _class_with_victims(tmp_path_factory, name)
    scratch = _insert_after(
        _insert_after(solution, "imports", EX01_SCRATCH), "corr2d", EX01_SCRATCH
    )
    submit(root, "scratch", name, scratch)
    setup, code = EX01_THREAD_LAMBDA
    submit(
        root, "thread-lambda", name, fill(_insert_after(solution, "imports", setup), "corr2d", code)
    )
    submit(
        root,
        "pool-redefinition",
        name,
        _insert_after(solution, "conv1d_full", EX01_POOL_REDEFINITION),
    )
    setup, code = EX01_OPS_ON_TORCH
    submit(
        root, "ops-on-torch", name, fill(_insert_after(solution, "imports", setup), "corr2d", code)
    )
    setup, code = EX01_COMPUTED_NAME
    submit(
        root, "computed-name", name, fill(_insert_after(solution, "imports", setup), "corr2d", code)
    )
    for student, worker in EX01_WORKERS.items():
        submit(
            root,
            student,
            name,
            fill(_insert_after(solution, "imports", worker), "conv1d_full", EX01_QUEUED_CONV),
        )
    results = {r.student: r for r in autograde(course, name, jobs=2, limits=LIMITS, progress=False)}
    total = sum(
        cell.metadata.get("nbgrader", {}).get("points", 0)
        for cell in solution.cells
        if cell.metadata.get("nbgrader", {}).get("grade")
    )
    return results, total


def test_honest_solutions_keep_full_marks_with_scratch_cells_that_use_banned_routines(ex01_bans):
    results, total = ex01_bans
    for student in ("victim", "scratch"):
        assert results[student].score == results[student].max_score == total, (
            student,
            results[student].status,
        )
    assert results["stub"].score == 0
    for student in ("victim", "scratch", "stub"):  # the stub's install cell runs pip: no flag
        assert not any("flagged" in n for n in results[student].notes), results[student].notes


@pytest.mark.parametrize(
    "student, part",
    [
        ("thread-lambda", "corr2d"),
        ("pool-redefinition", "conv1d_full"),
        ("ops-on-torch", "corr2d"),
    ],
)
def test_a_banned_routine_reached_from_another_cell_or_thread_loses_the_part(
    ex01_bans, student, part
):
    from course_utils.checking.bans import BANS

    results, total = ex01_bans
    result = results[student]
    tests = BANS["ex01_convolution"][part].tests
    for test in tests:
        verdict = result.verdicts["ex01_convolution"][test]
        assert not verdict.passed and "library ban" in verdict.message, verdict
        assert result.cells[test][0] == 0
    lost = sum(result.cells[test][1] for test in tests)
    assert result.score == total - lost, result.status  # that part only
    assert f"library ban: {part}" in result.notes, result.notes


@pytest.mark.parametrize(
    "student, named",
    [("earlier-thread", "threading.Thread"), ("earlier-raw-thread", "_thread")],
)
def test_a_worker_started_in_an_earlier_cell_is_flagged_for_the_instructor(
    ex01_bans, student, named
):
    """The watch cannot see a thread the notebook started before the test cell, and that
    thread lives on: every banned part's watched test records that it could not decide and
    fails (its other checks pass: the answers are right), the summary names what the notebook
    used, read outside the kernel, and the parts without a ban keep their points."""
    from course_utils.checking.bans import BANS

    results, total = ex01_bans
    result = results[student]
    assert any(
        n.startswith("flagged for the instructor: the notebook's code uses") and named in n
        for n in result.notes
    ), result.notes
    verdicts = result.verdicts["ex01_convolution"]
    (banned,) = [
        n.split(": ", 1)[1].split(", ") for n in result.notes if n.startswith("library ban")
    ]
    lost = 0
    for part, ban in BANS["ex01_convolution"].items():
        watched = ban.tests[0]  # the part's watched test (an _errors cell holds no watch)
        assert not verdicts[watched].passed, verdicts[watched]
        assert f"the library routines that {part} reached" in verdicts[watched].message
        assert part in banned, result.notes
        lost += result.cells[watched][1]
    assert all(
        v.passed
        for t, v in verdicts.items()
        if result.cells[t][1]
        and t not in {ban.tests[0] for ban in BANS["ex01_convolution"].values()}
    ), verdicts
    assert result.score == total - lost, result.status


def test_a_computed_lookup_is_flagged_for_the_instructor_in_the_summary(ex01_bans):
    results, total = ex01_bans
    notes = results["computed-name"].notes
    assert any(
        n.startswith("flagged for the instructor: corr2d") and "getattr with a computed name" in n
        for n in notes
    ), notes


# -- fair CPU between classmates -------------------------------------------------------------
_SETSID_ATTACKER = """
import os, time
end = time.time() + {seconds}
kids = []
for _ in range(8):
    pid = os.fork()
    if pid == 0:
        os.setsid()  # a session, and so a scheduler autogroup, of its own
        while time.time() < end:
            pass
        os._exit(0)
    kids.append(pid)
for kid in kids:
    os.waitpid(kid, 0)
t = os.times()
print(t.children_user + t.children_system)
"""
_VICTIM = """
import time
end = time.time() + {seconds}
while time.time() < end:
    pass
print(time.process_time())
"""


def _cpu_seconds_side_by_side(tmp_path, seconds: float) -> dict[str, float]:
    """CPU seconds an attacker's 8 busy ``setsid`` children and a one-process victim get in
    the same ``seconds``, each in a sandbox of its own (as two kernels of a class)."""
    import subprocess
    import sys

    from coursekit.grading.sandbox import allocate_uid, bwrap_command, prepare_scratch

    limits = Limits(memory_bytes=2**30, max_processes=64, submission_timeout=120)
    running, held = [], []
    try:
        for role, code in (("attacker", _SETSID_ATTACKER), ("victim", _VICTIM)):
            uid, lock = allocate_uid()
            group = KernelCgroup(f"course-{os.getpid()}-fair-{uid}", limits)
            held.append((lock, group))
            if group.why or group.cpu_why:
                pytest.skip(f"{group.why or group.cpu_why} here: no CPU share per kernel")
            scratch = tmp_path / role
            prepare_scratch(scratch, uid)
            argv = [sys.executable, "-c", code.format(seconds=seconds)]
            command = bwrap_command(
                scratch, limits, {"PATH": "/usr/bin:/bin"}, argv, uid, group.files, masked=()
            )
            running.append((role, subprocess.Popen(command, stdout=subprocess.PIPE, text=True)))
        return {role: float(p.communicate(timeout=120)[0].split()[-1]) for role, p in running}
    finally:
        for lock, group in held:
            group.remove()
            os.close(lock)


def test_a_setsid_attacker_leaves_a_classmate_an_equal_share_of_the_cpu(tmp_path):
    """Measured on a 2-core machine under load: without a CPU share per kernel, the victim got
    0.44 CPU seconds to the attacker's 3.04 (ratio 0.15, each setsid child an autogroup of its
    own); with it, 0.69 to 0.64 (ratio 1.07)."""
    if sandbox_available() is not None or os.geteuid() != 0:
        pytest.skip("a CPU share per kernel needs the sandbox as root")
    used = _cpu_seconds_side_by_side(tmp_path, seconds=4)
    assert used["attacker"] > 0
    assert used["victim"] >= 0.5 * used["attacker"], used


# -- facts about a model come from its exported program, not from the kernel (issue 28) ------
EX06 = "ex06_segmentation"
# No skip connection: dec1 sees the upsampled path twice, so the numbers and the convolutions
# are those of the design, and only the probe with the deep path off can tell.
EX06_NO_SKIP = (
    "class TinyUNet(nn.Module):\n"
    "    def __init__(self, base=8):\n"
    "        super().__init__()\n"
    "        b = base\n"
    "        self.pool = nn.MaxPool2d(2)\n"
    "        self.enc1 = UNetBlock(1, b)\n"
    "        self.enc2 = UNetBlock(b, 2 * b)\n"
    "        self.bottom = UNetBlock(2 * b, 4 * b)\n"
    "        self.up2 = nn.ConvTranspose2d(4 * b, 2 * b, kernel_size=2, stride=2)\n"
    "        self.dec2 = UNetBlock(4 * b, 2 * b)\n"
    "        self.up1 = nn.ConvTranspose2d(2 * b, b, kernel_size=2, stride=2)\n"
    "        self.dec1 = UNetBlock(2 * b, b)\n"
    "        self.head = nn.Conv2d(b, 1, kernel_size=1)\n"
    "\n"
    "    def forward(self, x):\n"
    "        e2 = self.enc2(self.pool(self.enc1(x)))\n"
    "        bottom = self.bottom(self.pool(e2))\n"
    "        d2 = self.dec2(torch.cat([e2, self.up2(bottom)], dim=1))\n"
    "        u1 = self.up1(d2)\n"
    "        return self.head(self.dec1(torch.cat([u1, u1], dim=1)))\n"
)
# Upsampling by interpolation and a 1x1 convolution instead of transposed convolutions.
EX06_WRONG_OPS = (
    EX06_NO_SKIP.replace(
        "nn.ConvTranspose2d(4 * b, 2 * b, kernel_size=2, stride=2)",
        "nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(4 * b, 2 * b, kernel_size=1))",
    )
    .replace(
        "nn.ConvTranspose2d(2 * b, b, kernel_size=2, stride=2)",
        "nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(2 * b, b, kernel_size=1))",
    )
    .replace("torch.cat([u1, u1], dim=1)", "torch.cat([self.enc1(x), u1], dim=1)")
)
# What a kernel that forges its records sends: the design's facts (the formula is visible),
# as numbers, in place of the exported program; and the old in-kernel checks, answered from
# the test's own visible formula.
EX06_FORGER = (
    "import course_utils.checking.heldout as _heldout\n"
    "import course_utils.testing as _testing\n"
    "from course_utils.checking import checks as _checks\n"
    "def _params(b):\n"
    "    block = lambda i, o: 9 * i * o + o + 9 * o * o + o\n"
    "    return (block(1, b) + block(b, 2 * b) + block(2 * b, 4 * b) + 4 * 4 * b * 2 * b + 2 * b\n"
    "            + block(4 * b, 2 * b) + 4 * 2 * b * b + b + block(2 * b, b) + b + 1)\n"
    "def _forged_architecture(model, input_shape, name, expected=None, zeroed=()):\n"
    "    b = int(model.enc1.conv1.out_channels)\n"
    "    facts = {'stored_numbers': _params(b), 'operations': {'conv2d': 11,\n"
    "             'conv_transpose2d': 2}, 'output_shape': [input_shape[0], 1, *input_shape[2:]],\n"
    "             'follows_input': True}\n"
    "    _checks.send_record('architecture', name, facts)\n"
    "_heldout.record_architecture = _forged_architecture\n"
    "def _forged_equal(actual, expected=None, name='', *a, **k):\n"
    "    _checks.send_record('equal', name, actual)\n"
    "_testing.check_equal = _forged_equal\n"
)


def _cell_points(nb) -> dict[str, float]:
    return {
        c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"].get("points", 0))
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    }


@pytest.fixture(scope="module")
def ex06_architectures(tmp_path_factory):
    """ex06 graded once: the solution and an untouched stub as victims, a kernel that forges
    the facts of a TinyUNet without skip connection, that TinyUNet recorded as it is, and an
    honest TinyUNet of other operations (upsampling by interpolation, no transposed
    convolution)."""
    root, course, solution = _class_with_victims(tmp_path_factory, EX06)
    forger = _insert_after(fill(solution, "tinyunet", EX06_NO_SKIP), "tinyunet", EX06_FORGER)
    submit(root, "forger", EX06, forger)
    submit(root, "wrong-ops", EX06, fill(solution, "tinyunet", EX06_WRONG_OPS))
    submit(root, "no-skip", EX06, fill(solution, "tinyunet", EX06_NO_SKIP))
    # the course's own limits: part 5 trains a network, slowly on a loaded machine
    limits = Limits(cell_timeout=600, submission_timeout=1800)
    results = {r.student: r for r in autograde(course, EX06, jobs=2, limits=limits, progress=False)}
    return results, _cell_points(solution)


def _verdicts(result) -> dict:
    (cells,) = result.verdicts.values()
    return cells


def test_the_honest_solution_keeps_full_marks_and_the_stub_earns_nothing(ex06_architectures):
    results, points = ex06_architectures
    total = sum(points.values())
    assert results["victim"].score == results["victim"].max_score == total, (
        results["victim"].status,
        {g: v.message for g, v in _verdicts(results["victim"]).items() if not v.passed},
    )
    assert results["stub"].score == 0


def test_forged_architecture_records_earn_nothing_for_the_model_they_describe(
    ex06_architectures,
):
    results, points = ex06_architectures
    verdicts = _verdicts(results["forger"])
    assert not verdicts["test_tinyunet"].passed
    assert "is not an exported model" in verdicts["test_tinyunet"].message
    # the rest of the notebook is the solution's: those parts keep their points
    for grade_id in ("test_otsu", "test_scores", "test_block", "test_predicted_dice"):
        assert verdicts[grade_id].passed, (grade_id, verdicts[grade_id].message)
    earned = sum(points[g] for g, v in verdicts.items() if v.passed)
    assert results["forger"].score == earned <= sum(points.values()) - points["test_tinyunet"]


def test_a_model_of_other_operations_fails_the_architecture_check_by_its_operations(
    ex06_architectures,
):
    results, _ = ex06_architectures
    verdict = _verdicts(results["wrong-ops"])["test_tinyunet"]
    assert not verdict.passed
    assert "'the architecture of TinyUNet(8)'" in verdict.message
    assert "its operations" in verdict.message and "numbers it stores" in verdict.message
    assert _verdicts(results["wrong-ops"])["test_block"].passed


def test_a_model_without_skip_connection_fails_the_probe_with_its_deep_path_off(
    ex06_architectures,
):
    """Its numbers and convolutions are the design's: only the grader's probe (two inputs it
    drew, with enc2 and bottom set to zero) tells, and it is a hidden check."""
    from coursekit.grading.checker import GRADED_FAILED

    results, _ = ex06_architectures
    verdict = _verdicts(results["no-skip"])["test_tinyunet"]
    assert not verdict.passed
    assert verdict.message.startswith("hidden check 5 of 6")  # the instructor's detail
    assert "whether its output changes with its input" in verdict.message
    assert verdict.shown == GRADED_FAILED  # the student's
    assert _verdicts(results["no-skip"])["test_block"].passed


# -- red team 3 (issue 28, after the fixes): ex01 graded with the victims ---------------------
# Each attacker hands in the honest solution with ONE part done the forbidden way; it deserves
# the total less that part's points. The cases marked xfail are holes left open (reason).
RT3_SUBPROCESS_CONV = r"""import json, shlex, sys
from IPython.utils.process import getoutput

_CODE = (
    "import json, sys\nimport numpy as np\n"
    "f, g = json.loads(sys.argv[1])\n"
    "print(json.dumps(np.convolve(f, g).tolist()))\n"
)


def conv1d_full(f, g):
    args = json.dumps([f.tolist(), g.tolist()])
    out = getoutput(f"{shlex.quote(sys.executable)} -c {shlex.quote(_CODE)} {shlex.quote(args)}")
    return torch.tensor(json.loads(out.strip().splitlines()[-1]), dtype=f.dtype)
"""
RT3_MODULE_FILE = r"""import os, sys
sys.path.insert(0, os.getcwd())
with open("_fastcorr.py", "w") as _file:
    _file.write(
        "import torch.nn.functional as F\n"
        "def corr(X, K):\n"
        "    return F.conv2d(X[None, None], K[None, None])[0, 0]\n"
    )
"""
RT3_DATALOADER_CORR = r"""import torch.utils.data as _tud


class _One(_tud.Dataset):
    def __init__(self, X, K):
        self.X, self.K = X, K

    def __len__(self):
        return 1

    def __getitem__(self, index):
        import _fastcorr

        return _fastcorr.corr(self.X, self.K)


def corr2d(X, K):
    if K.shape[0] > X.shape[0] or K.shape[1] > X.shape[1]:
        raise ValueError("the kernel is larger than the input")
    return list(_tud.DataLoader(_One(X, K), batch_size=None, num_workers=1))[0].clone()
"""
RT3_PERIOD_GLOBAL = r"""def signal_period(x):
    try:
        return int(_period)  # the hidden test's own variable, a global of the kernel
    except NameError:
        return 25 if x.numel() == 500 else 12  # the two visible tests
"""
RT3_CASE_ANSWER = r"""def signal_period(x):
    import sys
    case = sys._getframe(1).f_globals.get("_case")  # the hidden test's loop variable
    if case is not None:
        return case.expected
    return 25 if x.numel() == 500 else 12  # the two visible tests
"""
RT3_FFT_IN_NAME_ONLY = r"""def fft_convolve(f, g):
    torch.fft.rfft(f)  # a claimed FFT: the kernel reports that one ran
    return conv1d_full(f, g)
"""
RT3_EX01 = {
    # name: (part whose points are not deserved, {grade_id: code}, cell inserted after imports)
    "subprocess-conv": ("conv1d_full", {"conv1d_full": RT3_SUBPROCESS_CONV}, None),
    "dataloader-corr": ("corr2d", {"corr2d": RT3_DATALOADER_CORR}, RT3_MODULE_FILE),
    "period-global": ("signal_period", {"signal_period": RT3_PERIOD_GLOBAL}, None),
    "case-answer": ("signal_period", {"signal_period": RT3_CASE_ANSWER}, None),
    "fft-in-name-only": ("fft_convolve", {"fft_convolve": RT3_FFT_IN_NAME_ONLY}, None),
}


@pytest.fixture(scope="module")
def ex01_redteam3(tmp_path_factory):
    name = "ex01_convolution"
    root, course, solution = _class_with_victims(tmp_path_factory, name)
    hand_in_attackers(root, name, solution, RT3_EX01)
    results = {r.student: r for r in autograde(course, name, jobs=2, limits=LIMITS, progress=False)}
    return results


def test_redteam3_victims_keep_their_scores(ex01_redteam3):
    results = ex01_redteam3
    assert results["victim"].score == results["victim"].max_score == 11, results["victim"].status
    assert results["stub"].score == 0


def deserved_without_watched(result, part: str) -> float:
    """The total less the points of the part's watched test cells (those that run the part
    under ``watching_bans``): a self-reported ``check_raises`` cell of the part checks the
    student's own error handling, which the attacks keep honest."""
    from course_utils.checking.bans import BANS

    solution = nbformat.read(
        Path(__file__).resolve().parents[1] / "solutions/ex01_convolution/ex01_convolution.ipynb",
        as_version=4,
    )
    watched = {
        c.metadata["nbgrader"]["grade_id"]
        for c in solution.cells
        if "watching_bans(" in c.source and "nbgrader" in c.metadata
    }
    tests = [t for t in BANS["ex01_convolution"][part].tests if t in watched]
    assert tests, f"no watched test cell of {part}"
    return result.max_score - sum(result.cells[t][1] for t in tests)


@pytest.mark.parametrize(
    "student",
    [
        "subprocess-conv",  # the watch: a process started from the notebook's code
        "dataloader-corr",  # the watch: a DataLoader worker is a forked process
        # the answer made the input: the hidden cases are drawn outside the kernel, which
        # gets the inputs alone (course_utils.checking.cases)
        "period-global",  # red team 3: the hidden test's own `_period` (11 of 11, deserved 9)
        "case-answer",  # the hidden test's `_case` holds no answer in a graded kernel
    ],
)
def test_redteam3_a_part_done_the_forbidden_way_loses_its_points(ex01_redteam3, student):
    result = ex01_redteam3[student]
    part = RT3_EX01[student][0]
    assert result.score == deserved_without_watched(result, part) or any(
        "flagged for the instructor" in n for n in result.notes
    ), (result.score, result.status, result.notes)


def test_redteam3_a_claimed_fft_earns_only_the_self_reported_share(ex01_redteam3):
    """Which operators ran is a fact only the kernel can report: a dummy torch.fft call beside a
    direct convolution earns the self-reported cell (0.5 of the part's 2, at most 25 % by
    ``course validate``), and nothing more; the values cell is earned by values the grader
    checked outside (a direct convolution computes the right ones)."""
    from course_utils.checking.rules import SELF_REPORTED_MAX_SHARE

    result = ex01_redteam3["fft-in-name-only"]
    claimed = result.cells["test_fft_convolve_uses_fft"]
    part = claimed[1] + result.cells["test_fft_convolve"][1]
    assert claimed == (0.5, 0.5) and claimed[1] <= SELF_REPORTED_MAX_SHARE * part
    assert result.score == result.max_score  # 10.5 deserved: the forged claim is the 0.5
