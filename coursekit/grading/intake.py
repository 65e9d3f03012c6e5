"""Submissions as they arrive: LMS downloads into ``submitted/``, and an account of every folder.

``course collect`` reads a Canvas, Moodle or Blackboard download (a zip, zips inside it too),
works out who submitted which notebook from each file's whole path inside the download, keeps
the newest attempt per student and notebook, stamps it with the LMS's time where the name
carries one, and names every other file with the reason it was not taken. A student id with
spaces or accents keeps its original spelling in the gradebook (``lms_user_id``, and the names
Moodle gives) while its folder gets a stable ASCII name.

The matching is nbgrader's own (``FileNameCollectorPlugin``: a regular expression with groups
``student_id`` and ``file_id``, matched from the start of the path), so a pattern written for
``nbgrader zip_collect`` works here; the presets add what nbgrader's lacks.
"""

from __future__ import annotations

import functools
import hashlib
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath

from .course import Course, GradingError, open_gradebook
from .normalize import MAX_SUBMISSION_BYTES

# Every preset matches the path of a file inside the download ("/"-separated; a file inside a
# nested zip has the nested zip's path in front). Groups: student_id (required), file_id (the
# notebook's name; absent for an LMS's own receipt files), and optionally lms_id, late,
# timestamp, attempt.
PRESETS = {
    # lastfirst[_late]_userid_submissionid_filename; resubmitted files get "-1", "-2"
    "canvas": (
        r"^(?:.*/)?(?P<student_id>[^/_]+)_(?:(?P<late>late|LATE)_)?(?P<lms_id>\d+)_"
        r"(?P<submission>\d+)_(?P<file_id>[^/]+)$"
    ),
    # "Full Name_participantid_assignsubmission_file_/name" (folders) or "..._file_name" (flat)
    "moodle": (
        r"^(?:.*/)?(?P<student_id>[^/]+?)_(?P<lms_id>\d+)_assignsubmission_"
        r"(?P<plugin>[a-z]+)_/?(?:.*/)?(?P<file_id>[^/]+)$"
    ),
    # assignment_username_attempt_YYYY-MM-DD-HH-MM-SS[_filename] (no filename: the receipt)
    "blackboard": (
        r"^(?:.*/)?(?:[^/]*?)_(?P<student_id>[^/_]+)_attempt_"
        r"(?P<timestamp>\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d)(?:_(?P<file_id>[^/]+)|\.txt)?$"
    ),
    # student_[anything_]notebook.ipynb, also inside a folder
    "generic": r"^(?:.*/)?(?P<student_id>[^/_]+)_(?P<file_id>[^/]+)$",
}
DETECT_ORDER = ("blackboard", "moodle", "canvas", "generic")
TIME_FORMATS = ("%Y-%m-%d-%H-%M-%S", "%Y-%m-%d %H:%M:%S", "%Y%m%d%H%M%S", "%Y-%m-%dT%H:%M:%S")
SAFE_FOLDER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# "Copy of x.ipynb" (Drive), "x (1).ipynb" (browsers), "x-1.ipynb" (Canvas resubmission),
# "x.colab.ipynb"
_COPY_PREFIX = re.compile(r"^(?:copy of |kopie van |kopie von |copia de )", re.IGNORECASE)
_COPY_SUFFIX = re.compile(r"(?:-(?P<dash>\d+)| \((?P<paren>\d+)\)|\.colab)$")
MAX_NESTING = 2
# letters that Unicode does not decompose into an ASCII base letter
_LETTERS = {
    "ß": "ss",
    "æ": "ae",
    "Æ": "AE",
    "ø": "o",
    "Ø": "O",
    "œ": "oe",
    "Œ": "OE",
    "ł": "l",
    "Ł": "L",
    "đ": "d",
    "Đ": "D",
    "þ": "th",
    "Þ": "Th",
    "ı": "i",
}


def student_folder(original: str) -> str:
    """A stable folder name for a student id: the id itself when it is plain ASCII, else an
    ASCII spelling plus a short hash of the id (so ``José`` and ``Jose`` never share one)."""
    text = unicodedata.normalize("NFC", original.strip())
    if SAFE_FOLDER.match(text):
        return text
    spelled = "".join(_LETTERS.get(ch, ch) for ch in text)
    ascii_text = unicodedata.normalize("NFKD", spelled).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", ascii_text).strip("_.-") or "student"
    return f"{slug}-{hashlib.sha1(text.encode()).hexdigest()[:6]}"


def notebook_of(file_name: str, notebooks: list[str]) -> tuple[str, int] | None:
    """(notebook, copy number) that a submitted file's name stands for, or None.

    Accepts the variants editors and LMSs write: ``.colab``, ``-1``/`` (1)`` copy numbers,
    ``Copy of``, a missing ``.ipynb`` (nbgrader's documented ``\\w+`` patterns drop it), and a
    prefix ending in ``_`` (``12345_ex01.ipynb``).
    """
    bare = _bare_name(file_name)
    if bare is None:
        return None
    name, copy = bare
    for notebook in sorted(notebooks, key=len, reverse=True):
        if name == notebook or name.endswith("_" + notebook):
            return notebook, copy
    return None


def _bare_name(file_name: str) -> tuple[str, int] | None:
    """(name without extension and copy marks, copy number); None for a non-notebook file."""
    name = PurePosixPath(file_name).name
    if name.lower().endswith(".ipynb"):
        name = name[: -len(".ipynb")]
    elif "." in name:
        return None
    name = _COPY_PREFIX.sub("", name)
    copy = 0
    while True:
        match = _COPY_SUFFIX.search(name)
        if not match:
            break
        number = match.group("dash") or match.group("paren")
        copy = max(copy, int(number)) if number else copy
        name = name[: match.start()]
    return name, copy


def parse_time(text: str | None) -> datetime | None:
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(text or "", fmt)
        except ValueError:
            continue
    return None


@dataclass
class Entry:
    """A file of the download: its path (nested zips included), size, time and bytes."""

    path: str
    size: int
    time: datetime | None
    data: bytes | None  # None: not read (too large, a link, a bad nested zip)
    problem: str = ""


@dataclass
class Submission:
    student: str  # folder name under submitted/
    original: str  # the id as the LMS wrote it
    notebook: str  # e.g. ex01_convolution (no .ipynb)
    entry: Entry
    time: datetime | None
    copy: int = 0
    late: bool = False
    lms: str = ""
    lms_id: str = ""
    attachment: str = ""  # Canvas: the file's attachment id (the number after the user id)
    notes: list[str] = field(default_factory=list)

    def order(self):
        return (self.time or datetime.min, self.copy, self.entry.time or datetime.min)


@dataclass
class CollectReport:
    taken: list[Submission] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    replaced: list[tuple[str, str]] = field(default_factory=list)  # older attempts
    lms_files: list[tuple[str, str]] = field(default_factory=list)  # receipts, online text

    @property
    def students(self) -> dict[str, list[Submission]]:
        found: dict[str, list[Submission]] = {}
        for item in self.taken:
            found.setdefault(item.student, []).append(item)
        return found


def _is_link(info: zipfile.ZipInfo) -> bool:
    return (info.external_attr >> 16) & 0o170000 == 0o120000


def _safe_path(name: str) -> str | None:
    """The entry's path with no absolute part and no ``..``; None if nothing is left."""
    parts = [
        p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("/", "", ".", "..")
    ]
    return "/".join(parts) or None


def _entry_name(info: zipfile.ZipInfo) -> str:
    """The entry's name; UTF-8 names stored without the UTF-8 flag (macOS, some LMSs) are read
    as UTF-8, not as the CP437 that the zip standard assumes."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def entries(archive: zipfile.ZipFile, prefix: str = "", depth: int = 0):
    """Every file of the archive, nested zips opened (to MAX_NESTING levels)."""
    for info in archive.infolist():
        if info.is_dir():
            continue
        path = _safe_path(_entry_name(info))
        if path is None:
            yield Entry(info.filename, info.file_size, None, None, "not a usable path")
            continue
        path = prefix + path
        when = datetime(*info.date_time) if info.date_time[0] >= 1980 else None
        if "__MACOSX/" in path + "/" or PurePosixPath(path).name.startswith("._"):
            yield Entry(path, info.file_size, when, None, "macOS metadata, not a submission")
        elif _is_link(info):
            yield Entry(path, info.file_size, when, None, "a symbolic link (never followed)")
        elif info.file_size > MAX_SUBMISSION_BYTES:
            yield Entry(
                path,
                info.file_size,
                when,
                None,
                f"{info.file_size / 2**20:.0f} MiB, over the "
                f"{MAX_SUBMISSION_BYTES // 2**20} MiB limit for a file",
            )
        elif path.lower().endswith(".zip"):
            data = archive.read(info)
            if depth >= MAX_NESTING or not zipfile.is_zipfile(io.BytesIO(data)):
                why = "zips nested too deeply" if depth >= MAX_NESTING else "not a readable zip"
                yield Entry(path, info.file_size, when, None, why)
                continue
            with zipfile.ZipFile(io.BytesIO(data)) as inner:
                yield from entries(inner, path + "/", depth + 1)
        else:
            yield Entry(path, info.file_size, when, archive.read(info))


def _matcher(pattern: str):
    """nbgrader's FileNameCollectorPlugin for ``pattern`` (matched on the path in the zip)."""
    import logging

    from nbgrader.plugins.zipcollect import FileNameCollectorPlugin

    plugin = FileNameCollectorPlugin(named_regexp=pattern)
    plugin.log = logging.getLogger("course.collect")
    plugin.log.disabled = True
    return plugin


def _match(plugins: dict, lms: str | None, path: str):
    """(preset name, groups) of the first pattern that matches ``path``."""
    names = [lms] if lms else list(plugins)
    for name in names:
        groups = plugins[name]._match(path)
        if groups and groups.get("student_id"):
            return name, groups
    return None, None


def plan_collection(
    entries_found, notebooks: list[str], lms: str | None = None, pattern: str | None = None
) -> CollectReport:
    """Decide, for every file of a download, which submission it is or why it is not one."""
    if pattern:
        for group in ("student_id", "file_id"):
            if f"(?P<{group}>" not in pattern:
                raise GradingError(f"--pattern needs a group (?P<{group}>...)")
        plugins = {"pattern": _matcher(pattern)}
        lms = "pattern"
    else:
        if lms is not None and lms not in PRESETS:
            raise GradingError(f"unknown LMS {lms!r} (known: {', '.join(PRESETS)})")
        plugins = {name: _matcher(PRESETS[name]) for name in DETECT_ORDER}
    report = CollectReport()
    best: dict[tuple[str, str], Submission] = {}
    for entry in entries_found:
        if entry.problem:
            report.skipped.append((entry.path, entry.problem))
            continue
        # a file inside a nested zip: the student comes from the zip's name, the notebook from
        # the file's own name
        outer = entry.path.split(".zip/")[0] + ".zip" if ".zip/" in entry.path else entry.path
        kind, groups = _match(plugins, lms, outer)
        bare = _bare_name(outer)
        if kind in (None, "generic") and bare is not None and bare[0] in notebooks:
            report.skipped.append((entry.path, "the name carries no student id"))
            continue
        if kind is None:
            why = (
                "--pattern does not match it"
                if pattern
                else f"not named as {lms} names submissions"
                if lms
                else "no LMS file-name layout matches it (try --pattern)"
            )
            report.skipped.append((entry.path, why))
            continue
        file_id = groups.get("file_id") or ""
        if outer != entry.path:
            file_id = PurePosixPath(entry.path).name
        if not file_id:
            report.lms_files.append((entry.path, f"{kind} receipt, not a submission"))
            continue
        if groups.get("plugin") and groups["plugin"] != "file":
            report.lms_files.append(
                (entry.path, f"{kind} {groups['plugin']} text, not a file submission")
            )
            continue
        if not PurePosixPath(file_id).suffix and PurePosixPath(entry.path).suffix == ".ipynb":
            file_id += ".ipynb"  # nbgrader's documented \w+ patterns stop before the extension
        found = notebook_of(file_id, notebooks)
        if found is None:
            expected = ", ".join(f"{n}.ipynb" for n in notebooks)
            report.skipped.append(
                (
                    entry.path,
                    f"{PurePosixPath(file_id).name!r} is not a "
                    f"notebook of this assignment ({expected})",
                )
            )
            continue
        original = groups["student_id"].strip()
        item = Submission(
            student=student_folder(original),
            original=original,
            notebook=found[0],
            entry=entry,
            time=parse_time(groups.get("timestamp")),
            copy=found[1],
            late=bool(groups.get("late")),
            lms=kind,
            lms_id=groups.get("lms_id") or "",
            attachment=groups.get("submission") or "",
        )
        if PurePosixPath(file_id).name != f"{found[0]}.ipynb":
            item.notes.append(f"{PurePosixPath(file_id).name} taken as {found[0]}.ipynb")
        key = (item.student, item.notebook)
        if key in best and best[key].original != original:
            report.skipped.append(
                (
                    entry.path,
                    f"ids {best[key].original!r} and {original!r} "
                    "share a folder name: collect them separately",
                )
            )
            continue
        if key in best:
            older, newer = sorted((best[key], item), key=Submission.order)
            report.replaced.append(
                (older.entry.path, f"older attempt of {original}, replaced by {newer.entry.path}")
            )
            item = newer
        best[key] = item
    report.taken = sorted(best.values(), key=lambda s: (s.student, s.notebook))
    return report


def _timestamp(item: Submission) -> str | None:
    when = item.time or item.entry.time
    return when.isoformat(sep=" ") if when else None


def record_students(course: Course, report: CollectReport) -> None:
    """The original ids in the gradebook: ``lms_user_id``, and first/last names from Moodle."""
    with open_gradebook(course) as gb:
        for student, items in report.students.items():
            item = items[0]
            names = {}
            if item.lms == "moodle" and " " in item.original:
                first, last = item.original.rsplit(" ", 1)
                names = {"first_name": first, "last_name": last}
            gb.update_or_create_student(student, lms_user_id=item.original, **names)


def collect_zip(
    course: Course,
    assignment: str,
    archive: Path,
    pattern: str | None = None,
    lms: str | None = None,
) -> CollectReport:
    """Unpack an LMS download into ``submitted/STUDENT/ASSIGNMENT/`` (nbgrader's layout).

    Paths are never trusted (no ``..``, no absolute paths, no links); a submission file already
    there is replaced. ``timestamp.txt`` gets the LMS's time from the file name where it
    carries one (Blackboard), else the zip entry's time. Every file not taken is in the report.
    """
    course.require_assignment(assignment)
    archive = Path(archive)
    if not archive.is_file():
        raise GradingError(f"{archive} does not exist")
    if not zipfile.is_zipfile(archive):
        raise GradingError(f"{archive} is not a zip archive")
    notebooks = [p.stem for p in course.source_notebooks(assignment)]
    with zipfile.ZipFile(archive) as zf:
        report = plan_collection(list(entries(zf)), notebooks, lms, pattern)
    if not report.taken:
        raise GradingError(
            f"no file in {archive} is a submission of {assignment} "
            f"({len(report.skipped)} skipped): try --lms or --pattern"
        )
    course.ensure_dirs()
    for student, items in report.students.items():
        dest = course.submitted_dir / student / assignment
        dest.mkdir(parents=True, exist_ok=True)
        for item in items:
            (dest / f"{item.notebook}.ipynb").write_bytes(item.entry.data)
        stamps = [s for s in (_timestamp(i) for i in items) if s]
        if stamps:
            (dest / "timestamp.txt").write_text(max(stamps) + "\n")
    record_students(course, report)
    from .lms_export import record_lms_ids  # the ids an LMS import needs, per assignment

    record_lms_ids(course, assignment, report)
    return report


# -- what is under submitted/ --------------------------------------------------------------------
GLOB_CHARS = set("*?[]")


def survey(course: Course, assignment: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(folders to grade, [(folder, reason)] for everything else under submitted/)."""
    root = course.submitted_dir
    if not root.is_dir():
        return [], []
    graded, other = [], []
    for path in sorted(root.iterdir(), key=lambda p: p.name):
        name = path.name
        if not path.is_dir() or path.is_symlink():
            other.append((name, "not a student folder (a file or a link)"))
        elif name.startswith("."):
            other.append((name, "hidden folder, not a student"))
        elif GLOB_CHARS & set(name) or name != name.strip():
            other.append(
                (
                    name,
                    "nbgrader cannot grade a folder named with * ? [ ] or outer spaces: rename it",
                )
            )
        elif not (path / assignment).is_dir():
            held = sorted(p.name for p in path.iterdir() if p.is_dir())
            other.append(
                (name, f"no {assignment} folder" + (f" (holds {', '.join(held)})" if held else ""))
            )
        else:
            graded.append(name)
    return graded, other


def same_student(asked: str, folder: str) -> bool:
    """``--student`` as typed (any Unicode normal form, or the original id) names ``folder``."""
    nfc = unicodedata.normalize("NFC", asked)
    return nfc == unicodedata.normalize("NFC", folder) or student_folder(nfc) == folder


def _loose(name: str) -> str:
    """A name without case or spacing differences (``" mo  MAGIC"`` -> ``"mo magic"``)."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def folders_named(asked: str, folders: list[str]) -> list[str]:
    """The folder ``--student asked`` names: exactly as typed (``same_student``) if one is, else
    the one whose name differs only in case and spacing; ``[]`` if none.

    Raises GradingError, listing the candidates, when several differ from it only so.
    """
    exact = [f for f in folders if same_student(asked, f)]
    if exact:
        return exact
    wanted = {_loose(asked), _loose(student_folder(asked))}
    loose = [f for f in folders if _loose(f) in wanted]
    if len(loose) > 1:
        raise GradingError(
            f"--student {asked!r} could name any of {', '.join(repr(f) for f in loose)}: "
            "type the folder's name exactly"
        )
    return loose


def original_ids(course: Course) -> dict[str, str]:
    """{folder: the id as the LMS wrote it} for the students ``course collect`` recorded."""
    if course.db_path is not None and not course.db_path.is_file():
        return {}
    with open_gradebook(course) as gb:
        return {s.id: s.lms_user_id for s in gb.students if s.lms_user_id}


# -- plain `nbgrader zip_collect` --------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _lms_collector_class():
    from nbgrader.plugins.zipcollect import FileNameCollectorPlugin
    from traitlets import Unicode

    class LmsCollectorPlugin(FileNameCollectorPlugin):
        """``nbgrader zip_collect`` with this course's LMS layouts (nbgrader_config.py sets it).

        With ``named_regexp`` set it is nbgrader's own plugin. Otherwise each extracted file's
        path is matched against the Canvas, Moodle and Blackboard layouts (or ``lms`` alone); a
        file from a zip inside the download (nbgrader extracts it into a folder of the zip's
        name) takes the student from that folder's name. The student id becomes a stable folder
        name, the notebook name loses its editor's variants, the LMS's time is kept.
        """

        lms = Unicode(
            "", help="canvas, moodle, blackboard or generic; empty: recognised per file"
        ).tag(config=True)

        def _notebooks(self) -> list[str]:
            coursedir = getattr(self.parent, "coursedir", None)
            if coursedir is None:
                return []
            folder = Path(
                coursedir.format_path(coursedir.release_directory, ".", coursedir.assignment_id)
            )
            return sorted(p.stem for p in folder.glob("*.ipynb"))

        def collect(self, submitted_file: str):
            if self.named_regexp:
                return super().collect(submitted_file)
            if PurePosixPath(submitted_file).suffix not in self.valid_ext:
                return None
            plugins = {name: _matcher(PRESETS[name]) for name in DETECT_ORDER}
            parts = PurePosixPath(Path(submitted_file).as_posix()).parts
            for end in range(len(parts), 0, -1):  # the file itself, then its folders
                kind, groups = _match(plugins, self.lms or None, "/".join(parts[:end]))
                if kind is not None and groups.get("file_id"):
                    break
            else:
                self.log.warning("no LMS layout matches %s", submitted_file)
                return None
            found = notebook_of(
                parts[-1] if end < len(parts) else groups["file_id"], self._notebooks()
            )
            if found is None:
                self.log.warning("%s is not a notebook of this assignment", submitted_file)
                return None
            when = parse_time(groups.get("timestamp"))
            return {
                "student_id": student_folder(groups["student_id"]),
                "file_id": f"{found[0]}.ipynb",
                "timestamp": when.isoformat(sep=" ") if when else None,
            }

    return LmsCollectorPlugin


def __getattr__(name: str):
    # built on first use, so that importing this module does not import nbgrader
    if name == "LmsCollectorPlugin":
        return _lms_collector_class()
    raise AttributeError(name)
