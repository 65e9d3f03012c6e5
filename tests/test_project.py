"""The project's promises to newcomers and maintainers: two commands, CI definitions, layout."""

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
# Every workflow file, by rule (GitHub reads both suffixes): a new workflow is checked unlisted.
WORKFLOWS = sorted(
    path for pattern in ("*.yml", "*.yaml") for path in (ROOT / ".github/workflows").glob(pattern)
)


def test_readme_first_section_gives_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    first_section = readme.split("\n## ")[1]
    assert "make book" in first_section and "make test" in first_section


def test_ci_runs_make_test():
    script = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", script, re.MULTILINE)
    assert os.stat(ROOT / ".ci" / "run").st_mode & stat.S_IXUSR


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_githubs_schema(workflow):
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            str(workflow),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_exist():
    assert WORKFLOWS, "no workflow in .github/workflows"


def test_gpu_job_proves_cuda_then_runs_make_test_on_cuda():
    jobs = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())["jobs"]
    gpu = jobs["gpu"]
    assert "vars.GPU_RUNNER_LABELS" in gpu["runs-on"]
    assert gpu["env"]["COURSE_DEVICE"] == "cuda" and gpu["env"]["COURSE_PROFILE"] == "full"
    runs = [step.get("run", "") for step in gpu["steps"]]
    nvidia = next(i for i, r in enumerate(runs) if "nvidia-smi" in r)
    assert_cuda = next(i for i, r in enumerate(runs) if "torch.cuda.is_available()" in r)
    make_test = next(i for i, r in enumerate(runs) if r.strip() == "make test")
    assert nvidia < assert_cuda < make_test
    assert any(step.get("run", "").strip() == "make test" for step in jobs["cpu"]["steps"])
    assert jobs["pages"]["needs"] == "gpu" and "refs/heads/main" in jobs["pages"]["if"]


def test_make_test_builds_the_full_profile_on_stand_in_data():
    """CI's one command (make test) runs the stand-in build, so it cannot break unseen."""
    makefile = (ROOT / "Makefile").read_text()
    test_target = re.search(r"^test:(.*)$", makefile, re.MULTILINE).group(1).split()
    assert "book-full-standin" in test_target
    assert re.search(r"^book-full-standin:", makefile, re.MULTILINE)
    assert "COURSE_STANDIN=1" in makefile and "COURSE_PROFILE=full" in makefile
    ci_run = (ROOT / ".ci/run").read_text()
    assert re.search(r"^make test$", ci_run, re.MULTILINE)


def test_every_job_uploads_the_site_and_the_failure_reports():
    jobs = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())["jobs"]
    for name in ("cpu", "gpu"):
        uploaded = " ".join(
            str(step.get("with", {}).get("path", ""))
            for step in jobs[name]["steps"]
            if "upload-artifact" in step.get("uses", "")
        )
        assert "_build/html" in uploaded and "reports" in uploaded, name


def test_make_refuses_a_python_that_is_too_old(tmp_path):
    fake = tmp_path / "python2.7"
    fake.write_text("#!/bin/sh\n[ \"$1\" = --version ] && echo 'Python 2.7.18' && exit 0\nexit 1\n")
    fake.chmod(0o755)
    result = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "setup", f"PYTHON={fake}", f"VENV={tmp_path / 'venv'}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "needs Python 3.10 or newer" in result.stdout and "Python 2.7.18" in result.stdout
    assert not (tmp_path / "venv").exists()


def test_config_never_builds_solutions_or_grading_work_and_does_not_execute_exercises():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    excluded = config["exclude_patterns"]
    assert "solutions/**" in excluded and ".grading/**" in excluded
    assert config["execute"]["execute_notebooks"] == "cache"
    assert any(p.startswith("exercises/") for p in config["execute"]["exclude_patterns"])


def _toc_files(node):
    if isinstance(node, dict):
        if "file" in node:
            yield node["file"]
        for value in node.values():
            yield from _toc_files(value)
    elif isinstance(node, list):
        for item in node:
            yield from _toc_files(item)


def test_every_toc_entry_exists():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"], *_toc_files(toc)]
    missing = [
        f for f in files if not any((ROOT / f"{f}{ext}").exists() for ext in (".md", ".ipynb"))
    ]
    assert not missing


def test_every_chapter_folder_is_in_the_toc():
    toc_text = (ROOT / "_toc.yml").read_text()
    for folder in sorted((ROOT / "chapters").iterdir()):
        if folder.is_dir():
            assert f"chapters/{folder.name}/" in toc_text, folder.name
