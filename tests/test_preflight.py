"""coursekit.preflight: the device/profile check before a build, and the execution cache key."""

import os
import subprocess
import sys
from pathlib import Path

from coursekit.preflight import library_digest


def _preflight(env_updates, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURSE_")}
    env.update(env_updates)
    return subprocess.run(
        [sys.executable, "-m", "coursekit.preflight", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_preflight_exits_nonzero_with_one_sentence_for_cuda_without_gpu():
    # An empty CUDA_VISIBLE_DEVICES hides every GPU, so this holds on a GPU runner too.
    result = _preflight({"COURSE_DEVICE": "cuda", "CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode == 2
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: COURSE_DEVICE=cuda")


def test_preflight_empties_the_cache_when_the_profile_changes(tmp_path):
    cache = tmp_path / "cache"
    assert _preflight({"COURSE_PROFILE": "quick"}, "--cache-key", str(cache)).returncode == 0
    (cache / "executed.db").write_text("cached results")
    assert _preflight({"COURSE_PROFILE": "quick"}, "--cache-key", str(cache)).returncode == 0
    assert (cache / "executed.db").exists()
    result = _preflight({"COURSE_PROFILE": "full"}, "--cache-key", str(cache))
    assert result.returncode == 0 and "emptied the execution cache" in result.stdout
    assert not (cache / "executed.db").exists()


def test_library_digest_covers_every_module_of_the_teaching_library(tmp_path):
    (tmp_path / "conv.py").write_text("def corr2d(): ...\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep.py").write_text("X = 1\n")
    before = library_digest(tmp_path)
    (tmp_path / "conv.py").write_text("def corr2d(): return 1\n")
    after_conv = library_digest(tmp_path)
    assert after_conv != before
    (tmp_path / "sub" / "deep.py").write_text("X = 2\n")
    assert library_digest(tmp_path) != after_conv


def test_editing_an_exercise_helper_leaves_the_chapters_cache_key_alone(tmp_path):
    (tmp_path / "conv.py").write_text("def corr2d(): ...\n")
    (tmp_path / "checking").mkdir()
    (tmp_path / "checking" / "bans.py").write_text("BANS = {}\n")
    before = library_digest(tmp_path)
    (tmp_path / "checking" / "bans.py").write_text("BANS = {'ex01': {}}\n")
    assert library_digest(tmp_path) == before


def test_no_chapter_imports_the_exercise_helpers():
    """Chapters import only what the cache key covers: nothing of course_utils.checking, nor
    course_utils.testing (which re-exports it)."""
    import re

    root = Path(__file__).resolve().parents[1] / "chapters"
    pattern = re.compile(r"\bcourse_utils(\.checking|\.testing\b| import .*\b(checking|testing)\b)")
    pages = sorted(root.rglob("*.md")) + sorted(root.rglob("*.ipynb"))
    assert len(pages) > 10
    offenders = [p.name for p in pages if pattern.search(p.read_text())]
    assert offenders == []


def test_teaching_library_imports_no_grading_or_site_machinery():
    """course_utils is what students install: no nbgrader, nbclient, jupyter_client, Sphinx,
    docutils or coursekit import anywhere in it (checked on the source, import by import)."""
    import ast

    import course_utils

    banned = (
        "nbgrader",
        "nbclient",
        "jupyter_client",
        "sphinx",
        "docutils",
        "coursekit",
        "myst_nb",
        "nbconvert",
    )
    package = Path(course_utils.__file__).resolve().parent
    modules = sorted(package.rglob("*.py"))
    assert len(modules) > 10
    offenders = []
    for module in modules:
        for node in ast.walk(ast.parse(module.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{module.name}: {n}" for n in names if n.split(".")[0] in banned]
    assert offenders == []


def test_preflight_empties_the_saved_pages_with_the_cache(tmp_path):
    cache, doctrees = tmp_path / "cache", tmp_path / ".doctrees"
    args = ("--cache-key", str(cache), "--doctrees", str(doctrees))
    assert _preflight({"COURSE_PROFILE": "quick"}, *args).returncode == 0
    doctrees.mkdir()
    (doctrees / "page.doctree").write_text("stale")
    assert _preflight({"COURSE_PROFILE": "quick"}, *args).returncode == 0
    assert (doctrees / "page.doctree").exists()
    assert _preflight({"COURSE_PROFILE": "full"}, *args).returncode == 0
    assert not doctrees.exists()
