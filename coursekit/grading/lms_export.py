"""Grades back into an LMS, in the file each LMS imports (``course export --lms``).

The gradebook (nbgrader's, scores and late penalties as nbgrader computes them) is read for one
assignment; each student is matched to the LMS's own id that ``course collect`` read from the
download's file names and kept in ``.grading/lms/ASSIGNMENT.json`` (``record_lms_ids``):

- **Canvas** (Grades -> Import): a CSV with ``Student, ID, SIS User ID, SIS Login ID, Section``
  and one column for the assignment (``NAME (id)`` names an existing one, another name makes a
  new one), a ``Points Possible`` row; ``ID`` is the numeric Canvas user id of the download name
  (``doejohn_1002_52002_x.ipynb``: user 1002). Or the gradebook CSV the instructor downloaded is
  filled in (``--gradebook``): every other column and row kept, SIS ids and sections included.
  canvas-lms's ``GradebookImporter`` (lib/gradebook_importer.rb) wants a header starting with
  ``Student`` and ``ID``, reads a row whose first cell matches ``Points Possible`` as the points
  row, and finds students by id, SIS user id or login id; a column it does not know becomes a
  new assignment (also in the Ohio State "Import a CSV file to Carmen grades" guide).
- **Moodle** (the assignment's offline grading worksheet): the worksheet the teacher downloaded
  is filled in; only the ``Grade``, ``Last modified (grade)`` and (when empty) ``Feedback
  comments`` cells of graded participants change, every other byte stays. Moodle's importer
  (``mod/assign/feedback/offline/importgradeslib.php``) finds the columns by their localised
  header and the participant by the number after ``get_string('hiddenuser')`` in the identifier
  (``Participant 210002``); ``locallib.php`` reads the grade with ``unformat_float`` (the
  uploader's decimal separator) and skips a row whose ``Last modified (grade)`` is older than
  the grade Moodle holds. Here the columns are found by the worksheet's structure, as
  ``mod/assign/gradingtable.php`` lays it out for a download, so a German or Portuguese worksheet
  works as well as an English one: the identifier is the first column (``Participant 210002``,
  ``Teilnehmer/in 210002``), the grade the column left of the maximum grade (the same number in
  every row), ``Last modified (grade)`` the second of the two ``WORDS (submission)`` / ``WORDS
  (grade)`` headers that follow (the only one when no submission plugin is on), feedback
  comments the column after it.
- **Blackboard Learn** (Grade Center -> Work Offline -> Upload): ``Last Name, First Name,
  Username`` and a column ``NAME [Total Pts: MAX Score] |COLUMN_ID`` (without ``|id`` the upload
  makes a new column). Blackboard's instructor help ("Uploading or Downloading Grade Center Items
  for Working Offline", library.blackboard.com) says the user name identifies the student,
  comma-delimited files quote every value, and tab-delimited ``.xls`` files need no quotes: a
  ``.csv`` here is comma-delimited UTF-8 with a BOM, every value quoted; ``.xls`` or ``.txt`` is
  tab-delimited UTF-16 with a BOM, as Blackboard's own download.

Every student of the gradebook is placed in the file or named with the reason; a student of the
LMS file that the gradebook lacks is named too.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .course import Course, GradingError, open_gradebook

LMS_CHOICES = ("canvas", "moodle", "blackboard")
BOM = "\ufeff"


# -- the LMS ids that collect read ---------------------------------------------------------------
def lms_ids_path(course: Course, assignment: str) -> Path:
    return course.submitted_dir.parent / "lms" / f"{assignment}.json"


def record_lms_ids(course: Course, assignment: str, report) -> Path:
    """Keep, per student folder, the LMS ids of the download (merged with earlier collects).

    Canvas: the numeric user id and the attachment id (``login_[late_]USER_ATTACHMENT_file``);
    Moodle: the participant id (``Full Name_PARTICIPANT_assignsubmission_file_``); Blackboard:
    the user name (``assignment_USERNAME_attempt_TIME``).
    """
    path = lms_ids_path(course, assignment)
    known = load_lms_ids(course, assignment)
    for student, items in report.students.items():
        item = max(items, key=lambda s: s.order())
        if item.lms not in LMS_CHOICES:
            continue
        known[student] = {
            "lms": item.lms,
            "name": item.original,
            "user_id": item.lms_id if item.lms != "blackboard" else item.original,
            "attachment": item.attachment,
            "late": item.late,
            "download": item.entry.path,
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(known, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    return path


def load_lms_ids(course: Course, assignment: str) -> dict[str, dict]:
    path = lms_ids_path(course, assignment)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise GradingError(f"{path} is not readable JSON: collect the download again") from None


# -- the gradebook's grades for one assignment ---------------------------------------------------
@dataclass
class Grade:
    """One student's result for the assignment, as nbgrader's gradebook holds it."""

    student: str  # folder name, nbgrader's student id
    name: str  # the id as the LMS wrote it (or the folder)
    first_name: str = ""
    last_name: str = ""
    submitted: bool = False
    raw: float = 0.0  # points before the late penalty
    penalty: float = 0.0
    score: float = 0.0  # what the LMS gets: raw - penalty, never below 0 (nbgrader's export)
    max_score: float = 0.0
    timestamp: datetime | None = None
    duedate: datetime | None = None  # the assignment's, plus this student's extension
    extension: timedelta | None = None
    seconds_late: float = 0.0
    parts: list[tuple[str, float, float]] = field(default_factory=list)  # (test, points, max)
    lms: dict = field(default_factory=dict)

    def lateness(self) -> str:
        """``on time``, ``late 1 d 2 h 5 min (penalty 2.5)`` or ``no due date``."""
        if not self.submitted:
            return "no submission"
        if self.duedate is None:
            return "no due date"
        if self.seconds_late <= 0:
            return "on time"
        text = f"late {duration_text(self.seconds_late)}"
        return text + (f" (penalty {number(self.penalty)})" if self.penalty else " (no penalty)")

    def summary(self) -> str:
        """One line for a feedback comment: points per part, total, lateness."""
        parts = ", ".join(f"{name} {number(p)}/{number(m)}" for name, p, m in self.parts)
        text = f"{number(self.score)} / {number(self.max_score)} points ({parts})"
        late = self.lateness()
        return text if late in ("on time", "no due date") else f"{text}; {late}"


def duration_text(seconds: float) -> str:
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    words = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{mins} min"]
    text = " ".join(w for w in words if w and not (w == "0 min" and (days or hours)))
    return text if minutes else f"{int(seconds)} s"


def number(value: float, decimal: str = ".") -> str:
    """Points as an LMS reads them: ``5``, ``4.5``, ``3.33`` (two decimals at most)."""
    text = f"{round(float(value), 2):.2f}".rstrip("0").rstrip(".")
    return text.replace(".", decimal)


def assignment_grades(course: Course, assignment: str) -> list[Grade]:
    """Every student of the gradebook with their result for ``assignment``."""
    from nbgrader.api import MissingEntry

    from .export import final_score

    course.require_assignment(assignment)
    if course.db_path is not None and not course.db_path.is_file():
        raise GradingError(f"no gradebook at {course.db_path}: grade {assignment} first")
    ids = load_lms_ids(course, assignment)
    grades = []
    with open_gradebook(course) as gb:
        try:
            found = gb.find_assignment(assignment)
        except MissingEntry:
            raise GradingError(
                f"the gradebook has no assignment {assignment}: run course autograde "
                f"{assignment} first"
            ) from None
        max_score = float(found.max_score)
        for student in gb.students:
            grade = Grade(
                student=student.id,
                name=student.lms_user_id or student.id,
                first_name=student.first_name or "",
                last_name=student.last_name or "",
                max_score=max_score,
                duedate=found.duedate,
                lms=ids.get(student.id, {}),
            )
            try:
                sub = gb.find_submission(assignment, student.id)
            except MissingEntry:
                grades.append(grade)
                continue
            # a row that `course extend` made before grading holds no score and no time
            graded = any(
                g.auto_score is not None or g.manual_score is not None
                for nb in sub.notebooks
                for g in nb.grades
            )
            grade.submitted = sub.timestamp is not None or graded
            grade.raw = float(sub.score)
            grade.penalty = float(sub.late_submission_penalty or 0.0)
            grade.score = final_score(sub)
            grade.timestamp, grade.duedate = sub.timestamp, sub.duedate
            grade.extension, grade.seconds_late = sub.extension, float(sub.total_seconds_late)
            grade.parts = [
                (g.name, float(g.score), float(g.max_score))
                for nb in sub.notebooks
                for g in sorted(nb.grades, key=lambda g: g.name)
                if g.max_score
            ]
            grades.append(grade)
    return sorted(grades, key=lambda g: g.student)


# -- what was placed where -----------------------------------------------------------------------
@dataclass
class Placement:
    placed: list[tuple[Grade, str]] = field(default_factory=list)  # (grade, the LMS's id)
    unplaced: list[tuple[str, str]] = field(default_factory=list)  # gradebook students left out
    lms_only: list[tuple[str, str]] = field(default_factory=list)  # LMS rows without a grade
    notes: list[str] = field(default_factory=list)


def _who(grade: Grade) -> str:
    return grade.student if grade.name == grade.student else f"{grade.student} ({grade.name})"


def _lms_id(grade: Grade, lms: str) -> str | None:
    """The id ``lms`` knows this student by; None when the download did not give one."""
    if grade.lms.get("lms") == lms and grade.lms.get("user_id"):
        return str(grade.lms["user_id"])
    return None


def _unplaced_reason(grade: Grade, lms: str) -> str:
    other = grade.lms.get("lms")
    if other and other != lms:
        return f"collected from a {other} download, so no {lms} id is known"
    return f"no {lms} id known (not collected from a {lms} download)"


# -- Canvas --------------------------------------------------------------------------------------
CANVAS_FIXED = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
POINTS_ROW = "    Points Possible"  # as Canvas writes it in its own export


def _canvas_display_name(grade: Grade) -> str:
    if grade.first_name or grade.last_name:
        return f"{grade.last_name}, {grade.first_name}".strip(", ")
    return grade.name


def canvas_csv(grades: list[Grade], column: str, gradebook_text: str | None = None):
    """(CSV text, Placement): a new import file, or the downloaded gradebook filled in."""
    placement = Placement()
    by_id: dict[str, Grade] = {}
    for grade in grades:
        if not grade.submitted:
            placement.unplaced.append((_who(grade), "no submission graded"))
            continue
        user = _lms_id(grade, "canvas")
        if user is None:
            placement.unplaced.append((_who(grade), _unplaced_reason(grade, "canvas")))
        else:
            by_id[user] = grade
    max_score = number(grades[0].max_score) if grades else "0"
    if gradebook_text is None:
        rows = [CANVAS_FIXED + [column], [POINTS_ROW, "", "", "", "", max_score]]
        for user, grade in sorted(by_id.items(), key=lambda kv: kv[1].student):
            rows.append([_canvas_display_name(grade), user, "", "", "", number(grade.score)])
            placement.placed.append((grade, user))
        return _write_csv(rows, ","), placement
    return _fill_canvas_gradebook(gradebook_text, by_id, column, max_score, placement)


def _fill_canvas_gradebook(text: str, by_id: dict, column: str, max_score: str, placement):
    bom = text.startswith(BOM)
    body = text[1:] if bom else text
    first = body.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    rows = list(csv.reader(io.StringIO(body, newline=""), delimiter=delimiter))
    if not rows or [h.strip() for h in rows[0][:2]] != ["Student", "ID"]:
        raise GradingError(
            "the Canvas gradebook file does not start with the columns Student, ID: "
            "download it with Grades -> Export -> Export Entire Gradebook"
        )
    header = rows[0]
    wanted = [i for i, h in enumerate(header) if h == column]
    if not wanted:  # "NAME (12345)" for the assignment NAME
        named = re.compile(re.escape(column) + r" \(\d+\)")
        wanted = [i for i, h in enumerate(header) if named.fullmatch(h)]
    if len(wanted) > 1:
        raise GradingError(f"several columns of the Canvas gradebook are named {column!r}")
    if wanted:
        index = wanted[0]
    else:
        index = len(header)
        header.append(column)
        placement.notes.append(f"no column {column!r} in the Canvas gradebook: a new one is added")
        for row in rows[1:]:
            row.extend([""] * (index + 1 - len(row)))
    seen = set()
    for row in rows[1:]:
        row.extend([""] * (index + 1 - len(row)))
        user = row[1].strip()
        if row[0].strip() in ("Points Possible", "Student, Test") or not user:
            if row[0].strip() == "Points Possible" and index == len(header) - 1 and not row[index]:
                row[index] = max_score
            continue
        grade = by_id.get(user)
        if grade is None:
            placement.lms_only.append((f"{row[0]} (Canvas id {user})", "not in the gradebook"))
            continue
        seen.add(user)
        decimal = "," if delimiter == ";" else "."
        row[index] = number(grade.score, decimal)
        placement.placed.append((grade, user))
    for user, grade in sorted(by_id.items()):
        if user not in seen:
            placement.unplaced.append(
                (_who(grade), f"Canvas id {user} is not a row of the Canvas gradebook file")
            )
    return (BOM if bom else "") + _write_csv(rows, delimiter), placement


def _write_csv(rows, delimiter: str, quote_all: bool = False) -> str:
    out = io.StringIO()
    writer = csv.writer(
        out,
        delimiter=delimiter,
        lineterminator="\r\n",
        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
    )
    writer.writerows(rows)
    return out.getvalue()


# -- Blackboard ----------------------------------------------------------------------------------
def blackboard_rows(grades: list[Grade], column: str, column_id: str | None):
    """(rows, Placement) of a Grade Center upload: names, Username, the assignment's column."""
    placement = Placement()
    max_score = number(grades[0].max_score) if grades else "0"
    title = f"{column} [Total Pts: {max_score} Score]" + (f" |{column_id}" if column_id else "")
    rows = [["Last Name", "First Name", "Username", title]]
    for grade in grades:
        if not grade.submitted:
            placement.unplaced.append((_who(grade), "no submission graded"))
            continue
        user = _lms_id(grade, "blackboard")
        if user is None:
            placement.unplaced.append((_who(grade), _unplaced_reason(grade, "blackboard")))
            continue
        rows.append([grade.last_name, grade.first_name, user, number(grade.score)])
        placement.placed.append((grade, user))
    return rows, placement


def blackboard_bytes(rows, tab: bool) -> bytes:
    if tab:  # Blackboard's own "tab" download: UTF-16 with a BOM, no quotes needed
        return _write_csv(rows, "\t").encode("utf-16")
    return (BOM + _write_csv(rows, ",", quote_all=True)).encode("utf-8")


# -- Moodle: the offline grading worksheet, filled in place --------------------------------------
PARTICIPANT = re.compile(r"^(?P<prefix>\D*?)\s*(?P<id>\d+)$")
NUMBER = re.compile(r"^-?\d+(?:[.,]\d+)?$")
PAIRED = re.compile(r"^(?P<stem>.+?)\s*\((?P<what>[^()]+)\)\s*$")


@dataclass
class Cell:
    start: int  # offset of the field's first character (its quote, if quoted)
    end: int  # offset after its last character
    value: str


def csv_cells(text: str, delimiter: str = ",") -> list[list[Cell]]:
    """Every field of ``text`` (RFC 4180 CSV) with its offsets, so that a field can be replaced
    and every other byte kept. Raises GradingError on an unclosed quote."""
    rows, row, i, n = [], [], 0, len(text)
    while i < n or row:
        start = i
        if i < n and text[i] == '"':
            j, parts = i + 1, []
            while True:
                k = text.find('"', j)
                if k < 0:
                    raise GradingError(f"a quoted field opened at character {start} never closes")
                parts.append(text[j:k])
                if text[k + 1 : k + 2] == '"':
                    parts.append('"')
                    j = k + 2
                    continue
                i = k + 1
                break
            value = "".join(parts)
        else:
            j = i
            while j < n and text[j] not in (delimiter, "\r", "\n"):
                j += 1
            value, i = text[start:j], j
        row.append(Cell(start, i, value))
        if i < n and text[i] == delimiter:
            i += 1
            if i == n:
                row.append(Cell(i, i, ""))
            else:
                continue
        elif i < n and text[i] not in "\r\n":
            raise GradingError(f"a quoted field ending at character {i} is followed by text")
        if i < n and text[i] == "\r":
            i += 1
        if i < n and text[i] == "\n":
            i += 1
        if not (len(row) == 1 and row[0].value == ""):
            rows.append(row)
        row = []
        if i >= n:
            break
    return rows


def _quote(value: str, delimiter: str) -> str:
    if any(ch in value for ch in (delimiter, '"', "\n", "\r")) or value != value.strip():
        return '"' + value.replace('"', '""') + '"'
    return value


@dataclass
class WorksheetColumns:
    identifier: int
    grade: int
    maximum: int
    modified: int
    feedback: int | None
    decimal: str  # the worksheet's decimal separator ("," in a German one)


def worksheet_columns(rows: list[list[Cell]]) -> WorksheetColumns:
    """Find the columns Moodle's importer reads, in any language (see the module docstring)."""
    if len(rows) < 1:
        raise GradingError("the worksheet is empty")
    header = [c.value.strip().lstrip(BOM) for c in rows[0]]
    data = [[c.value for c in row] for row in rows[1:]]

    def cells(index):
        return [row[index].strip() for row in data if index < len(row)]

    ids = cells(0)
    if not ids or not all(PARTICIPANT.match(v) for v in ids if v):
        raise GradingError(
            "the first column of the worksheet does not hold Moodle's participant identifiers "
            "('Participant 210002'): download the offline grading worksheet again"
        )
    maximum = None
    for index in range(1, len(header)):
        values = [v for v in cells(index) if v]
        if values and all(NUMBER.match(v) for v in values) and len(set(values)) == 1:
            left = [v for v in cells(index - 1) if v and v != "-"]
            if all(NUMBER.match(v) for v in left):
                maximum = index
                break
    if maximum is None or maximum < 2:
        raise GradingError(
            "no maximum-grade column in the worksheet (one number in every row, right of the "
            "grade): is the assignment graded on a scale? Only points can be exported"
        )
    grade = maximum - 1
    if "Grade" in header and header.index("Grade") != grade:
        raise GradingError("the worksheet's 'Grade' column is not left of its maximum grade")
    paired = [(i, PAIRED.match(h)) for i, h in enumerate(header) if i > maximum and PAIRED.match(h)]
    modified = None
    for a, (_, m) in enumerate(paired):
        twins = [j for j, n in paired[a + 1 :] if n.group("stem") == m.group("stem")]
        if twins:
            modified = twins[0]
            break
    if modified is None and len(paired) == 1:
        modified = paired[0][0]
    if "Last modified (grade)" in header:
        modified = header.index("Last modified (grade)")
    if modified is None:
        raise GradingError(
            "no 'Last modified (grade)' column in the worksheet (a 'WORDS (grade)' header after "
            "the grade): download the offline grading worksheet again"
        )
    feedback = modified + 1 if modified + 1 < len(header) else None
    if feedback is not None and header[feedback] in ("Outcomes",):
        feedback = None
    numbers = [v for v in cells(maximum) + cells(grade) if NUMBER.match(v)]
    decimal = "," if any("," in v for v in numbers) else "."
    return WorksheetColumns(0, grade, maximum, modified, feedback, decimal)


def fill_worksheet(
    text: str, grades: list[Grade], modified: datetime, comments: bool = True
) -> tuple[str, Placement]:
    """The worksheet ``text`` with the grades of graded participants filled in; every other
    byte as it was. ``modified`` (the export's time, in UTC) goes into ``Last modified
    (grade)`` in a form PHP's ``strtotime`` reads: Moodle skips a row whose time is more than a
    minute older than the grade it holds, so a grade changed in Moodle after the export stays."""
    rows = csv_cells(text)
    columns = worksheet_columns(rows)
    placement = Placement()
    by_participant: dict[str, Grade] = {}
    for grade in grades:
        participant = _lms_id(grade, "moodle")
        if not grade.submitted:
            placement.unplaced.append((_who(grade), "no submission graded"))
        elif participant is None:
            placement.unplaced.append((_who(grade), _unplaced_reason(grade, "moodle")))
        else:
            by_participant[str(int(participant))] = grade
    edits: list[tuple[Cell, str]] = []
    seen = set()
    # "2024-10-20 09:30:00+00:00" with a zone (PHP's strtotime reads the offset), without one
    # in the server's zone
    stamp = modified.isoformat(sep=" ", timespec="seconds")
    for row in rows[1:]:
        if columns.modified >= len(row):
            raise GradingError(f"a row of the worksheet has only {len(row)} column(s)")
        ident = row[columns.identifier].value.strip()
        match = PARTICIPANT.match(ident)
        if not match:
            raise GradingError(f"the worksheet identifier {ident!r} is not a participant's")
        grade = by_participant.get(str(int(match.group("id"))))
        if grade is None:
            who = row[1].value if len(row) > 1 else ident
            placement.lms_only.append(
                (f"{ident} ({who})", "not in the gradebook (no submission collected): left blank")
            )
            continue
        seen.add(str(int(match.group("id"))))
        edits.append((row[columns.grade], f"{grade.score:.2f}".replace(".", columns.decimal)))
        edits.append((row[columns.modified], stamp))
        if comments and columns.feedback is not None and columns.feedback < len(row):
            if row[columns.feedback].value.strip():
                placement.notes.append(f"{ident}: feedback comment already there, kept")
            else:
                edits.append((row[columns.feedback], grade.summary()))
        placement.placed.append((grade, ident))
    for participant, grade in sorted(by_participant.items()):
        if participant not in seen:
            placement.unplaced.append(
                (_who(grade), f"participant {participant} is not a row of the worksheet")
            )
    out = text
    for cell, value in sorted(edits, key=lambda e: e[0].start, reverse=True):
        out = out[: cell.start] + _quote(value, ",") + out[cell.end :]
    return out, placement


# -- the command ---------------------------------------------------------------------------------
def _read_text(path: Path, what: str) -> str:
    if not path.is_file():
        raise GradingError(f"the {what} {path} does not exist")
    data = path.read_bytes()
    for encoding in ("utf-8", "utf-16") if not data.startswith(b"\xff\xfe") else ("utf-16",):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise GradingError(f"the {what} {path} is neither UTF-8 nor UTF-16 text")


def _check_output(to: Path, inputs: list[Path | None], force: bool) -> None:
    for source in inputs:
        if source is not None and to.resolve() == source.resolve() and not force:
            raise GradingError(
                f"--to {to} is the input file itself: write elsewhere, or pass --force to "
                "replace it"
            )
    if to.exists() and not force:
        raise GradingError(f"{to} already exists: choose another --to or pass --force")


def export_lms(
    course: Course,
    lms: str,
    assignment: str,
    to: Path,
    worksheet: Path | None = None,
    gradebook: Path | None = None,
    column: str | None = None,
    column_id: str | None = None,
    force: bool = False,
    comments: bool = True,
    now: datetime | None = None,
) -> Placement:
    """Write ``to`` in ``lms``'s import format for ``assignment``; returns what went where."""
    if lms not in LMS_CHOICES:
        raise GradingError(f"unknown LMS {lms!r} (known: {', '.join(LMS_CHOICES)})")
    to = Path(to)
    if lms == "moodle" and worksheet is None:
        raise GradingError(
            "Moodle grades go into the offline grading worksheet: pass --worksheet FILE "
            "(the assignment's 'Download grading worksheet')"
        )
    if worksheet is not None and lms != "moodle":
        raise GradingError("--worksheet is Moodle's; Canvas takes --gradebook")
    if gradebook is not None and lms != "canvas":
        raise GradingError("--gradebook is Canvas's exported gradebook; Moodle takes --worksheet")
    _check_output(to, [worksheet, gradebook], force)
    grades = assignment_grades(course, assignment)
    if not grades:
        raise GradingError(f"the gradebook has no student for {assignment}")
    if lms == "canvas":
        source = _read_text(Path(gradebook), "Canvas gradebook") if gradebook else None
        text, placement = canvas_csv(grades, column or assignment, source)
        data = (text if text.startswith(BOM) or gradebook else BOM + text).encode("utf-8")
    elif lms == "moodle":
        source = _read_text(Path(worksheet), "worksheet")
        try:
            stamp = now or datetime.now(timezone.utc)
            text, placement = fill_worksheet(source, grades, stamp, comments)
        except GradingError as error:
            raise GradingError(f"{worksheet}: {error}") from None
        data = text.encode("utf-8")
    else:
        rows, placement = blackboard_rows(grades, column or assignment, column_id)
        data = blackboard_bytes(rows, tab=to.suffix.lower() in (".xls", ".txt"))
    to.parent.mkdir(parents=True, exist_ok=True)
    to.write_bytes(data)
    return placement
