"""Editions of the course site: ``make edition NAME=2026-fall`` and ``make retire-edition``.

``python scripts/edition.py prepare NAME --out FOLDER`` lists the edition in ``editions.yml``
when it is new (with today's date and this checkout's ``course_utils.__version__``), checks that
a listed edition was released with this checkout's version, and writes ``FOLDER/_config.yml``:
the book's configuration with the edition's address (``editions/NAME/`` under the site's root),
its name for the version switcher, and the execution cache given by ``--cache``. The Makefile
then builds the PDF and the site with that configuration into ``FOLDER``.

``archive SITE TARBALL`` packs a built site into the ``.tar.gz`` attached to the GitHub release;
``retire NAME`` takes an edition out of the switcher (its pages stay published).
Every refusal is one sentence on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
import tarfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coursekit.editions import (  # noqa: E402
    EditionError,
    add_edition,
    check_name,
    edition_path,
    read_editions,
    retire_edition,
)
from coursekit.install import library_version  # noqa: E402


def prepare(name: str, out: Path, cache: Path, editions_file: Path, config: Path) -> str:
    """List the edition if it is new, check its version, write its ``_config.yml``; return a
    sentence saying what happened."""
    check_name(name)
    version = library_version()
    listed = {edition.name: edition for edition in read_editions(editions_file)}
    if name in listed:
        said = f"{name} is listed in {editions_file.name}"
        if listed[name].course_utils != version:
            raise EditionError(
                f"the edition {name} was released with course_utils "
                f"{listed[name].course_utils}, but this checkout has {version}: build it from "
                f"its tag (git checkout edition-{name})"
            )
    else:
        add_edition(editions_file, name, version)
        said = (
            f"listed {name} (course_utils {version}) in {editions_file.name}: commit it, then "
            f"push the tag edition-{name} to publish it"
        )
    book = yaml.safe_load(config.read_text(encoding="utf-8"))
    root = book["html"]["baseurl"].rstrip("/") + "/"
    book["html"]["baseurl"] = root + edition_path(name)
    book["execute"]["cache"] = str(cache.resolve())
    sphinx_config = book.setdefault("sphinx", {}).setdefault("config", {})
    sphinx_config.update(
        course_edition=name,
        course_site_root=root,
        course_editions_file=str(editions_file.resolve()),
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "_config.yml").write_text(
        yaml.safe_dump(book, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    return said


def archive(site: Path, tarball: Path, name: str) -> int:
    """Pack ``site`` into ``tarball`` under a folder ``cnn-course-NAME/``; return the file count."""
    if not (site / "index.html").is_file():
        raise EditionError(f"no built site in {site}: build the edition first (make edition)")
    tarball.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with tarfile.open(tarball, "w:gz") as tar:
        for path in sorted(site.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=f"cnn-course-{name}/{path.relative_to(site).as_posix()}")
                count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/edition.py", description=__doc__)
    parser.add_argument("--editions", type=Path, default=ROOT / "editions.yml")
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare", help="list the edition, write its _config.yml")
    prep.add_argument("name")
    prep.add_argument("--out", type=Path, required=True)
    prep.add_argument("--cache", type=Path, default=ROOT / "_build" / ".jupyter_cache")
    prep.add_argument("--config", type=Path, default=ROOT / "_config.yml")
    pack = commands.add_parser("archive", help="pack a built edition into a .tar.gz")
    pack.add_argument("name")
    pack.add_argument("site", type=Path)
    pack.add_argument("tarball", type=Path)
    retire = commands.add_parser("retire", help="take an edition out of the switcher")
    retire.add_argument("name")
    args = parser.parse_args(argv)
    try:
        if args.command == "prepare":
            print(prepare(args.name, args.out, args.cache, args.editions, args.config))
        elif args.command == "archive":
            check_name(args.name)
            count = archive(args.site, args.tarball, args.name)
            print(f"packed {count} files of {args.site} into {args.tarball}")
        else:
            retired = retire_edition(args.editions, args.name)
            print(
                f"retired {retired.name}: the switcher no longer offers it once latest is "
                f"rebuilt; its pages stay at {retired.path}"
            )
    except EditionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
