"""The pieces every cluster backend shares: the task runner and the choice of backend."""

from __future__ import annotations

import json

import pytest

from coursekit.grading.backends import make_backend
from coursekit.grading.backends.slurm import chunks_of
from coursekit.grading.backends.task import main as task_main
from coursekit.grading.backends.task import status_file
from coursekit.grading.course import GradingError


def test_the_task_runner_runs_only_its_own_chunk_and_leaves_a_status_per_job(tmp_path,
                                                                           monkeypatch):
    jobs = []
    for name in ("a", "b", "c"):
        job = tmp_path / f"job-{name}.json"
        job.write_text(json.dumps({"sandbox": False}))  # the worker fails: keys are missing
        jobs.append({"job": str(job), "log": str(tmp_path / f"{name}.log")})
    manifest = tmp_path / "tasks.json"
    manifest.write_text(json.dumps([jobs[:2], jobs[2:]]))
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    assert task_main([str(manifest), "--timeout", "60"]) == 1  # a crashed worker: retry me
    assert not status_file(jobs[0]["job"]).exists() and not status_file(jobs[1]["job"]).exists()
    status = json.loads(status_file(jobs[2]["job"]).read_text())
    assert status["returncode"] != 0 and status["timed_out"] is False
    assert "KeyError" in (tmp_path / "c.log").read_text()
    assert task_main([str(manifest), "--index", "2"]) == 1  # outside the manifest


def test_chunks_keep_every_task_once_in_order():
    assert chunks_of(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert chunks_of(list(range(2)), 0) == [[0], [1]]


def test_an_unknown_backend_is_one_sentence():
    with pytest.raises(GradingError, match="choose one of local, slurm, kubernetes"):
        make_backend("condor")
