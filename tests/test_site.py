"""The built site as readers use it, in headless Chromium: every page of ``_toc.yml``.

Run after the book build (``make site-test``, part of ``make test``): ``pytest -m site``.
``COURSE_SITE`` names another built site (e.g. ``/tmp/jb-site/_build/html``). Each page is
opened once; screenshots and axe reports go to ``test-artifacts/`` (CI uploads that folder).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from urllib.parse import parse_qs, unquote, urlsplit

import jupytext
import nbformat
import pytest
import yaml
from site_support import (
    ARTIFACTS,
    BOOK,
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    SITE,
    SiteServer,
    code_cells,
    has_kernelspec,
    toc_pages,
    visit,
)

from coursekit.install import install_cell_source

pytestmark = [pytest.mark.site, pytest.mark.slow]

PAGES = toc_pages()
CHAPTERS = [page for page in PAGES if page.is_chapter]
# Chapter pages that are notebooks (a kernelspec in the header): executed, launchable.
NOTEBOOKS = [page for page in CHAPTERS if has_kernelspec(page.source)]
EXERCISES = [page for page in PAGES if page.is_exercise]
CONFIG = yaml.safe_load((BOOK / "_config.yml").read_text(encoding="utf-8"))
REPOSITORY = CONFIG["repository"]["url"].rstrip("/")
ORG_REPO = REPOSITORY.split("github.com/")[-1]


def _ids(pages):
    return [page.docname for page in pages]


# --- fixtures: one server, one browser, one visit per page ---------------------------------------


@pytest.fixture(scope="session")
def site():
    if not (SITE / "index.html").is_file():
        pytest.fail(f"no built site in {SITE}: run `make book` first (or set COURSE_SITE)")
    return SITE


@pytest.fixture(scope="session")
def server(site):
    with SiteServer(site) as running:
        yield running


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Exception as error:  # noqa: BLE001 - say what to install, not a Playwright trace
            pytest.fail(
                f"cannot start Chromium at {CHROMIUM} ({error.__class__.__name__}): "
                "install Debian's chromium (`make browser`) or set COURSE_CHROMIUM"
            )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def axe():
    from axe_playwright_python.sync_playwright import Axe

    return Axe()


@pytest.fixture(scope="session")
def visits(server, browser, axe):
    """Visits each page at most once, on first use, and remembers what it saw."""
    seen = {}
    reports = ARTIFACTS / "axe"
    reports.mkdir(parents=True, exist_ok=True)

    def run_axe(tab):
        results = axe.run(tab, options={"resultTypes": ["violations"]})
        return results.response

    def get(page):
        if page.docname not in seen:
            record = visit(browser, server.url, page, ARTIFACTS / "screenshots", run_axe)
            report = reports / (page.docname.replace("/", "__") + ".json")
            report.write_text(json.dumps(record.axe.get("violations", []), indent=1))
            seen[page.docname] = record
        return seen[page.docname]

    return get


# --- every page -----------------------------------------------------------------------------


def test_toc_lists_pages_that_exist():
    assert PAGES[0].docname == "intro"
    missing = [str(page.source.relative_to(BOOK)) for page in PAGES if not page.source.is_file()]
    assert not missing, f"_toc.yml lists pages without a source file: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_page_loads_without_errors(page, visits):
    record = visits(page)
    assert record.status == 200, f"{record.url} answered HTTP {record.status}"
    assert not record.page_errors, f"JavaScript errors on {page.html}: {record.page_errors}"
    assert not record.console_errors, f"console errors on {page.html}: {record.console_errors}"
    assert not record.failed_requests, f"failed requests on {page.html}: {record.failed_requests}"
    assert not record.external_requests, (
        f"{page.html} fetches from other hosts (the site must work offline): "
        f"{record.external_requests}"
    )
    assert record.text.strip(), f"{page.html} shows no text"


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_every_image_loads(page, visits):
    broken = [
        image["src"]
        for image in visits(page).images
        if not image["complete"] or image["naturalWidth"] == 0
    ]
    assert not broken, f"images that did not load on {page.html}: {broken}"


# A figure drawn at a real size: the smallest figure of the course (a strip of kernels scaled to
# the column) is well above this; a broken or collapsed image is 0 or a few pixels.
MIN_FIGURE_WIDTH, MIN_FIGURE_HEIGHT = 120, 40


def test_there_are_chapters_and_exercises_to_check():
    """The per-page tests are parametrized over these lists: an empty one would test nothing."""
    assert CHAPTERS, "_toc.yml lists no chapter page"
    assert NOTEBOOKS, "no chapter page is a notebook (kernelspec in its header)"
    assert EXERCISES, "_toc.yml lists no exercise page"


@pytest.mark.parametrize("page", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_chapter_figures_are_displayed(page, visits):
    """One image per captioned figure cell, one or more per drawing cell, all at a real size."""
    cells = code_cells(page.source)
    at_least = sum(cell.expected_images[0] for cell in cells)
    captioned = sum(1 for cell in cells if cell.caption and cell.output_shown)
    shown = [image for image in visits(page).images if image["inOutput"]]
    assert len(shown) >= at_least, (
        f"{page.html}: its code draws {at_least} figures or more, the page shows {len(shown)} "
        "images in cell outputs (do the chapter kernels run with MPLBACKEND=Agg?)"
    )
    figures = [image for image in shown if image["caption"]]
    assert len(figures) == captioned, (
        f"{page.html}: {captioned} captioned figure cells, {len(figures)} captioned images shown"
    )
    too_small = [
        f"{image['src']} ({image['width']:.0f}x{image['height']:.0f} px, shown: {image['shown']})"
        for image in shown
        if not image["shown"]
        or image["naturalWidth"] == 0
        or image["width"] < MIN_FIGURE_WIDTH
        or image["height"] < MIN_FIGURE_HEIGHT
    ]
    assert not too_small, f"{page.html}: figures not displayed at a real size: {too_small}"


def _says_nothing(alt: str | None, src: str) -> bool:
    """An alt text that is missing, empty, or only the image's file name."""
    alt = (alt or "").strip()
    name = src.rsplit("/", 1)[-1]
    is_file_name = re.search(r"\.(png|jpe?g|svg|gif|webp)$", alt) is not None
    return not alt or alt in (src, name) or is_file_name


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_every_figure_says_what_it_shows(page, visits):
    """Every image of the page's content has an alt text or a caption (not its file name)."""
    silent = [
        image["src"]
        for image in visits(page).images
        if image["inArticle"] and _says_nothing(image["alt"], image["src"]) and not image["caption"]
    ]
    assert not silent, (
        f"images on {page.html} without alt text or caption: {silent}. Give the code cell "
        "`mystnb: figure: caption: ...` metadata, or follow it with a sentence that says what "
        "the figure shows"
    )


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_math_is_typeset_offline(page, visits):
    math = visits(page).math
    if math["elements"] == 0:
        return  # nothing to typeset on this page
    assert math["scripts"], f"{page.html} has math but loads no MathJax"
    external = [src for src in math["scripts"] if not src.startswith("http://127.0.0.1")]
    assert not external, f"{page.html} loads MathJax from another host: {external}"
    assert math["loaded"], f"MathJax did not start on {page.html}"
    assert not math["errors"], f"MathJax errors on {page.html}: {math['errors']}"
    assert math["typeset"] >= math["elements"], (
        f"{page.html}: {math['typeset']} of {math['elements']} math elements typeset; "
        f"untypeset: {math['raw']}"
    )


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_no_critical_accessibility_violations(page, visits):
    violations = visits(page).axe.get("violations", [])
    critical = [
        f"{v['id']}: {v['help']} ({len(v['nodes'])} elements, e.g. {v['nodes'][0]['target']})"
        for v in violations
        if v.get("impact") == "critical"
    ]
    assert not critical, f"critical axe-core violations on {page.html}: {critical}"


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_screenshot_saved(page, visits):
    shot = visits(page).screenshot
    assert shot is not None and shot.is_file() and shot.stat().st_size > 5000, (
        f"no usable screenshot of {page.html}"
    )


# --- chapters: launch and download ---------------------------------------------------------------


def _notebook_from_site(site, href: str, base: str):
    path = unquote(urlsplit(href).path)
    assert href.startswith(base), f"download link {href} leaves the site"
    file = site / path.lstrip("/")
    assert file.is_file(), f"download link {href} points at no file of the site"
    notebook = nbformat.read(file, as_version=4)
    nbformat.validate(notebook)
    return file, notebook


def _code(cells) -> list[str]:
    return [cell.source.strip() for cell in cells if cell.cell_type == "code"]


@pytest.mark.parametrize("page", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_chapter_downloads_as_notebook(page, visits, site, server):
    """The download menu offers the page as .ipynb: the jupytext conversion of its source."""
    record = visits(page)
    assert record.dropdowns_open.get("download"), f"{page.html}: the download menu does not open"
    assert ".ipynb" in record.download_links, (
        f"{page.html} offers no .ipynb download: {record.download_links}"
    )
    _, notebook = _notebook_from_site(site, record.download_links[".ipynb"], server.url)
    source = jupytext.read(page.source)
    downloaded = [
        cell for cell in notebook.cells if "course-setup" not in cell.metadata.get("tags", [])
    ]
    assert _code(downloaded) == _code(source.cells), (
        f"the .ipynb of {page.html} does not hold the code of {page.source.name} "
        "(or the page changed after the site was built)"
    )
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    markdown = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    assert "{literalinclude}" not in markdown, "literalinclude left unexpanded in the notebook"


@pytest.mark.parametrize("page", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_chapter_offers_launch_buttons(page, visits, site):
    """Binder, Colab and JupyterHub, each pointing at a notebook that exists where it looks."""
    record = visits(page)
    links = record.launch_links
    assert record.dropdowns_open.get("launch"), f"{page.html}: the launch menu does not open"
    assert {"Binder", "Colab", "JupyterHub"} <= set(links), f"{page.html} launch menu: {links}"
    notebook_in_site = f"_sources/{page.docname}.ipynb"
    assert (site / notebook_in_site).is_file()

    colab = urlsplit(links["Colab"])
    assert colab.netloc == "colab.research.google.com"
    branch = CONFIG.get("sphinx", {}).get("config", {}).get("course_notebooks_branch", "gh-pages")
    assert colab.path == f"/github/{ORG_REPO}/blob/{branch}/{notebook_in_site}", links["Colab"]

    binder = urlsplit(links["Binder"])
    assert binder.netloc == "mybinder.org"
    assert binder.path == f"/v2/gh/{ORG_REPO}/{CONFIG['repository']['branch']}", links["Binder"]
    urlpath = parse_qs(binder.query)["urlpath"][0]
    assert urlpath.endswith(f"/{page.docname}.ipynb"), urlpath
    post_build = (ROOT / ".binder" / "postBuild").read_text(encoding="utf-8")
    assert "jupytext" in post_build, "Binder must convert chapters to .ipynb (.binder/postBuild)"

    hub = parse_qs(urlsplit(links["JupyterHub"]).query)
    assert hub["repo"] == [REPOSITORY] and hub["branch"] == [branch], links["JupyterHub"]
    assert hub["urlpath"][0].endswith(notebook_in_site), links["JupyterHub"]


# --- exercises: the released notebook ----------------------------------------------------------


@pytest.mark.parametrize("page", EXERCISES, ids=_ids(EXERCISES))
def test_exercise_downloads_the_released_notebook(page, visits, site, server):
    record = visits(page)
    assert record.dropdowns_open.get("download"), f"{page.html}: the download menu does not open"
    notebooks = [href for href in record.download_links.values() if href.endswith(".ipynb")]
    assert notebooks, f"{page.html} offers no .ipynb download: {record.download_links}"
    file, _ = _notebook_from_site(site, notebooks[0], server.url)
    assert file.read_bytes() == page.source.read_bytes(), (
        f"the download of {page.html} is not the released {page.source.relative_to(BOOK)}"
    )
    # Colab opens a copy with the setup cell from the published site; the graded cells are the
    # released ones. Binder opens the released notebook itself on the main branch.
    links = record.launch_links
    assert {"Binder", "Colab", "JupyterHub"} <= set(links), f"{page.html} launch menu: {links}"
    branch = CONFIG.get("sphinx", {}).get("config", {}).get("course_notebooks_branch", "gh-pages")
    copy = f"_sources/{page.docname}.colab.ipynb"
    assert urlsplit(links["Colab"]).path == f"/github/{ORG_REPO}/blob/{branch}/{copy}", links
    colab = nbformat.read(site / copy, as_version=4)
    released = nbformat.read(page.source, as_version=4)
    setups = [c for c in colab.cells if "course-setup" in c.metadata.get("tags", [])]
    assert len(setups) == 1 and setups[0].source == install_cell_source(), (
        f"{copy} does not start with the course's one install cell (coursekit.install)"
    )

    def graded(cells):
        return [(c.source, c.metadata) for c in cells if c not in setups + released_setups]

    released_setups = [c for c in released.cells if "course-setup" in c.metadata.get("tags", [])]
    assert graded(colab.cells) == graded(released.cells), f"{copy} changed the exercise's cells"
    binder = urlsplit(links["Binder"])
    assert parse_qs(binder.query)["urlpath"][0].endswith(f"/{page.docname}.ipynb"), links


# --- whole site -----------------------------------------------------------------------------------


def test_search_finds_convolution(server, browser):
    context = browser.new_context()
    try:
        tab = context.new_page()
        tab.goto(server.url + "search.html?q=convolution", wait_until="load")
        results = tab.locator("#search-results ul.search li")
        results.first.wait_for(timeout=30000)
        hrefs = [
            results.nth(i).locator("a").first.get_attribute("href") for i in range(results.count())
        ]
        ARTIFACTS.joinpath("screenshots").mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(ARTIFACTS / "screenshots" / "search__convolution.png"))
    finally:
        context.close()
    assert hrefs, "searching for 'convolution' found nothing"
    found = {href.split("?")[0].split("#")[0].removesuffix(".html") for href in hrefs}
    chapter_names = {page.docname for page in CHAPTERS if page.docname.startswith("chapters/0")}
    expected = chapter_names - {"chapters/00_setup/check_setup"} or {"intro"}
    assert found & expected, f"search results {sorted(found)} include no chapter"


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_every_page_offers_the_edition_switcher(page, visits, site):
    """The header's switcher names this site's edition and offers latest and every edition
    that editions.yml lists and has not retired (coursekit/editions.py)."""
    from coursekit.editions import read_editions

    switcher = visits(page).switcher
    assert switcher.get("visible"), f"{page.html} shows no edition switcher: {switcher}"
    listed = json.loads((site / "_static" / "switcher.json").read_text())
    edition = CONFIG.get("sphinx", {}).get("config", {}).get("course_edition", "latest")
    current = next(entry["name"] for entry in listed if entry["version"] == edition)
    assert switcher["label"] == current, f"{page.html}: the switcher says {switcher['label']}"
    live = [e.name for e in read_editions(BOOK / "editions.yml") if not e.retired]
    assert switcher["editions"] == ["latest", *reversed(live)], switcher


VERIFIED = re.compile(
    r"Last verified: (?P<date>\d{4}-\d\d-\d\d \d\d:\d\d) UTC, profile (?P<profile>\w+), "
    r"device (?P<device>\w+), torch (?P<torch>\S+?)[;,( ]"
)


@pytest.mark.parametrize("page", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_executed_pages_say_when_they_last_ran_clean(page, visits):
    """Under the title: when the page's code last ran clean, with the profile, device and torch
    that the execution statistics page printed for the same build."""
    record = visits(page)
    match = VERIFIED.search(record.text)
    assert match, f"{page.html} does not say when its code last ran clean (Last verified: ...)"
    stats = visits(next(p for p in PAGES if p.docname.endswith("execution_stats")))
    facts = dict(re.findall(r"^\s*(\w+): (.+)$", stats.text, re.MULTILINE))
    assert match["profile"] == facts.get("profile"), (match.group(), facts)
    assert match["device"] == facts.get("device", "").split(":")[0], (match.group(), facts)
    assert match["torch"] == facts.get("torch"), (match.group(), facts)


def test_execution_statistics_list_every_chapter(visits):
    stats = [page for page in PAGES if page.docname.endswith("execution_stats")]
    assert stats, "_toc.yml lists no execution statistics page"
    record = visits(stats[0])
    for label in ("device:", "profile:"):
        assert label in record.text, f"the statistics page does not say the {label[:-1]} it ran on"
    rows = {row[0]: row for row in record.table_rows if row}
    assert rows.get("Document", [])[:5] == [
        "Document",
        "Modified",
        "Method",
        "Run Time (s)",
        "Status",
    ], f"not an execution table: {rows}"
    for page in NOTEBOOKS:
        row = rows.get(page.docname)
        assert row is not None, f"{page.docname} is missing from the execution table"
        assert row[4] == "✅", f"{page.docname} did not execute cleanly: {row}"
        assert float(row[3]) > 0, f"{page.docname} has no run time: {row}"


def test_internal_links_resolve(site):
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_links.py"), str(site)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
