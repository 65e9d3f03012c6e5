"""Preflight of a book build: ``python -m coursekit.preflight --cache-key FOLDER``.

Checks ``COURSE_DEVICE`` and ``COURSE_PROFILE`` before a long build (one clear sentence and exit
status 2 when they ask for something this machine cannot do), and keeps the execution cache in
step with what it was filled by: the cache keys on a page's own code cells only, so it cannot see
a change of device, of profile, of stand-in data, or of the teaching library that the pages import.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
from pathlib import Path

import course_utils
from course_utils.runtime import ConfigurationError, describe_runtime

MARKER = "COURSE_RUNTIME"


# What chapters never import: the exercise helpers (checks, bans, held-out tasks). A test
# (tests/test_preflight.py) fails when a chapter imports from it.
NOT_FOR_CHAPTERS = ("checking",)


def library_digest(package_dir: Path | None = None) -> str:
    """A hash of every Python file of the teaching library (``course_utils``) that chapters may
    run: sub-packages too, except ``course_utils/checking`` (``NOT_FOR_CHAPTERS``), so editing a
    ban or a check re-executes no chapter."""
    root = package_dir or Path(course_utils.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).parts
        if "__pycache__" in path.parts or relative[0] in NOT_FOR_CHAPTERS:
            continue
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def cache_key(facts: dict[str, str]) -> str:
    """The line stored next to the execution cache: device type, profile, library digest, and
    ``standin`` for a run on stand-in data (whose outputs must never serve a real build)."""
    device_type = facts["device"].split(":")[0]
    data = " standin" if "stand-in" in facts.get("data", "") else ""
    return f"{device_type} {facts['profile']}{data} {library_digest()}\n"


def sync_cache(cache: Path, key: str) -> bool:
    """Empty ``cache`` when it was filled under another key; return True when it was emptied."""
    marker = cache / MARKER
    emptied = False
    if cache.exists() and (not marker.exists() or marker.read_text() != key):
        shutil.rmtree(cache)
        emptied = True
    cache.mkdir(parents=True, exist_ok=True)
    marker.write_text(key)
    return emptied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coursekit.preflight", description=__doc__)
    parser.add_argument("--cache-key", metavar="FOLDER", help="execution cache to keep in step")
    parser.add_argument(
        "--doctrees",
        metavar="FOLDER",
        help="Sphinx's saved pages, emptied with the cache (else Sphinx re-reads "
        "only pages whose own source changed and keeps stale outputs)",
    )
    args = parser.parse_args(argv)
    try:
        facts = describe_runtime()
    except ConfigurationError as error:
        print(f"error: {error}")
        return 2
    print("  ".join(f"{key}={value}" for key, value in facts.items()))
    if args.cache_key and sync_cache(Path(args.cache_key), cache_key(facts)):
        print(
            f"The device, profile or course_utils changed: emptied the execution cache "
            f"{args.cache_key}."
        )
        if args.doctrees and Path(args.doctrees).exists():
            shutil.rmtree(args.doctrees)
            print(f"Emptied {args.doctrees} too, so that every page is read again.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
