"""``--pairs FILE.csv``: the (symbol, trade_date) pairs of a trading-journal export.

The file names the sessions to load and the symbols whose minute bars may be
fetched from REST when a minute file is missing. Bad rows are reported with
their line numbers; the good ones still load.
"""
from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from .. import calendar
from ..errors import ConfigError

_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%Y%m%d")


@dataclass
class Pairs:
    """Good pairs and the rejected lines of a pairs file."""

    path: Path
    pairs: list[tuple[str, dt.date]] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def dates(self) -> list[dt.date]:
        """The sessions named, oldest first."""
        return sorted({d for _, d in self.pairs})

    def symbols_by_date(self) -> dict[dt.date, frozenset[str]]:
        """The REST scope of each session."""
        out: dict[dt.date, set[str]] = {}
        for sym, d in self.pairs:
            out.setdefault(d, set()).add(sym)
        return {d: frozenset(s) for d, s in out.items()}

    def error_lines(self) -> list[str]:
        """``file:line: reason`` for each unusable line."""
        return [f"{self.path}:{line}: {msg}" for line, msg in self.errors]


def _parse_date(text: str) -> dt.date | None:
    for fmt in _FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def read_pairs(path: Path) -> Pairs:
    """Read a ``symbol,trade_date`` CSV. Raises ConfigError if the file or its header is unusable."""
    path = Path(path)
    try:
        fh = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read pairs file {path}: {exc.strerror}") from None
    out = Pairs(path)
    with fh:
        reader = csv.DictReader(fh)
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        if "symbol" not in header or "trade_date" not in header:
            raise ConfigError(f"{path}: the header must have columns symbol,trade_date (found {','.join(header)})")
        reader.fieldnames = header
        seen: set[tuple[str, dt.date]] = set()
        for row in reader:
            line = reader.line_num
            symbol = (row.get("symbol") or "").strip()  # case kept: TpC and TPC differ
            raw = (row.get("trade_date") or "").strip()
            if not symbol:
                out.errors.append((line, "blank symbol"))
                continue
            d = _parse_date(raw)
            if d is None:
                out.errors.append((line, f"unknown date format {raw!r} (use YYYY-MM-DD)"))
                continue
            if d.weekday() >= 5:
                out.errors.append((line, f"{d} is a {d:%A}: no session"))
                continue
            if not calendar.is_session(d):
                out.errors.append((line, f"{d} is an NYSE holiday: no session"))
                continue
            if (symbol, d) not in seen:
                seen.add((symbol, d))
                out.pairs.append((symbol, d))
    if not out.pairs and not out.errors:
        raise ConfigError(f"{path}: no pairs in the file")
    return out
