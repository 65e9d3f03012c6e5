"""The workflows that keep the site for a semester (issue 27), read as GitHub reads them: each
is also checked against GitHub's schema by tests/test_project.py."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"


def _workflow(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def _runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def _uses(job: dict) -> list[str]:
    return [step.get("uses", "") for step in job["steps"]]


def test_latest_is_published_beside_editions_and_previews_not_over_them():
    text = (WORKFLOWS / "ci.yml").read_text()
    assert "force_orphan" not in text
    pages = _workflow("ci.yml")["jobs"]["pages"]
    assert "publish_site.py latest" in _runs(pages)
    assert pages["concurrency"]["group"] == "gh-pages"
    gpu = _runs(_workflow("ci.yml")["jobs"]["gpu"])
    assert gpu.index("make test") < gpu.index("make pdf")  # the published site offers its PDF


def test_the_pdf_has_a_job_of_its_own():
    pdf = _workflow("ci.yml")["jobs"]["pdf"]
    assert "make pdf" in _runs(pdf)
    assert any("upload-artifact" in uses for uses in _uses(pdf))


def test_an_edition_tag_publishes_the_library_then_the_edition_and_its_release():
    workflow = _workflow("edition.yml")
    assert workflow["on"] == {"push": {"tags": ["edition-*"]}}
    jobs = workflow["jobs"]
    assert "python -m build course_utils" in _runs(jobs["library"])
    assert "edition.py check" in _runs(jobs["library"])
    assert "pypa/gh-action-pypi-publish@release/v1" in _uses(jobs["pypi"])
    assert jobs["pypi"]["permissions"] == {"id-token": "write"}  # trusted publishing, no token
    assert "make edition" in _runs(jobs["build"]) and "--listed" in _runs(jobs["build"])
    publish = jobs["publish"]
    assert set(publish["needs"]) == {"pypi", "build"}
    assert "publish_site.py edition" in _runs(publish)
    assert "gh release create" in _runs(publish) and ".tar.gz" in _runs(publish)


def test_each_pull_request_gets_a_preview_that_goes_when_it_closes():
    workflow = _workflow("preview.yml")
    assert set(workflow["on"]["pull_request"]["types"]) >= {"opened", "synchronize", "closed"}
    jobs = workflow["jobs"]
    assert "make preview" in _runs(jobs["build"])
    assert "publish_site.py preview" in _runs(jobs["publish"])
    assert "gh pr comment" in _runs(jobs["publish"])
    assert "closed" in jobs["remove"]["if"] and "remove-preview" in _runs(jobs["remove"])


def test_links_to_other_sites_are_checked_weekly_into_one_issue():
    workflow = _workflow("links.yml")
    assert workflow["on"]["schedule"]
    (job,) = workflow["jobs"].values()
    assert any(uses.startswith("lycheeverse/lychee-action@") for uses in _uses(job))
    assert "scripts/report_issue.sh" in _runs(job)


def test_every_week_the_notebooks_run_in_colabs_image_and_on_the_gpu_runner():
    workflow = _workflow("weekly.yml")
    assert workflow["on"]["schedule"]
    jobs = workflow["jobs"]
    assert "make student-notebooks" in _runs(jobs["notebooks"])
    colab = jobs["colab"]
    assert colab["container"]["image"] == "us-docker.pkg.dev/colab-images/public/runtime"
    assert "--gpus all" in colab["container"]["options"]
    assert (
        "vars.GPU_RUNNER_LABELS" in colab["runs-on"]
        and "vars.GPU_RUNNER_LABELS" in (jobs["gpu"]["runs-on"])
    )
    for job in (colab, jobs["gpu"]):
        assert "scripts/run_notebooks.py" in _runs(job)
    assert "scripts/report_issue.sh" in _runs(jobs["report"])
    assert "needs.colab.result" in jobs["report"]["if"]


def test_the_scripts_the_workflows_call_exist_and_run():
    import os

    for script in ("pages_branch.sh", "report_issue.sh"):
        path = ROOT / "scripts" / script
        assert os.access(path, os.X_OK), f"{script} is not executable"
