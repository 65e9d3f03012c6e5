"""Running a notebook in a fresh kernel, as nbgrader does, with limits that hostile code needs.

``GradingClient`` is nbgrader's own ``Execute`` preprocessor (so errors, timeouts and outputs are
recorded exactly as ``nbgrader autograde`` records them) plus:

- a cap on each cell's output (an endless ``print`` cannot fill the grader's memory);
- a kernel that dies ends the run cleanly: that cell and every later code cell get an error
  output, so no test cell is left without output (nbgrader would count that as passed);
- a cap on all of a notebook's output together (many cells just under the cap add up);
- every message from the kernel read with its nesting bounded (``SESSION_JSON_DEPTH``: what
  lies deeper is cut, so no message makes this process recurse past Python's limit);
- value records (``records.py``) taken out of the message stream while a test cell runs, and
  kept apart from the outputs; a graded run (``keep_outputs=False``) keeps no output at all
  except the fact that a cell raised an error, since its kernel saw the hidden tests;
- optionally the integrity guard (``guard.py``) right before each test cell: a second line that
  gives students a clear message, never a verdict.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from nbclient.exceptions import DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute

from course_utils.checking import rules

from . import timings
from .notebooks import is_test_cell
from .records import RECORD_MIME

# How deep a kernel message's JSON may nest: far more than any output or record needs (a
# record's own limit is ``rules.MAX_RECORD_JSON_DEPTH``), far less than Python's recursion limit
SESSION_JSON_DEPTH = 100


def bounded_unpack(data: str | bytes):
    """jupyter_client's JSON unpacker, with each value nested deeper than ``SESSION_JSON_DEPTH``
    read as a value no check accepts (a kernel could otherwise send JSON that makes this
    process raise ``RecursionError`` and lose the whole notebook's run)."""
    return rules.loads(data, SESSION_JSON_DEPTH, cut=True)


def teaching_library_dir() -> str:
    """The folder of ``course_utils``, the one package a grading kernel imports."""
    import course_utils

    return str(Path(course_utils.__file__).resolve().parent)


INTEGRITY_ERROR = "GradingIntegrityError"
NOT_RUN_ERROR = "GradingNotRunError"
BUSY = "the kernel did not respond (still running an earlier cell)"
NO_CHECK = "the integrity check could not run"


def error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(
        output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"]
    )


class GradingClient(Execute):
    """nbgrader's Execute with output caps, kernel-death handling and the integrity guard."""

    def __init__(
        self,
        *args,
        max_output_bytes: int = 2 * 2**20,
        guard_dir: str | None = None,
        max_notebook_output_bytes: int = 16 * 2**20,
        keep_outputs: bool = True,
        max_record_bytes: int = 512 * 2**20,
        **kwargs,
    ):
        nb = kwargs.pop("nb", None)  # nbconvert's __init__ would get it twice
        super().__init__(*args, **kwargs)
        if nb is not None:
            self.nb = nb
        self.max_output_bytes = max_output_bytes
        self.max_notebook_output_bytes = max_notebook_output_bytes
        self.max_record_bytes = max_record_bytes
        self.keep_outputs = keep_outputs
        self.guard_dir = guard_dir
        self._output_sizes: dict[int, int] = {}
        self._notebook_output = 0
        self._record_bytes = 0
        self.records: dict[int, list] = {}
        self.events: list[str] = []
        self.current_index = 0  # the cell being run (for a worker that must give up)
        self.loop_done = False

    def create_kernel_manager(self):
        """nbclient's kernel manager, its session (shared with the kernel client) reading every
        message with ``bounded_unpack``."""
        manager = super().create_kernel_manager()
        manager.session.unpack = bounded_unpack
        return manager

    # -- output cap ---------------------------------------------------------------------------
    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {}) or {}
        data = content.get("data") if isinstance(content, dict) else None
        if msg.get("msg_type") == "display_data" and isinstance(data, dict) and RECORD_MIME in data:
            self._take_record(data[RECORD_MIME], cell_index)
            return None
        if not self.keep_outputs:
            if msg.get("msg_type") == "error":  # that it failed, not what it said
                outs.append(
                    NotebookNode(output_type="error", ename="Error", evalue="", traceback=[])
                )
            elif msg.get("msg_type") == "stream" and content.get("name") == "stderr":
                # that it wrote to stderr (nbgrader scores such a test cell zero), not what
                if not any(o.get("name") == "stderr" for o in outs):
                    outs.append(NotebookNode(output_type="stream", name="stderr", text=""))
            return None
        size = len(str(content))
        self._notebook_output += size
        if self._notebook_output > self.max_notebook_output_bytes:
            if self._notebook_output - size <= self.max_notebook_output_bytes:
                note = (
                    f"[output cut by the grader: the notebook's output passed "
                    f"{self.max_notebook_output_bytes} bytes]\n"
                )
                outs.append(NotebookNode(output_type="stream", name="stdout", text=note))
                self.events.append(
                    f"cell {cell_index}: the notebook's output cut at "
                    f"{self.max_notebook_output_bytes} bytes"
                )
            return None
        used = self._output_sizes.get(cell_index, 0)
        self._output_sizes[cell_index] = used + size
        if used + size > self.max_output_bytes:
            if used <= self.max_output_bytes:
                note = f"[output cut by the grader after {self.max_output_bytes} bytes]\n"
                outs.append(NotebookNode(output_type="stream", name="stdout", text=note))
                self.events.append(
                    f"cell {cell_index}: output cut at {self.max_output_bytes} bytes"
                )
            return None
        return super().output(outs, msg, display_id, cell_index)

    def _take_record(self, record, cell_index) -> None:
        """Keep a record sent while a test cell runs (anywhere else it is ignored)."""
        cell = self.nb.cells[cell_index] if 0 <= cell_index < len(self.nb.cells) else None
        if cell is None or not is_test_cell(cell) or not isinstance(record, dict):
            return
        size = len(str(record))
        self._record_bytes += size
        if self._record_bytes > self.max_record_bytes:
            if self._record_bytes - size <= self.max_record_bytes:
                self.events.append(
                    f"cell {cell_index}: records cut at {self.max_record_bytes} bytes"
                )
            return
        self.records.setdefault(cell_index, []).append(record)

    # -- the guard ----------------------------------------------------------------------------
    async def _run_guard(self, cell, index) -> str | None:
        """None when the kernel passed the integrity check, else the reason."""
        token = "course-guard-" + secrets.token_hex(16)
        package_dir = teaching_library_dir()
        guard_file = self.guard_dir + "/guard.py"
        load_testing = "course_utils" in cell.source
        code = (
            "def _course_guard_run():\n"
            "    import importlib.util as u\n"
            f"    s = u.spec_from_file_location('_course_guard', {guard_file!r})\n"
            "    m = u.module_from_spec(s)\n"
            "    s.loader.exec_module(m)\n"
            f"    m.run({token!r}, {package_dir!r}, get_ipython(), {load_testing!r})\n"
            "try:\n"
            "    _course_guard_run()\n"
            "finally:\n"
            "    del _course_guard_run\n"
        )
        probe = NotebookNode(
            cell_type="code", source=code, metadata={}, outputs=[], execution_count=None
        )
        await super().async_execute_cell(probe, index, store_history=False)
        for out in probe.outputs:
            if out.output_type == "error" and out.get("ename") == "CellTimeoutError":
                return BUSY
            if out.output_type == "error" and out.get("ename") != "GradingIntegrityError":
                return f"{NO_CHECK} ({out.get('ename')}: {out.get('evalue', '')})".strip()
            if out.output_type == "error":
                return f"{out.ename}: {out.evalue}".strip()
        printed = "".join(o.get("text", "") for o in probe.outputs if o.output_type == "stream")
        if printed.strip() != token:
            return "the integrity check did not report back (stdout or print was replaced)"
        return None

    # -- the run ------------------------------------------------------------------------------
    async def async_execute(self, reset_kc: bool = False, **kwargs) -> NotebookNode:
        self.reset_execution_trackers()
        label = self.timing_label
        starting = timings.Stopwatch(label, "kernel start", self._kernel_pid)
        async with self.async_setup_kernel(**kwargs):
            msg_id = await ensure_async(self.kc.kernel_info())
            info = await self.async_wait_for_reply(msg_id)
            starting.stop()
            if info is not None and "language_info" in info["content"]:
                self.nb.metadata["language_info"] = info["content"]["language_info"]
            warned = False
            for index, cell in enumerate(self.nb.cells):
                self.current_index = index
                if cell.cell_type != "code":
                    continue
                try:
                    if self.guard_dir and is_test_cell(cell):
                        verdict = await self._run_guard(cell, index)
                        if verdict == BUSY:
                            cell.outputs = [error_output(NOT_RUN_ERROR, verdict)]
                            self.events.append(f"cell {index}: {verdict}")
                            continue
                        if verdict and not verdict.startswith(NO_CHECK) and not warned:
                            # a message for the student, not a verdict: the cell still runs
                            warned = True
                            self.events.append(
                                f"your notebook replaced code the tests rely on ({verdict}); "
                                "the grader judges the values your functions return, outside "
                                "your notebook, so this earns nothing"
                            )
                    with timings.phase(label, self._kind_of(index), self._kernel_pid):
                        await self.async_execute_cell(
                            cell, index, execution_count=self.code_cells_executed + 1
                        )
                except DeadKernelError:
                    self.events.append(f"cell {index}: the kernel died")
                    self._mark_not_run(index, "the kernel died while running this cell")
                    break
                except Exception as error:  # the kernel stopped answering, a protocol error
                    reason = f"the grader lost the kernel ({type(error).__name__})"
                    if type(error).__name__ == "CellTimeoutError":
                        reason = "the cell ran past its time limit and ignored the interrupt"
                    self.events.append(f"cell {index}: {reason}")
                    self._mark_not_run(index, reason)
                    break
            self.loop_done = True
            stopping = timings.Stopwatch(label, "kernel shutdown")
        stopping.stop()
        return self.nb

    execute = run_sync(async_execute)

    async def _async_handle_timeout(self, timeout: int, cell: NotebookNode | None = None):
        """nbclient's timeout handling (interrupt the kernel, the cell gets the error), noted
        among the events: a zero from a slow cell must not read as "ok" in the summary."""
        self.events.append(f"cell {self.current_index}: interrupted at its {timeout} s time limit")
        return await super()._async_handle_timeout(timeout, cell)

    timing_label = "-"  # whose run this is, for ``timings`` (the worker sets it)

    def _kernel_pid(self) -> int | None:
        """The kernel's outermost process (bubblewrap in a sandbox), for ``timings``."""
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        return getattr(process, "pid", None)

    def _kind_of(self, index: int) -> str:
        """A cell's phase name in ``timings``: the first code cell holds the imports."""
        first = next(i for i, c in enumerate(self.nb.cells) if c.cell_type == "code")
        if index == first:
            return "first cell (imports)"
        return "test cells" if is_test_cell(self.nb.cells[index]) else "other cells"

    def _mark_not_run(self, start: int, reason: str) -> None:
        first = True
        for cell in self.nb.cells[start:]:
            if cell.cell_type == "code":
                text = reason if first else f"not run: {reason} in an earlier cell"
                cell.outputs = list(cell.get("outputs", [])) + [error_output(NOT_RUN_ERROR, text)]
                first = False
