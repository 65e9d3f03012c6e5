"""Kernels started ahead (the local backend's spare, ``worker.WarmKernel``): a sandboxed kernel
that imported the assignment's modules before its submission was known serves exactly that one
submission, sees only its files, and shows the student no trace of the imports."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from coursekit.grading.backends import Task
from coursekit.grading.backends.local import LocalBackend
from coursekit.grading.sandbox import SANDBOX_UID_BASE, SANDBOX_UIDS, Limits, sandbox_available
from coursekit.grading.worker import WarmKernel, run_job, warm_imports


def _notebook(*sources: str):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    return nb


def _job(tmp_path: Path, label: str, mode: str = "feedback") -> dict:
    limits = Limits(cell_timeout=60, submission_timeout=120, memory_bytes=2 * 2**30)
    return {
        "mode": mode,
        "sanitized": str(tmp_path / "sanitized" / label),
        "executed": str(tmp_path / "executed" / label),
        "scratch": str(tmp_path / "scratch" / label),
        "events": str(tmp_path / f"events-{label}.json"),
        "limits": limits.__dict__,
        "env": {},
        "sandbox": True,
        "guard": False,
        "font_cache": None,
    }


def test_the_modules_started_ahead_are_the_installed_ones_the_notebook_imports(
    tmp_path, monkeypatch
):
    nb = _notebook(
        "import math\nimport numpy as np\nfrom torch.nn import functional as F\n",
        "from course_utils.testing import check_equal\nfrom . import nothing\n",
        "import a_module_nobody_installed\n",
        "import json\n%matplotlib inline",  # magics: not Python, the cell is skipped
        "def f():\n    import colorsys  # not at the top level of the cell\n",
    )
    nbformat.write(nb, tmp_path / "a.ipynb")
    (tmp_path / "local_helper.py").write_text("X = 1\n")  # the course's own file
    monkeypatch.syspath_prepend(str(tmp_path))
    nbformat.write(_notebook("import local_helper\nimport math"), tmp_path / "b.ipynb")
    found = warm_imports([tmp_path / "a.ipynb", tmp_path / "b.ipynb"])
    assert found == ["math", "numpy", "torch.nn", "course_utils.testing"]


def test_a_job_runs_in_a_kernel_started_ahead_only_if_it_shares_its_sandbox(tmp_path):
    template = {**_job(tmp_path, "warm", mode="graded"), "warm_imports": ["math"]}
    warm = WarmKernel.__new__(WarmKernel)  # not started: only the comparison is checked
    warm.template = template
    assert warm.fits(_job(tmp_path, "ann", mode="graded"))
    assert not warm.fits(_job(tmp_path, "ann", mode="reference"))
    assert not warm.fits({**_job(tmp_path, "ann", mode="graded"), "env": {"X": "1"}})
    assert not warm.fits({**_job(tmp_path, "ann", mode="graded"), "sandbox": False})
    job_file = tmp_path / "job-ann.json"
    job_file.write_text(json.dumps(_job(tmp_path, "ann", mode="graded")))
    task = Task("ann", job_file, tmp_path / "ann.log")
    assert LocalBackend._fits(task, template) and not LocalBackend._fits(task, None)


@pytest.mark.slow
@pytest.mark.skipif(sandbox_available() is not None, reason=f"no sandbox: {sandbox_available()}")
def test_a_kernel_started_ahead_sees_only_its_submission_and_serves_it_once(tmp_path):
    template = {**_job(tmp_path, "warm"), "warm_imports": ["colorsys"]}
    warm = WarmKernel(template)
    pid = warm.client._kernel_pid()
    assert pid is not None and Path(f"/proc/{pid}").exists()

    job = _job(tmp_path, "ann")
    (Path(job["sanitized"])).mkdir(parents=True)
    (Path(job["sanitized"]) / "data.txt").write_text("ann's file\n")
    probe = (
        "import os, sys\n"
        "print(sorted(n for n in os.listdir('.') if not n.startswith(('.', 'kernel'))))\n"
        "print(os.getuid(), 'colorsys' in sys.modules, 'colorsys' in dir(), len(In))\n"
        "print(open('data.txt').read().strip())\n"
        f"print(os.path.exists({str(tmp_path / 'sanitized')!r}))"
    )
    nbformat.write(_notebook(probe), Path(job["sanitized"]) / "probe.ipynb")
    run_job(job, warm=warm)

    executed = nbformat.read(Path(job["executed"]) / "probe.ipynb", as_version=4)
    lines = "".join(o.get("text", "") for o in executed.cells[0].outputs).splitlines()
    assert lines[0] == "['data.txt']"  # the submission's file; no notebook, nothing else
    uid, imported, named, history = lines[1].split()
    assert SANDBOX_UID_BASE <= int(uid) < SANDBOX_UID_BASE + SANDBOX_UIDS
    assert (imported, named, history) == ("True", "False", "2")  # imported, silently
    assert lines[2:] == ["ann's file", "False"]  # the course's folders are not in its view
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    assert list((tmp_path / "scratch").iterdir()) == []  # its scratch folder is gone


def _exits(code: int):
    def body(*args):
        os._exit(code)

    return body


def test_a_spare_that_died_before_its_job_came_leaves_the_job_to_a_worker_of_its_own(
    tmp_path, monkeypatch
):
    from coursekit.grading.backends import local

    monkeypatch.setattr(local, "_work_warm", _exits(3))  # a spare that dies at once
    monkeypatch.setattr(local, "_work", _exits(0))  # a worker that starts its own kernel
    template = {**_job(tmp_path, "warm", mode="graded"), "warm_imports": []}
    job_file = tmp_path / "job-ann.json"
    job_file.write_text(json.dumps(_job(tmp_path, "ann", mode="graded")))
    backend = LocalBackend()
    spare = backend._spare(template)
    spare[0].join()
    assert spare[0].exitcode == 3
    process = backend._start(Task("ann", job_file, tmp_path / "ann.log"), template, [spare])
    process.join()
    assert process is not spare[0] and process.exitcode == 0
