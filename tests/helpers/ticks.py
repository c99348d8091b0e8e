"""Tick files for tests: generated days in a mirror, edited lines, the view against the CSV, bytes a query reads,
and each instant's exact nanoseconds as every reader sees them (Polars, pyarrow, flatload's DuckDB, the 1.x CLI)."""
from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from flatload import datasets, sample
from flatload.settings import Settings
from flatload.store.database import db, views
from tests.helpers import csv_reading
from tests.helpers.duckdb_cli import cli_query
from flatload.store.store import Store

DAY = dt.date(2024, 3, 11)
#: a client time zone far from both UTC and New York: the views must not depend on the session's TimeZone
CLIENT_TZ = "Asia/Kolkata"


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
    con = Store.of(settings).reader()  # reads an object store's partitions too
    try:
        return sorted(con.execute(f"SELECT {cols} FROM {ds.view}").fetchall(), key=csv_reading.null_last)
    finally:
        con.close()


def partition_bytes(settings: Settings, name: str, d: dt.date = DAY) -> int:
    """The bytes of a day's partition (every part)."""
    folder = Store.of(settings).parquet_root / name / f"date={d:%Y-%m-%d}"
    return sum(p.stat().st_size for p in folder.glob("*.parquet"))


def bytes_read(settings: Settings, sql: str, params: list) -> int:
    """The bytes DuckDB reads from files to answer ``sql`` on a fresh connection (its profiler's count)."""
    out = settings.data_dir / "profile.json"
    con = db.connect(Store.of(settings).db_path, read_only=True)
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
    con = db.connect(Store.of(settings).db_path, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def part_files(settings: Settings, name: str, d: dt.date = DAY) -> list[Path]:
    """The parts of a day's partition, in name order."""
    return sorted((Store.of(settings).parquet_root / name / f"date={d:%Y-%m-%d}").glob("*.parquet"))


def csv_instants(name: str, path: Path) -> list[tuple]:
    """``(ticker, <each instant's integer ns>...)`` per row of the CSV: the oracle, read with gzip + csv only."""
    ds = datasets.get(name)
    out = []
    for rec in csv.DictReader(io.StringIO(gzip.decompress(path.read_bytes()).decode())):
        out.append((rec["ticker"], *(int(rec[c]) if rec[c] != "" else None for c in ds.instant_columns)))
    return sorted(out, key=csv_reading.null_last)


def polars_instants(settings: Settings, name: str, d: dt.date = DAY) -> tuple[list[tuple], set[pl.DataType]]:
    """The partition's instants as Polars reads the Parquet (integer ns of its Datetime), and their dtypes."""
    ds = datasets.get(name)
    frame = pl.read_parquet(part_files(settings, name, d), columns=["ticker", *ds.instant_columns])
    dtypes = {frame.schema[c] for c in ds.instant_columns}
    rows = frame.select("ticker", *(pl.col(c).dt.epoch("ns") for c in ds.instant_columns)).rows()
    return sorted(rows, key=csv_reading.null_last), dtypes


def pyarrow_instants(settings: Settings, name: str, d: dt.date = DAY) -> tuple[list[tuple], set[pa.DataType]]:
    """The partition's instants as pyarrow reads the Parquet (the timestamps' int64 values), and their types."""
    ds = datasets.get(name)
    tables = [pq.read_table(p, columns=["ticker", *ds.instant_columns]) for p in part_files(settings, name, d)]
    table = pa.concat_tables(tables)
    types = {table.schema.field(c).type for c in ds.instant_columns}
    cols = [table["ticker"].to_pylist(), *(table[c].cast(pa.int64()).to_pylist() for c in ds.instant_columns)]
    return sorted(zip(*cols), key=csv_reading.null_last), types


def instants_sql(name: str, d: dt.date = DAY) -> str:
    """The view's instants of day ``d``: ticker, then per instant ``<x>_ns``, ``epoch_us(<x>)`` and
    ``epoch_us(<x>_local)`` (integers: the same text in every client, and no pytz for TIMESTAMPTZ values)."""
    ds = datasets.get(name)
    cols = ["ticker"]
    for c in ds.instant_columns:
        cols += [views.view_ns(ds, c), f"epoch_us({c})", f"epoch_us({c}_local)"]
    return f"SELECT {', '.join(cols)} FROM {ds.view} WHERE trade_date = DATE '{d}'"


def view_instants(settings: Settings, name: str, d: dt.date = DAY, tz: str = CLIENT_TZ) -> list[tuple]:
    """:func:`instants_sql` through flatload's own DuckDB, the session's TimeZone set to ``tz``."""
    con = db.connect(Store.of(settings).db_path, read_only=True)
    try:
        con.execute(f"SET TimeZone = '{tz}'")
        return sorted(con.execute(instants_sql(name, d)).fetchall(), key=csv_reading.null_last)
    finally:
        con.close()


def cli_instants(settings: Settings, name: str, d: dt.date = DAY, tz: str = CLIENT_TZ) -> list[tuple]:
    """:func:`instants_sql` through the DuckDB 1.x CLI (duckdb-cli), its TimeZone set to ``tz``."""
    out = cli_query(settings.data_dir, f"SET TimeZone = '{tz}'; {instants_sql(name, d)}")
    assert out.returncode == 0, out.stderr
    header, *records = list(csv.reader(io.StringIO(out.stdout)))
    assert header[0] == "ticker", out.stdout[:200]
    rows = [(r[0], *(None if v in ("", "NULL") else int(v) for v in r[1:])) for r in records]
    return sorted(rows, key=csv_reading.null_last)


def readable(ns: int | None, zone: str = "America/New_York") -> tuple[int | None, int | None, int | None]:
    """What the view must show for the instant ``ns``: its ns, its UTC microseconds (truncated, never rounded
    up into the next microsecond) and its ``zone`` wall time in microseconds."""
    if ns is None:
        return None, None, None
    us = ns // 1000
    offset = dt.datetime.fromtimestamp(ns // 10**9, ZoneInfo(zone)).utcoffset()
    assert offset is not None
    return ns, us, us + int(offset.total_seconds()) * 10**6


def expected_view_instants(oracle: list[tuple]) -> list[tuple]:
    """:func:`csv_instants` rows in the shape of :func:`instants_sql`."""
    return sorted(((t, *(v for ns in rest for v in readable(ns))) for t, *rest in oracle), key=csv_reading.null_last)


def as_previous_release(settings: Settings, name: str, d: dt.date = DAY) -> None:
    """Make a day of ``name`` what the previous release left: its instants stored as UTC-adjusted nanosecond
    timestamps (Parquet ``isAdjustedToUTC=true``), the store never migrated. Row groups are kept as they are."""
    from flatload.store.database.migrate import TICK_INSTANTS_KEY  # imported here: before it existed, only this failed

    ds = datasets.get(name)
    for part in part_files(settings, name, d):
        src = pq.ParquetFile(part)
        schema = pa.schema([f.with_type(pa.timestamp("ns", "UTC")) if f.name in ds.instant_columns else f
                            for f in src.schema_arrow])
        tmp = part.with_name(f".{part.name}.old")
        with pq.ParquetWriter(tmp, schema, compression="zstd") as out:
            for g in range(src.metadata.num_row_groups):
                group = src.read_row_group(g)
                out.write_table(group.cast(schema), row_group_size=group.num_rows)
        os.replace(tmp, part)
    con = db.connect(Store.of(settings).db_path)
    try:
        con.execute("DELETE FROM flatload_meta WHERE key = ?", [TICK_INSTANTS_KEY])
    finally:
        con.close()


def utc_adjusted(part: Path) -> list[bool]:
    """``isAdjustedToUTC`` of each timestamp column of a Parquet part (from its footer)."""
    schema = pq.ParquetFile(part).schema
    types = [schema.column(i).logical_type for i in range(len(schema))]
    return [json.loads(t.to_json())["isAdjustedToUTC"] for t in types if t.type == "TIMESTAMP"]


def in_slices(settings: Settings, path: Path, slices: int = 2) -> Settings:
    """``settings`` with ``slices`` pool workers, the file at ``path`` large enough for one slice on each."""
    return settings.replace(workers=slices, slices=slices, slice_bytes=path.stat().st_size // slices)


def set_field(line: str, column: str, value: str, header: list[str]) -> str:
    """An unquoted CSV line with one field replaced."""
    fields = line.split(",") if '"' not in line else None
    assert fields is not None and len(fields) == len(header), line  # an unquoted line: plain split is exact
    fields[header.index(column)] = value
    return ",".join(fields)


def hidden_entries(settings: Settings) -> list[str]:
    """Hidden folders and files under the parquet root (builds, slices and temp files left behind)."""
    root = Store.of(settings).parquet_root
    return sorted(str(p.relative_to(root)) for p in root.rglob(".*")) if root.exists() else []


def spread_bad_rows(path: Path) -> tuple[list[int], int]:
    """Five bad rows spread over a trades file (so over its chunks): a non-numeric price, a negative size, a
    blank ticker, a row of the day before, a missing price. Their 1-based file lines, and that row's time."""
    out: dict[str, object] = {}

    def corrupt(lines: list[str]) -> list[str]:
        header = lines[0].split(",")
        plain = [i for i, ln in enumerate(lines) if i and '"' not in ln]
        picks = [plain[10], plain[len(plain) // 3], plain[len(plain) // 2], plain[2 * len(plain) // 3], plain[-5]]
        a, b, c, d, e = picks
        lines[a] = set_field(lines[a], "price", "abc", header)
        lines[b] = set_field(lines[b], "size", "-5", header)
        lines[c] = set_field(lines[c], "ticker", "", header)
        off = int(lines[d].split(",")[header.index("sip_timestamp")]) - 86_400 * 10**9
        lines[d] = set_field(lines[d], "sip_timestamp", str(off), header)
        lines[e] = set_field(lines[e], "price", "", header)
        out.update(lines=[i + 1 for i in picks], off=off)
        return lines

    edit_lines(path, corrupt)
    return out["lines"], out["off"]  # type: ignore[return-value]
