"""How long the book takes to build: cold, with nothing changed, and after one chapter changed.

    .venv/bin/python benchmarks/build_speed.py [--chapter 01_convolution] [--work /tmp/jb-bench]

Builds a snapshot of the working tree (copied into WORK/src, so editing a chapter there never
touches yours) with the project's configuration and flags (``-W -n --keep-going``) and a private
execution cache, four times:

1. **cold**: empty output folder and empty execution cache; every page executes.
2. **nothing changed**: the same command again.
3. **touched**: the chapter's pages get a new modification time (Sphinx re-reads them; the
   execution cache still matches, so nothing runs).
4. **edited**: a comment is appended to the last code cell of each page of the chapter, so the
   cache misses and the chapter executes again, as after a real edit.

Prints the times, the ratios, the chapter's own run time (from the execution statistics page)
and whether each goal of the project holds: cold <= 900 s; nothing changed <= 60 s and <= a
tenth of cold; edited <= the chapter's run time + 60 s. Exit status 1 when a goal is missed.
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
FLAGS = ["-W", "-n", "--keep-going"]
STATS_PAGE = "chapters/99_appendix/execution_stats"
FAILED: list[str] = []  # labels of builds that exited non-zero


def snapshot(work: Path) -> Path:
    """Copy the files git knows about (tracked, or new and not ignored) into ``work/src``."""
    source = work / "src"
    shutil.rmtree(source, ignore_errors=True)
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        origin = ROOT / name
        if origin.is_file():
            target = source / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target)
    config = yaml.safe_load((source / "_config.yml").read_text(encoding="utf-8"))
    config["execute"]["cache"] = str(work / "jupyter_cache")
    (source / "_config.yml").write_text(yaml.safe_dump(config, allow_unicode=True),
                                        encoding="utf-8")
    return source


def build(source: Path, work: Path, label: str) -> float:
    """Run one book build; return its wall-clock time in seconds (a failed build is noted).

    The CPU time printed beside it (the build and its kernels, user + system) shows how much of
    the wall time was the machine being busy with other work.
    """
    command = [str(ROOT / ".venv" / "bin" / "jupyter-book"), "build", str(source),
               "--path-output", str(work / "out"), *FLAGS]
    # No MPLBACKEND: the chapter kernels must use ipykernel's inline backend, or the pages
    # lose their figures and the benchmark times a build that draws nothing.
    environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1",
                   "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    environment.pop("MPLBACKEND", None)
    log = work / f"{label.replace(' ', '_')}.log"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with log.open("w") as output:
        result = subprocess.run(command, cwd=source, stdout=output, stderr=subprocess.STDOUT,
                                env=environment)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"  {label:<16} {seconds:8.1f} s wall {cpu:8.1f} s CPU   (log: {log})", flush=True)
    if result.returncode != 0:  # still timed: a warning in one page should not hide the rest
        FAILED.append(label)
        print(f"  the {label} build failed (exit {result.returncode}); see {log}", flush=True)
    return seconds


def chapter_pages(source: Path, chapter: str | None) -> tuple[str, list[Path]]:
    """The MyST pages of ``chapter`` (default: the first numbered chapter) that _toc.yml lists."""
    from sphinx_external_toc.parsing import parse_toc_yaml

    docnames = list(parse_toc_yaml(source / "_toc.yml"))
    folders = [name.split("/")[1] for name in docnames
               if name.startswith("chapters/") and not name.startswith(("chapters/00_",
                                                                        "chapters/99_"))]
    if chapter is None:
        if not folders:
            sys.exit("error: _toc.yml lists no chapter besides the setup and the appendix")
        chapter = folders[0]
    pages = [source / f"{name}.md" for name in docnames
             if name.startswith(f"chapters/{chapter}/") and (source / f"{name}.md").is_file()]
    if not pages:
        sys.exit(f"error: _toc.yml lists no MyST page of chapters/{chapter}/ "
                 f"(chapters listed: {sorted(set(folders))})")
    return chapter, pages


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
    cells = list(re.finditer(r"^```\{code-cell\}[^\n]*\n.*?^```[ \t]*$", text,
                             re.MULTILINE | re.DOTALL))
    if not cells:
        return
    end = cells[-1].end() - len(cells[-1].group().rsplit("\n", 1)[-1])
    page.write_text(text[:end] + f"# benchmark edit {stamp}\n" + text[end:], encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapter", help="folder under chapters/ to change (default: the first)")
    parser.add_argument("--work", default="/tmp/jb-bench", help="scratch folder (emptied)")
    args = parser.parse_args(argv)
    work = Path(args.work).resolve()
    if work == ROOT or ROOT in work.parents:
        sys.exit("error: --work must be outside the repository")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    source = snapshot(work)
    chapter, pages = chapter_pages(source, args.chapter)
    load = os.getloadavg()[0]
    print(f"Building a snapshot of {ROOT} in {work} ({os.cpu_count()} CPU cores, load {load:.1f}, "
          f"COURSE_PROFILE={os.environ.get('COURSE_PROFILE', 'default')}, "
          f"COURSE_DEVICE={os.environ.get('COURSE_DEVICE', 'default')})", flush=True)

    cold = build(source, work, "cold")
    times = run_times(work)
    unchanged = build(source, work, "nothing changed")
    for page in pages:
        page.touch()
    touched = build(source, work, "touched")
    for page in pages:
        edit(page, time.strftime("%H:%M:%S"))
    edited = build(source, work, "edited")

    docnames = [str(page.relative_to(source).with_suffix("")) for page in pages]
    chapter_time = sum(times.get(name, 0.0) for name in docnames)
    executed = sum(times.values())
    print(f"\nchapter changed: {chapter} ({len(pages)} page(s)), its run time "
          f"{chapter_time:.1f} s; all pages together ran {executed:.1f} s of the cold build")
    print(f"ratios: nothing changed / cold = {unchanged / cold:.3f}, touched / cold = "
          f"{touched / cold:.3f}, edited / cold = {edited / cold:.3f}")
    goals = [
        ("cold build <= 900 s", cold <= 900, f"{cold:.1f} s"),
        ("nothing changed <= 60 s", unchanged <= 60, f"{unchanged:.1f} s"),
        ("nothing changed <= cold / 10", unchanged <= cold / 10,
         f"{unchanged:.1f} <= {cold / 10:.1f} s"),
        ("edited chapter <= its run time + 60 s", edited <= chapter_time + 60,
         f"{edited:.1f} <= {chapter_time + 60:.1f} s"),
    ]
    print()
    for goal, met, figures in goals:
        print(f"  {'met   ' if met else 'MISSED'} {goal:<40} {figures}")
    if FAILED:
        print(f"\nbuilds that failed (warnings or errors, see their logs): {', '.join(FAILED)}")
    return 0 if all(met for _, met, _ in goals) and not FAILED else 1


if __name__ == "__main__":
    sys.exit(main())
