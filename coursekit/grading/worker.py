"""One submission's notebooks run in the sandbox: ``python -m coursekit.grading.worker JOB``.

The grader starts one worker process per submission (several at once) and kills it when the
submission's time is up. The worker is trusted code: it runs nbgrader's execution in this
process and only the kernel runs in the sandbox. It writes the executed notebooks and a JSON list
of events (output cut, kernel died, tampering) and never touches the gradebook.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path


def run_job(job: dict) -> dict:
    import nbformat

    from .course import kernel_environment
    from .execute import GradingClient, teaching_library_dir
    from .sandbox import Limits, prepare_scratch, sandboxed_kernel_manager

    limits = Limits(**job["limits"])
    source, dest = Path(job["sanitized"]), Path(job["executed"])
    dest.mkdir(parents=True, exist_ok=True)
    events: dict[str, list[str]] = {}
    for notebook in sorted(source.glob("*.ipynb")):
        scratch = Path(job["scratch"]) / notebook.stem
        if scratch.exists():
            shutil.rmtree(scratch)
        shutil.copytree(source, scratch, symlinks=False,
                        ignore=shutil.ignore_patterns("*.ipynb", "timestamp.txt"))
        env = kernel_environment({
            "HOME": str(scratch), "PATH": "/usr/local/bin:/usr/bin:/bin",
            "MPLCONFIGDIR": str(scratch / ".matplotlib"), "NBGRADER_EXECUTION": "autograde",
            "IPYTHONDIR": str(scratch / ".ipython"), "PYTHONNOUSERSITE": "1",
            # the teaching library that the sandbox binds, whichever way it was installed
            "PYTHONPATH": str(Path(teaching_library_dir()).parent),
            **job["env"]})
        font_cache = job.get("font_cache")
        if font_cache and Path(font_cache).is_file():
            (scratch / ".matplotlib").mkdir(exist_ok=True)
            shutil.copy(font_cache, scratch / ".matplotlib")
        nb = nbformat.read(notebook, as_version=4)
        kwargs = {}
        if job["sandbox"]:
            prepare_scratch(scratch)
            kwargs["kernel_manager_class"] = sandboxed_kernel_manager(scratch, limits, env)
            run_env = None
        else:
            run_env = {**os.environ, **env}
        client = GradingClient(
            nb=nb, timeout=limits.cell_timeout, interrupt_on_timeout=True, allow_errors=True,
            max_output_bytes=limits.max_output_bytes,
            guard_dir=str(Path(__file__).resolve().parent) if job["guard"] else None,
            resources={"metadata": {"path": str(scratch)}}, **kwargs)
        start_kwargs = {"cwd": str(scratch)}
        if run_env is not None:
            start_kwargs["env"] = run_env
        try:
            client.execute(**start_kwargs)
        except Exception as error:  # kernel start or shutdown failed: keep what ran
            reason = f"the kernel failed ({type(error).__name__}: {error})"[:300]
            client.events.append(reason)
            if not client.loop_done:
                client._mark_not_run(client.current_index, reason)
        nbformat.write(nb, dest / notebook.name)
        events[notebook.stem] = client.events
        shutil.rmtree(scratch, ignore_errors=True)
    return events


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    job = json.loads(Path(argv[0]).read_text())
    events = run_job(job)
    Path(job["events"]).write_text(json.dumps(events))
    return 0


if __name__ == "__main__":
    sys.exit(main())
