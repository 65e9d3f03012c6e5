"""``course export`` and ``course collect``: grades out as CSV, an LMS download in."""

from __future__ import annotations

import re
import zipfile
from datetime import datetime
from pathlib import Path

from .course import ASSIGNMENT_NAME, Course, GradingError, open_gradebook


def export_csv(course: Course, to: Path) -> Path:
    """nbgrader's CSV export of the gradebook (one row per student and assignment)."""
    from nbgrader.plugins import CsvExportPlugin

    if course.db_path is not None and not course.db_path.is_file():
        raise GradingError(f"no gradebook at {course.db_path}: grade something first")
    to = Path(to)
    to.parent.mkdir(parents=True, exist_ok=True)
    plugin = CsvExportPlugin(to=str(to))
    with open_gradebook(course) as gb:
        plugin.export(gb)
    return to


def default_pattern(notebooks: list[str]) -> str:
    """LMS file names such as ``jsmith_12345_67890_ex01_conv.ipynb`` (Canvas) or
    ``jsmith_ex01_conv.ipynb``: the student id first, the notebook name last."""
    names = "|".join(re.escape(f"{n}.ipynb") for n in notebooks)
    return rf"^(?P<student_id>[A-Za-z0-9][A-Za-z0-9.-]*)_(?:.*_)?(?P<file_id>{names})$"


def collect_zip(course: Course, assignment: str, archive: Path, pattern: str | None = None,
                max_bytes: int = 50 * 2**20) -> dict[str, list[str]]:
    """Unpack an LMS download into ``submitted/STUDENT/ASSIGNMENT/`` (nbgrader's layout).

    Only entries whose base name matches ``pattern`` are taken; paths are never trusted (no
    ``..``, no absolute paths, no links); an existing submission file is replaced. The zip entry's
    time becomes the submission's ``timestamp.txt``. Returns {student: [files]}.
    """
    course.require_assignment(assignment)
    archive = Path(archive)
    if not archive.is_file():
        raise GradingError(f"{archive} does not exist")
    if not zipfile.is_zipfile(archive):
        raise GradingError(f"{archive} is not a zip archive")
    notebooks = [p.stem for p in course.source_notebooks(assignment)]
    regexp = re.compile(pattern or default_pattern(notebooks))
    collected: dict[str, list[str]] = {}
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            base = Path(info.filename).name
            match = regexp.match(base)
            if not match:
                continue
            student, file_id = match.group("student_id"), Path(match.group("file_id")).name
            if not ASSIGNMENT_NAME.match(student) or not ASSIGNMENT_NAME.match(file_id):
                continue
            if info.file_size > max_bytes or (info.external_attr >> 16) & 0o170000 == 0o120000:
                continue
            dest = course.submitted_dir / student / assignment
            dest.mkdir(parents=True, exist_ok=True)
            (dest / file_id).write_bytes(zf.read(info))
            stamp = datetime(*info.date_time).isoformat(sep=" ")
            (dest / "timestamp.txt").write_text(stamp + "\n")
            collected.setdefault(student, []).append(file_id)
    if not collected:
        raise GradingError(f"no file in {archive} matched {regexp.pattern}: pass --pattern "
                           "with groups student_id and file_id")
    return collected
