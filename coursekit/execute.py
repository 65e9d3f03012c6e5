"""Execute the book's pages in parallel before Sphinx reads them: ``python -m coursekit.execute``.

Jupyter Book runs each page's notebook when Sphinx reads the page, one after another, although
each kernel uses one CPU thread. This step runs the pages that the execution cache lacks in a
pool of worker processes first (``COURSE_BUILD_JOBS`` of them, default: one per core) and stores
each executed notebook in the same cache, exactly as myst-nb's ``execute_notebooks: cache`` would:

* every page is read with myst-nb's own reader (the MyST Markdown to notebook conversion that the
  build uses, with the book's MyST extensions), so the cache's hash of its code cells is the one
  that the build computes, and the build then finds it cached instead of running it;
* every kernel runs as myst-nb runs it: ``jupyter_cache``'s ``single_nb_execution``, the page's
  folder as working directory, the timeout and ``allow_errors`` of ``_config.yml`` or of the
  page's own ``mystnb:`` metadata, and the environment of this process.

Pages listed in ``_toc.yml`` and not excluded from execution are considered; a page that fails
is not cached, so the book build runs it again and reports its error as it always does.
``COURSE_BUILD_JOBS=1`` (or ``--jobs 1``) turns this step off: the build executes serially.
When every page is cached already (a warm build) this step only hashes the pages (a second).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import multiprocessing
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import yaml

from coursekit.chapter_env import chapter_kernel_environment

# The last run time of each page, beside the cache folder (so it outlives a cache that the
# preflight empties): the longest pages start first.
TIMES_SUFFIX = ".times.json"


def default_jobs() -> int:
    """``COURSE_BUILD_JOBS`` when set, else the number of cores this process may use."""
    configured = os.environ.get("COURSE_BUILD_JOBS", "").strip()
    if configured:
        if not configured.isdigit() or int(configured) < 1:
            raise SystemExit(
                f"error: COURSE_BUILD_JOBS={configured!r} is not a positive number "
                "of parallel page executions (1 turns parallel execution off)."
            )
        return int(configured)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def toc_pages(book: Path, config: dict) -> list[Path]:
    """The source files of the pages that ``_toc.yml`` lists and the build would execute."""
    from sphinx_external_toc.parsing import parse_toc_yaml

    excluded = (config.get("execute") or {}).get("exclude_patterns") or []
    pages = []
    for docname in parse_toc_yaml(book / "_toc.yml"):
        if any(
            fnmatch.fnmatch(docname, pattern) or fnmatch.fnmatch(f"{docname}.md", pattern)
            for pattern in excluded
        ):
            continue
        for suffix in (".md", ".ipynb"):
            if (book / f"{docname}{suffix}").is_file():
                pages.append(book / f"{docname}{suffix}")
                break
    return pages


def read_page(path: Path, extensions: list[str]):
    """The page as myst-nb reads it into a notebook, or None when it is not a notebook."""
    import nbformat
    from myst_nb.core.read import is_myst_markdown_notebook, read_myst_markdown_notebook
    from myst_parser.config.main import MdParserConfig

    text = path.read_text(encoding="utf-8")
    if path.suffix == ".ipynb":
        return nbformat.reads(text, as_version=4)
    if not is_myst_markdown_notebook(text):
        return None
    config = MdParserConfig(enable_extensions=set(extensions))
    return read_myst_markdown_notebook(text, config=config, add_source_map=True, path=str(path))


def execute_one(path: str, notebook_json: str, timeout: int | None, allow_errors: bool):
    """Run one notebook in its page's folder (in a worker process); return what happened."""
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution

    notebook = nbformat.reads(notebook_json, as_version=4)
    result = single_nb_execution(
        notebook,
        cwd=str(Path(path).parent),
        timeout=timeout,
        allow_errors=allow_errors,
        meta_override=True,
    )
    error = None if result.err is None else (result.exc_string or repr(result.err))
    return path, nbformat.writes(notebook), result.time, error


def _plain(text: str) -> str:
    """``text`` without the ANSI colour codes of IPython's tracebacks."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m coursekit.execute", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("book", nargs="?", default=".", help="the book's folder (default: .)")
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="the book's configuration (default: BOOK/_config.yml)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="parallel kernels (default: COURSE_BUILD_JOBS, else one per core)",
    )
    args = parser.parse_args(argv)
    jobs = args.jobs if args.jobs is not None else default_jobs()
    if jobs < 1:
        parser.error("--jobs must be at least 1")
    if jobs == 1:
        print("Parallel execution is off (1 job): the book build executes the pages itself.")
        return 0
    removed = chapter_kernel_environment()  # the kernels below inherit it, as myst-nb's do
    if removed:
        print(f"MPLBACKEND={removed} removed for the chapter kernels (they draw inline).")

    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    book = Path(args.book).resolve()
    config_file = args.config or book / "_config.yml"
    config = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
    execute = config.get("execute") or {}
    if execute.get("execute_notebooks", "auto") != "cache":
        print("execute_notebooks is not 'cache' in _config.yml: nothing to pre-execute.")
        return 0
    cache_dir = book / execute.get("cache", "_build/.jupyter_cache")
    cache = get_cache(str(cache_dir))
    extensions = ((config.get("parse") or {}).get("myst_enable_extensions")) or []
    times_file = cache_dir.with_name(cache_dir.name + TIMES_SUFFIX)
    try:
        last_times = json.loads(times_file.read_text())
    except (OSError, ValueError):
        last_times = {}

    started = time.perf_counter()
    todo = []
    for path in toc_pages(book, config):
        notebook = read_page(path, extensions)
        if notebook is None or not any(c.cell_type == "code" for c in notebook.cells):
            continue
        page_config = notebook.metadata.get("mystnb") or {}
        if page_config.get("execution_mode", "cache") != "cache":
            continue  # a page with its own execution mode is left to the build
        try:
            cache.match_cache_notebook(notebook)
            continue  # cached: the build uses it
        except KeyError:
            pass
        timeout = page_config.get("execution_timeout", execute.get("timeout", 30))
        allow_errors = page_config.get("execution_allow_errors", execute.get("allow_errors", False))
        todo.append((path, notebook, timeout, allow_errors))
    if not todo:
        print(f"All pages are in the execution cache ({time.perf_counter() - started:.1f} s).")
        return 0

    # Longest first (by their last run, where known) so that no long page starts last.
    relative = {path: str(path.relative_to(book)) for path, *_ in todo}
    todo.sort(key=lambda item: -last_times.get(relative[item[0]], 0.0))
    workers = min(jobs, len(todo))
    print(
        f"Executing {len(todo)} page(s) in {workers} parallel kernels "
        f"(COURSE_BUILD_JOBS=1 turns this off)...",
        flush=True,
    )
    notebooks = {str(path): notebook for path, notebook, *_ in todo}
    failed, timed_out = [], []
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [
            pool.submit(execute_one, str(path), json.dumps(notebook), timeout, allow)
            for path, notebook, timeout, allow in todo
        ]
        for future in as_completed(futures):
            path, executed_json, seconds, error = future.result()
            name = relative[Path(path)]
            last_times[name] = round(seconds, 2)
            import nbformat

            executed = nbformat.reads(executed_json, as_version=4)
            if error is not None:
                failed.append(name)
                if TIMED_OUT in error:
                    timed_out.append(name)
                    print(f"  FAILED {name} after {seconds:.1f} s: {timeout_report(executed)}")
                    continue
                last_line = error.strip().splitlines()[-1] if error.strip() else "no message"
                print(
                    f"  FAILED {name} after {seconds:.1f} s: {_plain(last_line)} (the book "
                    f"build runs it again and reports the error in full)",
                    flush=True,
                )
                continue
            # Cache the notebook as read by myst-nb, with the outputs of the run.
            original = notebooks[path]
            for cell, done in zip(original.cells, executed.cells, strict=True):
                if cell.cell_type == "code":
                    cell.outputs, cell.execution_count = done.outputs, done.execution_count
            cache.cache_notebook_bundle(
                CacheBundleIn(original, path, data={"execution_seconds": seconds}),
                check_validity=False,
                overwrite=True,
            )
            print(f"  {seconds:6.1f} s  {name}", flush=True)
    try:
        times_file.write_text(json.dumps(last_times, indent=1, sort_keys=True))
    except OSError:
        pass
    print(
        f"Executed {len(todo) - len(failed)} of {len(todo)} page(s) in "
        f"{time.perf_counter() - started:.1f} s.",
        flush=True,
    )
    if timed_out:
        # The book build would run each of these again and wait for the same timeout.
        print(f"{len(timed_out)} page(s) timed out: {', '.join(timed_out)}; stopping here.")
        return 1
    return 0


TIMED_OUT = "CellTimeoutError"


def timeout_report(executed) -> str:
    """Which cell of an executed notebook ran out of time, and what it leaves uncapped.

    nbclient numbers a cell when it starts, so the cell that timed out is the last numbered
    one. Its full-profile training sizes that escape ``course_utils.capped`` are named: in a
    stand-in run they are the usual reason (``coursekit.capping``).
    """
    from coursekit.capping import escapes_in_cell

    code_cells = [cell for cell in executed.cells if cell.cell_type == "code"]
    started = [i for i, cell in enumerate(code_cells) if cell.get("execution_count") is not None]
    if not started:
        return "a cell timed out before any cell started"
    index = started[-1]
    source = code_cells[index].source
    first = next((line.strip() for line in source.splitlines() if line.strip()), "")
    escapes = escapes_in_cell(source, index)
    settings = ", ".join(f"{e.name} = {e.value}" for e in escapes)
    advice = (
        f"its full-profile setting(s) not capped: {settings}"
        if escapes
        else "no uncapped full-profile setting in it (python -m coursekit.capping reads every "
        "page); cap what it trains on with course_utils.capped"
    )
    return f"code cell {index} (`{first}`) timed out; {advice}"


if __name__ == "__main__":
    sys.exit(main())
