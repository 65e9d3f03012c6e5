"""Value records: what a test cell's checks recorded, carried out of a kernel as plain data.

A kernel sends each record as a display message (``course_utils.testing.RECORD_MIME``): JSON in
which arrays are base64 ``.npy`` bytes. The worker collects them per test cell and writes, per
notebook, ``NAME.records.json`` (the records, arrays replaced by keys) and ``NAME.records.npz``
(the arrays), with ``numpy.savez``; both are read back with ``allow_pickle=False``. Nothing in a
record can run code when it is loaded, and everything from a student's kernel is size-limited.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np

from course_utils.checking.rules import MAX_RECORD_JSON_DEPTH, loads

RECORD_MIME = "application/vnd.course-record+json"  # = course_utils.testing.RECORD_MIME
# what ``write`` can write: {grade_id: [record]} around records cut by ``split_arrays``
_FILE_DEPTH = MAX_RECORD_JSON_DEPTH + 4
MAX_ARRAY_BYTES = 256 * 2**20


class RecordError(ValueError):
    """A record that is not well-formed data."""


def _array_from(text) -> np.ndarray:
    if not isinstance(text, str) or len(text) > MAX_ARRAY_BYTES * 4 // 3 + 8:
        raise RecordError("an array that is not base64 text of a sensible size")
    try:
        raw = base64.b64decode(text, validate=True)
        array = np.load(io.BytesIO(raw), allow_pickle=False)
    except Exception as error:  # noqa: BLE001 - any malformed input is the same refusal
        raise RecordError(f"an array that does not load ({type(error).__name__})") from None
    if not isinstance(array, np.ndarray) or array.dtype.hasobject:
        raise RecordError("an array of objects")
    return array


def split_arrays(value, arrays: dict[str, np.ndarray], depth: int = 0):
    """``value`` (a decoded record message) with its arrays moved into ``arrays`` by key.

    What lies deeper than a record can be (``rules.MAX_RECORD_JSON_DEPTH``) is cut and kept as
    a value the rulebook refuses with one sentence ("is nested deeper than N levels")."""
    if depth > MAX_RECORD_JSON_DEPTH:
        return {"object": "nested too deeply"}
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in ("tensor", "array") and isinstance(item, str):
                name = f"a{len(arrays)}"
                arrays[name] = _array_from(item)
                out[key] = {"npz": name}
            else:
                out[str(key)] = split_arrays(item, arrays, depth + 1)
        return out
    if isinstance(value, list):
        return [split_arrays(v, arrays, depth + 1) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise RecordError(f"a value of type {type(value).__name__}")


def write(records: dict, folder: Path, stem: str) -> None:
    """Write ``{grade_id: [record, ...]}`` (arrays as base64) as JSON + npz."""
    arrays: dict[str, np.ndarray] = {}
    plain = {}
    for grade_id, items in records.items():
        kept = []
        for item in items:
            try:
                kept.append(split_arrays(item, arrays))
            except RecordError as error:
                kept.append({"kind": "invalid", "reason": str(error)})
        plain[grade_id] = kept
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.records.json").write_text(json.dumps(plain))
    with open(folder / f"{stem}.records.npz", "wb") as handle:
        np.savez(handle, **arrays)


class Records:
    """Records of one notebook read back from JSON + npz; arrays loaded on demand."""

    def __init__(self, cells: dict, arrays, path: Path | None = None):
        self.cells, self._arrays, self.path = cells, arrays, path

    def array(self, ref) -> np.ndarray:
        if (
            not isinstance(ref, dict)
            or not isinstance(ref.get("npz"), str)
            or ref["npz"] not in self._arrays.files
        ):
            raise RecordError("a missing array")
        return self._arrays[ref["npz"]]


def read(folder: Path, stem: str) -> Records | None:
    """The records of notebook ``stem`` in ``folder``, or None if there are none."""
    meta, data = folder / f"{stem}.records.json", folder / f"{stem}.records.npz"
    if not meta.is_file() or not data.is_file():
        return None
    try:  # TooDeep: nested deeper than ``write`` writes, so not written by it
        cells = loads(meta.read_bytes(), _FILE_DEPTH)
        arrays = np.load(data, allow_pickle=False)
    except Exception:  # noqa: BLE001 - unreadable records (TooDeep too) are no records
        return None
    if not isinstance(cells, dict):
        return None
    return Records(cells, arrays, data)
