"""coursekit.execute: pages executed in parallel land in the cache that the book build reuses."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from coursekit import execute

HEADER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""


def _page(title: str, code: str) -> str:
    return f"{HEADER}\n# {title}\n\nSome text.\n\n```{{code-cell}} ipython3\n{code}\n```\n"


@pytest.fixture
def tiny_book(tmp_path):
    """A book of a plain landing page, two notebook pages and one excluded from execution."""
    book = tmp_path / "book"
    (book / "pages").mkdir(parents=True)
    (book / "_config.yml").write_text(
        "title: tiny\nonly_build_toc_files: true\n"
        "execute:\n  execute_notebooks: cache\n  cache: _build/.jupyter_cache\n  timeout: 60\n"
        "  exclude_patterns:\n    - pages/skipped*\n"
        "parse:\n  myst_enable_extensions:\n    - colon_fence\n    - dollarmath\n"
    )
    (book / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nchapters:\n  - file: pages/one\n  - file: pages/two\n"
        "  - file: pages/skipped\n"
    )
    (book / "intro.md").write_text("# Tiny\n\nNo code here.\n")
    # Each page writes a file into its working directory: the page's own folder, as in myst-nb.
    (book / "pages" / "one.md").write_text(
        _page(
            "One",
            ("import os, pathlib\npathlib.Path('one.ran').write_text(os.getcwd())\nprint(6 * 7)"),
        )
    )
    (book / "pages" / "two.md").write_text(_page("Two", "print('two', 1 + 1)"))
    (book / "pages" / "skipped.md").write_text(_page("Skipped", "print('not pre-executed')"))
    return book


def test_toc_pages_leaves_out_excluded_pages(tiny_book):
    import yaml

    config = yaml.safe_load((tiny_book / "_config.yml").read_text())
    names = [p.relative_to(tiny_book).as_posix() for p in execute.toc_pages(tiny_book, config)]
    assert names == ["intro.md", "pages/one.md", "pages/two.md"]


def test_jobs_come_from_course_build_jobs(monkeypatch):
    monkeypatch.setenv("COURSE_BUILD_JOBS", "3")
    assert execute.default_jobs() == 3
    monkeypatch.setenv("COURSE_BUILD_JOBS", "0")
    with pytest.raises(SystemExit, match="COURSE_BUILD_JOBS"):
        execute.default_jobs()
    monkeypatch.delenv("COURSE_BUILD_JOBS")
    assert execute.default_jobs() >= 1


def test_one_job_turns_pre_execution_off(tiny_book, capsys):
    assert execute.main([str(tiny_book), "--jobs", "1"]) == 0
    assert "off" in capsys.readouterr().out
    assert not (tiny_book / "_build").exists()


def test_pre_executed_pages_are_used_by_the_book_build(tiny_book, capsys):
    assert execute.main([str(tiny_book), "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    assert "Executing 2 page(s) in 2 parallel kernels" in out
    assert (tiny_book / "pages" / "one.ran").read_text() == str(tiny_book / "pages")
    times = json.loads((tiny_book / "_build" / ".jupyter_cache.times.json").read_text())
    assert sorted(times) == ["pages/one.md", "pages/two.md"] and min(times.values()) > 0
    # Warm: nothing left to run.
    assert execute.main([str(tiny_book), "--jobs", "2"]) == 0
    assert "All pages are in the execution cache" in capsys.readouterr().out

    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    build = subprocess.run(
        [str(jupyter_book), "build", str(tiny_book), "-n"],
        capture_output=True,
        text=True,
        cwd=tiny_book,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    log = build.stdout + build.stderr
    assert build.returncode == 0, log
    assert "one.md: Using cached notebook" in log
    assert "two.md: Using cached notebook" in log
    # Only the page excluded from pre-execution ran inside the build ... and it is excluded
    # from execution altogether, so no page ran there.
    assert "Executing notebook" not in log
    html = (tiny_book / "_build" / "html" / "pages" / "one.html").read_text()
    assert "42" in html


def test_a_failing_page_is_reported_and_not_cached(tiny_book, capsys):
    (tiny_book / "pages" / "two.md").write_text(_page("Two", "1 / 0"))
    assert execute.main([str(tiny_book), "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    assert "FAILED pages/two.md" in out and "ZeroDivisionError" in out
    assert "Executed 1 of 2 page(s)" in out
    assert execute.main([str(tiny_book), "--jobs", "2"]) == 0
    assert "Executing 1 page(s)" in capsys.readouterr().out  # the failed one, again


def test_chapter_kernels_get_the_book_build_flag_and_no_agg_backend():
    """Pages executed ahead of Sphinx must glue values and draw inline, as myst-nb's do."""
    from coursekit.chapter_env import chapter_kernel_environment

    environ = {"MPLBACKEND": "Agg"}
    assert chapter_kernel_environment(environ) == "Agg"
    assert environ == {"COURSE_BOOK_BUILD": "1"}
