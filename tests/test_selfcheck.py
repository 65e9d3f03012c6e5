"""The in-notebook self-check (course_utils.checking.selfcheck) and the cells the release adds.

Scoring and checksums are compared with nbgrader's own functions; what would trip the grader
is shown on small notebooks made here; the notebook is found where each editor leaves a trace.
"""

from __future__ import annotations

import copy
import json
import sys
import types

import nbformat
import pytest
from grading_fixture import arith_notebook
from nbgrader.utils import compute_checksum, determine_grade

from course_utils.checking import selfcheck
from coursekit.grading.release import setup_problems, with_course_cells
from coursekit.install import install_cell_source


def _released_arith():
    """The fixture's arith notebook as a release makes it: checksums, then the course cells."""
    nb = arith_notebook()
    for cell in nb.cells:
        if "nbgrader" in cell.metadata:
            cell.metadata.nbgrader["checksum"] = compute_checksum(cell)
    return with_course_cells(nb, "arith", "arith")


def _as_json(nb) -> dict:
    return json.loads(nbformat.writes(nb))


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


# -- one scoring rule: nbgrader's ---------------------------------------------------------------
def test_checksum_is_nbgraders_for_every_kind_of_cell():
    nb = _released_arith()
    graded = [c for c in nb.cells if "nbgrader" in c.metadata]
    assert len(graded) == 4
    plain = nbformat.v4.new_code_cell("x = 1")
    plain.metadata["nbgrader"] = {
        "grade": False,
        "solution": False,
        "locked": True,
        "grade_id": "a",
    }
    for cell in [*graded, plain]:
        assert selfcheck.checksum(_as_json(nbformat.v4.new_notebook(cells=[cell]))["cells"][0]) == (
            compute_checksum(cell)
        )


OUTPUTS = {
    "nothing": [],
    "stdout": [nbformat.v4.new_output("stream", name="stdout", text="hello\n")],
    "stderr": [nbformat.v4.new_output("stream", name="stderr", text="warning: x\n")],
    "error": [nbformat.v4.new_output("error", ename="AssertionError", evalue="bad\nmore")],
    "partial": [nbformat.v4.new_output("execute_result", data={"text/plain": "1.5"})],
    "a value": [nbformat.v4.new_output("execute_result", data={"text/plain": "'text'"})],
}


@pytest.mark.parametrize("kind", sorted(OUTPUTS))
def test_a_test_cell_scores_as_nbgrader_scores_it(kind):
    cell = nbformat.v4.new_code_cell("check_equal(f(), 1)")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "points": 3, "grade_id": "t"}
    cell.outputs = OUTPUTS[kind]
    earned, possible = determine_grade(cell)
    part = selfcheck.score_test_cell(
        _as_json(nbformat.v4.new_notebook(cells=[cell]))["cells"][0], "t", 3
    )
    assert (part.earned, part.possible) == (float(earned), float(possible))
    assert bool(part.message) == (earned != possible)


def test_the_failure_line_is_the_first_line_of_the_error_or_of_stderr():
    error = {"outputs": [{"output_type": "error", "ename": "ValueError", "evalue": "a\nb"}]}
    stderr = {"outputs": [{"output_type": "stream", "name": "stderr", "text": ["\n", "oops\n"]}]}
    assert selfcheck.failure_line(error) == "ValueError: a"
    assert selfcheck.failure_line(stderr) == "wrote to stderr: oops"


def test_the_table_says_pass_only_when_every_visible_point_is_earned():
    passed = [selfcheck.PartResult("test_a", 2, 2), selfcheck.PartResult("test_b", 1, 1)]
    text = selfcheck.render_table(passed, [])
    assert "visible tests: 3 / 3 points" in text and "Hidden tests run on other inputs" in text
    failed = [passed[0], selfcheck.PartResult("test_b", 0, 1, "AssertionError: mul(2, 3) is 5")]
    text = selfcheck.render_table(failed, ["the file is named 'x.ipynb'"], again="run it again")
    assert "AssertionError: mul(2, 3) is 5" in text and "note: the file is named" in text
    assert "visible tests: 2 / 3 points" in text and text.endswith("run it again.")
    assert "All visible tests pass" not in selfcheck.render_table([], [])


# -- what would trip the grader -----------------------------------------------------------------
def test_a_notebook_as_released_has_nothing_to_trip_on():
    assert selfcheck.notebook_problems(_as_json(_released_arith()), "arith.ipynb") == []


@pytest.mark.parametrize("name", ["Copy of arith.ipynb", "arith (1).ipynb", "arith.colab.ipynb"])
def test_a_renamed_file_is_named(name):
    (problem,) = selfcheck.notebook_problems(_as_json(_released_arith()), name)
    assert repr(name) in problem and "'arith.ipynb'" in problem


def test_an_edited_test_cell_is_named():
    nb = _released_arith()
    _cell(nb, "test_mul").source += "\nprint('mine')"
    (problem,) = selfcheck.notebook_problems(_as_json(nb), "arith.ipynb")
    assert problem.startswith("test test_mul was edited")


def test_a_deleted_test_cell_is_named():
    nb = _released_arith()
    nb.cells.remove(_cell(nb, "test_add"))
    (problem,) = selfcheck.notebook_problems(_as_json(nb), "arith.ipynb")
    assert problem.startswith("test test_add was deleted")
    parts = selfcheck.parts_from_runs(_as_json(nb))
    assert [(p.grade_id, p.earned) for p in parts] == [("test_add", 0.0), ("test_mul", 0.0)]


def test_a_test_cell_that_lost_its_metadata_is_told_from_a_deleted_one():
    nb = _released_arith()
    _cell(nb, "test_add").metadata = {}
    (problem,) = selfcheck.notebook_problems(_as_json(nb), "arith.ipynb")
    assert problem.startswith("test test_add has lost its nbgrader metadata")


def test_a_notebook_without_any_nbgrader_metadata_is_named():
    nb = _released_arith()
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    problems = selfcheck.notebook_problems(_as_json(nb), "arith.ipynb")
    assert problems[0].startswith("this notebook has lost nbgrader's metadata")


def test_a_test_cell_turned_into_markdown_is_named():
    nb = _released_arith()
    cell = _cell(nb, "test_mul")
    markdown = nbformat.v4.new_markdown_cell(cell.source, metadata=copy.deepcopy(cell.metadata))
    nb.cells[nb.cells.index(cell)] = markdown
    (problem,) = selfcheck.notebook_problems(_as_json(nb), "arith.ipynb")
    assert "turned into markdown" in problem


# -- finding the notebook -----------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path):
    """arith.ipynb, beside another notebook (so the folder alone does not say which it is)."""
    path = tmp_path / "arith.ipynb"
    nbformat.write(_released_arith(), path)
    nbformat.write(arith_notebook(), tmp_path / "scratch.ipynb")
    return path


@pytest.fixture
def nowhere(monkeypatch, tmp_path):
    """No editor leaves a trace: no Colab, no VS Code global, no JPY_SESSION_NAME."""
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(selfcheck, "_user_namespace", lambda: {})
    monkeypatch.chdir(tmp_path)


def test_without_a_trace_report_asks_for_the_path_on_stdout(nowhere, capsys):
    with pytest.raises(selfcheck.NotebookNotFound, match=r'report\("ex01_convolution.ipynb"\)'):
        selfcheck.find_notebook()
    selfcheck.report()
    out, err = capsys.readouterr()
    assert out.startswith("The self-check cannot tell which file") and err == ""


def test_a_path_that_is_not_a_notebook_gets_one_sentence(nowhere, tmp_path, capsys):
    (tmp_path / "broken.ipynb").write_text("{not json", encoding="utf-8")
    selfcheck.report(tmp_path / "broken.ipynb")
    selfcheck.report(tmp_path / "missing.ipynb")
    out, err = capsys.readouterr()
    assert "cannot be read as a notebook" in out and "There is no file" in out and err == ""


def test_the_only_notebook_in_the_kernels_folder_is_the_one(nowhere, tmp_path, monkeypatch):
    alone = tmp_path / "alone"
    alone.mkdir()
    nbformat.write(_released_arith(), alone / "Copy of arith.ipynb")
    monkeypatch.chdir(alone)
    assert selfcheck.find_notebook()[1] == "Copy of arith.ipynb"
    nbformat.write(arith_notebook(), alone / "other.ipynb")
    with pytest.raises(selfcheck.NotebookNotFound):
        selfcheck.find_notebook()


def test_the_path_given_is_read(nowhere, saved):
    nb, name, _ = selfcheck.find_notebook(str(saved))
    assert name == "arith.ipynb" and nb["metadata"]["course"]["assignment"] == "arith"


def test_vs_code_names_the_file_in_a_global(nowhere, monkeypatch, saved):
    monkeypatch.setattr(selfcheck, "_user_namespace", lambda: {"__vsc_ipynb_file__": str(saved)})
    assert selfcheck.find_notebook()[1:] == ("arith.ipynb", str(saved))


@pytest.mark.parametrize("form", ["absolute", "relative to the server's root"])
def test_jupyter_server_names_the_file_in_jpy_session_name(nowhere, monkeypatch, saved, form):
    monkeypatch.chdir(saved.parent)  # a kernel starts in the notebook's folder
    value = str(saved) if form == "absolute" else f"course/exercises/{saved.name}"
    monkeypatch.setenv("JPY_SESSION_NAME", value)
    assert selfcheck.find_notebook()[1] == "arith.ipynb"


def test_colab_hands_over_the_live_notebook(nowhere, monkeypatch):
    live = _as_json(_released_arith())
    live["metadata"]["colab"] = {"name": "Copy of arith.ipynb"}
    message = types.ModuleType("google.colab._message")
    message.blocking_request = lambda kind, request="", timeout_sec=None: (
        {"ipynb": live} if kind == "get_ipynb" else None
    )
    colab = types.ModuleType("google.colab")
    colab._message = message
    google = types.ModuleType("google")
    google.colab = colab
    for name, module in [
        ("google", google),
        ("google.colab", colab),
        ("google.colab._message", message),
    ]:
        monkeypatch.setitem(sys.modules, name, module)
    nb, name, where = selfcheck.find_notebook()
    assert (name, where) == ("Copy of arith.ipynb", "Colab") and nb is live
    assert "Copy of arith.ipynb" in selfcheck.notebook_problems(nb, name)[0]


# -- one sentence under each test cell, in a real IPython shell ---------------------------------
def _failure(actual, expected, name) -> str:
    """The check's own first line for a value that differs (its wording is the check's)."""
    from course_utils.testing import check_equal

    with pytest.raises(AssertionError) as failed:
        check_equal(actual, expected, name)
    return str(failed.value).splitlines()[0]


@pytest.fixture
def shell(monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.delenv("COURSE_RECORD", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.setattr(selfcheck, "_WATCHER", None)
    monkeypatch.setattr(selfcheck, "_RUNS", {})
    ip = InteractiveShell.instance()
    yield ip
    if selfcheck._WATCHER is not None:
        ip.events.unregister("pre_run_cell", selfcheck._WATCHER.pre_run_cell)
        ip.events.unregister("post_run_cell", selfcheck._WATCHER.post_run_cell)


def test_each_test_cell_ends_with_one_sentence_and_nothing_on_stderr(shell, capfd):
    assert selfcheck.watch_test_cells() and selfcheck.watch_test_cells()  # once per kernel
    shell.run_cell("from course_utils.testing import check_equal")
    shell.run_cell("check_equal(2 + 3, 5, 'add(2, 3)')")
    shell.run_cell("check_equal(2 * 3, 5, 'mul(2, 3)')")
    shell.run_cell("import sys\nsys.stderr.write('careful\\n')\ncheck_equal(1, 1)")
    shell.run_cell("def f():\n    raise NotImplementedError()\ncheck_equal(f(), 1)")
    out, err = capfd.readouterr()
    sentences = [line for line in out.splitlines() if line.startswith(("✔", "✘"))]
    assert sentences == [
        "✔ This part passes its visible tests (hidden tests run when it is graded).",
        f"✘ This part fails: AssertionError: {_failure(6, 5, 'mul(2, 3)')}",
        "✘ This part earns 0: it wrote to stderr (careful); grading gives zero to a test cell "
        "that does",
        "✘ This part fails: NotImplementedError (an answer it tests is not written yet)",
    ]
    assert "This part" not in err and "careful" in err  # the cell's own stderr is kept
    assert not isinstance(sys.stderr, selfcheck._StderrWatch)  # the watch is taken off again


def test_no_sentence_in_a_grading_run(shell, monkeypatch, capfd):
    monkeypatch.setenv("COURSE_RECORD", "graded")
    assert selfcheck.watch_test_cells() is False
    shell.run_cell("from course_utils.testing import check_equal\ncheck_equal(1, 1)")
    assert "This part" not in capfd.readouterr().out


def test_report_scores_this_sessions_runs(shell, saved, monkeypatch, capsys):
    selfcheck.watch_test_cells()
    nb = nbformat.read(saved, 4)
    shell.run_cell("def add(a, b):\n    return a + b")
    shell.run_cell(_cell(nb, "test_add").source)
    shell.run_cell("def mul(a, b):\n    return a + b")
    shell.run_cell(_cell(nb, "test_mul").source)
    capsys.readouterr()
    selfcheck.report(saved)
    out = capsys.readouterr().out
    assert "visible tests: 2 / 5 points" in out, out
    assert f"AssertionError: {_failure(5, 6, 'mul(2, 3)')}" in out


# -- the cells the release adds -----------------------------------------------------------------
def test_releasing_twice_refreshes_the_cells_instead_of_adding_them():
    once = _released_arith()
    twice = with_course_cells(copy.deepcopy(once), "arith", "arith")
    assert [c.source for c in twice.cells] == [c.source for c in once.cells]
    code = [c for c in once.cells if c.cell_type == "code"]
    assert code[0].source == install_cell_source() and "nbgrader" not in code[0].metadata
    assert "watch_test_cells()" in code[1].source and "report()" in code[-1].source
    assert once.metadata["course"]["tests"]["test_mul"]["points"] == 3.0


def test_validate_names_a_missing_or_stale_install_cell(tmp_path):
    good = tmp_path / "arith.ipynb"
    nbformat.write(_released_arith(), good)
    assert setup_problems(good) == []
    stale = tmp_path / "stale.ipynb"
    nbformat.write(with_course_cells(arith_notebook(), "arith", "arith", version="0.2.0"), stale)
    assert "does not install cnn-course-utils" in " ".join(setup_problems(stale))
    bare = tmp_path / "bare.ipynb"
    nbformat.write(arith_notebook(), bare)
    assert "is not the install cell" in " ".join(setup_problems(bare))
