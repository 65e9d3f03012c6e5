"""How long the book takes to build: cold, with nothing changed, and after one page changed.

    .venv/bin/python benchmarks/build_speed.py [--page chapters/01_convolution/index]
        [--work /tmp/jb-bench] [--jobs N] [--serial-baseline]

Builds a snapshot of the working tree (copied into WORK/src, so editing a page there never
touches yours) the way ``make book`` does: ``coursekit.execute`` runs the pages the execution
cache lacks in parallel kernels (``--jobs``, default ``COURSE_BUILD_JOBS`` or one per core), then
``jupyter-book build`` with the project's flags (``-W -n --keep-going``) and a private execution
cache. Four builds:

1. **cold**: empty output folder and empty execution cache; every page executes.
2. **nothing changed** (warm): the same command again.
3. **touched**: the page gets a new modification time (Sphinx re-reads it; the execution cache
   still matches, so nothing runs).
4. **edited**: a comment is appended to the page's last code cell, so the cache misses and the
   page executes again, as after a real edit.

``--serial-baseline`` adds a fifth, a cold build with parallel execution off (``--jobs 1``).

Prints the times, the page's own run time and the pages' serial run time (the sum of every
page's run time, from the execution statistics page), the ratio cold / serial run time, and
whether each goal holds: cold <= 900 s; cold <= 0.65 of the pages' serial run time (with more
than one job); nothing changed <= 60 s and <= a tenth of cold; edited <= the page's run time +
60 s. Every timing line names the machine's load (other work slows a build). Exit status 1 when
a goal is missed or a build failed.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # coursekit, when run as a script without the editable install
FLAGS = ["-W", "-n", "--keep-going"]
STATS_PAGE = "chapters/99_appendix/execution_stats"
FAILED: list[str] = []  # labels of builds that exited non-zero


def snapshot(work: Path) -> Path:
    """Copy the files git knows about (tracked, or new and not ignored) into ``work/src``."""
    source = work / "src"
    shutil.rmtree(source, ignore_errors=True)
    listed = (
        subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        origin = ROOT / name
        if origin.is_file():
            target = source / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target)
    config = yaml.safe_load((source / "_config.yml").read_text(encoding="utf-8"))
    config["execute"]["cache"] = str(work / "jupyter_cache")
    (source / "_config.yml").write_text(
        yaml.safe_dump(config, allow_unicode=True), encoding="utf-8"
    )
    return source


def build(source: Path, work: Path, label: str, jobs: int) -> float:
    """Run one book build as ``make book`` does; return its wall-clock time in seconds.

    A failed build is noted and still timed. The CPU time printed beside it (the build and its
    kernels, user + system) and the load average show how busy the machine was.
    """
    bin_dir = Path(sys.executable).parent
    commands = [
        [sys.executable, "-m", "coursekit.execute", str(source), "--jobs", str(jobs)],
        [
            str(bin_dir / "jupyter-book"),
            "build",
            str(source),
            "--path-output",
            str(work / "out"),
            *FLAGS,
        ],
    ]
    # The environment of make book: one thread per kernel, and no MPLBACKEND for the kernels.
    environment = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}
    environment.update(
        {
            "PYTHONDONTWRITEBYTECODE": "1",
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
            "PYTHONPATH": str(source),
        }
    )
    log = work / f"{label.replace(' ', '_')}.log"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    returncode = 0
    with log.open("w") as output:
        for command in commands:
            returncode = subprocess.run(
                command, cwd=source, stdout=output, stderr=subprocess.STDOUT, env=environment
            ).returncode
            if returncode != 0:
                break
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(
        f"  {label:<16} {seconds:8.1f} s wall {cpu:8.1f} s CPU  load {os.getloadavg()[0]:4.1f}"
        f"   (log: {log})",
        flush=True,
    )
    if returncode != 0:  # still timed: a warning in one page should not hide the rest
        FAILED.append(label)
        print(f"  the {label} build failed (exit {returncode}); see {log}", flush=True)
    return seconds


def chosen_page(source: Path, page: str | None) -> Path:
    """The MyST page to touch and edit (default: the first numbered chapter's first page)."""
    from sphinx_external_toc.parsing import parse_toc_yaml

    docnames = [
        name
        for name in parse_toc_yaml(source / "_toc.yml")
        if name.startswith("chapters/")
        and not name.startswith(("chapters/00_", "chapters/99_"))
        and (source / f"{name}.md").is_file()
    ]
    if page is None:
        if not docnames:
            sys.exit("error: _toc.yml lists no chapter page besides the setup and the appendix")
        page = docnames[0]
    page = page.removesuffix(".md")
    if page not in docnames:
        sys.exit(
            f"error: {page} is not a chapter page that _toc.yml lists (for example {docnames[:3]})"
        )
    return source / f"{page}.md"


class _TableParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self.rows:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def run_times(work: Path) -> dict[str, float]:
    """Run time (s) of each executed page, from the execution statistics page of the build."""
    page = work / "out" / "_build" / "html" / f"{STATS_PAGE}.html"
    if not page.is_file():
        return {}
    parser = _TableParser()
    parser.feed(page.read_text(encoding="utf-8"))
    times = {}
    for row in parser.rows:
        if len(row) >= 4 and re.fullmatch(r"[\d.]+", row[3]):
            times[row[0]] = float(row[3])
    return times


def edit(page: Path, stamp: str) -> None:
    """Append a comment to the page's last code cell: the code changed, the cache misses."""
    text = page.read_text(encoding="utf-8")
    cells = list(
        re.finditer(r"^```\{code-cell\}[^\n]*\n.*?^```[ \t]*$", text, re.MULTILINE | re.DOTALL)
    )
    if not cells:
        return
    end = cells[-1].end() - len(cells[-1].group().rsplit("\n", 1)[-1])
    page.write_text(text[:end] + f"# benchmark edit {stamp}\n" + text[end:], encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    from coursekit.execute import default_jobs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--page",
        help="chapter page to touch and edit, e.g. "
        "chapters/01_convolution/index (default: the first)",
    )
    parser.add_argument("--work", default="/tmp/jb-bench", help="scratch folder (emptied)")
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="parallel kernels (default: COURSE_BUILD_JOBS, else one per core)",
    )
    parser.add_argument(
        "--serial-baseline",
        action="store_true",
        help="also time a cold build with parallel execution off",
    )
    args = parser.parse_args(argv)
    jobs = args.jobs if args.jobs is not None else default_jobs()
    work = Path(args.work).resolve()
    if work == ROOT or ROOT in work.parents:
        sys.exit("error: --work must be outside the repository")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    source = snapshot(work)
    page = chosen_page(source, args.page)
    load = os.getloadavg()
    print(
        f"Building a snapshot of {ROOT} in {work} ({os.cpu_count()} CPU cores, {jobs} job(s), "
        f"load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, "
        f"COURSE_PROFILE={os.environ.get('COURSE_PROFILE', 'default')}, "
        f"COURSE_DEVICE={os.environ.get('COURSE_DEVICE', 'default')})",
        flush=True,
    )

    serial = None
    if args.serial_baseline:
        serial = build(source, work, "cold, 1 job", 1)
        shutil.rmtree(work / "out")
        shutil.rmtree(work / "jupyter_cache")
    cold = build(source, work, "cold", jobs)
    times = run_times(work)
    unchanged = build(source, work, "nothing changed", jobs)
    page.touch()
    touched = build(source, work, "touched", jobs)
    edit(page, time.strftime("%H:%M:%S"))
    edited = build(source, work, "edited", jobs)

    docname = str(page.relative_to(source).with_suffix(""))
    page_time = times.get(docname, 0.0)
    executed = sum(times.values())
    ratio = cold / executed if executed else float("inf")
    print(
        f"\npage changed: {docname}, its run time {page_time:.1f} s; the pages' serial run "
        f"time (sum over {len(times)} pages) {executed:.1f} s"
    )
    print(
        f"cold / serial run time = {ratio:.3f} ({jobs} job(s))"
        + (
            f"; cold with 1 job took {serial:.1f} s, parallel / serial build = {cold / serial:.3f}"
            if serial
            else ""
        )
    )
    print(
        f"ratios: nothing changed / cold = {unchanged / cold:.3f}, touched / cold = "
        f"{touched / cold:.3f}, edited / cold = {edited / cold:.3f}"
    )
    goals = [
        ("cold build <= 900 s", cold <= 900, f"{cold:.1f} s"),
        ("nothing changed <= 60 s", unchanged <= 60, f"{unchanged:.1f} s"),
        (
            "nothing changed <= cold / 10",
            unchanged <= cold / 10,
            f"{unchanged:.1f} <= {cold / 10:.1f} s",
        ),
        (
            "edited page <= its run time + 60 s",
            edited <= page_time + 60,
            f"{edited:.1f} <= {page_time + 60:.1f} s",
        ),
    ]
    if jobs > 1:
        goals.append(
            (
                "cold <= 0.65 x pages' serial run time",
                ratio <= 0.65,
                f"{cold:.1f} <= {0.65 * executed:.1f} s",
            )
        )
    print()
    for goal, met, figures in goals:
        print(f"  {'met   ' if met else 'MISSED'} {goal:<40} {figures}")
    if FAILED:
        print(f"\nbuilds that failed (warnings or errors, see their logs): {', '.join(FAILED)}")
    return 0 if all(met for _, met, _ in goals) and not FAILED else 1


if __name__ == "__main__":
    sys.exit(main())
