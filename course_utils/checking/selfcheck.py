"""The self-check inside an exercise notebook: what ``course check`` says, without a terminal.

Two calls, both made by cells the release adds to every exercise:

* ``watch_test_cells()`` (second code cell): from then on, each test cell ends with one sentence
  that says whether its part passes, or the first line of why not::

      ✔ This part passes its visible tests (hidden tests run when it is graded).
      ✘ This part fails: AssertionError: corr2d(X, K) has shape (4, 4), expected (3, 3)

* ``report()`` (last cell): the table ``course check`` prints (points per test cell, the first
  line of each failure, the total) and what would trip the grader: a renamed file, an edited
  or deleted test cell, lost nbgrader metadata. It finds the notebook where students work
  (Colab, VS Code, JupyterLab and Notebook 7) or asks for its file name: ``report("ex01.ipynb")``.

It is advice: nothing here is recorded, the grader runs every test again (hidden ones on other
inputs) outside the student's process. The scoring and the table are the ones ``course check``
uses (``score_test_cell``, ``render_table``), so the two cannot disagree. Whether a single check
passes is decided by the check helpers themselves (``course_utils.testing``). Nothing here writes
to stderr: nbgrader gives zero to a test cell that does.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

# A test cell calls a check (``check_tensor(...)``) or records a model; an import line does not.
_TEST_CALL = re.compile(
    r"\b(check_[a-z_]+|record_trained|record_exported|record_architecture)\s*\("
)
ASK_FOR_PATH = (
    "The self-check cannot tell which file this notebook is: call it with the notebook's file "
    'name, e.g. report("ex01_convolution.ipynb") (a path relative to {cwd} or absolute).'
)


# -- scoring: one executed test cell, as nbgrader scores it ----------------------------------
@dataclass
class PartResult:
    """One test cell's score: ``earned`` of ``possible`` points, and why it lost them."""

    grade_id: str
    earned: float
    possible: float
    message: str = ""


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def failure_line(cell: dict) -> str:
    """The first line that explains why an executed test cell earned nothing ("" if none)."""
    outputs = cell.get("outputs", [])
    for out in outputs:
        if out.get("output_type") == "error":
            value = _text(out.get("evalue", "")).strip().splitlines()
            return f"{out.get('ename')}: {value[0]}" if value else str(out.get("ename"))
    for out in outputs:
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            lines = [x for x in _text(out.get("text")).splitlines() if x.strip()]
            return "wrote to stderr: " + (lines[0].strip() if lines else "(blank)")
    return ""


def _partial(output: dict, possible: float) -> float:
    """nbgrader's partial credit: a test cell whose result is a number between 0 and its points."""
    text = output.get("data", {}).get("text/plain", "")
    if isinstance(text, list):
        if len(text) > 1:
            return possible
        text = text[0] if text else ""
    try:
        grade = float(text)
    except ValueError:
        return possible
    if grade > possible:
        raise ValueError("partial credit cannot be greater than maximum points for cell")
    return grade if grade >= 0.0 else possible


def cell_points(cell: dict, possible: float) -> float:
    """Points an executed test code cell earns: nbgrader's rule (an error or anything on stderr
    earns zero, a result that is a number is partial credit, anything else full points)."""
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "error" or (kind == "stream" and out.get("name") == "stderr"):
            return 0.0
        if kind == "execute_result":
            return float(_partial(out, possible))
    return float(possible)


def score_test_cell(cell: dict, grade_id: str, possible: float) -> PartResult:
    """The score and first failure line of one executed test cell."""
    earned = cell_points(cell, possible)
    message = "" if earned == possible else failure_line(cell) or "no points"
    return PartResult(grade_id, earned, float(possible), message)


# -- the table ``course check`` and ``report()`` print ---------------------------------------
def _wrapped(value, width: int) -> list[str]:
    text = " ".join(str(value).split())
    if len(text) <= width:
        return [text]
    return textwrap.wrap(text, width, break_on_hyphens=False) or [""]


def text_table(headers: list[str], rows: list[list], max_width: int = 90) -> str:
    """An aligned text table; a cell longer than ``max_width`` wraps at spaces, never cut."""
    body = []
    for row in rows:
        cells = [_wrapped(v, max_width) for v in row]
        for depth in range(max(len(c) for c in cells)):
            body.append([c[depth] if depth < len(c) else "" for c in cells])
    widths = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(headers)]

    def line(row):
        return "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *map(line, body)])


def points(earned: float, possible: float) -> str:
    """``"3 / 5"``: points as the tables print them."""
    return f"{earned:g} / {possible:g}"


def verdict(parts: list[PartResult]) -> bool:
    """Whether every visible test passes: there are tests, and every point is earned."""
    return bool(parts) and sum(p.earned for p in parts) == sum(p.possible for p in parts)


def render_table(
    parts: list[PartResult],
    notes: list[str],
    seconds: float | None = None,
    again: str = "run course check again",
) -> str:
    """The whole report: the table, the total, the notes and the closing sentence."""
    rows = [[p.grade_id, points(p.earned, p.possible), p.message or "passed"] for p in parts]
    total = points(sum(p.earned for p in parts), sum(p.possible for p in parts))
    timing = f" ({seconds:.1f} s)" if seconds is not None else ""
    lines = [text_table(["test", "points", "result"], rows), ""]
    lines.append(f"visible tests: {total} points{timing}")
    lines += [f"note: {note}" for note in notes]
    if verdict(parts):
        lines.append(
            "All visible tests pass. Hidden tests run on other inputs when your work is graded."
        )
    else:
        lines.append(f"Some visible tests fail: read the messages above, fix, and {again}.")
    return "\n".join(lines)


# -- what would trip the grader: name, test cells, metadata ----------------------------------
def _nbgrader(cell: dict) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def checksum(cell: dict, grade_id: str | None = None) -> str:
    """nbgrader's checksum of a cell (``nbgrader.utils.compute_checksum``), optionally as if it
    carried the metadata of test ``grade_id`` (to recognise a test cell that lost it)."""
    meta = _nbgrader(cell)
    grade = bool(meta.get("grade", grade_id is not None))
    solution = bool(meta.get("solution", False))
    locked = False if solution else (True if grade else bool(meta.get("locked", False)))
    digest = hashlib.md5()
    digest.update(_text(cell.get("source", "")).encode("utf-8"))
    digest.update(str(cell.get("cell_type")).encode("utf-8"))
    digest.update(str(grade).encode("utf-8"))
    digest.update(str(solution).encode("utf-8"))
    digest.update(str(locked).encode("utf-8"))
    digest.update(str(grade_id or meta.get("grade_id")).encode("utf-8"))
    if grade:
        digest.update(str(float(meta.get("points", 0) or 0)).encode("utf-8"))
    return digest.hexdigest()


def _released_tests(nb: dict) -> dict[str, dict]:
    """{grade_id: {"points", "checksum"}} the release wrote, else the file's own test cells."""
    tests = nb.get("metadata", {}).get("course", {}).get("tests")
    if isinstance(tests, dict) and tests:
        return tests
    return {
        str(_nbgrader(c)["grade_id"]): {
            "points": float(_nbgrader(c).get("points", 0) or 0),
            "checksum": str(_nbgrader(c).get("checksum", "")),
        }
        for c in nb.get("cells", [])
        if _nbgrader(c).get("grade")
        and not _nbgrader(c).get("solution")
        and _nbgrader(c).get("grade_id")
    }


def _with_points(cell: dict, grade_id: str, possible: float) -> dict:
    """A copy of a cell that lost its metadata, as if it still had test ``grade_id``'s."""
    copy = dict(cell)
    copy["metadata"] = {"nbgrader": {"grade": True, "solution": False, "points": possible}}
    return copy


def name_problem(file_name: str | None, nb: dict) -> str | None:
    """A sentence when the file is not named as released (``Copy of ...``, ``(1)``, ``.colab``)."""
    course = nb.get("metadata", {}).get("course", {})
    expected = course.get("notebook") or course.get("assignment")
    if not file_name or not expected:
        return None
    if Path(file_name).name == f"{expected}.ipynb":
        return None
    return (
        f"the file is named {Path(file_name).name!r}: submit it as '{expected}.ipynb' "
        "(rename the file, keep its content), or the grader may not find it"
    )


def notebook_problems(nb: dict, file_name: str | None = None) -> list[str]:
    """What grading would trip on, one sentence each: a renamed file, an edited, deleted or
    copied test cell, a test cell turned into Markdown, lost nbgrader metadata."""
    problems = []
    renamed = name_problem(file_name, nb)
    if renamed:
        problems.append(renamed)
    cells = nb.get("cells", [])
    if not any(_nbgrader(c) for c in cells):
        problems.append(
            "this notebook has lost nbgrader's metadata (an editor or a copy into a new "
            "notebook drops it): grading cannot find your answers; download the exercise "
            "again and paste your answers into it"
        )
    for grade_id, info in _released_tests(nb).items():
        possible = float(info.get("points", 0) or 0)
        mine = [c for c in cells if str(_nbgrader(c).get("grade_id")) == grade_id]
        if not mine:
            orphan = info.get("checksum") and any(
                not _nbgrader(c)
                and checksum(_with_points(c, grade_id, possible), grade_id) == info["checksum"]
                for c in cells
            )
            problems.append(
                f"test {grade_id} has lost its nbgrader metadata: grading does not find it and "
                "gives it 0 points; download the exercise again and paste your answers into it"
                if orphan
                else f"test {grade_id} was deleted: grading gives it 0 points; download the "
                "exercise again and paste your answers into it"
            )
            continue
        if len(mine) > 1:
            problems.append(f"test {grade_id} appears {len(mine)} times: only the first counts")
        cell = mine[0]
        if cell.get("cell_type") != "code":
            problems.append(
                f"test {grade_id} was turned into {cell.get('cell_type')}: grading runs it as "
                "the released code"
            )
        elif info.get("checksum") and checksum(cell) != info["checksum"]:
            problems.append(
                f"test {grade_id} was edited: grading runs the released version, so your "
                "edit changes nothing (undo it to see what grading sees)"
            )
    return problems


# -- where the notebook is: Colab, VS Code, Jupyter, or the student says --------------------
class NotebookNotFound(LookupError):
    """The notebook's content could not be found; the message says what to do."""


def _read(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotebookNotFound(f"There is no file {str(path)!r}: check its name.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise NotebookNotFound(f"{str(path)!r} cannot be read as a notebook ({error}).") from None


def _colab_notebook() -> dict | None:
    """The live notebook in Colab (its cells and metadata, as the browser holds them)."""
    if "google.colab" not in sys.modules:
        return None
    try:
        from google.colab import _message

        reply = _message.blocking_request("get_ipynb", request="", timeout_sec=30)
    except Exception:  # noqa: BLE001 - an old or offline Colab frontend: fall through
        return None
    return reply.get("ipynb") if isinstance(reply, dict) else None


def _user_namespace() -> dict:
    shell = _shell()
    return shell.user_ns if shell is not None else {}


def find_notebook(path: str | os.PathLike | None = None) -> tuple[dict, str | None, str]:
    """``(notebook as JSON, its file name or None, where it was found)``.

    Looks, in order, at ``path``; Colab's live notebook; VS Code's ``__vsc_ipynb_file__``;
    ``JPY_SESSION_NAME`` (set by jupyter_server, JupyterLab and Notebook 7, to the notebook's
    path); the only notebook in the working folder. Raises ``NotebookNotFound`` with one
    sentence asking for the path otherwise.
    """
    if path is not None:
        return _read(Path(path)), Path(path).name, str(path)
    live = _colab_notebook()
    if live is not None:
        name = live.get("metadata", {}).get("colab", {}).get("name")
        return live, name, "Colab"
    candidates = [_user_namespace().get("__vsc_ipynb_file__"), os.environ.get("JPY_SESSION_NAME")]
    for candidate in filter(None, candidates):
        for option in (Path(candidate), Path.cwd() / Path(candidate).name):
            if option.suffix == ".ipynb" and option.is_file():
                return _read(option), option.name, str(option)
    # classic Jupyter and others start the kernel in the notebook's folder: the only notebook
    # there is this one (several: the student says which)
    here = sorted(Path.cwd().glob("*.ipynb"))
    if len(here) == 1:
        return _read(here[0]), here[0].name, str(here[0])
    raise NotebookNotFound(ASK_FOR_PATH.format(cwd=Path.cwd()))


# -- in the kernel: one sentence under each test cell -----------------------------------------
@dataclass
class CellRun:
    """What the kernel saw when a cell last ran: its error's first line, its first stderr line."""

    error: str = ""
    stderr: str = ""

    def outputs(self) -> list[dict]:
        """The run as notebook outputs, to be scored like an executed notebook's cell."""
        if self.error:
            name, _, value = self.error.partition(": ")
            return [{"output_type": "error", "ename": name, "evalue": value}]
        if self.stderr:
            return [{"output_type": "stream", "name": "stderr", "text": self.stderr}]
        return []


_RUNS: dict[str, CellRun] = {}


def _key(source: str) -> str:
    return hashlib.sha256(_text(source).strip().encode("utf-8")).hexdigest()


class _StderrWatch:
    """Passes everything on to the real stderr, remembering the first non-blank text."""

    def __init__(self, stream):
        self._stream, self.first = stream, ""

    def write(self, text):
        if not self.first and str(text).strip():
            self.first = str(text).strip().splitlines()[0]
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _shell():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _error_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def sentence(run: CellRun) -> str:
    """The one sentence printed under a test cell."""
    if run.error:
        hint = ""
        if run.error.startswith("NotImplementedError"):
            hint = " (an answer it tests is not written yet)"
        return f"✘ This part fails: {run.error}{hint}"
    if run.stderr:
        return (
            f"✘ This part earns 0: it wrote to stderr ({run.stderr}); grading gives zero "
            "to a test cell that does"
        )
    return "✔ This part passes its visible tests (hidden tests run when it is graded)."


class _Watcher:
    """IPython callbacks: watch stderr while a cell runs, then record and report its outcome."""

    def __init__(self):
        self.watch: _StderrWatch | None = None

    def pre_run_cell(self, info=None):
        self.watch = _StderrWatch(sys.stderr)
        sys.stderr = self.watch

    def post_run_cell(self, result):
        watch, self.watch = self.watch, None
        if watch is not None and sys.stderr is watch:
            sys.stderr = watch._stream
        source = getattr(getattr(result, "info", None), "raw_cell", "") or ""
        error = result.error_in_exec or result.error_before_exec
        run = CellRun(_error_line(error) if error else "", watch.first if watch else "")
        _RUNS[_key(source)] = run
        if _TEST_CALL.search(source):
            print(sentence(run), file=sys.stdout, flush=True)


_WATCHER: _Watcher | None = None


def _graded() -> bool:
    """A grading run: the grader's kernels say nothing to the student and are not watched."""
    return bool(os.environ.get("COURSE_RECORD")) or (
        os.environ.get("NBGRADER_EXECUTION") == "autograde"
    )


def watch_test_cells() -> bool:
    """Print one sentence under each test cell from now on (once per kernel; not in grading).

    Returns whether the watch is on: False outside IPython and in a grading run.
    """
    global _WATCHER
    shell = _shell()
    if shell is None or _graded():
        return False
    if _WATCHER is None:
        _WATCHER = _Watcher()
        shell.events.register("pre_run_cell", _WATCHER.pre_run_cell)
        shell.events.register("post_run_cell", _WATCHER.post_run_cell)
    return True


# -- the last cell ----------------------------------------------------------------------------
def parts_from_runs(nb: dict) -> list[PartResult]:
    """Each test cell scored from what this kernel saw when it ran it (or its saved outputs)."""
    cells = nb.get("cells", [])
    parts = []
    for grade_id, info in _released_tests(nb).items():
        possible = float(info.get("points", 0) or 0)
        mine = [
            c
            for c in cells
            if str(_nbgrader(c).get("grade_id")) == grade_id and c.get("cell_type") == "code"
        ]
        if not mine:
            parts.append(PartResult(grade_id, 0.0, possible, "deleted (0 points)"))
            continue
        run = _RUNS.get(_key(mine[0].get("source", "")))
        if run is not None:
            parts.append(score_test_cell({"outputs": run.outputs()}, grade_id, possible))
        elif mine[0].get("execution_count") is not None:
            parts.append(score_test_cell(mine[0], grade_id, possible))
        else:
            parts.append(
                PartResult(grade_id, 0.0, possible, "not run yet: run every cell from the top")
            )
    return parts


def report(path: str | os.PathLike | None = None) -> None:
    """Print the points of the visible tests and what would trip the grader (advice only).

    ``path``: the notebook's file, where the self-check cannot find it by itself.
    """
    try:
        nb, file_name, _ = find_notebook(path)
    except NotebookNotFound as problem:
        print(str(problem), file=sys.stdout)
        return
    parts = parts_from_runs(nb)
    if not parts:
        print(
            "This notebook has no autograded test cells (or lost their metadata): download "
            "the exercise again and paste your answers into it.",
            file=sys.stdout,
        )
        return
    notes = notebook_problems(nb, file_name)
    if not _WATCHER:
        notes.append(
            "scored from the outputs saved in the notebook: run the self-check cell at the "
            "top and every cell after it to score this session's runs"
        )
    print(render_table(parts, notes, again="run all the cells and this one again"))
