"""Bring a store made by an earlier flatload up to the current layout, once, under the run lock.

Version 1 (flatload 0.1): one ``day_status`` row per session (stocks only), ledger
datasets named after the bucket folders, integer ``day_volume``, partitions under
``parquet/us_stocks_sip/``. Version 2: everything keyed by registry dataset name.

Tick partitions (trades, quotes) written before ``flatload_meta`` held :data:`TICK_INSTANTS_KEY`
stored their instants as UTC-adjusted nanosecond timestamps, which DuckDB 1.x reads as
microseconds; they are rewritten, once, with naive ones (``NAIVE_UTC_NANOS``: the same integers).
Old and new parts must not meet in one view: a scan that unifies the two types casts one into the
other through the client's TimeZone, shifting it by hours.
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import duckdb

from ...datasets import JOURNAL, REGISTRY, Dataset
from ...datasets.model import UTC_NANOS
from .db import transaction
from ..files.fs import storage_error
from ..files.swap import PartitionBuild

SCHEMA_VERSION = 2
_V1_DATASETS = {"minute_aggs_v1": "stocks/minute_aggs", "day_aggs_v1": "stocks/day_aggs"}
_V1_FOLDERS = {"us_stocks_sip/minute_aggs": "stocks/minute_aggs", "us_stocks_sip/day_aggs": "stocks/day_aggs",
               "us_stocks_sip/metrics": JOURNAL.name}
#: the journal's partitions were ``stocks/metrics`` until the derived table got its registry entry
_METRICS_FOLDER = "stocks/metrics"
#: the ``flatload_meta`` key saying every tick partition stores its instants as naive UTC ns timestamps
TICK_INSTANTS_KEY = "tick_instants"
_TICK_INSTANTS = "naive_utc_ns"
_DICTIONARY = ("RLE_DICTIONARY", "PLAIN_DICTIONARY")


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The store's version: the recorded one, else 1 when day_status lacks a dataset column, else current."""
    row = con.execute("SELECT value FROM flatload_meta WHERE key = 'schema_version'").fetchone()
    if row:
        return int(row[0])
    cols = {r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = 'day_status' "
                                      "AND database_name = current_database()").fetchall()}
    return 1 if cols and "dataset" not in cols else SCHEMA_VERSION


def migrate(con: duckdb.DuckDBPyConnection, parquet_root: Path) -> list[str]:
    """Run the migrations this store needs; what was done, one line each."""
    done = []
    if schema_version(con) < 2:
        _v1_to_v2(con)
        done.append("store upgraded to schema 2: day status, ledger and partitions keyed by dataset name")
    moved = _move_partitions(Path(parquet_root), _V1_FOLDERS)
    if moved:
        done.append(f"moved {moved} partition folder(s) from parquet/us_stocks_sip/ to parquet/stocks/")
    moved = _move_partitions(Path(parquet_root), {_METRICS_FOLDER: JOURNAL.name})
    if moved:
        done.append(f"moved {moved} journal partition folder(s) from parquet/{_METRICS_FOLDER}/ to "
                    f"parquet/{JOURNAL.name}/")
    con.execute("INSERT OR REPLACE INTO flatload_meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
    done += _tick_instants(con, Path(parquet_root))
    return done


def _tick_instants(con: duckdb.DuckDBPyConnection, parquet_root: Path) -> list[str]:
    """Rewrite the tick partitions whose instants are UTC-adjusted, unless the store says none are; the lines."""
    row = con.execute("SELECT value FROM flatload_meta WHERE key = ?", [TICK_INSTANTS_KEY]).fetchone()
    if row and row[0] == _TICK_INSTANTS:
        return []
    days = rows = 0
    for ds in REGISTRY.values():
        if ds.streamed and ds.instant_type != UTC_NANOS:
            for folder in sorted((parquet_root / ds.name).glob("date=*")):
                if folder.is_dir() and any(_utc_adjusted(p, ds) for p in folder.glob("*.parquet")):
                    rows += _rewrite_partition(parquet_root, ds, folder)
                    days += 1
    # recorded only once every partition is done: a run killed halfway leaves the rest to the next one
    con.execute("INSERT OR REPLACE INTO flatload_meta VALUES (?, ?)", [TICK_INSTANTS_KEY, _TICK_INSTANTS])
    if not days:
        return []
    return [f"rewrote {days} tick partition(s) ({rows:,} rows) stored by an earlier flatload: their instants are "
            "now naive UTC nanosecond timestamps, exact in DuckDB 1.x too"]


def _utc_adjusted(part: Path, ds: Dataset) -> bool:
    """True when one of the part's instant columns is a UTC-adjusted timestamp (only its footer is read)."""
    import pyarrow as pa  # here, not at the top: a load with nothing to rewrite imports no pyarrow
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(part)
    except (OSError, pa.ArrowException):
        return False  # an unreadable part is no migration's to mend: the view's reader names it
    return any(pa.types.is_timestamp(f.type) and f.type.tz is not None
               for f in schema if f.name in ds.instant_columns)


def _rewrite_partition(parquet_root: Path, ds: Dataset, folder: Path) -> int:
    """Rewrite one day's parts with naive instants, swapped in whole like a load's (:class:`PartitionBuild`):
    a reader sees the old day or the new one. The rows written."""
    d = dt.date.fromisoformat(folder.name.removeprefix("date="))
    rows = 0
    with PartitionBuild(parquet_root, ds.name, d) as build:
        for part in sorted(folder.glob("*.parquet")):
            rows += _rewrite_part(part, build.part_path(), ds)
        build.publish()
    return rows


def _rewrite_part(src: Path, dst: Path, ds: Dataset) -> int:
    """``src`` with its instants naive, row group by row group (the same groups, so the same ticker ranges in
    their statistics), each column encoded as it was; the rows written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..files.parts import COMPRESSION_LEVEL

    try:
        source = pq.ParquetFile(src)
        meta = source.metadata
        schema = pa.schema([f.with_type(pa.timestamp("ns")) if f.name in ds.instant_columns else f
                            for f in source.schema_arrow], metadata=source.schema_arrow.metadata)
        dictionary, delta = _encodings(meta)
        with pq.ParquetWriter(dst, schema, compression="zstd", compression_level=COMPRESSION_LEVEL,
                              use_dictionary=dictionary, column_encoding={c: "DELTA_BINARY_PACKED" for c in delta},
                              write_statistics=True) as out:
            for g in range(meta.num_row_groups):
                group = source.read_row_group(g)
                out.write_table(group.cast(schema), row_group_size=max(group.num_rows, 1))
        return meta.num_rows
    except OSError as exc:
        raise (storage_error(exc, src.parent, "rewrite a partition") or exc) from None


def _encodings(meta: "pq.FileMetaData") -> tuple[list[str], list[str]]:
    """The columns a part dictionary-encoded, and those it delta-encoded (read from its first row group)."""
    if meta.num_row_groups == 0:
        return [], []
    group = meta.row_group(0)
    chunks = [(meta.schema.column(i).path, group.column(i).encodings) for i in range(meta.num_columns)]
    return ([n for n, e in chunks if any(x in e for x in _DICTIONARY)],
            [n for n, e in chunks if "DELTA_BINARY_PACKED" in e])


def _v1_to_v2(con: duckdb.DuckDBPyConnection) -> None:
    with transaction(con):
        con.execute("""CREATE TABLE day_status_v2 (
            dataset VARCHAR NOT NULL, trade_date DATE NOT NULL, status VARCHAR NOT NULL, detail VARCHAR,
            symbols BIGINT, scope VARCHAR NOT NULL, run_id VARCHAR, updated_at TIMESTAMP NOT NULL,
            PRIMARY KEY (dataset, trade_date))""")
        for name in _V1_DATASETS.values():
            con.execute("INSERT INTO day_status_v2 SELECT ?, trade_date, status, detail, symbols, scope, run_id, "
                        "updated_at FROM day_status", [name])
        con.execute("DROP TABLE day_status")
        con.execute("ALTER TABLE day_status_v2 RENAME TO day_status")
        for old, new in _V1_DATASETS.items():
            con.execute("UPDATE ledger SET dataset = ? WHERE dataset = ?", [new, old])
    # the journal's primary key must survive: rebuild it from its own DDL with day_volume DOUBLE
    ddl = con.execute("SELECT sql FROM duckdb_tables() WHERE table_name = 'journal' "
                      "AND database_name = current_database()").fetchone()[0]
    with transaction(con):
        con.execute("ALTER TABLE journal RENAME TO journal_v1")
        con.execute(ddl.replace("day_volume BIGINT", "day_volume DOUBLE"))
        con.execute("INSERT INTO journal SELECT * FROM journal_v1")
        con.execute("DROP TABLE journal_v1")


def _move_partitions(parquet_root: Path, folders: dict[str, str]) -> int:
    moved = 0
    for old, new in folders.items():
        src, dst = parquet_root / old, parquet_root / new
        if not src.is_dir():
            continue
        dst.mkdir(parents=True, exist_ok=True)
        for part in sorted(src.iterdir()):
            target = dst / part.name
            if not target.exists():
                os.replace(part, target)
                moved += 1
        _rmdir_if_empty(src)
    _rmdir_if_empty(parquet_root / "us_stocks_sip")
    return moved


def _rmdir_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass
