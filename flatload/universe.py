"""Symbol universes: the symbols a run is scoped to, from ``--symbols`` text and ``--symbols-file`` files.

A file is one symbol per line (``#`` comments and blank lines ignored), a CSV with a ``symbol`` or
``ticker`` column, or JSON: a list of symbols, ``{"symbols": [...]}``, or either holding objects
with a ``symbol``/``ticker`` field (the S&P 500 seed format: ``{"last_updated": ..., "symbols":
[{"symbol": "AAPL", "name": "Apple Inc."}, ...]}``). Case is kept (``TpC`` and ``TPC`` differ).
Duplicates, blank symbols and entries that are not one symbol are *problems*: reported with their
line and skipped, never fatal. A BOM (UTF-8 or UTF-16) and CRLF or CR line endings are accepted.
"""
from __future__ import annotations

import bisect
import codecs
import csv
import io
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

FORMATS = ("lines", "csv", "json")
#: the columns (CSV) and fields (JSON objects) a symbol is taken from, in order of preference
SYMBOL_FIELDS = ("symbol", "ticker")
_HOW = "write one symbol per line, a CSV with a symbol or ticker column, or a JSON list of symbols"


#: what a ticker holds (case kept): ASCII letters and digits, and . : _ / - (``BRK.A``, ``O:SPY230327P00390000``,
#: ``X:BTCUSD``), at most 40 characters; the one check the CLI, the config file, symbols files and the API share
TICKER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:_/-]{0,39}$")


def ticker_problem(symbol: str) -> str | None:
    """Why ``symbol`` is not a ticker, or None."""
    if TICKER.fullmatch(symbol):
        return None
    return f"{symbol[:50]!r} is not a ticker (letters, digits and . : _ / - only)"


def parse_symbols(text: str | None) -> frozenset[str] | None:
    """``"AAPL, BRK.B"`` → frozenset. Case is kept: ``TpC`` and ``TPC`` differ. None: none given.

    ConfigError naming the first element that is not a ticker (``ÄPPL``, ``'; drop table journal;--``).
    """
    if not text:
        return None
    symbols = [s.strip() for s in text.split(",") if s.strip()]
    bad = next((p for p in map(ticker_problem, symbols) if p is not None), None)
    if bad is not None:
        raise ConfigError(bad, hint="list tickers separated by commas, like AAPL,BRK.B,TpC")
    return frozenset(symbols) or None


def union(*parts: Iterable[str] | None) -> frozenset[str] | None:
    """The symbols of every part given; None when no part is (None means "all symbols")."""
    given = [frozenset(p) for p in parts if p is not None]
    return frozenset().union(*given) if given else None


@dataclass(frozen=True)
class Problem:
    """Something skipped in a symbols file, and the line it is on."""

    line: int
    message: str


@dataclass(frozen=True)
class Universe:
    """The symbols of one file, in file order and each once, with what was skipped."""

    source: str
    format: str
    symbols: tuple[str, ...]
    problems: tuple[Problem, ...] = ()

    def as_set(self) -> frozenset[str]:
        """The symbols as a set, as :class:`~flatload.settings.Settings` holds them."""
        return frozenset(self.symbols)

    def warnings(self) -> list[str]:
        """Each problem as ``FILE:LINE: message``."""
        return [f"{self.source}:{p.line}: {p.message}" for p in self.problems]


def read_symbols(path: str | os.PathLike[str]) -> Universe:
    """The universe in the file at ``path``; its format from the suffix (.csv, .json) or else its content.

    Raises :class:`~flatload.errors.ConfigError` naming the file when it cannot be read, is not text,
    is malformed JSON, has no symbol column, or holds no symbol at all.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the symbols file: {exc.strerror or exc}", key=str(path),
                          hint="check the path given to --symbols-file or symbols_file") from None
    return parse_universe(decode(data, str(path)), str(path), detect_format(path.name))


def decode(data: bytes, source: str) -> str:
    """Text from bytes: UTF-8 (a BOM dropped) or BOM-marked UTF-16 (as spreadsheets export "Unicode text")."""
    try:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(f"not UTF-8 text (byte 0x{data[exc.start]:02x} is not UTF-8)", key=f"{source}:{line}",
                          hint="save the file as UTF-8") from None


def detect_format(name: str) -> str | None:
    """``csv`` or ``json`` from the file name's suffix; None: decided by the content."""
    suffix = Path(name).suffix.lower()
    return {".csv": "csv", ".json": "json"}.get(suffix)


def parse_universe(text: str, source: str = "<symbols>", fmt: str | None = None) -> Universe:
    """The universe in ``text`` (``fmt``: one of :data:`FORMATS`, None: sniffed). Pure: no I/O."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    fmt = fmt or _sniff(text)
    collect = _Collector()
    if fmt == "json":
        _json(text, source, collect)
    elif fmt == "csv":
        _csv(text, source, collect)
    elif fmt == "lines":
        _lines(text, collect)
    else:
        raise ValueError(f"unknown universe format {fmt!r}")
    if not collect.symbols:
        raise ConfigError(f"no symbol in the file ({fmt})", key=source, hint=_HOW)
    return Universe(source, fmt, tuple(collect.symbols), tuple(collect.problems))


def _sniff(text: str) -> str:
    first = next((ln.strip() for ln in text.split("\n") if ln.strip() and not ln.lstrip().startswith("#")), "")
    if first.startswith(("[", "{")):
        return "json"
    cells = [c.strip().strip('"').strip().lower() for c in first.split(",")]
    return "csv" if any(c in SYMBOL_FIELDS for c in cells) else "lines"


class _Collector:
    """Symbols in order, each once; blanks, duplicates and non-symbols become problems."""

    def __init__(self) -> None:
        self.symbols: list[str] = []
        self.problems: list[Problem] = []
        self._first: dict[str, int] = {}

    def add(self, raw: str, line: int) -> None:
        """Take ``raw`` (found on ``line``) as a symbol, or record why not."""
        symbol = raw.strip()
        if not symbol:
            self.problems.append(Problem(line, "blank symbol (skipped)"))
        elif any(c.isspace() or c == "," for c in symbol):
            self.problems.append(Problem(line, f"{symbol!r} is not one symbol (skipped: one symbol per entry)"))
        elif ticker_problem(symbol) is not None:
            self.problems.append(Problem(line, f"{ticker_problem(symbol)} (skipped)"))
        elif symbol in self._first:
            self.problems.append(Problem(line, f"duplicate symbol {symbol} (first on line {self._first[symbol]})"))
        else:
            self._first[symbol] = line
            self.symbols.append(symbol)

    def skip(self, line: int, message: str) -> None:
        """Record an entry that is no symbol at all."""
        self.problems.append(Problem(line, message))


def _lines(text: str, collect: _Collector) -> None:
    for n, line in enumerate(text.split("\n"), 1):
        content = line.split("#", 1)[0].strip()  # a ticker never holds a '#'
        if content:
            collect.add(content, n)


def _csv(text: str, source: str, collect: _Collector) -> None:
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    for row in reader:
        if not any(c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        if header is None:
            header = [c.strip().lower() for c in row]
            column = next((header.index(f) for f in SYMBOL_FIELDS if f in header), None)
            if column is None:
                raise ConfigError(f"no symbol or ticker column in the CSV header (columns: {', '.join(row)})",
                                  key=f"{source}:{reader.line_num}", hint=_HOW)
            continue
        collect.add(row[column] if column < len(row) else "", reader.line_num)


def _json(text: str, source: str, collect: _Collector) -> None:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON: {exc.msg}", key=f"{source}:{exc.lineno}:{exc.colno}", hint=_HOW) from None
    top, _ = _walk(text, 0)
    lines = _LineIndex(text)
    items = top.value
    if isinstance(items, dict):
        if "symbols" not in items or not isinstance(items["symbols"].value, list):
            raise ConfigError('a JSON object needs a "symbols" list', key=f"{source}:{lines(top.pos)}", hint=_HOW)
        items = items["symbols"].value
    if not isinstance(items, list):
        raise ConfigError("JSON that is neither a list nor an object", key=source, hint=_HOW)
    for item in items:
        _json_item(item, lines, collect)


def _json_item(item: _At, lines: _LineIndex, collect: _Collector) -> None:
    if isinstance(item.value, str):
        collect.add(item.value, lines(item.pos))
    elif isinstance(item.value, dict):
        field = next((item.value[f] for f in SYMBOL_FIELDS if f in item.value), None)
        if field is None:
            collect.skip(lines(item.pos), "an object without a symbol or ticker field (skipped)")
        elif not isinstance(field.value, str):
            collect.skip(lines(field.pos), f"a symbol that is not a string: {_plain(field.value)} (skipped)")
        else:
            collect.add(field.value, lines(field.pos))
    else:
        collect.skip(lines(item.pos), f"not a symbol: {_plain(item.value)} (skipped)")


def _plain(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return json.dumps(value)


@dataclass(frozen=True)
class _At:
    """A JSON value and where it starts; lists hold ``_At`` items, objects map keys to ``_At`` values."""

    value: Any
    pos: int


_DECODER = json.JSONDecoder()
_SPACE = " \t\n\r"


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _SPACE:
        pos += 1
    return pos


def _walk(text: str, pos: int) -> tuple[_At, int]:
    """The value at ``pos`` with positions, and the offset after it. ``text`` is valid JSON (checked first)."""
    pos = _skip(text, pos)
    start, opener = pos, text[pos]
    if opener not in "[{":
        value, end = _DECODER.raw_decode(text, pos)
        return _At(value, start), end
    items: list[_At] = []
    members: dict[str, _At] = {}
    pos = _skip(text, pos + 1)
    while text[pos] not in "]}":
        if opener == "{":
            key, pos = _DECODER.raw_decode(text, pos)
            pos = _skip(text, pos) + 1  # the ':'
            members[key], pos = _walk(text, pos)
        else:
            item, pos = _walk(text, pos)
            items.append(item)
        pos = _skip(text, pos)
        if text[pos] == ",":
            pos = _skip(text, pos + 1)
    return _At(members if opener == "{" else items, start), pos + 1


class _LineIndex:
    """Offset → 1-based line number."""

    def __init__(self, text: str) -> None:
        self._newlines = [m.start() for m in re.finditer("\n", text)]

    def __call__(self, pos: int) -> int:
        return bisect.bisect_left(self._newlines, pos) + 1
