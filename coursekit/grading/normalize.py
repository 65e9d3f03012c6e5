"""Notebook files as editors write them, made into what nbgrader expects, with a note per change.

Jupyter, JupyterLab, VS Code, Jupytext and Colab all write notebooks that a student rightly
considers fine, and some of them trip nbgrader or nbconvert: cell ids in an nbformat 4.4 file
(invalid by the 4.4 schema), Colab's widget state without its ``state`` wrapper (breaks
feedback), a solution cell duplicated with its metadata (nbgrader refuses duplicate grade ids,
and keeping one copy silently drops the student's code), figures that make a file too large to
read. ``normalize_notebook`` repairs what it can with nbformat's own tools and says what it did;
what it cannot read raises GradingError with one sentence.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

from .course import GradingError
from .notebooks import MAX_NOTEBOOK_BYTES, is_test_cell, nbgrader_meta

# Largest notebook file accepted at all; above MAX_NOTEBOOK_BYTES its outputs are dropped
# (grading runs the code afresh and clears every output anyway).
MAX_SUBMISSION_BYTES = 512 * 2**20
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
CELL_ID = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")


def _mib(size: int) -> str:
    return f"{size / 2**20:.0f} MiB"


def load_notebook_json(path: Path) -> dict:
    """The JSON of a notebook file, or GradingError saying in one sentence why not."""
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_SUBMISSION_BYTES:
        raise GradingError(
            f"{path.name} is {_mib(size)}, over the "
            f"{_mib(MAX_SUBMISSION_BYTES)} limit for a notebook"
        )
    try:
        raw = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise GradingError(f"{path.name} is not a valid notebook (not JSON: {error})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells", raw.get("worksheets")), list):
        raise GradingError(f"{path.name} is not a valid notebook (no list of cells)")
    return raw


def _upgrade_minor(raw: dict, notes: list[str]):
    """A NotebookNode in nbformat 4.5 from 3 or 4.x; cell ids the editor wrote are kept."""
    import nbformat

    major, minor = raw.get("nbformat"), raw.get("nbformat_minor", 0)
    if major not in (3, 4):
        raise GradingError(f"not a notebook nbgrader reads (nbformat {major})")
    ids = [c.get("id") if isinstance(c, dict) else None for c in raw.get("cells", [])]
    try:  # nbformat's reader: lines joined, version 3 converted; validation comes later
        with warnings.catch_warnings():  # repeated cell ids: repaired, and noted below
            warnings.simplefilter("ignore")
            nb = nbformat.reads(json.dumps(raw), as_version=4, capture_validation_error={})
    except Exception as error:
        raise GradingError(f"not a valid notebook ({error})") from None
    if major == 4 and minor >= 5:
        _unique_ids(nb, notes)
        return nb
    nb = nbformat.v4.upgrade(nb, from_version=4, from_minor=nb.get("nbformat_minor", 0) or 0)
    nb.metadata.pop("orig_nbformat_minor", None)
    if major == 4:
        seen = set()
        for cell, old in zip(nb.cells, ids, strict=True):
            if isinstance(old, str) and CELL_ID.match(old) and old not in seen:
                cell.id = old
            seen.add(cell.id)
    notes.append(
        f"upgraded from nbformat {major}.{minor} to 4.5"
        + (" (its cells carry ids, as Jupytext, VS Code and Colab write them)" if any(ids) else "")
    )
    return nb


def _unique_ids(nb, notes: list[str]) -> None:
    """Copied cells can carry the same id (invalid in 4.5): later copies get new ids."""
    from nbformat.corpus.words import generate_corpus_id

    seen, repaired = set(), 0
    for cell in nb.cells:
        if not isinstance(cell.get("id"), str) or cell.id in seen or not CELL_ID.match(cell.id):
            cell.id = generate_corpus_id()
            repaired += 1
        seen.add(cell.id)
    if repaired:
        notes.append(f"{repaired} missing, invalid or repeated cell id(s) replaced")


def _cell_shapes(nb, notes: list[str]) -> None:
    """A cell whose type was changed by hand keeps fields of its old type: drop or add them."""
    changed = 0
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            if "outputs" not in cell or "execution_count" not in cell:
                cell.setdefault("outputs", [])
                cell.setdefault("execution_count", None)
                changed += 1
        elif "outputs" in cell or "execution_count" in cell:
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
            changed += 1
    if changed:
        notes.append(f"{changed} cell(s) whose type was changed by hand repaired")


def _widget_state(nb, notes: list[str]) -> None:
    """Colab writes widget models without the ``state`` wrapper nbconvert needs."""
    widgets = nb.metadata.get("widgets")
    if widgets is None:
        return
    state = widgets.get(WIDGET_STATE) if isinstance(widgets, dict) else None
    if isinstance(state, dict) and isinstance(state.get("state"), dict):
        return
    if isinstance(state, dict) and state and all(isinstance(v, dict) for v in state.values()):
        widgets[WIDGET_STATE] = {"state": dict(state), "version_major": 2, "version_minor": 0}
        notes.append("widget state wrapped as nbconvert expects (Colab writes it without 'state')")
    else:
        del nb.metadata["widgets"]
        notes.append("unreadable widget state removed from the notebook's metadata")


def _drop_large_outputs(nb, size: int, notes: list[str]) -> None:
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    notes.append(f"outputs removed from a {_mib(size)} file (grading runs the code afresh)")


def _join_duplicate_solutions(nb, notes: list[str]) -> None:
    """Copies of a solution cell (same grade_id): their code joined in order into the first.

    nbgrader refuses two cells with one grade_id; keeping one copy would drop what the student
    wrote in the other (an import in one half, the function in the other).
    """
    first: dict[str, object] = {}
    copies: dict[str, int] = {}
    kept = []
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        grade_id = meta.get("grade_id")
        if not grade_id or is_test_cell(cell):
            kept.append(cell)
            continue
        if grade_id not in first:
            first[grade_id] = cell
            kept.append(cell)
            continue
        copies[grade_id] = copies.get(grade_id, 1) + 1
        head = first[grade_id]
        if meta.get("solution") and head.cell_type == cell.cell_type:
            head.source = head.source.rstrip("\n") + "\n\n" + cell.source
    nb.cells = kept
    for grade_id, count in copies.items():
        if nbgrader_meta(first[grade_id]).get("solution"):
            notes.append(
                f"cell {grade_id} appeared {count} times (copied with its metadata): "
                "the code of all copies was joined, in order, into one cell"
            )
        else:
            notes.append(f"cell {grade_id} appeared {count} times: the first copy was kept")


def normalize_notebook(raw: dict, size: int = 0):
    """(nbformat 4.5 NotebookNode, notes) for a notebook's JSON; GradingError if unusable."""
    import nbformat
    from nbformat import validator

    notes: list[str] = []
    nb = _upgrade_minor(raw, notes)
    if size > MAX_NOTEBOOK_BYTES:
        _drop_large_outputs(nb, size, notes)
    nb = nbformat.from_dict(nb)
    _cell_shapes(nb, notes)
    _widget_state(nb, notes)
    _join_duplicate_solutions(nb, notes)
    try:
        changes, fixed = validator.normalize(nb, 4, 5, strip_invalid_metadata=True)
        fixed = nbformat.from_dict(fixed)
        validator.validate(fixed)
    except Exception as error:  # nbformat's ValidationError: say the first line
        text = str(error).strip().splitlines()
        raise GradingError(
            f"not a valid notebook ({text[0] if text else type(error).__name__})"
        ) from None
    if changes:
        notes.append(f"{changes} invalid metadata entr{'y' if changes == 1 else 'ies'} removed")
    return fixed, notes


def normalize_file(path: Path) -> list[str]:
    """Rewrite the notebook at ``path`` in the form nbgrader expects; the notes of what changed.

    The file is left untouched when nothing needed changing. GradingError when it cannot be read.
    """
    import nbformat

    path = Path(path)
    size = path.stat().st_size
    try:
        raw = load_notebook_json(path)
        nb, notes = normalize_notebook(raw, size)
    except GradingError as error:
        message = str(error)
        if not message.startswith(path.name):
            message = f"{path.name} is {message}"
        raise GradingError(message) from None
    if notes:
        nbformat.write(nb, path)
    return notes


def repair_widget_state(path: Path) -> list[str]:
    """Wrap Colab's widget state in an (autograded) notebook file in place; the notes."""
    import nbformat

    path = Path(path)
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - an unreadable file is nbgrader's to report
        return []
    notes: list[str] = []
    _widget_state(nb, notes)
    if notes:
        mode = path.stat().st_mode
        path.chmod(mode | 0o200)  # nbgrader writes autograded notebooks read-only
        nbformat.write(nb, path)
        path.chmod(mode)
    return notes
