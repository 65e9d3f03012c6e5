"""Grades and feedback back into Canvas, Moodle and Blackboard, in each LMS's own format.

The fast tests build the LMS files (a Moodle worksheet in English and in German, a Canvas
gradebook export) and check the writers on gradebook results made here; the slow ones take a
class through collect (the three LMS downloads), due date, autograde, feedback and export, as an
instructor would, and check that every student is in the file with the gradebook's score or
named with the reason.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from datetime import datetime, timedelta, timezone

import nbformat
import pytest
from grading_fixture import ARITH_SOLUTION, HB, fill, make_course, released, submit
from test_intake import make_zip

from coursekit.cli import main as course_main
from coursekit.grading.course import Course, GradingError, open_gradebook
from coursekit.grading.feedback import lms_feedback_name
from coursekit.grading.intake import student_folder
from coursekit.grading.lms_export import (
    BOM,
    Grade,
    blackboard_bytes,
    blackboard_rows,
    canvas_csv,
    csv_cells,
    fill_worksheet,
    worksheet_columns,
)
from coursekit.grading.release import release
from coursekit.grading.sandbox import sandbox_available

WHEN = datetime(2024, 10, 20, 9, 30, 0)


def grade(student, lms, user_id, score, **extra) -> Grade:
    return Grade(
        student=student,
        name=extra.pop("name", student),
        submitted=extra.pop("submitted", True),
        raw=score,
        score=score,
        max_score=5.0,
        parts=[("test_add", min(score, 2.0), 2.0), ("test_mul", max(score - 2, 0.0), 3.0)],
        lms={"lms": lms, "user_id": user_id, "name": extra.pop("lms_name", student)} if lms else {},
        **extra,
    )


# -- Moodle's offline grading worksheet --------------------------------------------------------
# Laid out as mod/assign/gradingtable.php writes a download: identifier, full name, identity
# fields, status, grade, maximum grade, "grade can be changed", the submission's time and
# editor fields, the grade's time, the feedback plugins' editor fields.
ENGLISH = (
    '\ufeff"Identifier","Full name","Email address",Status,Grade,"Maximum Grade",'
    '"Grade can be changed","Last modified (submission)","Online text",'
    '"Last modified (grade)","Feedback comments"\r\n'
    '"Participant 210002","Jürgen Groß",jg@example.org,"Submitted for grading",,5.00,Yes,'
    '"Tuesday, 1 October 2024, 12:00 PM","<p>see ""attached""</p>",-,\r\n'
    '"Participant 210005","Ana Conceição",ana@example.org,"Submitted for grading",,5.00,Yes,'
    '"Tuesday, 1 October 2024, 12:00 PM",,-,"Well done, Ana"\r\n'
    '"Participant 210009","Nobody Else",ne@example.org,"No submission",,5.00,Yes,-,,-,\r\n'
)
GERMAN = (
    'ID;"Vollständiger Name";"E-Mail-Adresse";Status;Bewertung;Bestwertung;'
    '"Bewertung kann geändert werden";"Zuletzt geändert (Abgabe)";"Texteingabe online";'
    '"Zuletzt geändert (Bewertung)";"Feedback als Kommentar"\n'
    '"Teilnehmer/in 210002";"Jürgen Groß";jg@example.org;"Zur Bewertung abgegeben";;"5,00";Ja;'
    '"Dienstag, 1. Oktober 2024, 12:00";;-;\n'
    '"Teilnehmer/in 210009";"Niemand Sonst";ne@example.org;"Keine Abgabe";;"5,00";Ja;-;;-;\n'
).replace(";", ",")  # Moodle writes commas (csv_export_writer); the semicolons aid reading

PORTUGUESE = (
    '"Identificador","Nome completo","Endereço de email",Status,Nota,"Nota máxima",'
    '"A nota pode ser alterada","Última modificação (envio)","Texto online",'
    '"Última modificação (nota)","Comentários de feedback"\r\n'
    '"Participante 210002","Jürgen Groß",jg@example.org,"Enviado para avaliação",,"5,00",Sim,'
    '"terça, 1 out 2024, 12:00",,-,\r\n'
)


def changed_cells(before: str, after: str) -> dict[tuple[int, int], tuple[str, str]]:
    """{(row, column): (old, new)} for every cell that differs; fails if the bytes around the
    cells differ (only cell contents may change)."""
    old, new = csv_cells(before), csv_cells(after)
    assert len(old) == len(new) and [len(r) for r in old] == [len(r) for r in new]
    diff, pieces_old, pieces_new = {}, [], []
    for r, (a, b) in enumerate(zip(old, new, strict=True)):
        for c, (x, y) in enumerate(zip(a, b, strict=True)):
            if x.value != y.value:
                diff[(r, c)] = (x.value, y.value)
            else:
                assert before[x.start : x.end] == after[y.start : y.end], (r, c)
    # what lies between the cells (delimiters, line ends, the BOM) is the same
    for text, cells, out in ((before, old, pieces_old), (after, new, pieces_new)):
        last = 0
        for row in cells:
            for cell in row:
                out.append(text[last : cell.start])
                last = cell.end
        out.append(text[last:])
    assert pieces_old == pieces_new
    return diff


def test_an_english_worksheet_changes_only_the_grade_cells():
    grades = [
        grade("Jurgen_Gross-1", "moodle", "210002", 5.0, name="Jürgen Groß"),
        grade("Ana_Conceicao-2", "moodle", "210005", 2.0, name="Ana Conceição"),
    ]
    out, placement = fill_worksheet(ENGLISH, grades, WHEN)
    assert out.startswith(BOM)
    assert changed_cells(ENGLISH, out) == {
        (1, 4): ("", "5.00"),
        (1, 9): ("-", "2024-10-20 09:30:00"),
        (1, 10): ("", "5 / 5 points (test_add 2/2, test_mul 3/3)"),
        (2, 4): ("", "2.00"),
        (2, 9): ("-", "2024-10-20 09:30:00"),
        # Ana's comment was the teacher's: kept
    }
    assert [where for _, where in placement.placed] == ["Participant 210002", "Participant 210005"]
    assert placement.lms_only == [
        (
            "Participant 210009 (Nobody Else)",
            "not in the gradebook (no submission collected): left blank",
        )
    ]
    assert placement.notes == ["Participant 210005: feedback comment already there, kept"]
    assert not placement.unplaced
    # the command writes its time in UTC with the offset, which PHP's strtotime reads
    aware, _ = fill_worksheet(ENGLISH, grades, WHEN.replace(tzinfo=timezone.utc))
    assert changed_cells(ENGLISH, aware)[(1, 9)] == ("-", "2024-10-20 09:30:00+00:00")


@pytest.mark.parametrize("sheet", [GERMAN, PORTUGUESE], ids=["german", "portuguese"])
def test_a_localised_worksheet_is_found_by_its_structure(sheet):
    columns = worksheet_columns(csv_cells(sheet))
    assert (columns.identifier, columns.grade, columns.maximum, columns.modified) == (0, 4, 5, 9)
    assert (columns.feedback, columns.decimal) == (10, ",")
    out, _ = fill_worksheet(sheet, [grade("j", "moodle", "210002", 4.5)], WHEN)
    assert set(changed_cells(sheet, out)) == {(1, 4), (1, 9), (1, 10)}


def test_a_german_worksheet_gets_decimal_commas_and_the_lateness():
    late = grade("Jurgen_Gross-1", "moodle", "210002", 3.5, name="Jürgen Groß")
    late.raw, late.penalty, late.duedate = 4.5, 1.0, datetime(2024, 10, 1)
    late.timestamp, late.seconds_late = datetime(2024, 10, 2, 1, 5), 90300.0
    out, placement = fill_worksheet(GERMAN, [late], WHEN)
    diff = changed_cells(GERMAN, out)
    assert diff[(1, 4)] == ("", "3,50")
    assert diff[(1, 9)] == ("-", "2024-10-20 09:30:00")
    assert "late 1 d 1 h 5 min (penalty 1)" in diff[(1, 10)][1]
    assert set(diff) == {(1, 4), (1, 9), (1, 10)}
    assert placement.lms_only[0][0] == "Teilnehmer/in 210009 (Niemand Sonst)"


def test_a_gradebook_student_not_in_the_worksheet_is_named():
    grades = [
        grade("gone", "moodle", "210077", 5.0),
        grade("canvasonly", "canvas", "1002", 5.0),
        grade("handmade", None, None, 5.0),
        grade("absent", None, None, 0.0, submitted=False),
    ]
    _, placement = fill_worksheet(ENGLISH, grades, WHEN)
    reasons = dict(placement.unplaced)
    assert reasons == {
        "gone": "participant 210077 is not a row of the worksheet",
        "canvasonly": "collected from a canvas download, so no moodle id is known",
        "handmade": "no moodle id known (not collected from a moodle download)",
        "absent": "no submission graded",
    }


@pytest.mark.parametrize(
    "text, words",
    [
        ('"Identifier","Grade"\r\n"Participant 1,5\r\n', "never closes"),
        ("Name,Grade\r\nAnna,\r\n", "participant identifiers"),
        ('"Identifier","Full name",Grade\r\n"Participant 1",Anna,\r\n', "maximum-grade column"),
        ("", "empty"),
    ],
)
def test_a_malformed_worksheet_is_one_sentence(text, words):
    with pytest.raises(GradingError, match=words):
        fill_worksheet(text, [grade("a", "moodle", "1", 5.0)], WHEN)


# -- Canvas ------------------------------------------------------------------------------------
def test_a_new_canvas_import_file_has_canvas_columns_and_the_points_row():
    grades = [
        grade("doejohn", "canvas", "1002", 5.0, first_name="John", last_name="Doe"),
        grade("roemary", "canvas", "1003", 0.0),
        grade("s1000001", "blackboard", "s1000001", 5.0),
    ]
    text, placement = canvas_csv(grades, "arith")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "arith"],
        ["    Points Possible", "", "", "", "", "5"],
        ["Doe, John", "1002", "", "", "", "5"],
        ["roemary", "1003", "", "", "", "0"],
    ]
    assert placement.unplaced == [
        ("s1000001", "collected from a blackboard download, so no canvas id is known")
    ]


CANVAS_EXPORT = (
    "\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,arith (777),Quiz 1 (778),Current Score\r\n"
    "    Points Possible,,,,,5.00,10.00,(read only)\r\n"
    '"Doe, John",1002,S-1002,jdoe,"CNN 2024, group A",,9.00,90\r\n'
    "Müller Zoë,1099,S-1099,zmuller,CNN 2024,,7.00,70\r\n"
)


def test_the_canvas_gradebook_export_is_filled_in_with_sis_ids_and_sections_kept():
    grades = [grade("doejohn", "canvas", "1002", 4.5), grade("roemary", "canvas", "1003", 5.0)]
    text, placement = canvas_csv(grades, "arith", CANVAS_EXPORT)
    assert text.startswith(BOM)
    rows = list(csv.reader(io.StringIO(text[1:])))
    before = list(csv.reader(io.StringIO(CANVAS_EXPORT[1:])))
    assert rows[2] == [
        "Doe, John",
        "1002",
        "S-1002",
        "jdoe",
        "CNN 2024, group A",
        "4.5",
        "9.00",
        "90",
    ]
    assert rows[:2] == before[:2] and rows[3] == before[3]  # everything else as downloaded
    assert placement.lms_only == [("Müller Zoë (Canvas id 1099)", "not in the gradebook")]
    assert placement.unplaced == [
        ("roemary", "Canvas id 1003 is not a row of the Canvas gradebook file")
    ]


# -- Blackboard --------------------------------------------------------------------------------
def test_blackboard_upload_in_comma_and_tab_form():
    grades = [
        grade("s1000001", "blackboard", "s1000001", 4.5, first_name="Zoë", last_name="Müller")
    ]
    rows, placement = blackboard_rows(grades, "arith", "123456")
    assert rows == [
        ["Last Name", "First Name", "Username", "arith [Total Pts: 5 Score] |123456"],
        ["Müller", "Zoë", "s1000001", "4.5"],
    ]
    comma = blackboard_bytes(rows, tab=False)
    assert comma.startswith(b"\xef\xbb\xbf") and b'"M\xc3\xbcller","Zo\xc3\xab"' in comma
    tab = blackboard_bytes(rows, tab=True)
    assert tab.startswith(b"\xff\xfe")
    assert tab.decode("utf-16").splitlines()[1] == "Müller\tZoë\ts1000001\t4.5"
    new_column, _ = blackboard_rows(grades, "arith", None)
    assert new_column[0][3] == "arith [Total Pts: 5 Score]"


# -- feedback file names -----------------------------------------------------------------------
def test_feedback_names_carry_the_ids_the_lms_reads_back():
    canvas = {
        "lms": "canvas",
        "user_id": "1006",
        "attachment": "52006",
        "download": "parkjo_late_1006_52006_arith.ipynb",
    }
    name = lms_feedback_name("canvas", canvas, "arith.html")
    assert name == "parkjo_late_1006_52006_arith.html"
    # Canvas takes the first two all-digit pieces: the user id, then the attachment id
    assert [p for p in name.split("_") if p.isdigit()][:2] == ["1006", "52006"]
    moodle = {"lms": "moodle", "user_id": "210002", "name": "Jürgen Groß"}
    path = lms_feedback_name("moodle", moodle, "arith.html")
    assert path == "Jürgen Groß_210002_assignsubmission_file_/arith.html"
    assert path.split("_", 4)[1:4] == ["210002", "assignsubmission", "file"]
    assert lms_feedback_name("moodle", canvas, "arith.html") is None
    nested = {**canvas, "download": "leeann_1004_52004_arith.zip/work/arith.ipynb"}
    assert lms_feedback_name("canvas", nested, "arith.html") == "leeann_1004_52004_arith.html"


# -- the command line, bad input ---------------------------------------------------------------
@pytest.fixture
def empty_course(tmp_path):
    return Course(make_course(tmp_path / "c", ("arith",)))


@pytest.mark.parametrize(
    "args, words",
    [
        (["--lms", "canvas", "--assignment", "nope"], "unknown assignment"),
        (["--lms", "canvas", "--assignment", "arith"], "no gradebook"),
        (["--lms", "moodle", "--assignment", "arith"], "pass --worksheet"),
        (["--lms", "canvas", "--assignment", "arith", "--worksheet", "w.csv"], "Moodle's"),
        (["--lms", "blackboard", "--assignment", "arith", "--to", "exists.csv"], "already exists"),
        (
            [
                "--lms",
                "moodle",
                "--assignment",
                "arith",
                "--worksheet",
                "exists.csv",
                "--to",
                "exists.csv",
            ],
            "the input file itself",
        ),
    ],
)
def test_export_refuses_bad_input_in_one_sentence(empty_course, capsys, args, words):
    root = empty_course.root
    (root / "exists.csv").write_text("keep me")
    args = [str(root / a) if a.endswith(".csv") else a for a in args]
    if "--to" not in args:
        args += ["--to", str(root / "out.csv")]
    assert course_main(["--root", str(root), "export", *args]) == 1
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1
    assert (root / "exists.csv").read_text() == "keep me"


@pytest.mark.parametrize("command", ["due", "extend", "export", "feedback"])
def test_the_new_commands_have_help(command, capsys):
    from coursekit.cli import build_parser

    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: course" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, words",
    [
        (["due", "arith", "next tuesday-ish"], "is not a date and time"),
        (["extend", "bob", "arith", "--until", "2024-10-20 12:00"], "no due date to extend"),
        (["due", "nope", "2024-10-20"], "unknown assignment"),
    ],
)
def test_due_and_extend_refuse_bad_input(empty_course, capsys, args, words):
    assert course_main(["--root", str(empty_course.root), *args]) == 1
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1


# -- a class, end to end -----------------------------------------------------------------------
needs_sandbox = pytest.mark.skipif(
    sandbox_available() is not None and os.environ.get("COURSE_ALLOW_NO_SANDBOX") == "1",
    reason=f"no sandbox here: {sandbox_available()}",
)
DUE = "2024-10-05 00:00"
BB_NEW, BB_OLD = "2024-10-14-21-00-00", "2024-10-12-09-00-00"


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """Collected from a Canvas, two Moodle (folders, flat) and a Blackboard download plus one
    folder made by hand; due date set; autograded; feedback written. Late submissions get
    nbgrader's 'zero' penalty."""
    tmp = tmp_path_factory.mktemp("lms")
    root = make_course(tmp / "c", ("arith",))
    with (root / "nbgrader_config.py").open("a") as fh:
        fh.write("\nc.LateSubmissionPlugin.penalty_method = 'zero'\n")
    course = Course(root)
    release(course, "arith")
    stub = released(root, "arith")
    full = fill(fill(stub, "add", ARITH_SOLUTION["add"]), "mul", ARITH_SOLUTION["mul"])
    good = nbformat.writes(full).encode()
    part = nbformat.writes(fill(stub, "add", ARITH_SOLUTION["add"])).encode()  # 2 of 5
    downloads = [
        make_zip(
            tmp / "canvas.zip",
            {
                "doejohn_1002_52002_arith.ipynb": good,
                "roemary_late_1003_52003_arith.ipynb": part,
            },
            times={"roemary_late_1003_52003_arith.ipynb": (2024, 10, 7, 8, 0, 0)},
        ),
        make_zip(
            tmp / "moodle-folders.zip",
            {"Jürgen Groß_210002_assignsubmission_file_/arith.ipynb": good},
        ),
        make_zip(
            tmp / "moodle-flat.zip",
            {"Ana Conceição_210005_assignsubmission_file_arith.ipynb": part},
        ),
        make_zip(
            tmp / "bb.zip",
            {
                f"ex01_s1000001_attempt_{BB_NEW}_arith.ipynb": good,
                f"ex01_s1000001_attempt_{BB_OLD}_arith.ipynb": part,
                f"ex01_s1000001_attempt_{BB_NEW}.txt": b"receipt",
            },
        ),
    ]
    for archive in downloads:
        assert course_main(["--root", str(root), "collect", "arith", str(archive)]) == 0
    submit(root, "handmade", "arith", raw=good)
    assert course_main(["--root", str(root), "due", "arith", DUE]) == 0
    code, summary, _ = run(root, "autograde", "arith", "-q")
    assert code == 0, summary
    assert course_main(["--root", str(root), "feedback", "arith", "--no-run"]) == 0
    return root, course, tmp, summary


def run(root, *args):
    import contextlib

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = course_main(["--root", str(root), *args])
    return code, out.getvalue(), err.getvalue()


def export(root, *args):
    return run(root, "export", "--assignment", "arith", *args)


JURGEN, ANA = student_folder("Jürgen Groß"), student_folder("Ana Conceição")


@pytest.mark.slow
@needs_sandbox
def test_the_gradebook_holds_the_lms_times_and_nbgraders_penalties(graded_class):
    _, course, _, summary = graded_class
    lines = summary.splitlines()
    assert "late 2 d 8 h (penalty 2)" in next(line for line in lines if line.startswith("roemary"))
    assert "late 9 d 21 h (penalty 5)" in next(line for line in lines if line.startswith("s1000"))
    with open_gradebook(course) as gb:
        result = {
            s.id: (
                gb.find_submission("arith", s.id).score,
                gb.find_submission("arith", s.id).late_submission_penalty,
            )
            for s in gb.students
        }
    assert result == {
        "doejohn": (5.0, 0.0),
        "roemary": (2.0, 2.0),  # late (the zip's time), nbgrader's 'zero' penalty
        JURGEN: (5.0, 0.0),
        ANA: (2.0, 0.0),
        "s1000001": (5.0, 5.0),  # the newest attempt, after the due date
        "handmade": (5.0, 0.0),  # no timestamp: never late
    }


@pytest.mark.slow
@needs_sandbox
def test_canvas_file_has_every_canvas_student_and_names_the_others(graded_class):
    root, _, tmp, _ = graded_class
    to = tmp / "canvas.csv"
    code, out, err = export(root, "--lms", "canvas", "--to", str(to))
    assert code == 1 and "4 student(s) of the gradebook are not in" in err
    rows = list(csv.reader(io.StringIO(to.read_bytes().decode("utf-8-sig"))))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "arith"]
    assert {r[1]: r[5] for r in rows[2:]} == {"1002": "5", "1003": "0"}
    for student in (JURGEN, ANA, "s1000001", "handmade"):
        assert any(
            line.startswith(student) and "NOT IN THE FILE" in line for line in out.splitlines()
        )
    assert "late 2 d 8 h (penalty 2)" in out  # roemary, 2024-10-07 08:00
    code, _, _ = export(root, "--lms", "canvas", "--to", str(to), "--allow-unplaced")
    assert code == 1  # the file exists now: refused without --force
    assert export(root, "--lms", "canvas", "--to", str(to), "--allow-unplaced", "--force")[0] == 0


@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("language", ["english", "german"])
def test_moodle_worksheet_gets_the_gradebook_scores_and_keeps_every_other_byte(
    graded_class, language
):
    root, _, tmp, _ = graded_class
    source = ENGLISH if language == "english" else GERMAN
    sheet = tmp / f"worksheet-{language}.csv"
    sheet.write_bytes(source.encode("utf-8"))
    to = tmp / f"filled-{language}.csv"
    code, out, err = export(
        root, "--lms", "moodle", "--worksheet", str(sheet), "--to", str(to), "--allow-unplaced"
    )
    assert code == 0, err
    assert sheet.read_bytes() == source.encode("utf-8")  # the download is never touched
    diff = changed_cells(source, to.read_bytes().decode("utf-8"))
    comma = language == "german"
    assert diff[(1, 4)] == ("", "5,00" if comma else "5.00")  # Jürgen
    assert diff[(1, 10)] == ("", "5 / 5 points (test_add 2/2, test_mul 3/3)")
    if not comma:
        assert diff[(2, 4)] == ("", "2.00")  # Ana
        assert (2, 10) not in diff  # the teacher's own comment stays
    assert all(row != 3 for row, _ in diff)  # Participant 210009 submitted nothing: blank
    assert "210009" in out and "left blank" in out
    assert "doejohn" in out and "NOT IN THE FILE" in out


@pytest.mark.slow
@needs_sandbox
def test_feedback_zips_name_each_student_as_the_lms_download_did(graded_class):
    root, course, tmp, _ = graded_class
    for lms, expected in (
        ("canvas", {"doejohn_1002_52002_arith.html", "roemary_late_1003_52003_arith.html"}),
        (
            "moodle",
            {
                "Jürgen Groß_210002_assignsubmission_file_/arith.html",
                "Ana Conceição_210005_assignsubmission_file_/arith.html",
            },
        ),
    ):
        to = tmp / f"feedback-{lms}.zip"
        args = ["feedback", "arith", "--no-run", "--lms", lms, "--zip", str(to)]
        assert course_main(["--root", str(root), *args]) == 1  # the others are named
        assert course_main(["--root", str(root), *args, "--force", "--allow-unplaced"]) == 0
        with zipfile.ZipFile(to) as zf:
            assert set(zf.namelist()) == expected
            for name in zf.namelist():
                page = zf.read(name).decode("utf-8")
                assert HB not in page and "mul on negatives" not in page  # hidden tests
                assert "arith" in page
                # nbgrader's feedback page shows the late penalty the gradebook holds
                assert ("Late submission penalty" in page) == name.startswith("roemary")


@pytest.mark.slow
@needs_sandbox
def test_an_extension_changes_lateness_and_penalty_in_the_export(graded_class, capsys):
    root, course, tmp, _ = graded_class
    to = tmp / "bb.csv"
    code, out, _ = export(root, "--lms", "blackboard", "--to", str(to), "--allow-unplaced")
    assert code == 0
    rows = list(csv.reader(io.StringIO(to.read_bytes().decode("utf-8-sig"))))
    assert rows[0][2:] == ["Username", "arith [Total Pts: 5 Score]"]
    assert rows[1][2:] == ["s1000001", "0"] and len(rows) == 2
    assert "late 9 d 21 h (penalty 5)" in out
    args = ["extend", "s1000001", "arith", "--until", "2024-10-15 00:00"]
    assert course_main(["--root", str(root), *args]) == 0
    assert "on time" in capsys.readouterr().out
    code, out, _ = export(
        root, "--lms", "blackboard", "--to", str(to), "--force", "--allow-unplaced"
    )
    rows = list(csv.reader(io.StringIO(to.read_bytes().decode("utf-8-sig"))))
    assert rows[1][2:] == ["s1000001", "5"] and "on time" in out
    with open_gradebook(course) as gb:
        sub = gb.find_submission("arith", "s1000001")
        assert sub.extension == timedelta(days=10) and sub.late_submission_penalty == 0
    # a regrade keeps the extension (nbgrader's autograde updates the submission)
    args = ["autograde", "arith", "--student", "s1000001", "-q"]
    assert course_main(["--root", str(root), *args]) == 0
    with open_gradebook(course) as gb:
        sub = gb.find_submission("arith", "s1000001")
        assert sub.extension == timedelta(days=10) and sub.late_submission_penalty == 0


def test_an_extension_before_grading_waits_in_the_gradebook(empty_course, tmp_path, capsys):
    root = empty_course.root
    archive = make_zip(tmp_path / "canvas.zip", {"doejohn_1002_52002_arith.ipynb": b"{}"})
    assert course_main(["--root", str(root), "collect", "arith", str(archive)]) == 0
    assert course_main(["--root", str(root), "due", "arith", "2024-10-05 00:00"]) == 0
    args = ["extend", "doejohn", "arith", "--until", "2024-10-06 12:00"]
    assert course_main(["--root", str(root), *args]) == 0
    assert "due 2024-10-06 12:00:00 UTC" in capsys.readouterr().out
    with open_gradebook(empty_course) as gb:
        assert gb.find_submission("arith", "doejohn").extension == timedelta(days=1, hours=12)
    args = ["extend", "nobody", "arith", "--until", "2024-10-06 12:00"]
    assert course_main(["--root", str(root), *args]) == 1
    assert "no student 'nobody' in the gradebook" in capsys.readouterr().err
