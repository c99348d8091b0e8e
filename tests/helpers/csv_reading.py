"""An independent reading of a flat file: the csv module, plain Python types, no Polars, no flatload parsing."""
from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import re
from zoneinfo import ZoneInfo

_OPTION = re.compile(r"^O:(.+)(\d\d)(\d\d)(\d\d)([CP])(\d{8})$")


def rows(gz: bytes, types: dict[str, type] | None = None, skip_lines: frozenset[int] = frozenset()) -> list[dict]:
    """Every data row of a gzip CSV as a dict (but those on ``skip_lines``: file lines, the header is 1).

    ``types`` maps columns to ``int``, ``float`` or ``str`` (an empty field is None). Without it: the
    aggregates' columns, ints for ``window_start`` and ``transactions``, floats for the rest.
    """
    text = gzip.decompress(gz).decode()
    out = []
    for line, rec in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        if line in skip_lines:
            continue
        row: dict = {}
        for k, v in rec.items():
            if types is not None:
                row[k] = None if v == "" and k != "ticker" else types.get(k, str)(v)
            elif k == "ticker":
                row[k] = v
            elif k in ("window_start", "transactions"):
                row[k] = int(v)
            else:
                row[k] = float(v)
        out.append(row)
    return out


def null_last(row: tuple) -> tuple:
    """A sort key for rows holding None: each value as (is None, value)."""
    return tuple((v is None, 0 if v is None else v) for v in row)


def local_date(ns: int, zone: str) -> dt.date:
    """The calendar date of a UTC-ns instant in ``zone``."""
    return dt.datetime.fromtimestamp(ns // 10**9, ZoneInfo(zone)).date()


def option_contract(ticker: str) -> tuple[str, dt.date, str, float]:
    """(underlying, expiration, 'call'/'put', strike) of an options ticker, read from the right."""
    m = _OPTION.match(ticker)
    assert m, ticker
    root, yy, mm, dd, cp, strike = m.groups()
    return root, dt.date(2000 + int(yy), int(mm), int(dd)), "call" if cp == "C" else "put", int(strike) / 1000


def python_types(ds) -> dict[str, object]:
    """How to read each column of a registry entry's CSV in plain Python, by the column's role."""
    by_role = {"ticker": str, "text": str, "price": float, "volume": float, "date": dt.date.fromisoformat}
    return {c.name: by_role.get(c.role, int) for c in ds.columns}
