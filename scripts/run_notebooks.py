"""Run notebooks as a student would, one by one, and say which ran clean.

``python scripts/run_notebooks.py FOLDER --report REPORT.md [--where "Colab runtime image"]``
runs every ``.ipynb`` under ``FOLDER`` (``scripts/student_notebooks.py`` writes them) top to
bottom in a fresh kernel of this Python, each in an empty folder of its own (as in Colab, the
notebook alone), and writes a Markdown report: where it ran (Python, torch, CUDA device), then one
row per notebook with its run time and, for a failure, the error's last lines. Exit status 1
when any notebook failed, 2 when there was nothing to run.

Needs only nbformat and nbclient (both in Colab's image), not the course's own packages: their
install cell installs ``cnn-course-utils`` as a student's does (``PIP_FIND_LINKS`` may point at
a folder of wheels).
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _runtime() -> str:
    """Python, torch and the GPU of this machine, as one line."""
    probe = (
        "import torch; cuda = torch.cuda.is_available(); "
        "print(torch.__version__, torch.cuda.get_device_name(0) if cuda else 'no CUDA device')"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    )
    torch = result.stdout.strip() if result.returncode == 0 else "torch not importable"
    return f"Python {platform.python_version()}, torch {torch}"


def run_one(notebook: Path, timeout: int) -> tuple[bool, float, str]:
    """(ran clean, seconds, the error's last lines) for one notebook, in an empty folder."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(notebook, as_version=4)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="student-") as folder:
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": folder}}
        )
        try:
            client.execute()
        except CellExecutionError as error:
            lines = [line for line in str(error).strip().splitlines() if line.strip()]
            return False, time.perf_counter() - start, "\n".join(lines[-6:])
        except Exception as error:  # noqa: BLE001 - a dead kernel, a timeout: all are failures
            return False, time.perf_counter() - start, f"{type(error).__name__}: {error}"
    return True, time.perf_counter() - start, ""


def report(where: str, results: list[tuple[str, bool, float, str]]) -> str:
    failed = [r for r in results if not r[1]]
    now = dt.datetime.now(dt.timezone.utc)
    lines = [
        f"## {len(failed)} of {len(results)} notebooks failed" if failed else "## All ran clean",
        "",
        f"Where: {where}; {_runtime()}; {now:%Y-%m-%d %H:%M} UTC.",
        "",
        "| notebook | result | seconds |",
        "|---|---|---|",
    ]
    for name, ok, seconds, _ in results:
        lines.append(f"| `{name}` | {'ran clean' if ok else '**failed**'} | {seconds:.0f} |")
    for name, _, _, error in failed:
        lines += ["", f"### `{name}`", "", "```", error, "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/run_notebooks.py", description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--where", default=platform.node(), help="named in the report")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = parser.parse_args(argv)
    notebooks = sorted(args.folder.rglob("*.ipynb"))
    if not notebooks:
        print(f"error: no notebook under {args.folder}", file=sys.stderr)
        return 2
    results = []
    for notebook in notebooks:
        name = notebook.relative_to(args.folder).as_posix()
        ok, seconds, error = run_one(notebook, args.timeout)
        print(f"{'ok    ' if ok else 'FAILED'} {seconds:7.1f} s  {name}", flush=True)
        results.append((name, ok, seconds, error))
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(report(args.where, results), encoding="utf-8")
    return 0 if all(ok for _, ok, _, _ in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
