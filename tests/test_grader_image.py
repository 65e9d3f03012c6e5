"""docker/grader.Dockerfile: Docker cannot run here, so the recipe is checked as text.

It must parse into instructions Docker knows, start from a Python image, copy only what exists,
install the pinned torch of requirements.txt, run as a non-root user, and start the task module
that the Kubernetes Job's pods run.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import yaml

from coursekit.grading.backends.kubernetes import KubernetesBackend
from coursekit.grading.sandbox import Limits

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "grader.Dockerfile"
KNOWN = {
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
}


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def test_the_grading_image_recipe_is_sane():
    steps = instructions(DOCKERFILE.read_text())
    assert steps, "the Dockerfile has no instructions"
    assert {word for word, _ in steps} <= KNOWN
    assert steps[0][0] == "FROM" and steps[0][1].startswith("python:3.")
    for word, args in steps:
        if word == "COPY":
            *sources, _ = shlex.split(args)
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    users = [args for word, args in steps if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    run = " ".join(args for word, args in steps if word == "RUN")
    pins = dict(
        line.split("==")
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert f'"torch=={pins["torch"]}"' in run and "-r requirements.txt" in run


def test_the_image_runs_what_the_job_asks_for():
    steps = instructions(DOCKERFILE.read_text())
    cmd = [args for word, args in steps if word == "CMD"][-1]
    command = yaml.safe_load(cmd)  # the exec form is a JSON (so YAML) list
    backend = KubernetesBackend()
    job = backend.manifests("arith", "abc", 2, 1, Limits())[1]
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert (
        command[:3]
        == container["command"][:3]
        == ["python", "-m", "coursekit.grading.backends.task"]
    )
    assert importlib.util.find_spec(command[2]) is not None
    uid = int([args for word, args in steps if word == "USER"][-1].split(":")[0])
    assert uid == container["securityContext"]["runAsUser"]
