"""Tick files for tests: generated days in a mirror, edited lines, the view against the CSV, bytes a query reads."""
from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Callable
from pathlib import Path

from flatload import datasets, sample
from flatload.settings import Settings
from flatload.store import db, views
from tests.helpers import csv_reading

DAY = dt.date(2024, 3, 11)


def mirror_settings(tmp: Path, **overrides: object) -> Settings:
    """Settings reading the mirror ``tmp/mirror`` into ``tmp/data``, one inline worker, no REST."""
    return Settings(data_dir=tmp / "data", mirror=tmp / "mirror", workers=1, use_rest=False, lock_timeout=2.0,
                    **overrides)  # type: ignore[arg-type]


def small_day(tmp: Path, name: str, n_tickers: int = 30, d: dt.date = DAY) -> Path:
    """A small generated day of ``name`` in ``tmp/mirror``; the file's path."""
    files = sample.generate([d], n_tickers=n_tickers, names=name)
    sample.write_mirror(tmp / "mirror", files)
    return tmp / "mirror" / datasets.get(name).key(d)


def large_day(tmp: Path, name: str, rows: int, n_tickers: int = 500, d: dt.date = DAY) -> Path:
    """A generated day of about ``rows`` rows (written chunk by chunk, fast gzip) in ``tmp/mirror``."""
    path = tmp / "mirror" / datasets.get(name).key(d)
    sample.write_ticks(path, name, d, rows, n_tickers=n_tickers, level=1)
    return path


def edit_lines(path: Path, edit: Callable[[list[str]], list[str]]) -> None:
    """Rewrite a gzip CSV with ``edit`` applied to its lines (header included, index 0 = line 1)."""
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    path.write_bytes(gzip.compress(("\n".join(edit(lines)) + "\n").encode(), compresslevel=1))


def expected_rows(name: str, path: Path, keep: Callable[[dict], bool] = lambda r: True,
                  skip_lines: frozenset[int] = frozenset(), d: dt.date = DAY) -> list[tuple]:
    """The rows the view must hold, read from the CSV with the csv module (``skip_lines``: 1-based lines)."""
    ds = datasets.get(name)
    out = []
    for r in csv_reading.rows(path.read_bytes(), csv_reading.python_types(ds), skip_lines):
        if not keep(r):
            continue
        values = [r[c.name] for c in ds.columns if c.role not in ("ticker", "time")]
        derived = list(csv_reading.option_contract(r["ticker"])) if ds.derived_columns else []
        out.append((r["ticker"], d, r[ds.time_column], *values, *derived))
    return sorted(out, key=csv_reading.null_last)


def view_rows(settings: Settings, name: str) -> list[tuple]:
    """The dataset's view, in the shape of :func:`expected_rows` (instants as exact nanoseconds)."""
    ds = datasets.get(name)
    cols = ", ".join(["ticker", "trade_date", views.view_ns(ds, ds.time_column),
                      *(views.view_ns(ds, c.name) if c.name in ds.instant_columns else c.name
                        for c in ds.columns if c.role not in ("ticker", "time")),
                      *(n for n, _ in ds.derived_columns)])
    con = db.connect(settings.journal_path, read_only=True)
    try:
        return sorted(con.execute(f"SELECT {cols} FROM {ds.view}").fetchall(), key=csv_reading.null_last)
    finally:
        con.close()


def partition_bytes(settings: Settings, name: str, d: dt.date = DAY) -> int:
    """The bytes of a day's partition (every part)."""
    folder = settings.parquet_dir / name / f"date={d:%Y-%m-%d}"
    return sum(p.stat().st_size for p in folder.glob("*.parquet"))


def bytes_read(settings: Settings, sql: str, params: list) -> int:
    """The bytes DuckDB reads from files to answer ``sql`` on a fresh connection (its profiler's count)."""
    out = settings.data_dir / "profile.json"
    con = db.connect(settings.journal_path, read_only=True)
    try:
        con.execute("PRAGMA enable_profiling = 'json'")
        con.execute(f"SET profiling_output = '{out}'")
        con.execute(sql, params).fetchall()
        con.execute("PRAGMA disable_profiling")
    finally:
        con.close()
    return int(json.loads(out.read_text())["io"]["total_bytes_read"])


def view_query(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    """Run one query against the store's views (a connection that knows where its partitions are), read-only."""
    con = db.connect(settings.journal_path, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()
