"""An independent reading of a flat file: the csv module, plain Python types, no Polars, no flatload parsing."""
from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import re
from zoneinfo import ZoneInfo

_OPTION = re.compile(r"^O:(.+)(\d\d)(\d\d)(\d\d)([CP])(\d{8})$")


def rows(gz: bytes) -> list[dict]:
    """Every data row of a gzip CSV as a dict: ints where the text is an integer, floats for decimals."""
    text = gzip.decompress(gz).decode()
    out = []
    for rec in csv.DictReader(io.StringIO(text)):
        row: dict = {}
        for k, v in rec.items():
            if k == "ticker":
                row[k] = v
            elif k in ("window_start", "transactions"):
                row[k] = int(v)
            else:
                row[k] = float(v)
        out.append(row)
    return out


def local_date(ns: int, zone: str) -> dt.date:
    """The calendar date of a UTC-ns instant in ``zone``."""
    return dt.datetime.fromtimestamp(ns // 10**9, ZoneInfo(zone)).date()


def option_contract(ticker: str) -> tuple[str, dt.date, str, float]:
    """(underlying, expiration, 'call'/'put', strike) of an options ticker, read from the right."""
    m = _OPTION.match(ticker)
    assert m, ticker
    root, yy, mm, dd, cp, strike = m.groups()
    return root, dt.date(2000 + int(yy), int(mm), int(dd)), "call" if cp == "C" else "put", int(strike) / 1000
