"""The book's PDF as a reader gets it (``make pdf`` runs these: ``pytest -m pdf``).

Read with poppler's tools (``make latex`` installs them): ``pdfinfo`` for the page count,
``pdftotext`` for the words, ``pdfimages -list`` for the pictures. ``COURSE_PDF`` names another
PDF (an edition's); the executed notebooks it was made from are beside it in
``../jupyter_execute``, which says how many figures each chapter draws.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PDF = Path(os.environ.get("COURSE_PDF", ROOT / "_build" / "latex" / "cnn-course.pdf"))
if not PDF.is_absolute():
    PDF = ROOT / PDF
EXECUTED = PDF.parent.parent / "jupyter_execute"

pytestmark = pytest.mark.pdf


def _poppler(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=300).stdout


def normalise(text: str) -> str:
    """Words as pdftotext and a page's Markdown can both be compared: ligatures and typographic
    quotes undone, Markdown's marks and LaTeX's line-end hyphens removed, spaces collapsed."""
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"')
    text = text.replace("\u201d", '"').replace("\u2013", "-").replace("\u2014", "-")
    text = re.sub(r"[`*_]", "", text)
    text = re.sub(r"-\s*\n\s*", "-", text)
    return " ".join(text.split()).casefold()


def _title(source: Path) -> str:
    """The page's title: its first level-1 heading (Markdown page or notebook)."""
    if source.suffix == ".ipynb":
        cells = json.loads(source.read_text(encoding="utf-8"))["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    else:
        text = source.read_text(encoding="utf-8")
    match = re.search(r"^# (.+)$", text, re.MULTILINE)
    assert match, f"{source} has no title"
    title = re.sub(r"\{[a-z]+\}`([^`]*)`", r"\1", match[1])  # {math}`x`, {ref}`...`
    return re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title).strip()


def _toc_pages() -> list[tuple[str, Path]]:
    from sphinx_external_toc.parsing import parse_toc_yaml

    site_map = parse_toc_yaml(ROOT / "_toc.yml")
    pages = []
    for docname in site_map:
        if docname == site_map.root.docname:
            continue  # the introduction is the PDF's front matter
        candidates = [ROOT / f"{docname}{suffix}" for suffix in (".md", ".ipynb")]
        pages.append((docname, next(path for path in candidates if path.is_file())))
    return pages


@pytest.fixture(scope="module")
def pdf_pages() -> list[str]:
    """The text of each page (pdftotext's layout, one form feed after each page)."""
    if not PDF.is_file():
        pytest.fail(f"no PDF at {PDF}: run `make pdf` (or set COURSE_PDF)")
    return _poppler("pdftotext", "-layout", str(PDF), "-").split("\f")


def _headings(page: str) -> set[str]:
    """The page's lines that could be a heading, normalised, without a section number; a line
    joined with the next too (a long title wraps)."""
    lines = [re.sub(r"^\d+(\.\d+)*\.?\s+", "", normalise(line)) for line in page.splitlines()]
    lines = [line for line in lines if line]
    joined = set(lines)
    for first, second in zip(lines, lines[1:], strict=False):
        joined.add(f"{first} {second}")
        if first.endswith("-"):  # LaTeX hyphenated a word at the line's end, or kept a hyphen
            joined |= {first[:-1] + second, first + second}
    return joined


def _body_start() -> int:
    """The physical page (0-based) of the book's page 1: the contents before it list every
    title too, and must not count as the chapters' own pages."""
    for line in _poppler("pdfinfo", "-dests", str(PDF)).splitlines():
        if line.rstrip().endswith('"page.1"'):
            return int(line.split()[0]) - 1
    return 0


@pytest.fixture(scope="module")
def images_per_page() -> dict[int, int]:
    counts: dict[int, int] = {}
    for line in _poppler("pdfimages", "-list", str(PDF)).splitlines()[2:]:
        fields = line.split()
        if len(fields) > 2 and fields[2] == "image":  # not the smask (alpha) of an image
            counts[int(fields[0])] = counts.get(int(fields[0]), 0) + 1
    return counts


def _chapter_starts(pdf_pages: list[str]) -> list[tuple[str, int | None]]:
    """(docname, 1-based page where its title stands as a heading, after the previous one's)."""
    headings = [_headings(page) for page in pdf_pages]
    starts, after = [], _body_start()
    for docname, source in _toc_pages():
        title = normalise(_title(source))
        page = next((i for i in range(after, len(pdf_pages)) if title in headings[i]), None)
        starts.append((docname, None if page is None else page + 1))
        after = page if page is not None else after
    return starts


def _figures_drawn(docname: str) -> int:
    """Images that the page's executed notebook shows (each output's PNG or JPEG)."""
    notebook = EXECUTED / f"{docname}.ipynb"
    if not notebook.is_file():
        return 0
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return sum(
        1
        for cell in cells
        for output in cell.get("outputs", [])
        if {"image/png", "image/jpeg"} & set(output.get("data", {}))
    )


def test_the_pdf_has_pages(pdf_pages):
    pages = int(re.search(r"^Pages:\s+(\d+)", _poppler("pdfinfo", str(PDF)), re.M)[1])
    assert len(pdf_pages) >= pages  # pdftotext read every page (a form feed after each)
    assert pages >= 2 * len(_toc_pages()), f"{pages} pages for {len(_toc_pages())} chapters"


def test_every_chapter_and_exercise_is_in_the_pdf_in_reading_order(pdf_pages):
    missing = [docname for docname, page in _chapter_starts(pdf_pages) if page is None]
    assert not missing, f"titles not found in {PDF.name} (in reading order): {missing}"


def test_every_chapter_shows_the_figures_its_code_draws(pdf_pages, images_per_page):
    starts = _chapter_starts(pdf_pages)
    short = []
    for index, (docname, start) in enumerate(starts):
        drawn = _figures_drawn(docname)
        if not drawn or start is None:
            continue
        following = [page for _, page in starts[index + 1 :] if page is not None]
        end = following[0] if following else len(pdf_pages)
        # a figure may float to the top of the next chapter's first page
        shown = sum(images_per_page.get(page, 0) for page in range(start, end + 1))
        if shown < drawn:
            short.append(f"{docname}: draws {drawn}, pages {start}-{end} show {shown}")
    total_drawn = sum(_figures_drawn(docname) for docname, _ in starts)
    assert total_drawn > 0, f"no executed notebook with figures in {EXECUTED}"
    assert not short, "chapters whose figures are missing from the PDF: " + "; ".join(short)


def test_math_is_typeset_and_every_reference_resolved(pdf_pages):
    text = normalise("\n".join(pdf_pages))
    assert "$$" not in text and "\\begin{" not in text, "raw LaTeX math in the PDF's text"
    unresolved = [i + 1 for i, page in enumerate(pdf_pages) if "??" in normalise(page)]
    assert not unresolved, f"unresolved references (??) on pages {unresolved}"
