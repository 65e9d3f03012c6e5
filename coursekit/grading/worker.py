"""One submission's notebooks run in the sandbox: ``python -m coursekit.grading.worker JOB``.

This is the unit of execution that ``course autograde`` fans out (here as forked processes, on a
cluster as batch jobs). The worker is trusted code: it runs nbgrader's execution in this process
and only the kernel runs in the sandbox. It reads one JSON job file, writes files under the
folders the job names, and never touches the gradebook; intake, checking and recording stay on
the instructor's machine.

The job file (plain JSON):

- ``sanitized``: folder with the notebooks to run (and the submission's other files);
- ``executed``: folder the results go to: per notebook ``NAME.records.json`` + ``NAME.records.npz``
  (the value records of its test cells, see ``records.py``), ``NAME.status.json``
  (``{grade_id: {"ran": bool, "error": bool}}``) and, except in a graded run, the executed
  ``NAME.ipynb``;
- ``scratch``: a folder for the kernel's working copy (created, then removed);
- ``events``: the JSON file to write ``{notebook: [event, ...]}`` to (output cut, kernel died);
- ``mode`` (default ``graded``): ``graded`` (a student's submission with every test, hidden
  ones included: expected values are stripped from the test cells first, and no output is kept,
  since the kernel saw the hidden tests), ``reference`` (the instructor's solution: checks
  assert and record what they compared) or ``feedback`` (the released form of a submission,
  outputs kept for the student, the in-kernel guard on when ``guard`` is true);
- ``limits``: the fields of ``sandbox.Limits``; ``env``: extra environment for the kernel;
  ``sandbox``: run the kernel in bubblewrap (else a plain local kernel, for trusted notebooks);
  ``uid`` (optional): the user the sandboxed kernel runs as; without it the worker takes a
  sandbox user no other job on the machine holds (``sandbox.allocate_uid``), so per-user process
  limits and signals stay within one submission (as root only: a worker that is not root, as on
  a cluster's compute node, runs the kernel unprivileged under its own user, see ``sandbox.py``);
  ``cgroup`` (optional): false to give the kernel no cgroup of its own; ``guard``: run
  ``guard.py`` before each test cell (feedback mode only); ``font_cache``: matplotlib's font
  list to copy in (skipped where that file does not exist, as on another machine); ``cases``
  (optional): the hidden cases file for this run's kernel (``course_utils.checking.cases``: a
  graded run's holds inputs only), copied into the scratch folder under ``CASES_FILE``.

Where it runs: ``execution.py`` hands job files to a backend (``backends/``): forked here
(``local``), or as a Slurm array task or a Kubernetes pod via ``backends/task.py``, which runs
this module on the job file and leaves ``JOB.status.json`` beside it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from course_utils.checking.cases import CASES_FILE

MODES = ("graded", "reference", "feedback")


def _prepare(nb, mode: str) -> None:
    """Graded runs: the test cells without expected values (see ``rewrite.py``)."""
    from .notebooks import is_test_cell
    from .rewrite import strip_expected

    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    if mode == "graded":
        tests = [c for c in nb.cells if is_test_cell(c)]
        for cell, source in zip(tests, strip_expected([c.source for c in tests]), strict=True):
            cell.source = source


def _status(nb) -> dict:
    from .notebooks import is_test_cell, nbgrader_meta

    status = {}
    for cell in nb.cells:
        if is_test_cell(cell):
            outputs = cell.get("outputs", [])
            status[str(nbgrader_meta(cell).get("grade_id"))] = {
                "ran": cell.get("execution_count") is not None or bool(outputs),
                "error": any(o.get("output_type") == "error" for o in outputs),
                "stderr": any(
                    o.get("output_type") == "stream" and o.get("name") == "stderr" for o in outputs
                ),
            }
    return status


def _sandbox_user(job: dict) -> tuple[int, int | None]:
    """The user a job's kernels run as, and the lock that holds it (None: nothing held)."""
    from .sandbox import NOBODY_UID, allocate_uid, unprivileged

    if job["sandbox"] and unprivileged():
        return os.getuid(), None  # no sandbox users without root: the kernel keeps this user
    if "uid" in job:
        return int(job["uid"]), None
    if job["sandbox"]:
        return allocate_uid()  # held until this process ends
    return NOBODY_UID, None


def _kernel_env(job: dict, scratch: Path) -> dict[str, str]:
    """The environment of a job's kernel whose scratch folder is ``scratch``."""
    from .course import kernel_environment
    from .execute import teaching_library_dir

    env = kernel_environment(
        {
            "HOME": str(scratch),
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "MPLCONFIGDIR": str(scratch / ".matplotlib"),
            "NBGRADER_EXECUTION": "autograde",
            "IPYTHONDIR": str(scratch / ".ipython"),
            "PYTHONNOUSERSITE": "1",
            # the teaching library that the sandbox binds, whichever way it was installed
            "PYTHONPATH": str(Path(teaching_library_dir()).parent),
            **job["env"],
        }
    )
    if job.get("mode", "graded") in ("graded", "reference"):
        from course_utils.checking.cases import CASES_ENV, CASES_FILE

        env["COURSE_RECORD"] = job.get("mode", "graded")
        env[CASES_ENV] = str(scratch / CASES_FILE)  # there only if the job has cases
    return env


def _fill_scratch(job: dict, scratch: Path, source: Path | None, uid: int) -> None:
    """``scratch`` with the submission's files from ``source`` (none: empty) and the font list.

    Into a warm kernel's scratch folder (which exists) the files are copied beside the kernel's
    own (its connection file and sockets), none of which a submission's file replaces.
    """
    from .sandbox import prepare_scratch

    if source is not None:
        shutil.copytree(
            source,
            scratch,
            symlinks=False,
            ignore=shutil.ignore_patterns(
                "*.ipynb", "timestamp.txt", *RESERVED_NAMES, *_kernel_files(scratch)
            ),
            dirs_exist_ok=True,
        )
    scratch.mkdir(parents=True, exist_ok=True)
    if job.get("cases"):
        shutil.copyfile(job["cases"], scratch / CASES_FILE)
    font_cache = job.get("font_cache")
    if font_cache and Path(font_cache).is_file():
        (scratch / ".matplotlib").mkdir(parents=True, exist_ok=True)
        shutil.copy(font_cache, scratch / ".matplotlib")
    scratch.mkdir(parents=True, exist_ok=True)
    if job["sandbox"]:
        prepare_scratch(scratch, uid)


# Names the grader gives meaning to in a scratch folder (the hidden cases file, the kernel's
# matplotlib and IPython folders): a submission's file or folder of such a name is not copied
RESERVED_NAMES = (CASES_FILE, ".matplotlib", ".ipython")


def _kernel_files(scratch: Path) -> list[str]:
    """What is already in a scratch folder (a warm kernel's files): never overwritten."""
    return sorted(p.name for p in scratch.iterdir()) if scratch.is_dir() else []


def _client(job: dict, nb, scratch: Path, env: dict, uid: int, **extra):
    """A ``GradingClient`` for one notebook of ``job``, its kernel in ``scratch``'s sandbox."""
    from .execute import GradingClient
    from .heldout import masked_files
    from .sandbox import Limits, sandboxed_kernel_manager

    limits = Limits(**job["limits"])
    mode = job.get("mode", "graded")
    kwargs = {}
    if job["sandbox"]:
        kwargs["kernel_manager_class"] = sandboxed_kernel_manager(
            scratch, limits, env, uid, job.get("cgroup"), masked=masked_files()
        )
    guard = job.get("guard") and mode == "feedback"
    client = GradingClient(
        nb=nb,
        timeout=limits.cell_timeout,
        interrupt_on_timeout=True,
        allow_errors=True,
        max_output_bytes=limits.max_output_bytes,
        max_notebook_output_bytes=limits.max_notebook_output_bytes,
        keep_outputs=mode != "graded",
        guard_dir=str(Path(__file__).resolve().parent) if guard else None,
        resources={"metadata": {"path": str(scratch)}},
        shutdown_kernel="immediate",  # killed: nothing is left to flush once the run is over
        **kwargs,
        **extra,
    )
    client.timing_label = Path(job["scratch"]).name
    return client


def _start_kwargs(job: dict, scratch: Path, env: dict) -> dict:
    """How a job's kernel is started: in its scratch folder; unsandboxed, with ``env`` added."""
    start = {"cwd": str(scratch)}
    if not job["sandbox"]:
        start["env"] = {**os.environ, **env}
    return start


def run_job(job: dict, warm: WarmKernel | None = None) -> dict:
    """Run every notebook of ``job``; ``warm``: a kernel started ahead for a job like this one
    (``WarmKernel``), which runs its first notebook if the job fits it, else is shut down."""
    import nbformat

    from . import records as records_io
    from . import timings
    from .notebooks import nbgrader_meta

    mode = job.get("mode", "graded")  # without a mode: the safe one, no output kept
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r} in the job file (known: {', '.join(MODES)})")
    if warm is not None and not warm.fits(job):
        warm.shutdown()
        warm = None
    uid, lock = (warm.uid, warm.lock) if warm is not None else _sandbox_user(job)
    source, dest = Path(job["sanitized"]), Path(job["executed"])
    dest.mkdir(parents=True, exist_ok=True)
    events: dict[str, list[str]] = {}
    label = Path(job["scratch"]).name
    for notebook in sorted(source.glob("*.ipynb")):
        setting_up = timings.Stopwatch(label, "worker: scratch, job, notebook")
        if warm is not None:  # the first notebook, in the kernel started ahead
            scratch, env = warm.scratch, warm.env
            _fill_scratch(job, scratch, source, uid)
        else:
            scratch = Path(job["scratch"]) / notebook.stem
            if scratch.exists():
                shutil.rmtree(scratch)
            env = _kernel_env(job, scratch)
            _fill_scratch(job, scratch, source, uid)
        nb = nbformat.read(notebook, as_version=4)
        _prepare(nb, mode)
        client = _client(job, nb, scratch, env, uid)
        if warm is not None:
            client.km, client.kc = warm.client.km, warm.client.kc  # shut down after this run
            warm = None
        setting_up.stop()
        try:
            client.execute(**_start_kwargs(job, scratch, env))
        except Exception as error:  # kernel start or shutdown failed: keep what ran
            reason = f"the kernel failed ({type(error).__name__}: {error})"[:300]
            client.events.append(reason)
            if not client.loop_done:
                client._mark_not_run(client.current_index, reason)
        writing = timings.Stopwatch(label, "worker: records, status, cleanup")
        by_grade = {
            str(nbgrader_meta(nb.cells[i]).get("grade_id")): items
            for i, items in client.records.items()
        }
        records_io.write(by_grade, dest, notebook.stem)
        (dest / f"{notebook.stem}.status.json").write_text(json.dumps(_status(nb)))
        if mode != "graded":
            nbformat.write(nb, dest / notebook.name)
        events[notebook.stem] = client.events
        shutil.rmtree(scratch, ignore_errors=True)
        if job["sandbox"]:
            from .sandbox import KernelCgroup

            KernelCgroup.sweep(os.getpid())
        writing.stop()
    if warm is not None:  # a job without notebooks
        warm.shutdown()
    if lock is not None:
        os.close(lock)
    return events


# What a kernel started ahead must share with the job it runs: everything its sandbox and
# environment are made of (the paths in them are its own scratch folder's).
WARM_FIELDS = ("mode", "limits", "env", "sandbox", "guard", "font_cache", "cgroup", "uid")


class WarmKernel:
    """A sandboxed kernel started before its submission is known (the local backend's spare).

    The job ``template`` gives what every job of the run shares (``WARM_FIELDS``) and
    ``warm_imports``, the modules the assignment's own notebooks import (``warm_imports``). The
    kernel starts exactly as a cold one does, with a sandbox user of its own (held until this
    process ends), the same binds, limits and cgroup, in an empty scratch folder of its own,
    and imports those modules (silently: no history, no output, no name left behind). Then
    ``run_job`` copies one submission's files in beside the kernel's own and runs it there; the
    kernel is shut down after it, never given another submission. Until then no student code
    has run in it and nothing of any submission or of the course is in its view.
    """

    def __init__(self, template: dict):
        from .execute import GradingClient  # noqa: F401 - imported before the kernel starts

        self.template = template
        self.uid, self.lock = _sandbox_user(template)
        self.scratch = Path(template["scratch"]).parent / f"warm-{os.getpid()}"
        self.env = _kernel_env(template, self.scratch)
        try:
            _fill_scratch(template, self.scratch, None, self.uid)
            empty = _empty_notebook()
            self.client = _client(template, empty, self.scratch, self.env, self.uid)
            self.client.km = self.client.create_kernel_manager()
            self._start()
        except BaseException:
            self.shutdown()
            raise

    def fits(self, job: dict) -> bool:
        """Whether ``job`` may run in this kernel (see ``WARM_FIELDS``)."""
        return all(job.get(k) == self.template.get(k) for k in WARM_FIELDS)

    def _start(self) -> None:
        from nbclient.util import run_sync

        from . import timings

        with timings.phase("warm", "spare kernel: start, imports", self.client._kernel_pid):
            run_sync(self._async_start)()

    async def _async_start(self) -> None:
        import time

        client = self.client
        await client.async_start_new_kernel(**_start_kwargs(self.template, self.scratch, self.env))
        await client.async_start_new_kernel_client()
        names = [str(n) for n in self.template.get("warm_imports") or []]
        if not names:
            return
        code = f"[__import__('importlib').import_module(_n) for _n in {names!r}]"
        msg_id = client.kc.execute(code, silent=True, store_history=False, allow_stdin=False)
        deadline = time.monotonic() + client.timeout
        while True:
            reply = await client.kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        if reply["content"].get("status") != "ok":
            raise RuntimeError(f"the imports failed: {reply['content'].get('evalue', '')}")

    def shutdown(self) -> None:
        """Stop the kernel (if it started) and give its user back."""
        client = getattr(self, "client", None)
        if client is not None and client.km is not None:
            from nbclient.util import run_sync

            try:
                run_sync(client._async_cleanup_kernel)()
            except Exception:  # noqa: BLE001 - the cgroup sweep below ends what is left
                pass
            if self.template["sandbox"]:
                from .sandbox import KernelCgroup

                KernelCgroup.sweep(os.getpid())
        self.client = None
        shutil.rmtree(self.scratch, ignore_errors=True)
        if self.lock is not None:
            os.close(self.lock)
            self.lock = None


def _empty_notebook():
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def warm_imports(notebooks: list[Path]) -> list[str]:
    """The modules the instructor's ``notebooks`` import at the top level of a code cell
    (``import a.b``, ``from a.b import c``: ``a.b``), that this Python finds installed (not
    the course's own files): what a kernel started ahead imports (``WarmKernel``)."""
    import ast
    import importlib.util

    import nbformat

    found: list[str] = []
    for path in notebooks:
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception:  # noqa: BLE001 - an unreadable notebook imports nothing
            continue
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:  # magics, shell escapes
                continue
            for node in tree.body:
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    if name not in found and name != "__future__":
                        found.append(name)
    prefixes = tuple({str(Path(sys.prefix).resolve()), str(Path(sys.base_prefix).resolve())})

    def installed(name: str) -> bool:
        try:
            spec = importlib.util.find_spec(name.split(".")[0])
        except (ImportError, ValueError):
            return False
        if spec is None:
            return False
        if spec.origin in (None, "built-in", "frozen"):
            return spec.origin is not None
        from .execute import teaching_library_dir

        origin = str(Path(spec.origin).resolve())
        return origin.startswith(prefixes) or origin.startswith(teaching_library_dir())

    return [name for name in found if installed(name)]


def serve_warm(template: dict, receive) -> int:
    """Body of a local spare worker: start a ``WarmKernel``, then run the job ``receive()``
    hands over (``(job_file, log_file)``; None: stop). A kernel that failed to start ahead is
    said in the job's log, and the job runs in a kernel started as usual."""
    kernel, problem = None, ""
    try:
        kernel = WarmKernel(template)
    except Exception as error:  # noqa: BLE001 - the job still runs, in a cold kernel
        problem = f"the kernel started ahead failed ({type(error).__name__}: {error})"[:300]
    handed = receive()
    if handed is None:
        if kernel is not None:
            kernel.shutdown()
        return 0
    job_file, log_file = handed
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    if problem:
        print(problem, flush=True)
    job = json.loads(Path(job_file).read_text())
    events = run_job(job, warm=kernel)
    Path(job["events"]).write_text(json.dumps(events))
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    job = json.loads(Path(argv[0]).read_text())
    events = run_job(job)
    Path(job["events"]).write_text(json.dumps(events))
    return 0


if __name__ == "__main__":
    sys.exit(main())
