"""Every chapter page shows the figures its code draws: checked on the built HTML, no browser.

What a page must show comes from its source (``tests/site_support.py``: a code cell draws when
it calls matplotlib or course_utils.plotting; a cell with ``mystnb: figure: caption:`` is one
figure); what it does show comes from ``_build/html`` (or ``COURSE_SITE``). A build whose chapter
kernels cannot draw (``MPLBACKEND=Agg`` reaching them) has no image in any cell output and fails
here, as does a page that stops drawing, a figure that loses its picture, or a test run that
finds no page to check.
"""

from __future__ import annotations

import re

import pytest
from site_support import SITE, code_cells, has_kernelspec, toc_pages

pytestmark = pytest.mark.site

NOTEBOOKS = [page for page in toc_pages() if page.is_chapter and has_kernelspec(page.source)]
# Pages whose code draws: a figure check over an empty list would pass on a site without figures.
DRAWING = [page for page in NOTEBOOKS if any(cell.draws for cell in code_cells(page.source))]


def _ids(pages):
    return [page.docname for page in pages]


def _built_cells(page):
    """The code cells of the built page, in order: (images in its output, captioned figures)."""
    from bs4 import BeautifulSoup

    html = SITE / page.html
    if not html.is_file():
        pytest.fail(f"{page.html} is not in the built site {SITE}: run the book build first")
    soup = BeautifulSoup(html.read_text(encoding="utf-8"), "html.parser")
    article = soup.find("article") or soup
    cells = []
    for cell in article.select("div.cell"):
        outputs = cell.select("div.cell_output")
        images = [img for output in outputs for img in output.find_all("img")]
        # myst-nb puts every output of a captioned cell (a table too) in a captioned figure.
        figures = [
            figure
            for output in outputs
            for figure in output.find_all("figure")
            if figure.find("figcaption") is not None
        ]
        cells.append((len(images), len(figures)))
    return cells


def test_there_are_pages_that_draw():
    assert NOTEBOOKS, "_toc.yml lists no chapter notebook: nothing would be checked"
    assert DRAWING, "no chapter page's code draws a figure: the figure checks would check nothing"


@pytest.mark.parametrize("page", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_each_drawing_cell_shows_its_figure(page):
    """One output image per captioned figure cell; at least one for every other drawing cell."""
    source_cells = code_cells(page.source)
    built = _built_cells(page)
    assert len(built) == len(source_cells), (
        f"{page.html} has {len(built)} code cells, its source {len(source_cells)}: rebuild the "
        "site, or a cell was removed from the page"
    )
    problems = []
    for cell, (images, figures) in zip(source_cells, built, strict=True):
        at_least, at_most = cell.expected_images
        first_line = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
        where = f"code cell {cell.number} ({first_line[:60]!r})"
        if images < at_least:
            problems.append(f"{where} draws but its output holds {images} images")
        if at_most is not None and images > at_most:
            problems.append(f"{where} is one captioned figure but shows {images} images")
        if cell.caption and cell.output_shown and figures != 1:
            problems.append(
                f"{where} has a caption but the page shows {figures} captioned "
                "outputs for it (a captioned cell must display its figure only)"
            )
    assert not problems, f"{page.html}: " + "; ".join(problems)


@pytest.mark.parametrize("page", DRAWING, ids=_ids(DRAWING))
def test_drawing_page_shows_images(page):
    shown = sum(images for images, _ in _built_cells(page))
    assert shown >= 1, f"{page.html}: the page's code draws, but no image is in its outputs"


EXECUTED = SITE.parent / "jupyter_execute"


@pytest.mark.parametrize("page", DRAWING, ids=_ids(DRAWING))
def test_executed_notebook_keeps_the_pages_figures(page):
    """``jupyter_execute/<page>.ipynb`` holds at least the images the page shows (myst-nb 1.4
    wrote it without the cached outputs until ``coursekit.sphinx_ext`` rewrote it)."""
    import nbformat
    from site_support import output_image_count

    executed = EXECUTED.joinpath(*f"{page.docname}.ipynb".split("/"))
    if not executed.is_file():
        pytest.fail(f"{executed} is missing: run the book build first")
    notebook = nbformat.read(executed, as_version=4)
    kept = sum(output_image_count(cell) for cell in notebook.cells if cell.cell_type == "code")
    shown = sum(images for images, _ in _built_cells(page))
    assert kept >= max(shown, 1), (
        f"{executed.name}: {kept} images in the executed notebook, the page shows {shown}"
    )


# An output that opens with its image: tags and whitespace only between the output's start and
# the <img> (the project's before-stop hook reads the built site the same way).
FIGURE_FIRST = re.compile(r'class="cell_output[^"]*"[^>]*>\s*(?:<[^>]+>\s*)*<img')


@pytest.mark.parametrize("page", DRAWING, ids=_ids(DRAWING))
def test_drawing_page_has_a_figure_that_stands_alone(page):
    """At least one figure of a drawing page is its cell's whole output, not a picture under a
    printout: the checks and their printed lines go in the cell before the figure's cell."""
    html = (SITE / page.html).read_text(encoding="utf-8")
    assert FIGURE_FIRST.search(html), (
        f"{page.html}: every image follows printed text in its cell's output; move a figure's "
        "checks and prints into the cell before it"
    )
