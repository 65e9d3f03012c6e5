"""Check that every internal link of the built site resolves: its file and its anchor exist.

    .venv/bin/python scripts/check_links.py [_build/html] [--baseurl URL]

Internal means relative (``../chapters/x.html#section``) or under the site's ``baseurl`` (the
canonical address of the deployed site, read from ``_config.yml``), so a link that only works
from the deployed site is checked too. Links to other hosts are not followed (no network here).
Prints one line per broken link and exits non-zero when there is any.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent
LINK_ATTRIBUTES = {
    "a": "href",
    "link": "href",
    "img": "src",
    "script": "src",
    "source": "src",
    "iframe": "src",
}


class _PageParser(HTMLParser):
    """Collects the anchors a page defines and the links it makes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.anchors.add(values["id"])
        if tag == "a" and values.get("name"):
            self.anchors.add(values["name"])
        attribute = LINK_ATTRIBUTES.get(tag)
        if attribute and values.get(attribute):
            self.links.append(values[attribute])


def _parse(page: Path, cache: dict[Path, _PageParser]) -> _PageParser:
    if page not in cache:
        parser = _PageParser()
        parser.feed(page.read_text(encoding="utf-8", errors="replace"))
        cache[page] = parser
    return cache[page]


def broken_links(site: Path, baseurl: str = "") -> Iterator[str]:
    """Yield ``page: link (reason)`` for every internal link of ``site`` that does not resolve."""
    site = site.resolve()
    baseurl = baseurl.rstrip("/") + "/" if baseurl else ""
    cache: dict[Path, _PageParser] = {}
    for page in sorted(site.rglob("*.html")):
        if "_static" in page.relative_to(site).parts:
            continue
        for link in _parse(page, cache).links:
            if baseurl and link.startswith(baseurl):
                target_path, fragment = _split(link[len(baseurl) :])
                target = site / target_path
            else:
                parts = urlsplit(link)
                if parts.scheme or parts.netloc or link.startswith("//"):
                    continue  # another host, mailto:, javascript:, data:
                target_path, fragment = _split(link)
                target = page if not target_path else page.parent / target_path
            where = f"{page.relative_to(site)}: {link}"
            target = target.resolve()
            if target.is_dir():
                target = target / "index.html"
            if site not in target.parents and target != site:
                yield f"{where} (points outside the site)"
            elif not target.is_file():
                yield f"{where} (no such file)"
            elif (
                fragment
                and target.suffix == ".html"
                and fragment not in _parse(target, cache).anchors
            ):
                yield f"{where} (no anchor #{fragment} in {target.relative_to(site)})"


def _split(link: str) -> tuple[str, str]:
    parts = urlsplit(link)
    return unquote(parts.path), unquote(parts.fragment)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", nargs="?", default=str(ROOT / "_build" / "html"))
    parser.add_argument(
        "--baseurl",
        default=None,
        help="the deployed site's address (default: html.baseurl of _config.yml)",
    )
    args = parser.parse_args(argv)
    site = Path(args.site)
    if not (site / "index.html").is_file():
        print(f"error: {site} holds no built site (no index.html): run `make book` first")
        return 2
    baseurl = args.baseurl
    if baseurl is None:
        config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
        baseurl = (config.get("html") or {}).get("baseurl", "")
    broken = list(broken_links(site, baseurl))
    for line in broken:
        print(line)
    pages = sum(1 for _ in site.rglob("*.html"))
    print(f"{len(broken)} broken internal link(s) in {pages} HTML files of {site}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
