"""Write each exercise's library bans (course_utils.checking.bans.BANS) into its instructions.

For ``solutions/EXERCISE/EXERCISE.ipynb``: the markdown cell headed ``## Library bans`` (made
after the introduction if missing) holds ``ban_table(EXERCISE)``, the bans stated once; the
markdown cell that introduces each banned part ends with its one line ``ban_line(...)``. Only
markdown is written: test cells are authored by hand and watch a ban with
``with watching_bans(EXERCISE, PART):`` (``tests/test_bans.py`` checks both stay in step).

Run it after changing ``BANS``, then ``course release`` the exercise. Idempotent.
Usage: python scripts/render_bans.py [EXERCISE ...]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

from course_utils.checking.bans import BAN_TABLE_HEADING, BANS, ban_line, ban_table

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"\n*\*\*Library ban:\*\*[^\n]*(\n[^\n]+)*")


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _part_titles(nb, exercise: str) -> dict[str, str]:
    """Each banned part's heading in the notebook (``1. Full 1-D convolution``), for the table."""
    by_id = {_grade_id(c): i for i, c in enumerate(nb.cells) if _grade_id(c)}
    titles = {}
    for part in BANS[exercise]:
        intro = next(i for i in range(by_id[part], -1, -1) if nb.cells[i].cell_type == "markdown")
        heading = re.search(r"^#+ (.+?)(?: \(\d+ points?\))?$", nb.cells[intro].source, re.M)
        titles[part] = heading.group(1) if heading else f"`{part}`"
    return titles


def render(exercise: str) -> None:
    path = ROOT / "solutions" / exercise / f"{exercise}.ipynb"
    nb = nbformat.read(path, as_version=4)
    table = ban_table(exercise, _part_titles(nb, exercise))
    cells = [c for c in nb.cells if c.cell_type == "markdown"]
    existing = next((c for c in cells if c.source.startswith(BAN_TABLE_HEADING)), None)
    if existing is None:
        first_part = min(i for i, c in enumerate(nb.cells) if _grade_id(c) in BANS[exercise] and c)
        intro = next(i for i in range(first_part, -1, -1) if nb.cells[i].cell_type == "markdown")
        nb.cells.insert(intro, nbformat.v4.new_markdown_cell(table))
    else:
        existing.source = table
    by_id = {_grade_id(c): i for i, c in enumerate(nb.cells) if _grade_id(c)}
    for part in BANS[exercise]:
        intro = next(i for i in range(by_id[part], -1, -1) if nb.cells[i].cell_type == "markdown")
        text = LINE.sub("", nb.cells[intro].source).rstrip("\n")
        nb.cells[intro].source = f"{text}\n\n{ban_line(exercise, part)}"
    nbformat.validate(nb)
    nbformat.write(nb, path)
    print(f"{path.relative_to(ROOT)}: the bans of {len(BANS[exercise])} parts rendered")


if __name__ == "__main__":
    for name in sys.argv[1:] or sorted(BANS):
        render(name)
