"""What the browser tests of the built site share: the pages to visit, a local server, a browser.

The pages come from ``_toc.yml`` (never a list written here), the site from ``_build/html`` or
the folder named by ``COURSE_SITE``. Each page is opened once in headless Chromium and
everything the tests look at is recorded in a :class:`PageVisit`.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE = Path(os.environ.get("COURSE_SITE", ROOT / "_build" / "html")).resolve()
# The book the site was built from (another one only to try the tests on a scratch book).
BOOK = Path(os.environ.get("COURSE_BOOK", ROOT)).resolve()
ARTIFACTS = Path(os.environ.get("COURSE_TEST_ARTIFACTS", ROOT / "test-artifacts")).resolve()
CHROMIUM = os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
MATH_SELECTOR = "main .math"


@dataclass(frozen=True)
class TocPage:
    """A page of ``_toc.yml``: its docname and the source file it is built from."""

    docname: str
    source: Path

    @property
    def html(self) -> str:
        return f"{self.docname}.html"

    @property
    def is_chapter(self) -> bool:
        """A MyST-Markdown notebook under chapters/: executed, launchable, downloadable."""
        return self.docname.startswith("chapters/") and self.source.suffix == ".md"

    @property
    def is_exercise(self) -> bool:
        return self.docname.startswith("exercises/") and self.source.suffix == ".ipynb"


def toc_pages() -> list[TocPage]:
    """Every page that ``_toc.yml`` lists, root first, in reading order."""
    from sphinx_external_toc.parsing import parse_toc_yaml

    site_map = parse_toc_yaml(BOOK / "_toc.yml")
    pages = []
    for docname in site_map:
        candidates = [BOOK / f"{docname}{suffix}" for suffix in (".md", ".ipynb")]
        source = next((path for path in candidates if path.is_file()), candidates[0])
        pages.append(TocPage(docname, source))
    return pages


def has_kernelspec(source: Path) -> bool:
    """A MyST page is a notebook (executed, gets launch buttons) when its header names a kernel."""
    head = source.read_text(encoding="utf-8")[:2000]
    return head.startswith("---") and re.search(r"^kernelspec:", head, re.MULTILINE) is not None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


class SiteServer:
    """The built site on http://127.0.0.1:<free port>/, served by a thread."""

    def __init__(self, directory: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> SiteServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class PageVisit:
    """What one visit of a page recorded."""

    page: TocPage
    url: str
    status: int | None = None
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    math: dict = field(default_factory=dict)
    launch_links: dict[str, str] = field(default_factory=dict)
    download_links: dict[str, str] = field(default_factory=dict)
    dropdowns_open: dict[str, bool] = field(default_factory=dict)
    switcher: dict = field(default_factory=dict)
    text: str = ""
    table_rows: list[list[str]] = field(default_factory=list)
    screenshot: Path | None = None
    axe: dict = field(default_factory=dict)


# JavaScript run in the page. Images: forced to load eagerly, then measured. Math: waits for
# MathJax (bundled by sphinx-mathjax-offline) to finish typesetting, then counts what it made.
_IMAGES_JS = """async () => {
  const images = Array.from(document.images);
  images.forEach(img => { img.loading = "eager"; });
  await Promise.all(images.map(img => img.complete ? null : new Promise(done => {
    img.addEventListener("load", done, {once: true});
    img.addEventListener("error", done, {once: true});
    setTimeout(done, 10000);
  })));
  return images.map(img => {
    const figure = img.closest("figure");
    const caption = figure ? figure.querySelector("figcaption") : null;
    const box = img.getBoundingClientRect();
    const style = window.getComputedStyle(img);
    return {
      src: img.getAttribute("src"), currentSrc: img.currentSrc,
      complete: img.complete, naturalWidth: img.naturalWidth,
      alt: img.getAttribute("alt"),
      caption: caption ? caption.innerText.trim() : "",
      inArticle: img.closest("article") !== null,
      inOutput: img.closest(".cell_output") !== null,
      width: box.width, height: box.height,
      shown: style.display !== "none" && style.visibility !== "hidden" && img.offsetParent !== null,
    };
  });
}"""

_MATH_JS = """async (selector) => {
  const elements = document.querySelectorAll(selector).length;
  const scripts = Array.from(document.scripts).map(s => s.src).filter(s => /mathjax/i.test(s));
  if (elements === 0) return {elements, scripts};
  const deadline = Date.now() + 30000;
  while (!(window.MathJax && MathJax.startup && MathJax.startup.promise) && Date.now() < deadline)
    await new Promise(r => setTimeout(r, 100));
  if (!(window.MathJax && MathJax.startup && MathJax.startup.promise))
    return {elements, scripts, loaded: false};
  await MathJax.startup.promise;
  if (MathJax.typesetPromise) await MathJax.typesetPromise();
  return {
    elements, scripts, loaded: true, version: MathJax.version,
    typeset: Array.from(document.querySelectorAll(selector)).filter(
      e => e.querySelector("mjx-container")).length,
    errors: Array.from(document.querySelectorAll("mjx-merror")).map(e => e.textContent),
    raw: Array.from(document.querySelectorAll(selector)).filter(
      e => !e.querySelector("mjx-container") && /\\\\\\(|\\\\\\[|\\$/.test(e.textContent)
    ).map(e => e.textContent.slice(0, 80)),
  };
}"""

_BUTTONS_JS = """() => {
  const links = (label) => Object.fromEntries(Array.from(document.querySelectorAll(
      `.dropdown-${label}-buttons a, .dropdown-${label}s-buttons a`)).map(
      a => [a.textContent.trim() || a.getAttribute("title") || a.href, a.href]));
  return {launch: links("launch"), download: links("download")};
}"""


# The edition switcher (pydata-sphinx-theme's, filled from _static/switcher.json by the theme's
# script): the button's label and the editions its menu offers.
_SWITCHER_JS = """async () => {
  const deadline = Date.now() + 10000;
  const items = () => document.querySelectorAll(".version-switcher__menu a");
  while (items().length === 0 && Date.now() < deadline)
    await new Promise(r => setTimeout(r, 100));
  const button = document.querySelector(".version-switcher__button");
  return {
    label: button ? button.innerText.trim() : null,
    visible: button !== null && button.offsetParent !== null,
    editions: Array.from(items()).map(a => a.dataset.version),
  };
}"""


def visit(browser, base_url: str, page: TocPage, screenshots: Path, run_axe) -> PageVisit:
    """Open ``page`` in a fresh browser context and record everything the tests check."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    record = PageVisit(page=page, url=base_url + page.html)
    local = base_url.rstrip("/")

    def route(request_route):
        url = request_route.request.url
        if url.startswith(local) or url.startswith("data:") or url.startswith("blob:"):
            request_route.continue_()
        else:  # the site must work offline: every request to another host is a defect
            record.external_requests.append(url)
            request_route.abort()

    # What the page does by itself and when a reader clicks; not what axe does afterwards (axe
    # re-fetches stylesheets' @imports against the page's address and gets 404s of its own).
    reader = {"active": True}

    def note(errors: list[str], message: str) -> None:
        if reader["active"]:
            errors.append(message)

    tab.route("**/*", route)
    tab.on(
        "console",
        lambda message: (
            message.type == "error"
            and note(record.console_errors, f"{message.text} ({message.location.get('url', '')})")
        ),
    )
    tab.on("pageerror", lambda error: note(record.page_errors, str(error)))
    tab.on(
        "requestfailed",
        lambda request: note(record.failed_requests, f"{request.url} ({request.failure})"),
    )
    tab.on(
        "response",
        lambda response: (
            response.status >= 400
            and note(record.failed_requests, f"{response.url} (HTTP {response.status})")
        ),
    )
    try:
        response = tab.goto(record.url, wait_until="load")
        record.status = response.status if response else None
        tab.wait_for_load_state("networkidle")
        record.images = tab.evaluate(_IMAGES_JS)
        record.math = tab.evaluate(_MATH_JS, MATH_SELECTOR)
        buttons = tab.evaluate(_BUTTONS_JS)
        record.launch_links, record.download_links = buttons["launch"], buttons["download"]
        record.switcher = tab.evaluate(_SWITCHER_JS)
        record.text = tab.inner_text("main")
        record.table_rows = tab.evaluate("""() => Array.from(document.querySelectorAll(
            "main table tr")).map(tr => Array.from(tr.cells).map(c => c.textContent.trim()))""")
        screenshots.mkdir(parents=True, exist_ok=True)
        record.screenshot = screenshots / (page.docname.replace("/", "__") + ".png")
        tab.screenshot(path=str(record.screenshot), full_page=True)
        for label in ("launch", "download"):
            record.dropdowns_open[label] = _opens(tab, label)
        reader["active"] = False
        record.axe = run_axe(tab)
    finally:
        context.close()
    return record


def _opens(tab, label: str) -> bool:
    """Click the header's ``label`` dropdown: does it show its menu to a reader?"""
    toggle = tab.locator(f".dropdown-{label}-buttons > button")
    if toggle.count() == 0:
        return False
    toggle.first.click()
    menu = tab.locator(f".dropdown-{label}-buttons .dropdown-menu")
    try:
        menu.first.wait_for(state="visible", timeout=5000)
        visible = True
    except Exception:  # noqa: BLE001 - Playwright's TimeoutError: the menu never showed
        visible = False
    tab.keyboard.press("Escape")
    return visible


# --- figures: what a page's code draws, and what the built page must show ----------------------

# A code cell draws when it makes a matplotlib figure, directly or through course_utils.plotting.
DRAWING_CALL = re.compile(
    r"\bplt\.(?:subplots|subplot_mosaic|figure|imshow|plot|scatter|bar|hist|matshow)\("
    r"|\b(?:show_images|show_kernels|plot_history)\("
)
NO_OUTPUT_TAGS = {"remove-output"}
IMAGE_TYPES = ("image/png", "image/svg+xml", "image/jpeg")


@dataclass(frozen=True)
class CodeCell:
    """A code cell of a chapter page, as far as figures go."""

    number: int  # 1-based, among the page's code cells
    source: str
    caption: str  # the cell's `mystnb: figure: caption:`, or ""
    output_shown: bool  # no remove-output / remove-cell tag

    @property
    def draws(self) -> bool:
        """A drawing call the cell runs: not one inside a function it only defines."""
        return DRAWING_CALL.search(_code_that_runs(self.source)) is not None

    @property
    def expected_images(self) -> tuple[int, int | None]:
        """(at least, at most) output images on the page: one per captioned figure."""
        if not self.output_shown:
            return 0, 0
        if self.caption:
            return 1, 1
        return (1 if self.draws else 0), None


def _code_that_runs(source: str) -> str:
    """The cell's code without the bodies of the functions and classes it defines."""
    import ast

    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return source  # not plain Python: judge the text as it is
    kept = [
        node
        for node in tree.body
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    ]
    return "\n".join(ast.unparse(node) for node in kept)


def code_cells(source: Path) -> list[CodeCell]:
    """The code cells that a MyST notebook page shows (not remove-cell), read with jupytext."""
    import jupytext

    notebook = jupytext.read(source)
    cells = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        figure = (cell.metadata.get("mystnb") or {}).get("figure") or {}
        tags = set(cell.metadata.get("tags", []))
        if "remove-cell" in tags:
            continue
        cells.append(
            CodeCell(
                len(cells) + 1,
                cell.source,
                str(figure.get("caption", "")),
                not tags & NO_OUTPUT_TAGS,
            )
        )
    return cells


def output_image_count(cell) -> int:
    """How many images the outputs of an executed notebook cell hold."""
    return sum(
        1
        for output in cell.get("outputs", [])
        if any(kind in output.get("data", {}) for kind in IMAGE_TYPES)
    )
