"""Lint the code of every chapter: each MyST notebook becomes a Python file, then ruff checks it.

    python scripts/lint_chapters.py [PAGE.md ...]

Chapters are teaching code, held to the library's rules with three exceptions that notebooks
need: long lines (Markdown prose becomes comments), a trailing ``;`` that hides a cell's value,
and imports below the first cell. Exits non-zero when ruff finds anything, naming the page.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_ONLY = "E501,E703,E402"


def chapter_pages() -> list[Path]:
    """Every MyST notebook under chapters/ (a page with a kernelspec in its header)."""
    return [
        page
        for page in sorted((ROOT / "chapters").glob("*/*.md"))
        if "kernelspec:" in "".join(page.read_text(encoding="utf-8").splitlines(True)[:15])
    ]


def main(argv: list[str]) -> int:
    import jupytext

    pages = [Path(p).resolve() for p in argv] or chapter_pages()
    if not pages:
        print("error: no chapter pages found under chapters/")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        for page in pages:
            name = f"{page.parent.name}__{page.stem}.py"
            jupytext.write(jupytext.read(page), Path(tmp) / name, fmt="py:percent")
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "ruff",
                "check",
                "--config",
                str(ROOT / "pyproject.toml"),
                "--ignore",
                NOTEBOOK_ONLY,
                "--output-format",
                "concise",
                "--no-cache",
                tmp,
            ],
            capture_output=True,
            text=True,
        )
    report = (
        result.stdout.replace(tmp + "/", "chapters/")
        .replace("__", "/")
        .replace(".py:", ".md (as Python) line ")
    )
    print(report.strip() or f"{len(pages)} chapter pages: lint-clean.")
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
