"""``course autograde --backend kubernetes``: the manifests, and apply-and-wait on a fake API.

The manifests are checked offline against Kubernetes' own schema (``kubernetes-validate``) and
for every lock-down the pod needs to be a sandbox. The apply-and-wait logic runs against fake
BatchV1Api/NetworkingV1Api objects whose "pods" really run the task command, each with only its
own folder of the volume at the mount path (bubblewrap binds it there), so a class graded this
way must get the local backend's scores.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import kubernetes_validate
import nbformat
import pytest
import yaml
from grading_fixture import fill, make_course, released, submit

from coursekit.cli import main as course_main
from coursekit.grading.autograde import autograde
from coursekit.grading.backends import Task, make_backend
from coursekit.grading.backends.kubernetes import parse_indexes
from coursekit.grading.course import Course, open_gradebook
from coursekit.grading.release import release
from coursekit.grading.sandbox import Limits

ROOT = Path(__file__).resolve().parents[1]
K8S_VERSION = "1.37.0"
ADD = "def add(a, b):\n    return a + b\n"
MUL = "def mul(a, b):\n    return a * b\n"
LIMITS = Limits(cell_timeout=15, submission_timeout=120, memory_bytes=2 * 2**30)  # load headroom


def _class(root: Path) -> None:
    stub = released(root, "arith")
    submit(root, "full", "arith", fill(fill(stub, "add", ADD), "mul", MUL))
    submit(root, "empty", "arith", stub)
    submit(root, "add-only", "arith", fill(stub, "add", ADD))


@pytest.fixture
def course(tmp_path):
    root = make_course(tmp_path / "course", ("arith",))
    release(Course(root), "arith")
    _class(root)
    return root


def dry_run_documents(root: Path, capsys, *extra: str) -> list[dict]:
    assert (
        course_main(
            [
                "--root",
                str(root),
                "autograde",
                "arith",
                "--backend",
                "kubernetes",
                "--jobs",
                "2",
                "--dry-run",
                *extra,
            ]
        )
        == 0
    )
    return list(yaml.safe_load_all(capsys.readouterr().out))


def test_dry_run_prints_manifests_that_validate_against_the_schema(course, capsys):
    docs = dry_run_documents(course, capsys, "--pvc", "grading-nfs", "--image", "reg/grader:1")
    assert [d["kind"] for d in docs] == ["NetworkPolicy", "Job"]
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)  # raises when invalid
    job = docs[1]["spec"]
    assert job["completionMode"] == "Indexed" and job["completions"] == 3
    assert job["parallelism"] == 2 and job["backoffLimitPerIndex"] == 1
    assert job["activeDeadlineSeconds"] > 0
    pod = job["template"]["spec"]
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "grading-nfs"
    assert pod["containers"][0]["image"] == "reg/grader:1"
    with open_gradebook(Course(course)) as gb:  # nothing ran, nothing was recorded
        assert gb.find_assignment("arith").submissions == []


def test_a_schema_violation_is_caught_by_the_validator(course, capsys):
    """The offline check is real: a misspelt field and a wrong type are refused."""
    job = dry_run_documents(course, capsys)[1]
    job["spec"]["completionMode"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, K8S_VERSION, strict=True)
    job = dry_run_documents(course, capsys)[1]
    job["spec"]["template"]["spec"]["automountToken"] = False
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, K8S_VERSION, strict=True)


def test_the_pod_is_locked_down(course, capsys):
    policy, job = dry_run_documents(course, capsys)
    pod = job["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["runAsNonRoot"] is True and security.get("privileged") is False
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    for kind in ("cpu", "memory", "ephemeral-storage"):
        assert container["resources"]["limits"][kind]
    # each index mounts only its own folder of the volume
    work = next(m for m in container["volumeMounts"] if m["name"] == "work")
    assert work["subPathExpr"].endswith("/$(TASK_INDEX)")
    # the deny-all policy selects exactly the run's pods and allows nothing either way
    labels = job["spec"]["template"]["metadata"]["labels"]
    selector = policy["spec"]["podSelector"]["matchLabels"]
    assert selector and all(labels[k] == v for k, v in selector.items())
    assert sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in policy["spec"] and "egress" not in policy["spec"]


def test_index_lists_are_parsed():
    assert parse_indexes("0-2,5,7-8") == {0, 1, 2, 5, 7, 8}
    assert parse_indexes(None) == set() and parse_indexes("") == set()


def _index_text(indexes: set[int]) -> str:
    return ",".join(str(i) for i in sorted(indexes))


class FakeBatch:
    """BatchV1Api in miniature: the pods of an Indexed Job run on this machine.

    Each "pod" runs the container's command with its folder of the volume bound at the mount
    path (bubblewrap); a failed index is retried ``backoffLimitPerIndex`` times. Each status read
    reveals one more finished index, as a real Job's status fills up while it runs.
    """

    def __init__(self, volume: Path, calls: list, broken_pods: bool = False):
        self.volume, self.calls, self.broken_pods = volume, calls, broken_pods
        self.finished: list[tuple[int, bool]] = []
        self.errors: list[str] = []
        self.reads = 0

    def create_namespaced_job(self, namespace, body):
        self.calls.append(("create job", namespace, body["metadata"]["name"]))
        spec = body["spec"]
        (container,) = spec["template"]["spec"]["containers"]
        mount = next(m for m in container["volumeMounts"] if m["name"] == "work")
        env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
        env.update(PATH=os.environ["PATH"], PYTHONPATH=os.environ.get("PYTHONPATH", str(ROOT)))
        for index in range(spec["completions"]):
            folder = self.volume / mount["subPathExpr"].replace("$(TASK_INDEX)", str(index))
            command = ["false"] if self.broken_pods else [sys.executable, *container["command"][1:]]
            ok = False
            for _ in range(1 + spec["backoffLimitPerIndex"]):
                pod = subprocess.run(
                    [
                        "bwrap",
                        "--dev-bind",
                        "/",
                        "/",
                        "--tmpfs",
                        "/tmp",
                        *_image_under_tmp(),
                        "--bind",
                        str(folder),
                        mount["mountPath"],
                        "--chdir",
                        container["workingDir"],
                        *command,
                    ],
                    env={**env, "JOB_COMPLETION_INDEX": str(index)},
                    capture_output=True,
                )
                if pod.returncode == 0:
                    ok = True
                    break
                self.errors.append(pod.stderr.decode(errors="replace")[-2000:])
            self.finished.append((index, ok))

    def read_namespaced_job_status(self, name, namespace):
        self.reads += 1
        shown = self.finished[: self.reads]
        done = len(shown) == len(self.finished)
        failed = {i for i, ok in shown if not ok}
        condition = SimpleNamespace(
            type="Failed" if failed else "Complete",
            status="True",
            reason="FailedIndexes" if failed else None,
        )
        return SimpleNamespace(
            status=SimpleNamespace(
                completed_indexes=_index_text({i for i, ok in shown if ok}),
                failed_indexes=_index_text(failed),
                conditions=[condition] if done else [],
            )
        )

    def delete_namespaced_job(self, name, namespace, propagation_policy=None):
        self.calls.append(("delete job", namespace, name))


def _image_under_tmp() -> list[str]:
    """What the grading image holds (Python, the venv, the course's code), bound back into the
    fake pod when a checkout or venv lives under /tmp, which the pod's own tmpfs hides."""
    paths = {
        Path(sys.prefix).resolve(),
        Path(sys.base_prefix).resolve(),
        Path(__file__).resolve().parents[1],
    }
    args = []
    for path in sorted(paths):
        if str(path).startswith("/tmp/"):
            args += ["--ro-bind", str(path), str(path)]
    return args


class FakeNetworking:
    def __init__(self, calls: list):
        self.calls = calls

    def create_namespaced_network_policy(self, namespace, body):
        assert body["spec"]["policyTypes"] == ["Ingress", "Egress"]
        self.calls.append(("create policy", namespace, body["metadata"]["name"]))

    def delete_namespaced_network_policy(self, name, namespace):
        self.calls.append(("delete policy", namespace, name))


@pytest.mark.slow
def test_a_class_graded_through_the_fake_cluster_gets_the_local_scores(course, tmp_path, capsys):
    if shutil.which("bwrap") is None:
        pytest.fail("bubblewrap is needed to give each fake pod its own volume folder")
    local = {
        r.student: r.score
        for r in autograde(Course(course), "arith", jobs=2, limits=LIMITS, progress=False)
    }
    shutil.rmtree(course / ".grading" / "autograded")
    (course / ".grading" / "gradebook.db").unlink()

    volume, mount = tmp_path / "volume", tmp_path / "pod-mount"
    volume.mkdir()
    mount.mkdir()
    calls: list = []
    batch = FakeBatch(volume, calls)
    backend = make_backend(
        "kubernetes",
        work_dir=volume,
        namespace="grading",
        mount_path=str(mount),
        poll_seconds=0.01,
        batch_api=batch,
        networking_api=FakeNetworking(calls),
    )
    results = autograde(
        Course(course), "arith", jobs=2, limits=LIMITS, progress=True, backend=backend
    )
    assert local == {"full": 5, "empty": 0, "add-only": 2}
    assert {r.student: r.score for r in results} == local, batch.errors[:1]
    assert [c[0] for c in calls] == ["create policy", "create job", "delete job", "delete policy"]
    assert {c[1] for c in calls} == {"grading"}
    assert batch.reads >= 3  # it waited, index by index
    assert "3/3 arith" in capsys.readouterr().err
    assert list(volume.iterdir()) == []  # the run's folders left the volume


def test_failed_indexes_are_reported_by_student(tmp_path, capsys):
    work, volume, mount = tmp_path / "work", tmp_path / "volume", tmp_path / "mnt"
    for folder in (work, volume, mount):
        folder.mkdir()
    tasks = []
    for name in ("ann", "bob"):
        job = work / f"job-{name}.json"
        job.write_text(
            json.dumps(
                {
                    "sanitized": str(work / "sanitized" / name),
                    "executed": str(work / "executed" / name),
                    "sandbox": True,
                }
            )
        )
        (work / "sanitized" / name).mkdir(parents=True)
        tasks.append(Task(name, job, work / f"worker-{name}.log"))
    calls: list = []
    backend = make_backend(
        "kubernetes",
        work_dir=volume,
        namespace="grading",
        mount_path=str(mount),
        poll_seconds=0.01,
        batch_api=FakeBatch(volume, calls, broken_pods=True),
        networking_api=FakeNetworking(calls),
    )
    seen: list[str] = []
    outcomes = backend.run(tasks, jobs=2, timeout=30, progress=seen.append)
    assert sorted(seen) == ["ann", "bob"]
    for name in ("ann", "bob"):
        assert not outcomes[name].ok and outcomes[name].attempts == 2
        assert "failed in every attempt" in outcomes[name].message
    assert [c[0] for c in calls][-2:] == ["delete job", "delete policy"]


def test_without_a_volume_folder_the_command_says_what_is_missing(course, capsys):
    assert (
        course_main(
            [
                "--root",
                str(course),
                "autograde",
                "arith",
                "--backend",
                "kubernetes",
                "--pvc",
                "grading-nfs",
            ]
        )
        == 1
    )
    assert "--work-dir is needed" in capsys.readouterr().err


def test_a_graded_job_file_is_staged_with_every_path_accounted_for(tmp_path, monkeypatch):
    """The job file as autograde writes it (``job_spec``): nested paths too, expected values out."""
    from grading_fixture import arith_notebook

    from coursekit.grading.autograde import job_spec
    from coursekit.grading.backends.kubernetes import KubernetesBackend
    from coursekit.grading.course import GradingError

    work, task_dir = (tmp_path / "run").resolve(), tmp_path / "volume" / "0"
    sanitized = work / "sanitized" / "ann" / "arith"
    sanitized.mkdir(parents=True)
    nbformat.write(arith_notebook(), sanitized / "arith.ipynb")
    (sanitized / "data.txt").write_text("the student's own file\n")
    font_cache = tmp_path / "fontlist-v390.json"
    font_cache.write_text("{}")
    monkeypatch.setattr("coursekit.grading.autograde._font_cache", lambda: str(font_cache))
    cases = work / "hidden-cases-graded.npz"  # a graded run's hidden cases: inputs only
    cases.write_bytes(b"the inputs of the hidden cases")
    spec = job_spec(
        "graded",
        sanitized,
        work / "executed" / "ann" / "arith",
        work,
        "ann",
        LIMITS,
        {"COURSE_DATA": str(tmp_path / "data"), "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1"},
        sandbox=True,
        cases=str(cases),
    )
    job_file = work / "job-ann.json"
    job_file.write_text(json.dumps(spec))
    task_dir.mkdir(parents=True)
    backend = KubernetesBackend(work_dir=tmp_path / "volume", mount_path="/grading")
    outputs = backend._stage(Task("ann", job_file, work / "worker-ann.log"), work, task_dir)

    staged = json.loads((task_dir / "job.json").read_text())
    assert staged["sanitized"] == "/grading/sanitized/ann/arith"
    assert staged["executed"] == "/grading/executed/ann/arith"
    assert staged["events"] == "/grading/events-ann.json"
    assert staged["scratch"].startswith("/grading/")  # the node's disk replaces it anyway
    assert staged["font_cache"] is None  # this machine's file: not in the pod
    assert staged["env"] == {"LANG": "C.UTF-8", "OMP_NUM_THREADS": "1"}  # no host path
    assert staged["mode"] == "graded" and staged["sandbox"] is False
    assert staged["limits"] == LIMITS.__dict__
    assert staged["cases"] == "/grading/hidden-cases-graded.npz"
    assert (task_dir / "hidden-cases-graded.npz").read_bytes() == cases.read_bytes()
    assert sorted(local.name for _, local in outputs) == ["arith", "events-ann.json"]
    copied = task_dir / "sanitized" / "ann" / "arith"
    assert (copied / "data.txt").read_text() == "the student's own file\n"
    text = (copied / "arith.ipynb").read_text()
    # the hidden test's expected value is gone from the volume, its check is still there
    assert "-10.0" not in text and "mul on negatives" in text
    assert "-10.0" in (sanitized / "arith.ipynb").read_text()  # the local copy is untouched

    spec["extra_input"] = str(tmp_path / "elsewhere")
    job_file.write_text(json.dumps(spec))
    with pytest.raises(GradingError, match="does not know how to stage"):
        backend._stage(
            Task("ann", job_file, work / "worker-ann.log"), work, tmp_path / "volume" / "1"
        )
    reference = job_spec(
        "reference",
        tmp_path / "solutions" / "arith",
        work / "ref",
        work,
        "reference",
        LIMITS,
        {},
        sandbox=True,
    )
    job_file.write_text(json.dumps(reference))
    with pytest.raises(GradingError, match="outside the run's folder"):
        backend._stage(
            Task("reference", job_file, work / "worker-ref.log"), work, tmp_path / "volume" / "2"
        )
