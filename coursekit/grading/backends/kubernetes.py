"""The Kubernetes backend: one Indexed Job, one completion per submission; the pod is the sandbox.

Each pod runs ``python -m coursekit.grading.backends.task /grading/tasks.json`` in the grading
image (``docker/grader.Dockerfile``) as a non-root user, with no privilege escalation, every
capability dropped, a read-only root file system, the RuntimeDefault seccomp profile, no service
account token, CPU/memory/ephemeral-storage limits, and a NetworkPolicy that denies all traffic
in and out. Inside the pod the worker runs its kernel without bubblewrap (a locked-down pod
cannot make namespaces): the pod is the sandbox.

Submissions and results move through a PersistentVolumeClaim the instructor names (``--pvc``),
which this machine also mounts (``--work-dir``, e.g. the NFS share behind a ReadWriteMany
claim). Each index sees only its own folder of the volume (``subPathExpr``): a submission never
sees another one, the course, or the gradebook. ``backoffLimitPerIndex`` retries a failed
index once; ``activeDeadlineSeconds`` bounds the whole run.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ..course import GradingError
from . import ClusterBackend, Outcome, Task, outcome_of
from .task import read_status, status_file

DEFAULT_IMAGE = "course-grader:latest"
DEFAULT_PVC = "course-grading"
POD_USER = 65534  # nobody, as in the image
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"


def parse_indexes(text: str | None) -> set[int]:
    """Kubernetes' index list (``"0-2,5"``) as a set of ints."""
    found: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        first, _, last = part.partition("-")
        found.update(range(int(first), int(last or first) + 1))
    return found


def _slug(text: str, size: int) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:size].strip("-") or "x"


class KubernetesBackend(ClusterBackend):
    """Grade through a Kubernetes Indexed Job; see the module's docstring."""

    name = "kubernetes"

    def __init__(
        self,
        pvc: str | None = None,
        image: str | None = None,
        namespace: str | None = None,
        work_dir: Path | str | None = None,
        cpu: str = "1",
        memory_overhead_gib: float = 1.0,
        ephemeral_storage: str = "2Gi",
        retries: int = 1,
        mount_path: str = "/grading",
        python: str = "python",
        poll_seconds: float = 2.0,
        batch_api=None,
        networking_api=None,
    ):
        self.pvc, self.image = pvc or DEFAULT_PVC, image or DEFAULT_IMAGE
        self.namespace = namespace
        self.work_dir = Path(work_dir).resolve() if work_dir else None
        self.cpu, self.memory_overhead_gib = cpu, memory_overhead_gib
        self.ephemeral_storage, self.retries = ephemeral_storage, retries
        self.mount_path, self.python, self.poll_seconds = mount_path, python, poll_seconds
        self.batch_api, self.networking_api = batch_api, networking_api

    def work_parent(self) -> None:
        return None  # the run's work folder stays here; each task is staged onto the volume

    # -- manifests ------------------------------------------------------------------------------
    def manifests(
        self, assignment: str, run_id: str, completions: int, jobs: int, limits
    ) -> list[dict]:
        """The NetworkPolicy and the Indexed Job of one run, as Kubernetes objects (dicts)."""
        name = f"course-grade-{_slug(assignment, 30)}-{run_id}"
        labels = {
            "app.kubernetes.io/name": "course-grader",
            "app.kubernetes.io/component": "submission",
            "course-grading/run": run_id,
        }
        memory_mib = math.ceil(limits.memory_bytes / 2**20 + self.memory_overhead_gib * 1024)
        resources = {
            "cpu": self.cpu,
            "memory": f"{memory_mib}Mi",
            "ephemeral-storage": self.ephemeral_storage,
        }
        timeout = limits.submission_timeout
        waves = math.ceil(completions / max(1, jobs))
        deadline = waves * (timeout + 120) * (self.retries + 1) + 300
        deny_all = {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": f"{name}-deny-all", "labels": labels},
            "spec": {
                "podSelector": {"matchLabels": {"course-grading/run": run_id}},
                "policyTypes": ["Ingress", "Egress"],
            },  # no rules: nothing in, nothing out
        }
        container = {
            "name": "grade",
            "image": self.image,
            "imagePullPolicy": "IfNotPresent",
            "command": [
                self.python,
                "-m",
                "coursekit.grading.backends.task",
                f"{self.mount_path}/tasks.json",
                "--index",
                "0",
                "--timeout",
                str(timeout),
            ],
            "workingDir": self.mount_path,
            "env": [
                {
                    "name": "TASK_INDEX",
                    "valueFrom": {
                        "fieldRef": {"fieldPath": f"metadata.annotations['{INDEX_ANNOTATION}']"}
                    },
                },
                {"name": "HOME", "value": "/tmp"},
                {"name": "JUPYTER_RUNTIME_DIR", "value": "/tmp/jupyter-runtime"},
                {"name": "MPLCONFIGDIR", "value": "/tmp/matplotlib"},
                {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
            ],
            "resources": {"requests": dict(resources), "limits": dict(resources)},
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": POD_USER,
                "runAsGroup": POD_USER,
                "allowPrivilegeEscalation": False,
                "privileged": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "volumeMounts": [
                # this index's folder of the volume, and nothing else of it
                {
                    "name": "work",
                    "mountPath": self.mount_path,
                    "subPathExpr": f"{run_id}/$(TASK_INDEX)",
                },
                {"name": "tmp", "mountPath": "/tmp"},
            ],
        }
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "completionMode": "Indexed",
                "completions": completions,
                "parallelism": max(1, min(jobs, completions)),
                "backoffLimitPerIndex": self.retries,
                "maxFailedIndexes": completions,
                "activeDeadlineSeconds": deadline,
                "ttlSecondsAfterFinished": 3600,
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "restartPolicy": "Never",
                        "automountServiceAccountToken": False,
                        "enableServiceLinks": False,
                        "hostNetwork": False,
                        "hostPID": False,
                        "hostIPC": False,
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": POD_USER,
                            "runAsGroup": POD_USER,
                            "fsGroup": POD_USER,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [container],
                        "volumes": [
                            {"name": "work", "persistentVolumeClaim": {"claimName": self.pvc}},
                            {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
                        ],
                    },
                },
            },
        }
        return [deny_all, job]

    def dry_run(self, assignment: str, students: list[str], *, jobs: int, limits) -> str:
        import yaml

        docs = self.manifests(assignment, "dryrun", max(1, len(students)), jobs, limits)
        header = (
            f"# {len(students)} submission(s) of {assignment}: a NetworkPolicy and an "
            f"Indexed Job (PVC {self.pvc}, image {self.image})\n"
        )

        class Plain(yaml.SafeDumper):  # repeated label maps written out, not as YAML anchors
            def ignore_aliases(self, data):
                return True

        return header + yaml.dump_all(docs, Dumper=Plain, sort_keys=False)

    # -- staging through the volume ------------------------------------------------------------
    # The worker's job file (worker.py) names, at its top level, the input folder
    # (``sanitized``) and the hidden cases file (``cases``, optional), the outputs (``executed``,
    # ``events``), the kernel's ``scratch`` (the task
    # runner puts it on the node's own disk) and this machine's ``font_cache``; ``env`` holds
    # the kernel's environment, whose values may be paths of this machine (``COURSE_DATA``).
    INPUTS, OUTPUTS, NODE_LOCAL, HOST_ONLY = (
        ("sanitized", "cases"),
        ("executed", "events"),
        ("scratch",),
        ("font_cache",),
    )
    OPTIONAL_INPUTS = ("cases",)  # a file, when the job has one

    def _stage(self, task: Task, work: Path, task_dir: Path) -> list[tuple[Path, Path]]:
        """Copy the job's inputs to ``task_dir`` with in-pod paths; [(staged, local) output].

        Every path of the job file is accounted for: inputs are copied (a graded run's
        notebooks with the expected values already taken out, since in the pod the kernel could
        read its input folder), outputs are brought back after the run, paths of this machine
        that the pod cannot have (the font cache; an ``env`` value such as ``COURSE_DATA``) are
        dropped, and a path this backend does not know is refused rather than passed on wrong.
        """
        job = json.loads(Path(task.job_file).read_text())
        outputs: list[tuple[Path, Path]] = []

        def in_pod(local: Path) -> str:
            return f"{self.mount_path}/{local.relative_to(work).as_posix()}"

        for key in self.HOST_ONLY:
            if key in job:
                job[key] = None
        for key in self.NODE_LOCAL:
            if isinstance(job.get(key), str):
                job[key] = f"{self.mount_path}/scratch"  # replaced on the node by the task
        for key in self.INPUTS + self.OUTPUTS:
            value = job.get(key)
            if value is None and key in self.OUTPUTS + self.OPTIONAL_INPUTS:
                continue  # not asked for: nothing to bring back, or to take there
            if not isinstance(value, str):
                raise GradingError(f"the job file {task.job_file} has no {key!r} path")
            local = Path(value).resolve()
            if not local.is_relative_to(work):
                raise GradingError(
                    f"{key} of {task.name}'s job ({local}) is outside the run's "
                    f"folder {work}: it cannot be staged onto the volume"
                )
            job[key] = in_pod(local)
            staged = task_dir / local.relative_to(work)
            if key in self.OUTPUTS:
                outputs.append((staged, local))
            elif local.is_dir():
                shutil.copytree(local, staged, symlinks=False)
                if job.get("mode", "graded") == "graded":  # the worker's default mode
                    _strip_expected_values(staged)
            elif key in self.OPTIONAL_INPUTS and local.is_file():
                staged.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(local, staged)  # a graded run's hidden cases: inputs only
            else:
                raise GradingError(f"the input folder of {task.name}'s job is missing: {local}")
        env = job.get("env") or {}
        for name, value in list(env.items()):
            if isinstance(value, str) and value.startswith("/"):
                del env[name]  # a path of this machine: the pod has the image's own
        known = {*self.INPUTS, *self.OUTPUTS, *self.NODE_LOCAL, *self.HOST_ONLY, "env"}
        for key, value in job.items():
            if key not in known and isinstance(value, str) and value.startswith("/"):
                raise GradingError(
                    f"the job file field {key!r} is a path the Kubernetes "
                    "backend does not know how to stage"
                )
        job["sandbox"] = False  # the pod is the sandbox: it cannot make bubblewrap's namespaces
        (task_dir / "job.json").write_text(json.dumps(job))
        (task_dir / "tasks.json").write_text(
            json.dumps(
                [[{"job": f"{self.mount_path}/job.json", "log": f"{self.mount_path}/worker.log"}]]
            )
        )
        return outputs

    @staticmethod
    def _bring_back(staged: list[tuple[Path, Path]], task: Task, task_dir: Path) -> dict | None:
        """The outputs back where the job named them; the task's status (None: it never ran)."""
        for remote, local in staged:
            if remote.is_dir():
                shutil.copytree(remote, local, symlinks=False, dirs_exist_ok=True)
            elif remote.is_file():
                local.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(remote, local)
        if (task_dir / "worker.log").is_file():
            shutil.copyfile(task_dir / "worker.log", task.log_file)
        status = read_status(task_dir / "job.json")
        if status is None:
            return None
        shutil.copyfile(status_file(task_dir / "job.json"), status_file(task.job_file))
        return status

    # -- the cluster ----------------------------------------------------------------------------
    def _apis(self):
        if self.batch_api is None or self.networking_api is None:
            from kubernetes import client, config

            try:
                config.load_kube_config()
            except Exception as error:  # no kubeconfig, no current context
                raise GradingError(f"no Kubernetes cluster to talk to ({error})") from error
            self.batch_api = self.batch_api or client.BatchV1Api()
            self.networking_api = self.networking_api or client.NetworkingV1Api()
        if self.namespace is None:
            self.namespace = "default"
            try:
                from kubernetes import config

                _, current = config.list_kube_config_contexts()
                self.namespace = current["context"].get("namespace", "default")
            except Exception:  # noqa: BLE001 - a fake API, or no kubeconfig: the default
                pass
        return self.batch_api, self.networking_api

    def run_all(
        self, tasks: list[Task], *, jobs: int, timeout: int, progress: Callable[[str], None]
    ) -> dict[str, Outcome]:
        if self.work_dir is None:
            raise GradingError(
                "--work-dir is needed with --backend kubernetes: the folder where "
                f"this machine mounts the volume of PVC {self.pvc}"
            )
        from ..sandbox import Limits

        batch, networking = self._apis()
        work = Path(tasks[0].job_file).parent.resolve()  # the run's folder (see execution.py)
        run_id = secrets.token_hex(4)
        run_dir = self.work_dir / run_id
        staged = []
        for index, task in enumerate(tasks):
            task_dir = run_dir / str(index)
            task_dir.mkdir(parents=True)
            staged.append(self._stage(task, work, task_dir))
        _give_to_pod_user(run_dir)
        job_json = json.loads(Path(tasks[0].job_file).read_text())
        limits = Limits(**{**job_json.get("limits", {}), "submission_timeout": timeout})
        policy, job = self.manifests(
            Path(job_json.get("executed", "x")).name or "x", run_id, len(tasks), jobs, limits
        )
        name = job["metadata"]["name"]
        outcomes: dict[str, Outcome] = {}
        try:
            # the policy first: no pod of the run ever starts with the network open
            networking.create_namespaced_network_policy(self.namespace, policy)
            batch.create_namespaced_job(self.namespace, job)
            ended = self._wait(batch, name, tasks, progress)
            for index, task in enumerate(tasks):
                status = self._bring_back(staged[index], task, run_dir / str(index))
                outcomes[task.name] = self._outcome(task, status, index, ended)
        finally:
            self._delete(batch, networking, name, policy["metadata"]["name"])
            if not os.environ.get("COURSE_KEEP_WORK"):
                shutil.rmtree(run_dir, ignore_errors=True)
        return outcomes

    def _wait(self, batch, name: str, tasks: list[Task], progress) -> dict:
        """Until the Job completes or fails; returns {'failed': set, 'reason': str}."""
        reported: set[int] = set()
        while True:
            job = batch.read_namespaced_job_status(name, self.namespace)
            status = job.status
            done = parse_indexes(status.completed_indexes) | parse_indexes(status.failed_indexes)
            for index in sorted(done - reported):
                reported.add(index)
                progress(tasks[index].name)
            finished = [
                c
                for c in (status.conditions or [])
                if c.type in ("Complete", "Failed") and c.status == "True"
            ]
            if finished:
                for index in range(len(tasks)):
                    if index not in reported:
                        progress(tasks[index].name)
                return {
                    "failed": parse_indexes(status.failed_indexes),
                    "reason": finished[0].reason or finished[0].type,
                }
            time.sleep(self.poll_seconds)

    def _outcome(self, task: Task, status: dict | None, index: int, ended: dict) -> Outcome:
        attempts = self.retries + 1 if index in ended["failed"] else 1
        if status is None:
            why = (
                "failed in every attempt"
                if index in ended["failed"]
                else f"did not run before the Job ended ({ended['reason']})"
            )
            return Outcome(
                task.name, ok=False, attempts=attempts, message=f"Kubernetes index {index} {why}"
            )
        outcome = outcome_of(task, status, attempts)
        if not outcome.ok and not outcome.timed_out:
            print(
                f"kubernetes: {task.name} failed {attempts} time(s): {outcome.message}",
                file=sys.stderr,
            )
        return outcome

    def _delete(self, batch, networking, job_name: str, policy_name: str) -> None:
        for delete in (
            lambda: batch.delete_namespaced_job(
                job_name, self.namespace, propagation_policy="Background"
            ),
            lambda: networking.delete_namespaced_network_policy(policy_name, self.namespace),
        ):
            try:
                delete()
            except Exception as error:  # noqa: BLE001 - tell, and go on deleting the rest
                print(
                    f"kubernetes: could not delete an object of the run: {error}", file=sys.stderr
                )


def _give_to_pod_user(run_dir: Path) -> None:
    """The pod's user (nobody) must write its outputs into its folder of the volume."""
    for path in (run_dir, *run_dir.rglob("*")):
        if os.geteuid() == 0:
            os.chown(path, POD_USER, POD_USER, follow_symlinks=False)
        elif path.is_dir():
            path.chmod(0o777)


def _strip_expected_values(folder: Path) -> None:
    """A graded run's notebooks as the worker runs them: test cells without expected values.

    Without bubblewrap the pod's kernel can read its own folder of the volume, so the hidden
    tests' expected values must not be in it (the worker strips the same cells again: a no-op).
    """
    import nbformat

    from ..worker import _prepare

    for path in sorted(folder.glob("*.ipynb")):
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception:  # noqa: BLE001 - unreadable here is unreadable for the worker too
            path.unlink()  # not left behind with its expected values; it scores as missing
            continue
        _prepare(nb, "graded")
        nbformat.write(nb, path)
