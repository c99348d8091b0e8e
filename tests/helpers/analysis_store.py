"""Loaded stores for the analyst-layer tests: sample files in a local mirror, loaded with the public API.

A hand-written ticker ``EDGE`` trades only on and around every window boundary (a sparse
symbol whose bars sit exactly on the edges), besides the generated tickers.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from pathlib import Path

import polars as pl

import flatload
from flatload import datasets, sample
from flatload.settings import Settings

from . import oracle
from .days import DST_SPRING, EARLY_CLOSES

#: both sides of the spring DST switch and of the two early closes (with the holidays 07-04 and 11-28)
DAYS = [dt.date(2024, 3, 7), *DST_SPRING, dt.date(2024, 3, 12), dt.date(2024, 7, 2), EARLY_CLOSES[0],
        dt.date(2024, 7, 5), dt.date(2024, 11, 27), EARLY_CLOSES[1], dt.date(2024, 12, 2)]
EDGE = "EDGE"
#: New York wall-clock minutes of EDGE's bars; those past the close are shifted to an early close's
EDGE_TIMES = ["03:59", "04:00", "04:01", "09:29", "09:30", "09:31", "09:34", "09:35", "11:00", "15:59", "16:00",
              "16:01", "19:59", "20:00", "23:59"]
_EARLY = {"15:59": "12:59", "16:00": "13:00", "16:01": "13:01", "19:59": "16:59", "20:00": "17:00"}


def edge_rows(d: dt.date) -> pl.DataFrame:
    """EDGE's minute bars on session ``d``: a few minutes on each side of every window boundary."""
    early = oracle.is_early_close(d)
    times = [_EARLY.get(t, t) if early else t for t in EDGE_TIMES]
    rows = []
    for i, t in enumerate(times):
        hh, mm = map(int, t.split(":"))
        base = 20.0 + i
        rows.append({"ticker": EDGE, "volume": 100 * (i + 1), "open": base, "close": base + 0.25,
                     "high": base + 0.5, "low": base - 0.5, "window_start": oracle.et_ns(d, dt.time(hh, mm)),
                     "transactions": i + 1})
    return pl.DataFrame(rows, schema=sample.sample_day(d, 1).minute.schema)


def stock_files(days: Iterable[dt.date], n_tickers: int = 12, seed: int = 0) -> dict[str, bytes]:
    """Minute and day files of generated sessions, EDGE added to each minute file."""
    files = {}
    minute_ds, day_ds = datasets.get("stocks/minute_aggs"), datasets.get("stocks/day_aggs")
    for d in days:
        day = sample.sample_day(d, n_tickers, seed)
        minute = pl.concat([day.minute, edge_rows(d)]).sort("ticker", "window_start")
        files[minute_ds.key(d)] = sample.to_csv_gz(minute)
        files[day_ds.key(d)] = sample.to_csv_gz(day.day)
    return files


def load_store(root: Path, files: dict[str, bytes], days: Sequence[dt.date], names: str = "stocks",
               **settings: object) -> Settings:
    """Write ``files`` as a mirror under ``root`` and load ``days`` of ``names`` into ``root/data``."""
    sample.write_mirror(root / "mirror", files)
    s = Settings(data_dir=root / "data", mirror=root / "mirror", workers=1, use_rest=False, lock_timeout=10.0,
                 **settings)  # type: ignore[arg-type]
    summary = flatload.run_days(sorted(days), s, datasets=names)
    assert summary.exit_code == 0, summary.lines()
    return s
