"""Red team 4: ex01 graded end to end with an honest victim, an untouched stub and attackers.

Each attacker hands in the honest solution with ONE part done the forbidden way (a banned
convolution, reached so that neither the static scan nor the in-kernel watch is meant to see it);
it deserves the total less the points of that part's watched test cells, or a flag for the
instructor in the summary where the grader cannot decide. The five attacks that earned full
marks when red team 4 found them are held now (the comments say by what).
"""

from __future__ import annotations

import os

import pytest
from grading_fixture import submit
from test_grading_attacks import (
    LIMITS,
    _class_with_victims,
    _insert_after,
    deserved_without_watched,
    hand_in_attackers,
)

from coursekit.grading.autograde import autograde
from coursekit.grading.sandbox import sandbox_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        sandbox_available() is not None and os.environ.get("COURSE_ALLOW_NO_SANDBOX") == "1",
        reason=f"no sandbox here: {sandbox_available()}",
    ),
]

NAME = "ex01_convolution"

# F.conv3d is in the convolution family (aten::convolution) but not named in the ban's routines,
# so the static scan passes it; torch's own no_dispatch() (a trusted file entering
# torch._C._DisableTorchDispatch, not in EVASIONS) hides the operator from the dispatch mode,
# and the function mode and the profile look banned routines up by identity only.
RT4_NO_DISPATCH_CONV3D = r"""from torch.utils._mode_utils import no_dispatch


def corr2d(X, K):
    if K.shape[0] > X.shape[0] or K.shape[1] > X.shape[1]:
        raise ValueError("the kernel is larger than the input")
    with no_dispatch():
        return F.conv3d(X[None, None, None], K[None, None, None])[0, 0, 0]
"""
# The same operator without no_dispatch: the static scan misses it, the watch must not.
RT4_PLAIN_CONV3D = r"""def corr2d(X, K):
    if K.shape[0] > X.shape[0] or K.shape[1] > X.shape[1]:
        raise ValueError("the kernel is larger than the input")
    return F.conv3d(X[None, None, None], K[None, None, None])[0, 0, 0]
"""
# torch.conv_tbc (aten::conv_tbc, "time, batch, channel" 1-D convolution) is not named either.
RT4_NO_DISPATCH_TBC = r"""from torch.utils._mode_utils import no_dispatch


def conv1d_full(f, g):
    with no_dispatch():
        out = torch.conv_tbc(
            f[:, None, None], g.flip(0)[:, None, None], f.new_zeros(1), g.numel() - 1
        )
    return out[:, 0, 0]
"""
# np.polymul is a convolution under another name (it calls np.convolve): the watch sees it.
RT4_POLYMUL = r"""def conv1d_full(f, g):
    return torch.as_tensor(np.polymul(f.numpy(), g.numpy()), dtype=f.dtype)
"""
# A cell outside the part rewrites the watch's record (its findings) to "nothing reached": the
# ban record is a fact only the kernel reports, yet it is neither capped nor protected.
RT4_CLEAN_BAN_RECORD = r"""import course_utils.checking.checks as _checks

_send = _checks.send_record


def _send_clean(kind, name, actual, expected=None, **params):
    if str(name).startswith("the library routines that"):
        actual = []
    _send(kind, name, actual, expected, **params)


_checks.send_record = _send_clean
"""
RT4_PLAIN_TBC = r"""def conv1d_full(f, g):
    out = torch.conv_tbc(
        f[:, None, None], g.flip(0)[:, None, None], f.new_zeros(1), g.numel() - 1
    )
    return out[:, 0, 0]
"""
# Work handed to the kernel's own iopub thread (ipykernel machinery, started before the test):
# the watch profiles only the test's thread and threads started in the block, and judges other
# threads by their stacks at the block's start and end, when the coroutine is suspended.
RT4_IOPUB_WORKER = r"""import asyncio
import sys

_inbox = []


async def _serve():
    while True:
        while _inbox:
            f, g, out, done = _inbox.pop()
            out.copy_(torch.as_tensor(np.convolve(f.numpy(), g.numpy()), dtype=out.dtype))
            done.append(True)
        await asyncio.sleep(0.0005)


sys.stdout._io_loop.add_callback(_serve)
"""
RT4_QUEUED_CONV = r"""import time


def conv1d_full(f, g):
    out = torch.empty(f.numel() + g.numel() - 1, dtype=f.dtype)
    done = []
    _inbox.append((f, g, out, done))
    while not done:
        time.sleep(0.0002)
    return out
"""
# A gc callback (another cell) does the convolution in the test's own thread.
RT4_GC_WORKER = r"""import gc

_inbox = []


def _collect(phase, info):
    while _inbox:
        f, g, out = _inbox.pop()
        out.copy_(torch.as_tensor(np.convolve(f.numpy(), g.numpy()), dtype=out.dtype))


gc.callbacks.append(_collect)
"""
RT4_GC_CONV = r"""def conv1d_full(f, g):
    out = torch.empty(f.numel() + g.numel() - 1, dtype=f.dtype)
    _inbox.append((f, g, out))
    gc.collect()
    return out
"""

# A custom operator (torch.library) whose Python body runs F.conv3d: the watch's dispatch mode
# handles rt4::corr, and the operators its body runs are dispatched with that mode popped.
RT4_CUSTOM_OP = r"""@torch.library.custom_op("rt4::corr", mutates_args=())
def _corr(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    return F.conv3d(X[None, None, None], K[None, None, None])[0, 0, 0].clone()


def corr2d(X, K):
    if K.shape[0] > X.shape[0] or K.shape[1] > X.shape[1]:
        raise ValueError("the kernel is larger than the input")
    return _corr(X, K)
"""
# Not an attack: an honest notebook that looked at one batch of a DataLoader with a worker
# process, keeping the iterator (`it = iter(loader); batch = next(it)`), as training notebooks do.
RT4_HONEST_LOADER = r"""from torch.utils.data import DataLoader, TensorDataset

_loader = DataLoader(TensorDataset(torch.arange(8.0)), batch_size=4, num_workers=1)
_it = iter(_loader)
_batch = next(_it)
"""

RT4_EX01 = {
    # name: (part whose points are not deserved, {grade_id: code}, cell inserted after imports)
    "nodispatch-conv3d": ("corr2d", {"corr2d": RT4_NO_DISPATCH_CONV3D}, None),
    "nodispatch-tbc": ("conv1d_full", {"conv1d_full": RT4_NO_DISPATCH_TBC}, None),
    "clean-ban-record": ("conv1d_full", {"conv1d_full": RT4_PLAIN_TBC}, RT4_CLEAN_BAN_RECORD),
    "iopub-worker": ("conv1d_full", {"conv1d_full": RT4_QUEUED_CONV}, RT4_IOPUB_WORKER),
    "custom-op-conv3d": ("corr2d", {"corr2d": RT4_CUSTOM_OP}, None),
    "plain-conv3d": ("corr2d", {"corr2d": RT4_PLAIN_CONV3D}, None),
    "polymul": ("conv1d_full", {"conv1d_full": RT4_POLYMUL}, None),
    "gc-callback": ("conv1d_full", {"conv1d_full": RT4_GC_CONV}, RT4_GC_WORKER),
}


@pytest.fixture(scope="module")
def ex01_redteam4(tmp_path_factory):
    root, course, solution = _class_with_victims(tmp_path_factory, NAME)
    submit(root, "honest-loader", NAME, _insert_after(solution, "imports", RT4_HONEST_LOADER))
    hand_in_attackers(root, NAME, solution, RT4_EX01)
    results = {r.student: r for r in autograde(course, NAME, jobs=1, limits=LIMITS, progress=False)}
    for student, result in results.items():  # shown with -s: what each submission earned
        print(f"red team 4: {student}: {result.score} of {result.max_score}; {result.status}")
    return results


def test_redteam4_victims_keep_their_scores(ex01_redteam4):
    results = ex01_redteam4
    assert results["victim"].score == results["victim"].max_score == 11, results["victim"].status
    assert results["stub"].score == 0


def test_redteam4_an_honest_notebook_with_a_dataloader_worker_keeps_its_points(ex01_redteam4):
    """Held: a DataLoader iterator with a worker process kept from an earlier cell costs the
    honest notebook nothing."""
    result = ex01_redteam4["honest-loader"]
    assert result.score == result.max_score or any(
        "flagged for the instructor" in n for n in result.notes
    ), (result.score, result.status)


def test_redteam4_feedback_does_not_count_the_hidden_checks(ex01_redteam4):
    verdict = ex01_redteam4["victim"].verdicts[NAME]["test_conv_output_size"]
    assert verdict.passed
    assert "44" not in verdict.shown, verdict.shown


def test_redteam4_attacks_compute_right_values(ex01_redteam4):
    """Every attacker's answers are right: the only thing that may cost it points is the ban
    of its one part (the static scan zeroes all of the part's test cells; the other parts
    pass)."""
    from course_utils.checking.bans import BANS

    for student in RT4_EX01:
        result = ex01_redteam4[student]
        part_tests = BANS[NAME][RT4_EX01[student][0]].tests
        least = result.max_score - sum(result.cells[t][1] for t in part_tests)
        assert result.score >= least, (student, result.status)


@pytest.mark.parametrize(
    "student",
    [
        "nodispatch-conv3d",  # the static scan: torch.utils._mode_utils is an evasion
        "nodispatch-tbc",  # the same
        "clean-ban-record",  # flagged: course_utils.checking.checks is an evasion
        "iopub-worker",  # flagged: the kernel's event loop (sys.stdout._io_loop, asyncio)
        "custom-op-conv3d",  # the static scan: torch.library is an evasion
        "plain-conv3d",  # the watch's dispatch mode sees aten::convolution
        "polymul",  # the profile sees numpy.convolve below np.polymul
        "gc-callback",  # a gc callback runs in the test's thread: the profile sees it
    ],
)
def test_redteam4_a_part_done_the_forbidden_way_loses_its_points(ex01_redteam4, student):
    result = ex01_redteam4[student]
    part = RT4_EX01[student][0]
    assert result.score == deserved_without_watched(result, part) or any(
        "flagged for the instructor" in n for n in result.notes
    ), (result.score, result.status, result.notes)
