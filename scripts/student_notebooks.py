"""The notebooks as students open them, for the weekly run where students run them.

``python scripts/student_notebooks.py OUT`` writes into ``OUT``:

- ``chapters/<page>.ipynb``: every chapter page that ``_toc.yml`` lists and that runs code,
  converted exactly as the site converts it for Colab's button (``coursekit.sphinx_ext``'s
  ``chapter_notebook``: inputs only, the install cell first);
- ``exercises/<exNN>.ipynb``: every exercise filled with its solution (the nbgrader source in
  ``solutions/``) with the same install cell as the released one;
- ``wheels/``: the wheel of this checkout's ``course_utils``, so that the install cell
  (``pip install cnn-course-utils==VERSION``) finds a version that is not on PyPI yet when pip is
  told ``PIP_FIND_LINKS=OUT/wheels``; a released version comes from PyPI as a student's does.

``.github/workflows/weekly.yml`` then runs them with ``scripts/run_notebooks.py`` inside Colab's
runtime image and on the GPU runner.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def toc_files(toc: Path) -> list[str]:
    """Every ``file:`` of ``_toc.yml``, in reading order."""
    import yaml

    found = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                found.append(str(node["file"]))
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key) or []:
                    walk(child)

    data = yaml.safe_load(toc.read_text(encoding="utf-8"))
    found.append(str(data["root"]))
    walk(data)
    return found


def _runs_code(source: Path) -> bool:
    head = source.read_text(encoding="utf-8")[:2000]
    return head.startswith("---") and re.search(r"^kernelspec:", head, re.MULTILINE) is not None


def _converter():
    """What ``chapter_notebook`` reads of a Sphinx application, for this book."""
    config = SimpleNamespace(
        html_theme_options={}, source_encoding="utf-8-sig", tab_width=8, course_site_path=""
    )
    return SimpleNamespace(config=config, srcdir=str(ROOT))


def write_student_notebooks(out: Path, book: Path = ROOT) -> list[Path]:
    """Write every chapter and every solved exercise into ``out``; return their paths."""
    import nbformat

    from coursekit.sphinx_ext import chapter_notebook, exercise_for_colab

    app = _converter()
    written = []
    for docname in toc_files(book / "_toc.yml"):
        source = book / f"{docname}.md"
        if docname.startswith("chapters/") and source.is_file() and _runs_code(source):
            target = out / f"{docname}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(chapter_notebook(source, app), target)
            written.append(target)
    for solution in sorted((book / "solutions").glob("ex*/*.ipynb")):
        target = out / "exercises" / solution.name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(exercise_for_colab(solution, app), target)
        written.append(target)
    return written


def build_wheel(out: Path, book: Path = ROOT) -> Path:
    """The wheel of ``course_utils`` from this checkout, in ``out/wheels``.

    Built from a copy: setuptools writes ``build/`` and ``*.egg-info`` into the folder it builds,
    and those would become part of the library (and of the execution cache's key).
    """
    import shutil
    import tempfile

    wheels = out / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="course-utils-") as scratch:
        source = Path(scratch) / "course_utils"
        ignored = shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
        shutil.copytree(book / "course_utils", source, ignore=ignored)
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
             "--wheel-dir", str(wheels), str(source)],
            check=True,
        )  # fmt: skip
    (wheel,) = sorted(wheels.glob("*.whl"))
    return wheel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/student_notebooks.py", description=__doc__)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        print(f"error: {args.out} is not empty; name a new folder", file=sys.stderr)
        return 2
    notebooks = write_student_notebooks(args.out)
    wheel = build_wheel(args.out)
    print(f"wrote {len(notebooks)} notebooks and {wheel.name} into {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
