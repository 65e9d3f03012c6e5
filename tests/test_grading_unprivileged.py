"""The sandbox without root, as on a cluster's compute node: bubblewrap in a user namespace.

The worker runs as user ``nobody``, a real non-root process, as the instructor's job runs on a
Slurm node; the sandbox must still start the kernel with no view of the course or the job, and
grade right. ``sandbox.py`` picks this mode by itself when it is not root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from grading_fixture import arith_notebook, fill

from coursekit.grading.sandbox import Limits

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
NOBODY = 65534


def _closed_ancestor(path: Path) -> Path | None:
    """The highest folder above ``path`` that other users cannot pass through (e.g. /root)."""
    for parent in reversed(path.parents):
        if parent != Path("/") and not parent.stat().st_mode & 0o001:
            return parent
    return None


def as_nobody(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run ``argv`` as nobody; Python (under /root here) and ``cwd`` stay reachable for it."""
    outer = ["bwrap", "--dev-bind", "/", "/"]
    for tree in (Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), ROOT, cwd):
        closed = _closed_ancestor(tree)
        if closed is not None:
            outer += ["--perms", "0755", "--tmpfs", str(closed)]
            for step in reversed(tree.relative_to(closed).parents[:-1]):
                outer += ["--perms", "0755", "--dir", str(closed / step)]
            outer += ["--bind", str(tree), str(tree)]
    return subprocess.run(
        [
            *outer,
            "setpriv",
            f"--reuid={NOBODY}",
            f"--regid={NOBODY}",
            "--clear-groups",
            "env",
            f"HOME={cwd}",
            f"PYTHONPATH={ROOT}",
            sys.executable,
            *argv,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_worker_that_is_not_root_grades_in_an_unprivileged_sandbox(tmp_path):
    if os.geteuid() != 0 or shutil.which("bwrap") is None:
        pytest.fail("this test needs root and bubblewrap to become an unprivileged user")
    work = tmp_path / "job"
    (work / "sanitized").mkdir(parents=True)
    probe = (
        f"import os\nSEEN = (os.getuid(), os.path.exists({str(ROOT / 'solutions')!r}), "
        f"os.path.exists({str(tmp_path / 'job.json')!r}))\nprint('seen', SEEN)\n"
        "def add(a, b):\n    return a + b\n"
    )
    nb = fill(fill(arith_notebook(), "add", probe), "mul", "def mul(a, b):\n    return a - b\n")
    nbformat.write(nb, work / "sanitized" / "arith.ipynb")
    job = {
        "mode": "feedback",  # outputs kept: they show what the kernel saw
        "sanitized": str(work / "sanitized"),
        "executed": str(work / "executed"),
        "scratch": str(work / "scratch"),
        "events": str(work / "events.json"),
        "limits": Limits(cell_timeout=60, submission_timeout=300, memory_bytes=2 * 2**30).__dict__,
        "env": {},
        "sandbox": True,
        "guard": True,
        "font_cache": None,
    }
    (tmp_path / "job.json").write_text(json.dumps(job))
    for path in (tmp_path, *tmp_path.rglob("*")):
        os.chown(path, NOBODY, NOBODY)
    check = as_nobody(
        ["-c", "from coursekit.grading.sandbox import sandbox_available as s; print(s())"], tmp_path
    )
    assert check.stdout.strip() == "None", check.stdout + check.stderr
    done = as_nobody(["-m", "coursekit.grading.worker", "job.json"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    executed = nbformat.read(work / "executed" / "arith.ipynb", 4)
    outputs = {
        c.metadata.get("nbgrader", {}).get("grade_id"): c.outputs
        for c in executed.cells
        if c.cell_type == "code"
    }
    # the kernel kept the worker's own (non-root) user, saw neither the course nor the job file
    assert outputs["add"] and "text" in outputs["add"][0], outputs["add"]
    assert outputs["add"][0]["text"].strip() == f"seen ({NOBODY}, False, False)"
    assert outputs["test_add"] == []  # add is right: the test passes
    assert outputs["test_mul"][0]["ename"] == "AssertionError"  # mul is wrong


def test_unprivileged_the_command_asks_for_no_uid_and_no_cgroup(tmp_path, monkeypatch):
    """What needs root is left out of the command, whatever uid or cgroup the caller asked for."""
    from coursekit.grading import sandbox

    limits = Limits(cell_timeout=10)
    files = [str(tmp_path / "cgroup.procs")]
    as_root = sandbox.bwrap_command(tmp_path, limits, {}, ["python"], 60001, files, masked=())
    assert as_root[:3] == ["/bin/sh", "-c", f'echo $$ > "{files[0]}" && exec "$@"']
    assert "--reuid=60001" in as_root and "--unshare-user" not in as_root
    monkeypatch.setattr(sandbox, "unprivileged", lambda: True)
    bare = sandbox.bwrap_command(tmp_path, limits, {}, ["python"], 60001, files, masked=())
    assert bare[:2] == ["bwrap", "--unshare-user"] and bare[-1] == "python"
    assert not any("setpriv" in a or "reuid" in a or "cgroup.procs" in a for a in bare)
    assert f"--nproc={limits.max_processes}" in bare  # the rlimits still hold
    with pytest.raises(sandbox.GradingError, match="need root"):
        sandbox.allocate_uid()
    scratch = tmp_path / "scratch"
    sandbox.prepare_scratch(scratch, 60001)  # no chown: it stays the worker's
    assert scratch.stat().st_uid == os.geteuid()
