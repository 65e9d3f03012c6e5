"""The course's editions: dated, frozen copies of the site that a class keeps for a semester.

One file, ``editions.yml`` at the root of the repository, lists them; everything else reads it
through this module: the version switcher of every page (``coursekit.sphinx_ext`` writes its
``_static/switcher.json``), ``make edition`` (``scripts/edition.py``), and the publishing script
(``scripts/publish_site.py``). An edition is

- a name, ``YEAR-TERM`` with an optional patch number (``2026-fall``, ``2026-fall.1``);
- the version of ``course_utils`` it was released with: its notebooks and exercises install
  ``cnn-course-utils==VERSION`` (``coursekit.install``), a release that PyPI never changes;
- the date it was published, and whether it is retired (no longer offered in the switcher; its
  pages stay where they were, and its archive stays attached to its GitHub release).

On the published site (the ``gh-pages`` branch) ``latest`` is the root, rebuilt on every push to
``main``, and edition ``NAME`` lives in ``editions/NAME/``, written once.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

EDITIONS_FILE = "editions.yml"
LATEST = "latest"
EDITIONS_FOLDER = "editions"
NAME = re.compile(r"^(?P<year>\d{4})-(?P<term>[a-z][a-z0-9]*)(?:\.(?P<patch>\d+))?$")
VERSION = re.compile(r"^\d+\.\d+\.\d+$")

HEADER = """\
# The course's editions (coursekit/editions.py reads this file; `make edition NAME=...` adds
# one, `make retire-edition NAME=...` retires one). An edition is a tagged release of
# course_utils (published to PyPI by .github/workflows/edition.yml) and a frozen copy of the site
# in editions/NAME/ of the gh-pages branch. Published editions are never changed: to patch one,
# publish NAME.1 with a new course_utils version.
"""


class EditionError(ValueError):
    """A request about editions that cannot be honoured; the message is one sentence."""


@dataclass(frozen=True)
class Edition:
    name: str
    course_utils: str
    published: str
    retired: bool = False

    @property
    def path(self) -> str:
        """Where the edition lives in the published site: ``editions/NAME/``."""
        return edition_path(self.name)


def edition_path(name: str) -> str:
    return f"{EDITIONS_FOLDER}/{name}/"


def check_name(name: str) -> str:
    """``name`` if it is an edition's name, else an EditionError saying what one looks like."""
    if name == LATEST or not NAME.match(name or ""):
        raise EditionError(
            f"{name!r} is not an edition name: use YEAR-TERM with an optional patch number, "
            "such as 2026-fall or 2026-fall.1"
        )
    return name


def read_editions(path: Path) -> list[Edition]:
    """The editions listed in ``path`` (none when the file is missing), oldest first."""
    import yaml  # not at the top: publish_site.py runs on a bare runner's python, without it

    if not path.exists():
        return []
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    entries = data.get("editions") or []
    if not isinstance(entries, list):
        raise EditionError(f"{path}: 'editions' must be a list of editions")
    editions, seen = [], set()
    for entry in entries:
        if not isinstance(entry, dict) or not {"name", "course_utils", "published"} <= set(entry):
            raise EditionError(
                f"{path}: every edition needs a name, a course_utils version and a published "
                f"date; got {entry!r}"
            )
        edition = Edition(
            name=check_name(str(entry["name"])),
            course_utils=str(entry["course_utils"]),
            published=str(entry["published"]),
            retired=bool(entry.get("retired", False)),
        )
        if edition.name in seen:
            raise EditionError(f"{path}: the edition {edition.name} is listed twice")
        seen.add(edition.name)
        editions.append(edition)
    return editions


def write_editions(path: Path, editions: list[Edition]) -> None:
    import yaml

    entries = []
    for edition in editions:
        entry = {
            "name": edition.name,
            "course_utils": edition.course_utils,
            "published": edition.published,
        }
        if edition.retired:
            entry["retired"] = True
        entries.append(entry)
    body = yaml.safe_dump({"editions": entries}, sort_keys=False, default_flow_style=False)
    path.write_text(HEADER + body, encoding="utf-8")


def add_edition(path: Path, name: str, version: str, published: dt.date | None = None) -> Edition:
    """List a new edition released with ``course_utils`` ``version``; refuse a name or a version
    that an edition already has (an edition is one release of the library, never changed)."""
    check_name(name)
    if not VERSION.match(version):
        raise EditionError(f"{version!r} is not a release version of course_utils (X.Y.Z)")
    editions = read_editions(path)
    for edition in editions:
        if edition.name == name:
            raise EditionError(
                f"the edition {name} exists already (published {edition.published}) and is "
                f"never changed: publish a patch as {name.split('.')[0]}.N instead"
            )
        if edition.course_utils == version:
            raise EditionError(
                f"course_utils {version} belongs to the edition {edition.name}: bump "
                "course_utils.__version__ for a new edition"
            )
    edition = Edition(name, version, (published or dt.date.today()).isoformat())
    write_editions(path, [*editions, edition])
    return edition


def retire_edition(path: Path, name: str) -> Edition:
    """Take an edition out of the switcher; its pages and release archive stay published."""
    editions = read_editions(path)
    for index, edition in enumerate(editions):
        if edition.name == name:
            retired = Edition(edition.name, edition.course_utils, edition.published, True)
            editions[index] = retired
            write_editions(path, editions)
            return retired
    raise EditionError(f"there is no edition {name!r} in {path}")


def switcher_entries(editions: list[Edition], baseurl: str) -> list[dict]:
    """The version switcher's list (pydata-sphinx-theme's ``switcher.json`` format): ``latest``
    first, then the editions that are not retired, newest first."""
    root = baseurl.rstrip("/") + "/"
    entries = [{"name": "latest (moving)", "version": LATEST, "url": root}]
    for edition in reversed(editions):
        if not edition.retired:
            entries.append(
                {
                    "name": f"{edition.name} (course_utils {edition.course_utils})",
                    "version": edition.name,
                    "url": root + edition.path,
                }
            )
    return entries
