"""Sphinx extension of the course site: runnable chapter notebooks, launch links, alt text.

Loaded by Jupyter Book through ``_config.yml`` (``sphinx.extra_extensions``); nothing else
imports it. It does three things when the site is built:

1. **A notebook for every chapter page.** Each MyST-Markdown notebook page is converted with
   jupytext into a clean ``.ipynb`` (no outputs) at ``_sources/<page>.ipynb`` in the site, where
   the page's download button points. ``{literalinclude}`` blocks become the code they show, and
   a first code cell installs ``course_utils`` by name and exact version where it is missing or
   another version (``coursekit.install``: Colab, a fresh JupyterHub), so the notebook runs
   anywhere with the library of the site's edition.
2. **Launch links that work from the deployed site.** Nothing generated is committed, so:
   Colab and JupyterHub open the generated notebook from the ``gh-pages`` branch (CI publishes
   the built site there; ``course_notebooks_branch`` names the branch), and Binder builds the
   ``main`` branch (``.binder/`` installs the course and converts the chapters with jupytext) and
   opens ``chapters/.../page.ipynb`` there. Released exercises are committed ``.ipynb`` files:
   they download as they are, Binder opens them on ``main``, and Colab and JupyterHub open a
   copy with the setup cell (``_sources/<page>.colab.ipynb``), graded cells untouched.
3. **Alt text for computed figures.** A code cell's image gets, in this order, the alt text of
   its cell metadata (``mystnb: image: alt:``), the caption of its figure (``mystnb: figure:
   caption:``), or the first sentence of the paragraph right after the cell. An image with none
   of these is a warning (``course.alt``), so ``-W`` builds fail until the author says what it
   shows.

4. **Figures from the chapter kernels.** An ``MPLBACKEND`` in the build's environment (a
   shell, a CI runner, a grading setup) reaches every kernel the build starts, and ipykernel
   then keeps that backend instead of its inline one: the pages lose every figure. The build
   removes it before any chapter executes, and says so.

5. **Sections numbered in reading order.** Under a numbered toctree Sphinx numbers a chapter
   index's own headings first (5.1-5.4) and its child pages after them (5.5-5.7). The index's
   own headings are left unnumbered instead, so the pages of chapter 5 read 5.1, 5.2, 5.3.

6. **Executed notebooks keep their outputs.** With the execution cache, myst-nb 1.4 writes
   ``jupyter_execute/<page>.ipynb`` from the page *before* it merges the cached outputs into a
   copy, so every such notebook came out empty (no figure, no printed number). After a page is
   read, its notebook there is rewritten with the cache's outputs.

7. **Editions, the book's PDF, and when each page last ran clean.** Every page carries the
   version switcher (pydata-sphinx-theme's, fed by ``_static/switcher.json``, which the build
   writes from ``editions.yml`` through ``coursekit.editions``); the download menu offers the
   whole book as a PDF when ``make pdf`` has built one (copied into the site as
   ``_static/<course_pdf>``); and every executed page says under its title when its code last ran
   clean and where: "Last verified: DATE, profile P, device D, torch T", from myst-nb's execution
   data (the jupyter-cache record's time and run time) and the build's runtime.

It also repairs small defects of the theme stack that the browser tests found: a doubled
sphinx-thebe script and no default colour mode (console errors), and sidebar toggles without an
accessible name (axe-core's summary-name).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote, urlencode

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util import logging

from coursekit.chapter_env import INLINE_BACKEND, chapter_kernel_environment  # noqa: F401

LOGGER = logging.getLogger(__name__)

# ```{literalinclude} path   followed by :option: value lines and a closing fence.
LITERALINCLUDE = re.compile(
    r"^(?P<fence>`{3,}|:{3,})\{literalinclude\}[ \t]+(?P<path>\S+)[ \t]*\n"
    r"(?P<options>(?:[ \t]*:[\w-]+:.*\n)*)"
    r"(?P=fence)[ \t]*$",
    re.MULTILINE,
)
# {glue}`name`, {glue:text}`name:.3f`, {glue:md}`name`, {glue:text}`other.md::name`: values a
# run hands to the page's text (from this page, or from another with `page.md::`).
GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`(?:[^`:]*::)?(?P<name>[^`:]+)(?::[^`]*)?`")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")


# --- 1. chapter notebooks ------------------------------------------------------------------------


def _repository(app: Sphinx) -> tuple[str, str, str]:
    """(repository URL, GitHub org, repository name) from the theme options."""
    url = app.config.html_theme_options.get("repository_url", "").rstrip("/")
    parts = url.split("github.com/")[-1].split("/") if "github.com/" in url else ["", ""]
    return url, parts[0], parts[1]


def _inline_literalincludes(text: str, source: Path, app: Sphinx) -> str:
    """Replace each ``{literalinclude}`` block of a markdown cell by the code it includes."""
    from sphinx.directives.code import LiteralIncludeReader

    def replace(match: re.Match) -> str:
        options = {}
        for line in match["options"].splitlines():
            key, _, value = line.strip()[1:].partition(":")
            value = value.strip()
            options[key] = int(value) if value.isdigit() else value or True
        path = match["path"]
        if path.startswith("/"):  # Sphinx reads /x as relative to the book's root
            filename = Path(getattr(app, "srcdir", source.parent)) / path.lstrip("/")
        else:
            filename = source.parent / path
        try:
            code, _ = LiteralIncludeReader(str(filename.resolve()), options, app.config).read()
        except Exception as error:  # noqa: BLE001 - the page's own build reports the details
            LOGGER.warning(
                f"cannot inline {path} into the notebook of {source.name}: {error}",
                type="course",
                subtype="notebook",
            )
            return match.group()
        language = options.get("language", "python")
        return f"```{language}\n{code.rstrip()}\n```"

    return LITERALINCLUDE.sub(replace, text)


def chapter_notebook(source: Path, app: Sphinx):
    """The runnable notebook of a MyST-Markdown page: inputs only, ready for Colab and Jupyter."""
    import jupytext

    notebook = jupytext.read(source)
    notebook.metadata.pop("jupytext", None)
    notebook.metadata["accelerator"] = "GPU"  # Colab opens it on a GPU runtime where it can
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = _inline_literalincludes(cell.source, source, app)
            # The page quotes values its cells computed; here the name of each stands in for it.
            cell.source = GLUE_ROLE.sub(r"`\g<name>` (a computed value)", cell.source)
        elif cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    _insert_setup_cell(notebook, app)
    for index, cell in enumerate(notebook.cells):  # nbformat 4.5 wants unique ids
        cell["id"] = f"cell-{index}"
    return notebook


def _insert_setup_cell(notebook, app: Sphinx) -> None:
    """Put the course's install cell after the title cell.

    The cell is the one rule of ``coursekit.install``: ``pip install cnn-course-utils==VERSION``
    where that version is missing, VERSION being this checkout's ``course_utils.__version__``.
    A notebook from an edition's site therefore keeps the library of that edition all term.
    """
    import nbformat

    from coursekit.install import CELL_TAG, install_cell_source

    if any(CELL_TAG in cell.metadata.get("tags", []) for cell in notebook.cells):
        return  # a released exercise made by `course release` carries it already
    setup = nbformat.v4.new_code_cell(install_cell_source())
    setup.metadata["tags"] = [CELL_TAG]
    setup["id"] = CELL_TAG
    position = 1 if notebook.cells and notebook.cells[0].cell_type == "markdown" else 0
    notebook.cells.insert(position, setup)


def exercise_for_colab(source: Path, app: Sphinx):
    """The released exercise with the setup cell, for Colab and a fresh JupyterHub.

    The graded cells are untouched (nbgrader ignores a cell without its metadata), so a
    notebook filled in on Colab grades like the download.
    """
    import nbformat

    notebook = nbformat.read(source, as_version=4)
    _insert_setup_cell(notebook, app)
    notebook.metadata["accelerator"] = "GPU"
    return notebook


def colab_copy_name(pagename: str) -> str:
    return f"{pagename}.colab.ipynb"


def _is_markdown_notebook(app: Sphinx, pagename: str) -> bool:
    source = Path(app.env.doc2path(pagename))
    return source.suffix == ".md" and "kernelspec" in app.env.metadata.get(pagename, {})


def publish_notebook(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """Write the page's notebook into the site and point the launch buttons at it."""
    if doctree is None or app.builder.format != "html":
        return
    import nbformat

    source = Path(app.env.doc2path(pagename))
    if _is_markdown_notebook(app, pagename):
        target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(chapter_notebook(source, app), target)
        context["ipynb_source"] = f"{pagename}.ipynb"
        _retarget_launch_buttons(app, pagename, context, f"_sources/{pagename}.ipynb")
    elif source.suffix == ".ipynb" and pagename.startswith("exercises/"):
        # The download stays the released notebook (Sphinx copies the source into _sources/).
        copy = colab_copy_name(pagename)
        target = Path(app.outdir) / "_sources" / copy
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(exercise_for_colab(source, app), target)
        _retarget_launch_buttons(app, pagename, context, f"_sources/{copy}", binder=False)


def _retarget_launch_buttons(
    app: Sphinx, pagename: str, context, notebook_path: str, binder: bool = True
) -> None:
    """Colab and JupyterHub open ``notebook_path`` of the published site; Binder the .ipynb
    that .binder/postBuild makes next to the page's source (``binder=False``: keep its link)."""
    repo_url, org, repo = _repository(app)
    options = app.config.html_theme_options.get("launch_buttons", {})
    branch = app.config.course_notebooks_branch
    # An edition or a preview lives in a folder of the published branch (editions/NAME/).
    notebook_path = site_path(app) + notebook_path
    ui = "lab/tree" if options.get("notebook_interface") == "jupyterlab" else "tree"
    for group in context.get("header_buttons", []):
        if group.get("label") != "launch-buttons":
            continue
        for button in group["buttons"]:
            if button.get("text") == "Colab":
                colab = options["colab_url"].rstrip("/")
                button["url"] = f"{colab}/github/{org}/{repo}/blob/{branch}/{notebook_path}"
            elif button.get("text") == "Binder" and binder:
                button["url"] = re.sub(r"\.md$", ".ipynb", button["url"])
            elif button.get("text") == "JupyterHub":
                hub = options["jupyterhub_url"].rstrip("/")
                folder = f"{repo}-notebooks"
                query = urlencode(
                    {
                        "repo": repo_url,
                        "branch": branch,
                        "targetPath": folder,
                        "urlpath": f"{ui}/{folder}/{notebook_path}",
                    },
                    safe="/",
                    quote_via=quote,
                )
                button["url"] = f"{hub}/hub/user-redirect/git-pull?{query}"


def site_path(app: Sphinx) -> str:
    """The folder of the published branch that holds this site: ``""`` for latest (the root),
    ``editions/NAME/`` for an edition, unless ``course_site_path`` names another (a preview)."""
    from coursekit.editions import LATEST, edition_path

    if app.config.course_site_path:
        return app.config.course_site_path.strip("/") + "/"
    edition = app.config.course_edition
    return "" if edition == LATEST else edition_path(edition)


# --- 3. alt text ---------------------------------------------------------------------------------


def _first_sentence(paragraph: nodes.paragraph) -> str:
    text = " ".join(paragraph.astext().split())
    return SENTENCE_END.split(text, maxsplit=1)[0]


def _enclosing_cell(node: nodes.Node) -> nodes.Element | None:
    while node is not None:
        if isinstance(node, nodes.container) and "cell" in node.get("classes", []):
            return node
        node = node.parent
    return None


def _next_paragraph(cell: nodes.Element) -> nodes.paragraph | None:
    sibling = cell.next_node(descend=False, siblings=True, ascend=False)
    return sibling if isinstance(sibling, nodes.paragraph) else None


def _figure_caption(image: nodes.image) -> str:
    for ancestor in (image.parent, getattr(image.parent, "parent", None)):
        if isinstance(ancestor, nodes.figure):
            for caption in ancestor.findall(nodes.caption):
                return " ".join(caption.astext().split())
    return ""


def add_alt_text(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Give every image of a code cell's output an alt text that says what it shows."""
    for image in doctree.findall(nodes.image):
        if image.get("alt"):
            continue
        alt = _figure_caption(image)
        cell = _enclosing_cell(image)
        if not alt and cell is not None:
            paragraph = _next_paragraph(cell)
            alt = _first_sentence(paragraph) if paragraph is not None else ""
        if alt:
            image["alt"] = alt
        elif cell is not None or isinstance(image.parent, nodes.figure):
            LOGGER.warning(
                "a figure has no alt text or caption: give its code cell the metadata "
                "`mystnb: figure: caption: ...` (or `mystnb: image: alt: ...`), or follow the "
                "cell with a paragraph that says what the figure shows",
                location=image,
                type="course",
                subtype="alt",
            )


def drop_duplicate_scripts(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """Keep one copy of each inline script.

    sphinx-thebe registers its inline ``const THEBE_JS_URL = ...`` script once under the file
    name ``None`` and Sphinx copies it once more as ``''``, so every page declared the constant
    twice and the browser reported a SyntaxError on every page.
    """
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        attributes = getattr(script, "attributes", {}) or {}
        key = (str(getattr(script, "filename", script) or ""), tuple(sorted(attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def default_light_mode(app: Sphinx, config) -> None:
    """Open the site in light mode unless the configuration says otherwise.

    Without a ``default_mode`` the theme logs "Got invalid theme mode" as a console error on
    every page; light suits the figures (matplotlib draws on white). Readers can still switch.
    """
    context = config.html_context
    if not context.get("default_mode"):
        config.html_context = {**context, "default_mode": "light"}


def label_sidebar_toggles(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """Give the sidebar's expand/collapse toggles a name that screen readers can say.

    The theme draws them as ``<summary>`` with only a chevron icon in it, which axe-core reports
    as a serious violation (summary-name) on every page.
    """
    generate = context.get("generate_toctree_html")
    if generate is None:
        return

    def labelled(*args, **kwargs):
        html = generate(*args, **kwargs)  # a BeautifulSoup tree (a string in other versions)
        if hasattr(html, "find_all"):
            for summary in html.find_all("summary"):
                summary["aria-label"] = "Show or hide the sections"
        elif isinstance(html, str):
            html = html.replace("<summary>", '<summary aria-label="Show or hide the sections">')
        return html

    context["generate_toctree_html"] = labelled


def inline_figures(app: Sphinx, config) -> None:
    """Let the chapter kernels draw inline and glue values (``chapter_kernel_environment``)."""
    removed = chapter_kernel_environment()
    if removed:
        LOGGER.info(
            f"course: MPLBACKEND={removed} removed from the build's environment, so "
            "that the chapter kernels draw their figures into the pages"
        )


# --- 6. executed notebooks with their outputs ---------------------------------------------------


def keep_executed_outputs(app: Sphinx, doctree: nodes.document) -> None:
    """Rewrite ``jupyter_execute/<page>.ipynb`` with the outputs cached for the page.

    A page whose notebook is not in the cache (not executed, or excluded) is left as written.
    """
    config = getattr(app.env, "mystnb_config", None)
    if config is None or config.execution_mode != "cache" or not config.output_folder:
        return
    written = Path(config.output_folder).joinpath(*f"{app.env.docname}.ipynb".split("/"))
    if not written.is_file():
        return
    import nbformat
    from jupyter_cache import get_cache

    notebook = nbformat.read(written, as_version=4)
    if any(cell.get("outputs") for cell in notebook.cells):
        return  # already executed (a .ipynb page with stored outputs)
    try:
        _, merged = get_cache(config.execution_cache_path).merge_match_into_notebook(notebook)
    except KeyError:
        return
    nbformat.write(merged, written)


# --- 5. section numbers in reading order ----------------------------------------------------------


_HELD_BACK = "course_held_back_tocs"


def _index_section_lists(app: Sphinx, env):
    """(docname, list of its own sections) of each page with child pages (the root excepted)."""
    for docname, toc in env.tocs.items():
        if docname == app.config.root_doc:
            continue
        if not any(isinstance(node, addnodes.toctree) for node in toc.findall()):
            continue
        for title_item in toc.children:  # the page's title, then its sections and toctrees
            for sections in title_item.children:
                if isinstance(sections, nodes.bullet_list):
                    yield docname, sections


def hold_back_index_sections(app: Sphinx, env) -> list[str]:
    """Before numbering: take a chapter index's own sections out of its toc.

    Detached, they get no section number, and the figures under them are numbered by the page's
    own number (5.1, 5.2, ...), as if the page had no sections.
    """
    held = []
    for docname, sections in _index_section_lists(app, env):
        original = list(sections.children)
        own = [item for item in original if isinstance(item, nodes.list_item)]
        if not own:
            continue
        references = [ref for item in own for ref in item.findall(nodes.reference)]
        sections[:] = [node for node in original if not isinstance(node, nodes.list_item)]
        held.append((docname, sections, original, references))
    setattr(env, _HELD_BACK, held)
    return []


def restore_index_sections(app: Sphinx, env) -> list[str]:
    """After numbering: put the index's own sections back where they were, unnumbered.

    Each gets an explicit empty number: a heading whose anchor has no entry would otherwise
    be shown with its page's number.
    """
    for docname, sections, original, references in getattr(env, _HELD_BACK, []):
        sections[:] = original
        numbers = env.toc_secnumbers.get(docname)
        if numbers is not None:
            for reference in references:
                reference["secnumber"] = None
                numbers[reference["anchorname"]] = ()
    setattr(env, _HELD_BACK, [])
    return []


# --- 7. editions, the PDF, last verified ----------------------------------------------------------


SWITCHER_JSON = "_static/switcher.json"


def _editions(app: Sphinx):
    from coursekit.editions import read_editions

    return read_editions(Path(app.confdir) / app.config.course_editions_file)


def _site_root(app: Sphinx) -> str:
    """The published branch's root URL (latest), under which every edition lives."""
    return app.config.course_site_root or app.config.html_baseurl or "/"


def add_version_switcher(app: Sphinx, config) -> None:
    """Put the theme's version switcher in every page's header, fed by this site's own
    ``_static/switcher.json`` (a relative URL: the site works offline and from any folder)."""
    from coursekit.editions import LATEST, check_name

    if config.course_edition != LATEST:
        check_name(config.course_edition)
    if config.html_theme not in ("sphinx_book_theme", "pydata_sphinx_theme"):
        return  # the switcher is the pydata theme family's
    options = dict(config.html_theme_options)
    options["switcher"] = {"json_url": SWITCHER_JSON, "version_match": config.course_edition}
    options["check_switcher"] = False  # the file is written by this extension, after the build
    start = options.get("article_header_start") or ["toggle-primary-sidebar.html"]
    start = [start] if isinstance(start, str) else list(start)
    if "version-switcher.html" not in start:
        start.append("version-switcher.html")
    options["article_header_start"] = start
    config.html_theme_options = options


def built_pdf(app: Sphinx, config=None) -> Path | None:
    """The book's PDF that ``make pdf`` built next to this HTML build, if there is one."""
    name = (config or app.config).course_pdf
    pdf = Path(app.outdir).parent / "latex" / name
    return pdf if name and pdf.is_file() else None


def note_built_pdf(app: Sphinx, config) -> None:
    """Put the PDF's time into ``html_context``: Sphinx then rewrites every page after ``make
    pdf`` (their download menus gain the link) without reading or executing any page again."""
    pdf = built_pdf(app, config)
    if pdf is not None:
        config.html_context = {**config.html_context, "course_pdf_mtime": pdf.stat().st_mtime_ns}


UNICODE_MATH = "\\usepackage{unicode-math}"


def latex_math(app: Sphinx, config) -> None:
    """The PDF's math as MathJax typesets the pages.

    The macros that MathJax gets from ``mathjax3_config`` (``\\R``) are defined for LaTeX too
    (one list of macros for both). sphinx-jupyterbook-latex's preamble loads ``unicode-math``,
    under which a bare command subscript (``x_\\mathcal{B}``, which MathJax and amsmath
    accept) stops the whole PDF with "Missing { inserted": the preamble keeps amsmath's math.
    """
    elements = dict(config.latex_elements)
    if UNICODE_MATH in elements.get("preamble", ""):
        elements["preamble"] = elements["preamble"].replace(
            UNICODE_MATH, "% unicode-math left out by coursekit.sphinx_ext (see latex_math)"
        )
    macros = ((config.mathjax3_config or {}).get("tex") or {}).get("macros") or {}
    definitions = []
    for name, body in macros.items():
        if isinstance(body, list):  # [definition, number of arguments]
            body, arguments = body[0], f"[{body[1]}]"
        else:
            arguments = ""
        definitions.append(f"\\providecommand{{\\{name}}}{arguments}{{{body}}}")
    if definitions:
        elements["preamble"] = elements.get("preamble", "") + "\n" + "\n".join(definitions)
    config.latex_elements = elements


def add_pdf_link(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """Offer the whole book as a PDF in the download menu of every page, when it was built."""
    if app.builder.format != "html" or built_pdf(app) is None:
        return
    for group in context.get("header_buttons", []):
        if group.get("label") == "download-buttons":
            group["buttons"].append(
                {
                    "type": "link",
                    "url": context["pathto"](f"_static/{app.config.course_pdf}", 1),
                    "text": "Book (.pdf)",
                    "tooltip": "Download the whole book as a PDF",
                    "icon": "fas fa-book",
                    "label": "download-book-pdf-button",
                }
            )


def _runtime_facts(app: Sphinx) -> dict[str, str]:
    """Device, profile and torch of this build (``course_utils.describe_runtime``), once."""
    facts = getattr(app, "_course_runtime_facts", None)
    if facts is None:
        import course_utils

        facts = course_utils.describe_runtime()
        app._course_runtime_facts = facts
    return facts


def verified_line(exec_data: dict, facts: dict[str, str]) -> str:
    """ "Last verified: DATE, profile P, device D, torch T (ran clean in S s)" for one page."""
    import datetime as dt

    when = dt.datetime.fromtimestamp(exec_data["mtime"], tz=dt.timezone.utc)
    where = f"profile {facts['profile']}, device {facts['device'].split(':')[0]}"
    where += f", torch {facts['torch']}"
    if "gpu" in facts:
        where += f" ({facts['gpu']})"
    if "data" in facts:
        where += ", on stand-in data"
    runtime = exec_data.get("runtime")
    ran = f"; ran clean in {runtime:.0f} s" if runtime is not None else ""
    return f"Last verified: {when:%Y-%m-%d %H:%M} UTC, {where}{ran}"


def add_last_verified(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """Under the title of every executed page: when its code last ran clean, and where."""
    if app.builder.format != "html" or doctree is None:
        return
    from myst_nb.sphinx_ import NbMetadataCollector

    exec_data = NbMetadataCollector.get_doc_data(app.env).get(pagename, {}).get("exec_data")
    if not exec_data:
        return  # not executed (a page without code, a released exercise)
    if not exec_data.get("succeeded"):
        LOGGER.warning(
            f"{pagename}: its code did not run clean, so it shows no 'Last verified' line",
            type="course",
            subtype="verified",
        )
        return
    import html

    text = html.escape(verified_line(exec_data, _runtime_facts(app)))
    stats = app.config.course_execution_stats
    link = ""
    if stats in app.env.all_docs and stats != pagename:
        link = f' (<a href="{context["pathto"](stats)}">execution statistics</a>)'
    line = f'<p class="course-verified">{text}{link}</p>'
    body = context.get("body", "")
    end = body.find("</h1>")
    context["body"] = (
        body[: end + 5] + "\n" + line + body[end + 5 :] if end >= 0 else line + "\n" + body
    )


def write_switcher_and_pdf(app: Sphinx, exception) -> None:
    """After an HTML build: ``_static/switcher.json`` and the book's PDF, into the site."""
    if exception is not None or app.builder.format != "html":
        return
    import json
    import shutil

    from coursekit.editions import switcher_entries

    static = Path(app.outdir) / "_static"
    static.mkdir(parents=True, exist_ok=True)
    entries = switcher_entries(_editions(app), _site_root(app))
    (static / "switcher.json").write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")
    pdf = built_pdf(app)
    if pdf is not None:
        shutil.copyfile(pdf, static / app.config.course_pdf)
        LOGGER.info(f"course: the book's PDF {pdf} is in the site as _static/{pdf.name}")


def setup(app: Sphinx) -> dict:
    app.add_config_value("course_notebooks_branch", "gh-pages", "html")
    app.add_config_value("course_edition", "latest", "html")
    app.add_config_value("course_editions_file", "editions.yml", "html")
    app.add_config_value("course_site_root", "", "html")
    app.add_config_value("course_site_path", "", "html")
    app.add_config_value("course_pdf", "cnn-course.pdf", "html")
    app.add_config_value("course_execution_stats", "chapters/99_appendix/execution_stats", "html")
    app.connect("config-inited", default_light_mode)
    app.connect("config-inited", add_version_switcher)
    app.connect("config-inited", note_built_pdf)
    # After sphinx-jupyterbook-latex's own (priority 500), which writes its preamble.
    app.connect("config-inited", latex_math, priority=900)
    app.connect("config-inited", inline_figures)
    # Around the toctree collector's numbering (env-get-updated, priority 500).
    app.connect("env-get-updated", hold_back_index_sections, priority=400)
    app.connect("env-get-updated", restore_index_sections, priority=600)
    app.connect("doctree-resolved", add_alt_text)
    app.connect("doctree-read", keep_executed_outputs)
    # After the book theme's own handlers (priority 501): the theme has copied the executed
    # notebook to _sources/ and built its buttons; this replaces both.
    app.connect("html-page-context", publish_notebook, priority=502)
    app.connect("html-page-context", add_pdf_link, priority=503)
    app.connect("html-page-context", add_last_verified, priority=503)
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    app.connect("build-finished", write_switcher_and_pdf)
    app.connect("html-page-context", label_sidebar_toggles, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
