"""Editions of the course site: ``make edition NAME=2026-fall`` and ``make retire-edition``.

``python scripts/edition.py prepare NAME --out FOLDER`` lists the edition in ``editions.yml``
when it is new (with today's date and this checkout's ``course_utils.__version__``), checks that
a listed edition was released with this checkout's version, and writes ``FOLDER/_config.yml``:
the book's configuration with the edition's address (``editions/NAME/`` under the site's root),
its name for the version switcher, and the execution cache given by ``--cache``. The Makefile
then builds the PDF and the site with that configuration into ``FOLDER``.

``check NAME --version V`` (CI, before publishing to PyPI) refuses an edition that
``editions.yml`` does not list with that version. ``preview N --out FOLDER`` writes the
configuration of pull request N's preview (its address ``previews/pr-N/``). ``archive SITE
TARBALL`` packs a built site into the ``.tar.gz`` attached to the GitHub release; ``retire
NAME`` takes an edition out of the switcher (its pages stay).
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


def prepare(
    name: str,
    out: Path,
    cache: Path,
    editions_file: Path,
    config: Path,
    require_listed: bool = False,
) -> str:
    """List the edition if it is new, check its version, write its ``_config.yml``; return a
    sentence saying what happened."""
    check_name(name)
    version = library_version()
    known = {edition.name: edition for edition in read_editions(editions_file)}
    if name in known:
        said = f"{name} is listed in {editions_file.name}"
        if known[name].course_utils != version:
            raise EditionError(
                f"the edition {name} was released with course_utils "
                f"{known[name].course_utils}, but this checkout has {version}: build it from "
                f"its tag (git checkout edition-{name})"
            )
    elif require_listed:
        check_listed(name, version, editions_file)  # raises: not listed
    else:
        add_edition(editions_file, name, version)
        said = (
            f"listed {name} (course_utils {version}) in {editions_file.name}: commit it, then "
            f"push the tag edition-{name} to publish it"
        )
    write_config(
        config,
        out,
        cache,
        edition_path(name),
        course_edition=name,
        course_editions_file=str(editions_file.resolve()),
    )
    return said


def check_listed(name: str, version: str, editions_file: Path) -> str:
    """Refuse unless ``editions_file`` lists ``name`` as released with ``version``."""
    check_name(name)
    for edition in read_editions(editions_file):
        if edition.name == name:
            if edition.course_utils != version:
                raise EditionError(
                    f"{editions_file.name} lists {name} with course_utils "
                    f"{edition.course_utils}, but the tagged commit builds {version}"
                )
            return f"{name} is listed with course_utils {version}"
    raise EditionError(
        f"{editions_file.name} does not list the edition {name}: run make edition NAME={name} "
        "on main, commit editions.yml, then tag that commit"
    )


def write_config(config: Path, out: Path, cache: Path, folder: str, **sphinx_config) -> Path:
    """``out/_config.yml``: the book's configuration for a site published in ``folder`` of the
    published branch (its address, the switcher's root) with the execution cache ``cache``."""
    book = yaml.safe_load(config.read_text(encoding="utf-8"))
    root = book["html"]["baseurl"].rstrip("/") + "/"
    book["html"]["baseurl"] = root + folder
    book["execute"]["cache"] = str(cache.resolve())
    settings = book.setdefault("sphinx", {}).setdefault("config", {})
    settings.update(course_site_root=root, course_site_path=folder, **sphinx_config)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "_config.yml"
    target.write_text(yaml.safe_dump(book, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return target


def prepare_preview(number: int, out: Path, cache: Path, config: Path) -> str:
    """``out/_config.yml`` for pull request ``number``'s preview at ``previews/pr-N/``."""
    if number < 1:
        raise EditionError(f"{number} is not a pull request's number")
    folder = f"previews/pr-{number}/"
    write_config(config, out, cache, folder)
    return f"configured the preview of pull request {number} at {folder}"


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
    prep.add_argument(
        "--listed",
        action="store_true",
        help="refuse an edition that editions.yml does not list "
        "(CI: the tag must hold the listing, or latest's switcher would never offer it)",
    )
    pack = commands.add_parser("archive", help="pack a built edition into a .tar.gz")
    pack.add_argument("name")
    pack.add_argument("site", type=Path)
    pack.add_argument("tarball", type=Path)
    check = commands.add_parser("check", help="is NAME listed with course_utils VERSION?")
    check.add_argument("name")
    check.add_argument("--version", required=True)
    preview = commands.add_parser("preview", help="write a pull request preview's _config.yml")
    preview.add_argument("number", type=int)
    preview.add_argument("--out", type=Path, required=True)
    preview.add_argument("--cache", type=Path, default=ROOT / "_build" / ".jupyter_cache")
    preview.add_argument("--config", type=Path, default=ROOT / "_config.yml")
    retire = commands.add_parser("retire", help="take an edition out of the switcher")
    retire.add_argument("name")
    args = parser.parse_args(argv)
    try:
        if args.command == "prepare":
            print(prepare(args.name, args.out, args.cache, args.editions, args.config, args.listed))
        elif args.command == "check":
            print(check_listed(args.name, args.version, args.editions))
        elif args.command == "preview":
            print(prepare_preview(args.number, args.out, args.cache, args.config))
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
