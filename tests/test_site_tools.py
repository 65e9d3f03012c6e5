"""The site's own tools, without a build: the link checker and the Sphinx extension's parts."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import SimpleNamespace

import jupytext
import pytest
from docutils import nodes
from docutils.frontend import get_default_settings
from docutils.parsers.rst import Parser
from docutils.utils import new_document

import course_utils
from coursekit import sphinx_ext
from coursekit.install import install_cell_source

ROOT = Path(__file__).resolve().parent.parent


def _load_check_links():
    spec = importlib.util.spec_from_file_location("check_links", ROOT / "scripts/check_links.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_links = _load_check_links()


# --- link checker -------------------------------------------------------------------------


@pytest.fixture
def tiny_site(tmp_path):
    (tmp_path / "chapters").mkdir()
    (tmp_path / "index.html").write_text(
        '<a href="chapters/one.html#idea">ok</a> <a href="chapters/one.html#nowhere">bad anchor</a>'
        ' <a href="missing.html">bad file</a> <a href="https://example.org/x">other host</a>'
        ' <a href="https://course.example/site/chapters/one.html">deployed ok</a>'
        ' <a href="https://course.example/site/chapters/two.html">deployed bad</a>'
        ' <img src="_images/pic.png"> <a href="#top">self</a> <a name="top"></a>'
    )
    (tmp_path / "chapters" / "one.html").write_text(
        '<h1 id="idea">Idea</h1><a href="../index.html">up</a><a href="../../outside.html">x</a>'
    )
    (tmp_path / "_images").mkdir()
    (tmp_path / "_images" / "pic.png").write_bytes(b"png")
    return tmp_path


def test_link_checker_finds_exactly_the_broken_links(tiny_site):
    broken = sorted(check_links.broken_links(tiny_site, "https://course.example/site/"))
    assert broken == [
        "chapters/one.html: ../../outside.html (points outside the site)",
        "index.html: chapters/one.html#nowhere (no anchor #nowhere in chapters/one.html)",
        "index.html: https://course.example/site/chapters/two.html (no such file)",
        "index.html: missing.html (no such file)",
    ]


def test_link_checker_cli_exit_status(tiny_site, tmp_path_factory, capsys):
    assert check_links.main([str(tiny_site), "--baseurl", "https://course.example/site/"]) == 1
    assert "4 broken internal link(s)" in capsys.readouterr().out
    empty = tmp_path_factory.mktemp("empty")
    assert check_links.main([str(empty)]) == 2
    assert "no built site" in capsys.readouterr().out


# --- Sphinx extension ---------------------------------------------------------------------


def _fake_app():
    config = SimpleNamespace(
        html_theme_options={"repository_url": "https://github.com/org/course"},
        source_encoding="utf-8-sig",
        tab_width=8,
    )
    return SimpleNamespace(config=config)


def test_chapter_notebook_is_the_page_with_a_setup_cell():
    source = ROOT / "chapters" / "00_setup" / "check_setup.md"
    notebook = sphinx_ext.chapter_notebook(source, _fake_app())
    original = jupytext.read(source)
    setup = [cell for cell in notebook.cells if "course-setup" in cell.metadata.get("tags", [])]
    rest = [cell for cell in notebook.cells if cell not in setup]
    assert len(setup) == 1 and setup[0].source == install_cell_source()
    assert f"cnn-course-utils=={course_utils.__version__}" in setup[0].source
    assert "git+" not in setup[0].source and "@main" not in setup[0].source
    assert [cell.source for cell in rest] == [cell.source for cell in original.cells]
    assert notebook.cells[0].cell_type == "markdown"  # the title stays first
    assert "jupytext" not in notebook.metadata
    assert len({cell["id"] for cell in notebook.cells}) == len(notebook.cells)


def test_literalinclude_becomes_the_code_it_shows(tmp_path):
    page = tmp_path / "chapters" / "01" / "page.md"
    page.parent.mkdir(parents=True)
    page.write_text("x")
    (tmp_path / "lib.py").write_text("def f(x):\n    return x + 1\n\n\ndef g():\n    pass\n")
    text = "Before.\n\n```{literalinclude} ../../lib.py\n:pyobject: f\n```\n\nAfter."
    expanded = sphinx_ext._inline_literalincludes(text, page, _fake_app())
    assert expanded == "Before.\n\n```python\ndef f(x):\n    return x + 1\n```\n\nAfter."


def _doctree(*children):
    document = new_document("test", get_default_settings(Parser))
    for child in children:
        document += child
    return document


def _cell(image):
    output = nodes.container("", image, classes=["cell_output"])
    return nodes.container("", output, classes=["cell", "docutils"])


def test_alt_text_from_the_paragraph_after_the_cell():
    image = nodes.image(uri="_images/a.png")
    after = nodes.paragraph(text="Three kernels side by side. Each is 3 by 3.")
    sphinx_ext.add_alt_text(None, _doctree(_cell(image), after), "page")
    assert image["alt"] == "Three kernels side by side."


def test_alt_text_from_the_figure_caption_and_kept_when_given():
    captioned = nodes.image(uri="_images/b.png")
    figure = nodes.figure("", captioned, nodes.caption(text="A blurred  astronaut."))
    given = nodes.image(uri="_images/c.png", alt="Loss per epoch.")
    sphinx_ext.add_alt_text(None, _doctree(_cell(figure), _cell(given)), "page")
    assert captioned["alt"] == "A blurred astronaut."
    assert given["alt"] == "Loss per epoch."


def test_a_figure_that_says_nothing_is_a_warning(caplog):
    image = nodes.image(uri="_images/d.png")
    heading = nodes.section("", nodes.title(text="Next section"))
    sphinx_ext.add_alt_text(None, _doctree(_cell(image), heading), "page")
    assert "alt" not in image
    assert any("no alt text or caption" in record.getMessage() for record in caplog.records)


def test_exercise_copy_for_colab_keeps_every_graded_cell(tmp_path):
    import nbformat

    released = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# Exercise"),
            nbformat.v4.new_code_cell(
                "def f(x):\n    raise NotImplementedError()",
                metadata={"nbgrader": {"grade_id": "f", "solution": True}},
            ),
            nbformat.v4.new_code_cell(
                "assert f(1) == 2", metadata={"nbgrader": {"grade_id": "t", "points": 1}}
            ),
        ]
    )
    path = tmp_path / "ex.ipynb"
    nbformat.write(released, path)
    copy = sphinx_ext.exercise_for_colab(path, _fake_app())
    nbformat.validate(copy)
    assert [cell.source for cell in copy.cells[2:]] == [cell.source for cell in released.cells[1:]]
    assert copy.cells[1].metadata["tags"] == ["course-setup"] and "nbgrader" not in (
        copy.cells[1].metadata
    )
    assert copy.cells[1].source == install_cell_source()  # the same rule as `course release`
    assert [c.metadata for c in copy.cells if "nbgrader" in c.metadata] == [
        c.metadata for c in released.cells if "nbgrader" in c.metadata
    ]


# --- figures and section numbers ----------------------------------------------------------------


def test_the_build_keeps_mplbackend_away_from_chapter_kernels(monkeypatch):
    """An MPLBACKEND in the build's environment would reach every kernel: no figures at all."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.delenv("COURSE_BOOK_BUILD", raising=False)
    sphinx_ext.inline_figures(None, None)
    import os

    assert "MPLBACKEND" not in os.environ
    assert os.environ["COURSE_BOOK_BUILD"] == "1"  # course_utils.tables.glue records values
    monkeypatch.setenv("MPLBACKEND", sphinx_ext.INLINE_BACKEND)
    sphinx_ext.inline_figures(None, None)
    assert os.environ["MPLBACKEND"] == sphinx_ext.INLINE_BACKEND  # the inline one may stay


def test_glue_roles_become_names_in_the_downloaded_notebook():
    text = (
        "reached {glue:text}`acc:.3f` and {glue}`n`, as {glue:md}`verdict` says, "
        "against {glue:text}`other.md::ap:.2f`"
    )
    expected = "reached `acc` and `n`, as `verdict` says, against `ap`"
    assert sphinx_ext.GLUE_ROLE.sub(r"`\g<name>`", text) == expected


def _build_numbered_book(tmp_path, extensions):
    """A tiny book as Jupyter Book makes it (sphinx-external-toc, a numbered part): chapter 1's
    index has two sections of its own and two child pages."""
    from sphinx.application import Sphinx

    source = tmp_path / "src"
    (source / "chap").mkdir(parents=True)
    (source / "conf.py").write_text(
        f"extensions = {['sphinx_external_toc', *extensions]!r}\nexternal_toc_path = '_toc.yml'\n"
        "numfig = True\n"
    )
    (source / "_toc.yml").write_text(
        "format: jb-book\nroot: index\nparts:\n  - caption: Chapters\n    numbered: true\n"
        "    chapters:\n      - file: chap/index\n        sections:\n"
        "          - file: chap/a\n          - file: chap/b\n"
    )
    (source / "index.rst").write_text("Book\n====\n\ntext\n")
    (source / "chap" / "index.rst").write_text(
        "Chapter\n=======\n\nOwn one\n-------\n\n.. table:: A numbered table\n\n   = =\n   a b\n"
        "   = =\n\nOwn two\n-------\n\ntext\n"
    )
    for name in "ab":
        (source / "chap" / f"{name}.rst").write_text(f"Page {name}\n======\n\nSub\n---\n\ntext\n")
    app = Sphinx(
        str(source),
        str(source),
        str(tmp_path / "out"),
        str(tmp_path / "doctrees"),
        "html",
        status=None,
        warning=None,
        freshenv=True,
    )
    app.build()
    app.env.course_table_numbers = app.env.toc_fignumbers.get("chap/index", {}).get("table", {})
    return app.env.toc_secnumbers, (tmp_path / "out" / "chap" / "index.html").read_text(), app.env


def test_chapter_pages_are_numbered_in_reading_order(tmp_path):
    import re

    plain, _, _ = _build_numbered_book(tmp_path / "plain", [])
    assert plain["chap/a"][""] == (1, 3)  # Sphinx alone: after the index's own two sections
    numbers, index_html, env = _build_numbered_book(tmp_path / "course", ["coursekit.sphinx_ext"])
    assert numbers["chap/index"][""] == (1,)
    assert numbers["chap/a"][""] == (1, 1) and numbers["chap/b"][""] == (1, 2)
    assert numbers["chap/a"]["#sub"] == (1, 1, 1)
    assert not numbers["chap/index"]["#own-one"] and not numbers["chap/index"]["#own-two"]
    headings = re.findall(r"<h2>(.*?)</h2>", index_html, re.DOTALL)
    assert len(headings) == 2 and not any("section-number" in h for h in headings), headings
    # a table under an unnumbered section is numbered by its chapter: Table 1.1, not Table 1
    assert list(env.course_table_numbers.values()) == [(1, 1)]


# --- editions, the PDF, last verified: a tiny book as the course builds it ---------------------


def _build_course_book(tmp_path, edition="latest"):
    """A one-page book with the course's theme, myst-nb's cache and this extension; an edition
    listed, and a PDF where ``make pdf`` puts it."""
    from sphinx.application import Sphinx

    source, out = tmp_path / "src", tmp_path / "_build" / "html"
    source.mkdir(parents=True)
    (source / "conf.py").write_text(
        "extensions = ['myst_nb', 'coursekit.sphinx_ext']\n"
        "html_theme = 'sphinx_book_theme'\n"
        "html_baseurl = 'https://course.example/site/'\n"
        "nb_execution_mode = 'cache'\n"
        f"nb_execution_cache_path = {str(tmp_path / 'cache')!r}\n"
        f"course_edition = {edition!r}\n"
        "course_execution_stats = 'stats'\n"
    )
    (source / "editions.yml").write_text(
        "editions:\n  - {name: 2026-fall, course_utils: 0.4.0, published: 2026-09-01}\n"
    )
    (source / "index.md").write_text(
        "---\njupytext:\n  text_representation:\n    format_name: myst\n"
        "kernelspec:\n  name: python3\n  display_name: Python 3\n---\n\n"
        "# A page that runs\n\n```{code-cell} ipython3\nprint(6 * 7)\n```\n\n"
        "```{toctree}\nstats\n```\n"
    )
    (source / "stats.md").write_text("# Statistics\n\nNo code here.\n")
    (tmp_path / "_build" / "latex").mkdir(parents=True)
    (tmp_path / "_build" / "latex" / "cnn-course.pdf").write_bytes(b"%PDF-1.5 the book")
    app = Sphinx(str(source), str(source), str(out), str(tmp_path / "doctrees"), "html",
                 status=None, warning=None, freshenv=True)  # fmt: skip
    app.build()
    return out


def test_every_page_has_the_switcher_and_executed_pages_say_when_they_last_ran(tmp_path):
    import json

    out = _build_course_book(tmp_path)
    page = (out / "index.html").read_text()
    assert "version-switcher__button" in page
    assert "theme_switcher_json_url = '_static/switcher.json'" in page
    assert "theme_switcher_version_match = 'latest'" in page
    switcher = json.loads((out / "_static" / "switcher.json").read_text())
    assert [entry["version"] for entry in switcher] == ["latest", "2026-fall"]
    assert switcher[1]["url"] == "https://course.example/site/editions/2026-fall/"
    facts = course_utils.describe_runtime()
    verified = re.search(r'<p class="course-verified">(.*?)</p>', page, re.DOTALL)
    assert verified, "the executed page has no last-verified line"
    assert re.match(r"Last verified: \d{4}-\d\d-\d\d \d\d:\d\d UTC, ", verified[1])
    assert f"profile {facts['profile']}" in verified[1] and f"torch {facts['torch']}" in verified[1]
    assert "ran clean in" in verified[1] and 'href="stats.html"' in verified[1]
    assert page.index("</h1>") < page.index("course-verified")  # under the title
    stats = (out / "stats.html").read_text()
    assert "version-switcher__button" in stats and "course-verified" not in stats  # no code


def test_the_download_menu_offers_the_books_pdf_when_it_was_built(tmp_path):
    out = _build_course_book(tmp_path, edition="2026-fall")
    page = (out / "index.html").read_text()
    assert 'href="_static/cnn-course.pdf"' in page and "Book (.pdf)" in page
    assert (out / "_static" / "cnn-course.pdf").read_bytes() == b"%PDF-1.5 the book"
    assert "theme_switcher_version_match = '2026-fall'" in page


def test_an_edition_opens_its_notebooks_from_its_own_folder_of_the_published_branch():
    app = _fake_app()
    app.config.course_edition, app.config.course_site_path = "2026-fall", ""
    assert sphinx_ext.site_path(app) == "editions/2026-fall/"
    app.config.course_site_path = "previews/pr-3"
    assert sphinx_ext.site_path(app) == "previews/pr-3/"
    app.config.course_edition, app.config.course_site_path = "latest", ""
    assert sphinx_ext.site_path(app) == ""


def test_the_pdf_has_the_books_math_macros_and_amsmaths_math():
    config = SimpleNamespace(
        latex_elements={"preamble": "% earlier\n\\usepackage{unicode-math}"},
        mathjax3_config={"tex": {"macros": {"R": "\\mathbb{R}", "norm": ["\\|#1\\|", 1]}}},
    )
    sphinx_ext.latex_math(None, config)
    assert config.latex_elements["preamble"].splitlines() == [
        "% earlier",
        "% unicode-math left out by coursekit.sphinx_ext (see latex_math)",
        "\\providecommand{\\R}{\\mathbb{R}}",
        "\\providecommand{\\norm}[1]{\\|#1\\|}",
    ]
