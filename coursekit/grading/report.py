"""Plain-text tables and a progress bar for the terminal (no dependencies)."""

from __future__ import annotations

import sys
import textwrap
import time


def _lines(value, width: int | None = None) -> list[str]:
    """A cell's text on one line, or wrapped at spaces into lines of at most ``width``."""
    text = " ".join(str(value).split())
    if width is None or len(text) <= width:
        return [text]
    return textwrap.wrap(text, width, break_on_hyphens=False) or [""]


def table(headers: list[str], rows: list[list], max_width: int = 70) -> str:
    """An aligned text table; a cell longer than ``max_width`` characters is wrapped at spaces
    onto lines of its own (the other columns blank there), never cut off."""
    body = []
    for row in rows:
        cells = [_lines(v, max_width) for v in row]
        for depth in range(max(len(c) for c in cells)):
            body.append([c[depth] if depth < len(c) else "" for c in cells])
    widths = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)

    def fmt(row):
        return "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()

    return "\n".join([fmt(headers), line, *[fmt(r) for r in body]])


def points(earned: float | None, possible: float) -> str:
    def num(x):
        return f"{x:g}"

    return f"{'-' if earned is None else num(earned)} / {num(possible)}"


class Progress:
    """``[#####.....] 5/10 label`` on stderr, redrawn in place on a terminal, lines otherwise."""

    def __init__(self, total: int, label: str = "", stream=None, width: int = 30):
        self.total, self.label, self.width = max(total, 0), label, width
        self.stream = stream or sys.stderr
        self.done = 0
        self.start = time.monotonic()
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._draw("")

    def advance(self, note: str = "") -> None:
        self.done += 1
        self._draw(note)

    def _draw(self, note: str) -> None:
        if self.total == 0:
            return
        filled = int(self.width * self.done / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        elapsed = time.monotonic() - self.start
        text = f"[{bar}] {self.done}/{self.total} {self.label} {elapsed:5.1f}s {note}".rstrip()
        if self.tty:
            self.stream.write("\r\033[K" + text)
            if self.done == self.total:
                self.stream.write("\n")
        elif self.done:
            self.stream.write(text + "\n")
        self.stream.flush()
