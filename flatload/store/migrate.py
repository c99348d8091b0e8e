"""Bring a store made by an earlier flatload up to the current layout, once, under the run lock.

Version 1 (flatload 0.1): one ``day_status`` row per session (stocks only), ledger
datasets named after the bucket folders, integer ``day_volume``, partitions under
``parquet/us_stocks_sip/``. Version 2: everything keyed by registry dataset name.
"""
from __future__ import annotations

import os
from pathlib import Path

import duckdb

from .db import transaction

SCHEMA_VERSION = 2
_V1_DATASETS = {"minute_aggs_v1": "stocks/minute_aggs", "day_aggs_v1": "stocks/day_aggs"}
_V1_FOLDERS = {"us_stocks_sip/minute_aggs": "stocks/minute_aggs", "us_stocks_sip/day_aggs": "stocks/day_aggs",
               "us_stocks_sip/metrics": "stocks/metrics"}


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
    moved = _move_v1_partitions(Path(parquet_root))
    if moved:
        done.append(f"moved {moved} partition folder(s) from parquet/us_stocks_sip/ to parquet/stocks/")
    con.execute("INSERT OR REPLACE INTO flatload_meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
    return done


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


def _move_v1_partitions(parquet_root: Path) -> int:
    moved = 0
    for old, new in _V1_FOLDERS.items():
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
