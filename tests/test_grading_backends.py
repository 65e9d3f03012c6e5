"""The pieces every cluster backend shares: the task runner and the choice of backend."""

from __future__ import annotations

import json

import pytest

from coursekit.grading.backends import make_backend
from coursekit.grading.backends.slurm import chunks_of
from coursekit.grading.backends.task import main as task_main
from coursekit.grading.backends.task import status_file
from coursekit.grading.course import GradingError


def test_the_task_runner_runs_only_its_own_chunk_and_leaves_a_status_per_job(tmp_path, monkeypatch):
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


class RecordingBackend:
    """A cluster backend in miniature: remembers the tasks it got, runs none of them."""

    name, runs_here = "recording", False

    def __init__(self, work_parent):
        self.parent, self.tasks, self.specs = work_parent, [], []

    def work_parent(self):
        return self.parent

    def run(self, tasks, *, jobs, timeout, progress, on_done=None):
        from coursekit.grading.backends import Outcome

        tasks = list(tasks)  # as a cluster backend does: every task before it submits
        self.tasks += tasks
        self.specs += [json.loads(t.job_file.read_text()) for t in tasks]
        outcomes = {
            t.name: Outcome(t.name, ok=False, message="node lost", seconds=1.5) for t in tasks
        }
        for task in tasks:
            progress(task.name)
            on_done(outcomes[task.name])
        return outcomes


def test_run_jobs_hands_job_files_to_the_backend_and_reads_events_back(tmp_path):
    from coursekit.grading.backends import Outcome
    from coursekit.grading.execution import Job, run_jobs
    from coursekit.grading.sandbox import Limits

    events = tmp_path / "events-ann.json"
    events.write_text(json.dumps({"arith": ["kernel died"]}))

    class Ended(RecordingBackend):
        def run(self, tasks, *, jobs, timeout, progress, on_done=None):
            ends = {
                "ann": Outcome("ann", ok=True, seconds=2.0),
                "bob": Outcome("bob", ok=False, timed_out=True, seconds=30.0),
            }
            for task in tasks:  # one at a time, as the local backend takes them
                self.tasks.append(task)
                on_done(ends[task.name])
            return ends

    def jobs():
        yield Job("ann", {"events": str(events)})
        assert done == ["ann"]  # the first one was reported before the second was asked for
        yield Job("bob", {"events": str(tmp_path / "no")})

    done = []
    backend = Ended(tmp_path)
    outcomes = run_jobs(
        jobs(),
        tmp_path,
        2,
        Limits(submission_timeout=30),
        backend=backend,
        on_done=lambda label, outcome: done.append(label),
    )
    assert [t.name for t in backend.tasks] == ["ann", "bob"] and done == ["ann", "bob"]
    assert json.loads(backend.tasks[0].job_file.read_text()) == {"events": str(events)}
    assert outcomes["ann"].events == {"arith": ["kernel died"]} and outcomes["ann"].notes == []
    assert outcomes["bob"].notes == ["stopped after the 30 s limit per submission"]
    assert outcomes["bob"].seconds == 30.0


@pytest.mark.slow
def test_a_cluster_backend_gets_the_graded_runs_only_the_reference_runs_here(tmp_path):
    from grading_fixture import make_course, released, submit

    from coursekit.grading.autograde import autograde
    from coursekit.grading.course import Course
    from coursekit.grading.reference import cache_dir
    from coursekit.grading.release import release
    from coursekit.grading.sandbox import Limits

    root = make_course(tmp_path / "course", ("arith",))
    course = Course(root)
    release(course, "arith")
    submit(root, "ann", "arith", released(root, "arith"))
    backend = RecordingBackend(tmp_path / "shared")
    (tmp_path / "shared").mkdir()
    results = autograde(
        course,
        "arith",
        limits=Limits(cell_timeout=30, submission_timeout=120),  # load headroom
        progress=False,
        backend=backend,
    )
    assert [t.name for t in backend.tasks] == ["ann"]  # not the reference
    assert backend.specs[0]["mode"] == "graded"
    assert backend.tasks[0].job_file.is_relative_to(tmp_path / "shared")
    assert (cache_dir(course, "arith") / "complete").is_file()  # the reference ran, here
    assert results[0].status == "execution failed: node lost" and results[0].score == 0


def test_an_events_file_of_the_wrong_shape_counts_as_no_events(tmp_path):
    """Where the kernel is not in bubblewrap (a pod) it could write the events file itself."""
    from coursekit.grading.execution import read_events

    path = tmp_path / "events.json"
    for text, expected in (
        ("[1, 2]", {}),
        ("not json", {}),
        ('{"nb": "a string", "ok": ["cut", 3]}', {"ok": ["cut", "3"]}),
    ):
        path.write_text(text)
        assert read_events(path) == expected
    assert read_events(tmp_path / "missing.json") == {}
