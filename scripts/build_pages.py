"""Build a few pages of the book with the project's real configuration, in a private folder.

For authors working on one chapter while others work on theirs: the pages are executed and
rendered with the same warnings-as-errors flags as ``make book``, but with their own table of
contents, execution cache and output folder, so several builds never collide.

    .venv/bin/python scripts/build_pages.py chapters/01_convolution/*.md --name ch01

prints the path of the HTML. Exit status is the build's.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="+", help="page files (.md or .ipynb), relative to the root")
    parser.add_argument("--name", default="pages", help="names the private cache and output")
    parser.add_argument("--no-warnings-as-errors", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.gettempdir()) / f"jb-{args.name}"
    work.mkdir(parents=True, exist_ok=True)
    entries = []
    for page in args.pages:
        path = Path(page)
        if not (ROOT / path).exists():
            print(f"error: {page} does not exist")
            return 2
        entries.append({"file": str(path.with_suffix(""))})
    toc = {
        "format": "jb-book",
        "root": "intro",
        "parts": [{"caption": "Pages", "chapters": entries}],
    }
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["cache"] = str(work / "jupyter_cache")
    (work / "_toc.yml").write_text(yaml.safe_dump(toc))
    (work / "_config.yml").write_text(yaml.safe_dump(config, allow_unicode=True))
    command = [
        str(ROOT / ".venv/bin/jupyter-book"),
        "build",
        str(ROOT),
        "--toc",
        str(work / "_toc.yml"),
        "--config",
        str(work / "_config.yml"),
        "--path-output",
        str(work),
        "-n",
        "--keep-going",
    ]
    if not args.no_warnings_as_errors:
        command.append("-W")
    result = subprocess.run(command, cwd=ROOT)
    print(f"HTML: {work / '_build' / 'html'}")
    reports = work / "_build" / "html" / "reports"
    if reports.exists():
        print(f"execution failure reports: {reports}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
