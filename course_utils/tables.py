"""What a page shows of a run: small result tables, and results that the page's text quotes.

Tables render as Markdown in the book and as text in a terminal. ``glue`` hands a computed value
to the prose (``{glue:text}`name:.3f``` in the page), so that no sentence types a number that a
run produced.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

# myst-nb reads glued values from outputs of this MIME prefix (myst_nb.glue(..., display=False)).
GLUE_PREFIX = "application/papermill.record/"
# Set by the site's Sphinx extension for the kernels of a book build.
BOOK_BUILD_VARIABLE = "COURSE_BOOK_BUILD"


def format_cell(value, floatfmt: str = ".3g") -> str:
    """A table cell: floats by ``floatfmt``, ``None`` as a dash, everything else by ``str``."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return format(value, floatfmt)
    return str(value)


def markdown_table(rows: Sequence[Sequence], headers: Sequence[str], floatfmt: str = ".3g"):
    """Return an ``IPython.display.Markdown`` table (its ``.data`` is the Markdown text)."""
    from IPython.display import Markdown

    if any(len(row) != len(headers) for row in rows):
        raise ValueError(f"every row needs {len(headers)} cells, one per header")
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        lines.append("| " + " | ".join(format_cell(v, floatfmt) for v in row) + " |")
    return Markdown("\n".join(lines))


def glue(name: str, value) -> None:
    """Record ``value`` under ``name`` for the page's text to quote.

    In a book build this emits what ``myst_nb.glue(name, value, display=False)`` emits (the
    page's ``{glue:text}`name``` then shows the value). Anywhere else (Jupyter, Colab) it emits
    nothing, so a downloaded notebook neither needs myst-nb nor shows an output that no
    frontend can render; print the value where the reader should see it. Like
    ``myst_nb.glue`` it returns nothing, so that a cell ending with it shows no extra output.
    """
    if not name or not isinstance(name, str):
        raise ValueError(f"a glued value needs a non-empty name, got {name!r}")
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        # A NumPy or PyTorch scalar: its repr (np.float64(0.5), tensor(0.5)) would reach the
        # page instead of the number, and a format such as :.3f could not read it.
        value = value.item()
    if os.environ.get(BOOK_BUILD_VARIABLE):
        from IPython.core.formatters import format_display_data
        from IPython.display import display

        bundle, metadata = format_display_data(value)
        metadata["scrapbook"] = {"name": name, "mime_prefix": GLUE_PREFIX}
        display(
            {GLUE_PREFIX + mime: data for mime, data in bundle.items()}, raw=True, metadata=metadata
        )
