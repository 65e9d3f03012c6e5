"""Publish a built site into a folder of the ``gh-pages`` branch, beside what is there.

The published branch holds several sites (``coursekit/editions.py``):

- ``latest``: the root, replaced on every push to ``main``, except the folders below;
- ``editions/NAME/``: an edition, written once and never replaced;
- ``previews/pr-N/``: a pull request's CPU build, replaced on each push, removed when it closes.

Used by the workflows (``.github/workflows/``) on a checkout of the branch::

    python scripts/publish_site.py latest _build/html --pages gh-pages
    python scripts/publish_site.py edition 2026-fall _build/editions/2026-fall/_build/html \\
        --pages gh-pages
    python scripts/publish_site.py preview 42 _build/html --pages gh-pages
    python scripts/publish_site.py remove-preview 42 --pages gh-pages

It changes files only; the workflow commits and pushes (one job at a time: concurrency group
``gh-pages``). A refusal (an edition that exists, a site that was not built) is one sentence on
stderr and exit status 2, with nothing changed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coursekit.editions import EDITIONS_FOLDER, EditionError, check_name  # noqa: E402

PREVIEWS_FOLDER = "previews"
# What `latest` never touches at the root of the branch.
KEPT_BY_LATEST = {".git", ".nojekyll", EDITIONS_FOLDER, PREVIEWS_FOLDER}


class PublishError(EditionError):
    """A publication that would lose or overwrite something; the message is one sentence."""


def _check_site(site: Path) -> None:
    if not (site / "index.html").is_file():
        raise PublishError(f"no built site in {site} (no index.html): build it first")
    clash = sorted(KEPT_BY_LATEST & {path.name for path in site.iterdir()})
    if clash:
        raise PublishError(f"the site {site} has top-level {clash}, which the branch reserves")


def _copy(site: Path, target: Path) -> None:
    shutil.copytree(site, target)
    (target / ".nojekyll").touch()  # GitHub Pages must serve _static/, _sources/ as they are


def publish_latest(site: Path, pages: Path) -> str:
    """Replace the root of the branch by ``site``, keeping the editions and the previews."""
    _check_site(site)
    for path in pages.iterdir():
        if path.name not in KEPT_BY_LATEST:
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    for path in site.iterdir():
        target = pages / path.name
        shutil.copytree(path, target) if path.is_dir() else shutil.copy2(path, target)
    (pages / ".nojekyll").touch()
    return "published latest at the root"


def publish_edition(name: str, site: Path, pages: Path) -> str:
    """Write the edition's folder once; refuse when it exists (a published edition is frozen)."""
    check_name(name)
    _check_site(site)
    target = pages / EDITIONS_FOLDER / name
    if target.exists():
        raise PublishError(
            f"the edition {name} is published already ({EDITIONS_FOLDER}/{name}/) and is never "
            "changed: publish a patch edition instead"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    _copy(site, target)
    return f"published the edition {name} at {EDITIONS_FOLDER}/{name}/"


def _preview_folder(pages: Path, number: int) -> Path:
    if number < 1:
        raise PublishError(f"{number} is not a pull request's number")
    return pages / PREVIEWS_FOLDER / f"pr-{number}"


def publish_preview(number: int, site: Path, pages: Path) -> str:
    """Replace the pull request's preview folder by ``site``."""
    _check_site(site)
    target = _preview_folder(pages, number)
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _copy(site, target)
    return f"published the preview of pull request {number} at {PREVIEWS_FOLDER}/pr-{number}/"


def remove_preview(number: int, pages: Path) -> str:
    target = _preview_folder(pages, number)
    if not target.exists():
        return f"pull request {number} has no preview to remove"
    shutil.rmtree(target)
    return f"removed the preview of pull request {number}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/publish_site.py", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    latest = commands.add_parser("latest", help="replace the root (latest)")
    latest.add_argument("site", type=Path)
    edition = commands.add_parser("edition", help="add editions/NAME/ (never replaced)")
    edition.add_argument("name")
    edition.add_argument("site", type=Path)
    preview = commands.add_parser("preview", help="replace previews/pr-N/")
    preview.add_argument("number", type=int)
    preview.add_argument("site", type=Path)
    remove = commands.add_parser("remove-preview", help="remove previews/pr-N/")
    remove.add_argument("number", type=int)
    for command in (latest, edition, preview, remove):
        command.add_argument("--pages", type=Path, required=True, help="checkout of gh-pages")
    args = parser.parse_args(argv)
    if not args.pages.is_dir():
        print(f"error: {args.pages} is not a checkout of the published branch", file=sys.stderr)
        return 2
    try:
        if args.command == "latest":
            said = publish_latest(args.site, args.pages)
        elif args.command == "edition":
            said = publish_edition(args.name, args.site, args.pages)
        elif args.command == "preview":
            said = publish_preview(args.number, args.site, args.pages)
        else:
            said = remove_preview(args.number, args.pages)
    except EditionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(said)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
