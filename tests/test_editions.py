"""Editions of the site: the list (coursekit/editions.py), make edition's preparation
(scripts/edition.py), and publishing beside what the gh-pages branch holds
(scripts/publish_site.py).

Publishing is checked on a real git repository made here: a bare "origin" with a gh-pages branch,
cloned as the workflows check it out.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

import course_utils
from coursekit import editions

ROOT = Path(__file__).resolve().parent.parent


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


edition_script = _load("edition")
publish = _load("publish_site")


# --- the list of editions ---------------------------------------------------------------------


def test_the_repository_lists_its_editions_in_a_file_the_module_reads():
    assert (ROOT / editions.EDITIONS_FILE).is_file()
    listed = editions.read_editions(ROOT / editions.EDITIONS_FILE)
    assert all(edition.course_utils for edition in listed)


def test_an_edition_is_added_once_with_a_version_of_its_own(tmp_path):
    path = tmp_path / "editions.yml"
    first = editions.add_edition(path, "2026-fall", "0.4.0", dt.date(2026, 9, 1))
    assert first.path == "editions/2026-fall/"
    with pytest.raises(editions.EditionError, match="exists already"):
        editions.add_edition(path, "2026-fall", "0.5.0")
    with pytest.raises(editions.EditionError, match="belongs to the edition 2026-fall"):
        editions.add_edition(path, "2027-spring", "0.4.0")
    editions.add_edition(path, "2026-fall.1", "0.4.1", dt.date(2026, 10, 2))
    assert [e.name for e in editions.read_editions(path)] == ["2026-fall", "2026-fall.1"]
    assert path.read_text().startswith("# The course's editions")


@pytest.mark.parametrize("name", ["latest", "fall", "2026", "2026-Fall", "../2026-fall", ""])
def test_a_name_that_is_not_an_edition_is_refused(name, tmp_path):
    with pytest.raises(editions.EditionError, match="not an edition name"):
        editions.add_edition(tmp_path / "editions.yml", name, "0.4.0")


def test_a_malformed_list_is_one_clear_error(tmp_path):
    path = tmp_path / "editions.yml"
    path.write_text("editions:\n  - name: 2026-fall\n")
    with pytest.raises(editions.EditionError, match="needs a name, a course_utils version"):
        editions.read_editions(path)


def test_the_switcher_lists_latest_then_live_editions_newest_first(tmp_path):
    path = tmp_path / "editions.yml"
    editions.add_edition(path, "2025-fall", "0.2.0")
    editions.add_edition(path, "2026-spring", "0.3.0")
    editions.add_edition(path, "2026-fall", "0.4.0")
    editions.retire_edition(path, "2025-fall")
    entries = editions.switcher_entries(editions.read_editions(path), "https://c.example/site")
    assert [e["version"] for e in entries] == ["latest", "2026-fall", "2026-spring"]
    assert entries[0]["url"] == "https://c.example/site/"
    assert entries[1]["url"] == "https://c.example/site/editions/2026-fall/"
    assert "0.4.0" in entries[1]["name"]
    with pytest.raises(editions.EditionError, match="no edition"):
        editions.retire_edition(path, "2030-fall")


# --- make edition's preparation -----------------------------------------------------------------


def test_prepare_lists_a_new_edition_and_writes_its_configuration(tmp_path):
    listed = tmp_path / "editions.yml"
    out = tmp_path / "edition"
    said = edition_script.prepare(
        "2026-fall", out, tmp_path / "cache", listed, ROOT / "_config.yml"
    )
    assert "edition-2026-fall" in said  # tells the maintainer which tag publishes it
    (edition,) = editions.read_editions(listed)
    assert edition.course_utils == course_utils.__version__
    config = yaml.safe_load((out / "_config.yml").read_text())
    root = yaml.safe_load((ROOT / "_config.yml").read_text())["html"]["baseurl"].rstrip("/")
    assert config["html"]["baseurl"] == f"{root}/editions/2026-fall/"
    sphinx = config["sphinx"]["config"]
    assert sphinx["course_edition"] == "2026-fall" and sphinx["course_site_root"] == root + "/"
    assert config["execute"]["cache"] == str((tmp_path / "cache").resolve())
    # Prepared again (the tag's CI run): listed already with this version, accepted.
    edition_script.prepare("2026-fall", out, tmp_path / "cache", listed, ROOT / "_config.yml")
    assert len(editions.read_editions(listed)) == 1


def test_prepare_refuses_an_edition_released_with_another_version(tmp_path, capsys):
    listed = tmp_path / "editions.yml"
    editions.add_edition(listed, "2026-spring", "0.0.1")
    code = edition_script.main(
        ["--editions", str(listed), "prepare", "2026-spring", "--out", str(tmp_path / "o")]
    )
    assert code == 2
    error = capsys.readouterr().err
    assert "released with course_utils 0.0.1" in error and "git checkout edition-2026-spring" in (
        error
    )
    assert not (tmp_path / "o").exists()


def _site(folder: Path, marker: str) -> Path:
    (folder / "chapters").mkdir(parents=True)
    (folder / "index.html").write_text(f"<h1>{marker}</h1>")
    (folder / "chapters" / "one.html").write_text(marker)
    return folder


def test_the_archive_holds_every_file_of_the_site_under_one_folder(tmp_path):
    site = _site(tmp_path / "html", "fall")
    tarball = tmp_path / "cnn-course-2026-fall.tar.gz"
    assert edition_script.archive(site, tarball, "2026-fall") == 2
    with tarfile.open(tarball) as tar:
        names = sorted(tar.getnames())
    assert names == ["cnn-course-2026-fall/chapters/one.html", "cnn-course-2026-fall/index.html"]
    with pytest.raises(editions.EditionError, match="no built site"):
        edition_script.archive(tmp_path / "nothing", tarball, "2026-fall")


# --- publishing beside what the branch holds -----------------------------------------------------


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture
def pages(tmp_path):
    """A clone of an origin whose gh-pages branch holds latest and one edition."""
    origin = tmp_path / "origin.git"
    _git(tmp_path, "init", "--bare", "-q", "-b", "gh-pages", str(origin))
    clone = tmp_path / "pages"
    _git(tmp_path, "clone", "-q", str(origin), str(clone))
    _site(clone, "old latest")
    (clone / "stale.html").write_text("a page that latest no longer has")
    _site(clone / "editions" / "2026-spring", "spring")
    _git(clone, "add", "-A")
    _git(clone, "commit", "-q", "-m", "published")
    _git(clone, "push", "-q", "origin", "HEAD:gh-pages")
    return clone


def _tree(clone: Path) -> dict[str, str]:
    return {
        path.relative_to(clone).as_posix(): path.read_text()
        for path in clone.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(clone).parts
    }


def test_latest_replaces_the_root_and_keeps_editions_and_previews(pages, tmp_path):
    publish.publish_preview(7, _site(tmp_path / "pr", "preview"), pages)
    publish.publish_latest(_site(tmp_path / "new", "new latest"), pages)
    tree = _tree(pages)
    assert tree["index.html"] == "<h1>new latest</h1>"
    assert "stale.html" not in tree  # a page removed from latest leaves the branch
    assert tree["editions/2026-spring/index.html"] == "<h1>spring</h1>"
    assert tree["previews/pr-7/index.html"] == "<h1>preview</h1>"
    assert ".nojekyll" in tree


def test_an_edition_is_added_beside_the_others_and_never_replaced(pages, tmp_path):
    before = _tree(pages)
    publish.publish_edition("2026-fall", _site(tmp_path / "fall", "fall"), pages)
    tree = _tree(pages)
    assert tree["editions/2026-fall/chapters/one.html"] == "fall"
    assert {k: v for k, v in tree.items() if not k.startswith("editions/2026-fall/")} == before
    _git(pages, "add", "-A")
    _git(pages, "commit", "-q", "-m", "edition")
    code = publish.main(
        ["edition", "2026-fall", str(_site(tmp_path / "again", "changed")), "--pages", str(pages)]
    )
    assert code == 2
    assert _tree(pages)["editions/2026-fall/chapters/one.html"] == "fall"
    assert _git(pages, "status", "--porcelain") == ""


def test_a_preview_is_replaced_on_each_push_and_removed_when_closed(pages, tmp_path):
    publish.publish_preview(12, _site(tmp_path / "one", "first"), pages)
    publish.publish_preview(12, _site(tmp_path / "two", "second"), pages)
    assert _tree(pages)["previews/pr-12/index.html"] == "<h1>second</h1>"
    assert publish.main(["remove-preview", "12", "--pages", str(pages)]) == 0
    assert not (pages / "previews" / "pr-12").exists()
    assert "no preview" in publish.remove_preview(12, pages)


def test_a_folder_without_a_built_site_is_refused(pages, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    before = _tree(pages)
    assert publish.main(["latest", str(empty), "--pages", str(pages)]) == 2
    assert "no built site" in capsys.readouterr().err
    assert _tree(pages) == before


def _pages_branch(repo: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "HOME": str(repo.parent)}
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "pages_branch.sh"), *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_workflows_check_out_publish_and_push_the_branch(tmp_path):
    """As in a workflow: a checkout of main, the branch started when missing, then extended."""
    origin = tmp_path / "origin.git"
    _git(tmp_path, "init", "--bare", "-q", "-b", "main", str(origin))
    main = tmp_path / "main"
    _git(tmp_path, "clone", "-q", str(origin), str(main))
    (main / "README.md").write_text("the course")
    _git(main, "add", "-A")
    _git(main, "commit", "-q", "-m", "main")
    _git(main, "push", "-q", "origin", "HEAD:main")

    started = _pages_branch(main, "checkout", "pages")
    assert started.returncode == 0, started.stderr
    assert "starting it empty" in started.stdout
    assert [p.name for p in (main / "pages").iterdir()] == [".git"]  # nothing of main in it
    publish.publish_latest(_site(tmp_path / "latest", "latest"), main / "pages")
    pushed = _pages_branch(main, "push", "pages", "latest: first")
    assert pushed.returncode == 0, pushed.stderr

    _git(main, "worktree", "remove", "--force", "pages")
    again = _pages_branch(main, "checkout", "pages")
    assert again.returncode == 0 and "starting" not in again.stdout, again.stderr
    assert (main / "pages" / "index.html").read_text() == "<h1>latest</h1>"
    publish.publish_edition("2026-fall", _site(tmp_path / "fall", "fall"), main / "pages")
    assert _pages_branch(main, "push", "pages", "edition 2026-fall").returncode == 0
    assert "Nothing changed" in _pages_branch(main, "push", "pages", "again").stdout
    files = _git(origin, "ls-tree", "-r", "--name-only", "gh-pages").split()
    assert "index.html" in files and "editions/2026-fall/index.html" in files
    assert "README.md" not in files
    log = _git(origin, "log", "--format=%s", "gh-pages").split("\n")
    assert log[:2] == ["edition 2026-fall", "latest: first"]


def test_ci_refuses_an_edition_that_the_tag_does_not_list(tmp_path, capsys):
    listed = tmp_path / "editions.yml"
    code = edition_script.main(
        [
            "--editions",
            str(listed),
            "prepare",
            "2026-fall",
            "--out",
            str(tmp_path / "o"),
            "--listed",
        ]
    )
    assert code == 2 and "does not list the edition 2026-fall" in capsys.readouterr().err
    assert not listed.exists() and not (tmp_path / "o").exists()


def test_a_preview_is_addressed_at_its_own_folder(tmp_path):
    said = edition_script.prepare_preview(42, tmp_path, tmp_path / "cache", ROOT / "_config.yml")
    config = yaml.safe_load((tmp_path / "_config.yml").read_text())
    assert config["html"]["baseurl"].endswith("/previews/pr-42/") and "pr-42" in said
    assert config["sphinx"]["config"]["course_site_path"] == "previews/pr-42/"
    assert "course_edition" not in config["sphinx"]["config"]  # the switcher says latest


def test_the_tags_check_wants_the_edition_listed_with_the_built_version(tmp_path, capsys):
    listed = tmp_path / "editions.yml"
    editions.add_edition(listed, "2026-fall", "0.4.0")
    check = ["--editions", str(listed), "check"]
    assert edition_script.main([*check, "2026-fall", "--version", "0.4.0"]) == 0
    assert edition_script.main([*check, "2026-fall", "--version", "0.4.1"]) == 2
    assert "but the tagged commit builds 0.4.1" in capsys.readouterr().err
    assert edition_script.main([*check, "2027-spring", "--version", "0.4.0"]) == 2
    assert "does not list the edition 2027-spring" in capsys.readouterr().err
