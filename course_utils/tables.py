"""Small result tables that render as Markdown in the book and as text in a terminal."""

from __future__ import annotations

from collections.abc import Sequence


def format_cell(value, floatfmt: str = ".3g") -> str:
    """A table cell: floats by ``floatfmt``, ``None`` as a dash, everything else by ``str``."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return format(value, floatfmt)
    return str(value)


def markdown_table(rows: Sequence[Sequence], headers: Sequence[str],
                   floatfmt: str = ".3g"):
    """Return an ``IPython.display.Markdown`` table (its ``.data`` is the Markdown text)."""
    from IPython.display import Markdown

    if any(len(row) != len(headers) for row in rows):
        raise ValueError(f"every row needs {len(headers)} cells, one per header")
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        lines.append("| " + " | ".join(format_cell(v, floatfmt) for v in row) + " |")
    return Markdown("\n".join(lines))
