"""The line each key of a TOML document is on: ``tomllib`` parses values but keeps no positions.

A small scan of the text, run only on documents ``tomllib`` has already accepted: ``[table]`` and
``[[array]]`` headers, and ``key = value`` lines (bare, quoted and dotted keys), skipping whatever
is inside multi-line strings, arrays and inline tables. A key inside an inline table or an array of
tables is found through its nearest recorded parent (:func:`line_of`).
"""
from __future__ import annotations

import re
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED = rf"{_PART}(?:[ \t]*\.[ \t]*{_PART})*"
_HEADER = re.compile(rf"[ \t]*\[\[?[ \t]*({_DOTTED})[ \t]*\]\]?")
_KEYVAL = re.compile(rf"[ \t]*({_DOTTED})[ \t]*=")


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Each table and key path of the document (``("run", "workers")``) → its first line (1-based)."""
    found: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    scan = _ValueScan()
    for n, line in enumerate(text.replace("\r\n", "\n").split("\n"), 1):
        if scan.busy:
            scan.feed(line)
            continue
        header = _HEADER.match(line)
        if header:
            table = _parts(header.group(1))
            found.setdefault(table, n)
            continue
        pair = _KEYVAL.match(line)
        if pair:
            path = table + _parts(pair.group(1))
            for i in range(len(table) + 1, len(path) + 1):  # a.b.c = 1 also defines a and a.b here
                found.setdefault(path[:i], n)
            scan.feed(line[pair.end():])
    return found


def line_of(lines: dict[tuple[str, ...], int], path: tuple[str, ...]) -> int:
    """The line of ``path``, else of its nearest recorded parent, else 1."""
    for i in range(len(path), 0, -1):
        if path[:i] in lines:
            return lines[path[:i]]
    return 1


def _parts(dotted: str) -> tuple[str, ...]:
    parts = []
    for part in re.findall(_PART, dotted):
        # a quoted key is a TOML string: let the parser unescape it
        parts.append(tomllib.loads(f"k = {part}")["k"] if part[0] in "\"'" else part)
    return tuple(parts)


class _ValueScan:
    """Follows a value across lines: open multi-line strings and open brackets make the next line part of it."""

    def __init__(self) -> None:
        self.depth = 0
        self.string: str | None = None  # the open multi-line string's delimiter

    @property
    def busy(self) -> bool:
        """Whether the value continues on the next line."""
        return self.depth > 0 or self.string is not None

    def feed(self, text: str) -> None:
        """Consume one line (or the rest of one) of the value."""
        i = 0
        while i < len(text):
            if self.string is not None:
                close = self._close(text, i)
                if close < 0:
                    return
                i, self.string = close, None
                continue
            c = text[i]
            if c == "#":
                return
            if text.startswith(('"""', "'''"), i):
                self.string, i = text[i:i + 3], i + 3
            elif c in "\"'":
                i = self._single(text, i)
            else:
                self.depth += (c in "[{") - (c in "]}")
                i += 1

    def _close(self, text: str, i: int) -> int:
        """The offset after the open multi-line string's end on this line, or -1."""
        assert self.string is not None
        while True:
            j = text.find(self.string, i)
            if j < 0:
                return -1
            if self.string == "'''" or not _escaped(text, j):
                end = j + 3
                while end < len(text) and text[end] == self.string[0]:  # up to two quotes may end the content
                    end += 1
                return end
            i = j + 1

    @staticmethod
    def _single(text: str, i: int) -> int:
        quote, j = text[i], i + 1
        while j < len(text):
            if text[j] == quote and (quote == "'" or not _escaped(text, j)):
                return j + 1
            j += 1
        return j


def _escaped(text: str, j: int) -> bool:
    """Whether the character at ``j`` follows an odd number of backslashes."""
    n = 0
    while j - n - 1 >= 0 and text[j - n - 1] == "\\":
        n += 1
    return n % 2 == 1
