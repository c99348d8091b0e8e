"""A store as flatload 0.1 left it: its DDL (day_status per session, BIGINT day_volume, ledger datasets named
after the bucket folders), partitions under parquet/us_stocks_sip/, written by a plain DuckDB 2.x connection
(the newer storage format the 0.1 release wrote). Made from a current store, for the migration tests."""
from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

V1_TABLES = """
CREATE TABLE journal (symbol VARCHAR NOT NULL, trade_date DATE NOT NULL, pre_high DOUBLE, pre_low DOUBLE,
    open_price DOUBLE, hod DOUBLE, lod DOUBLE, close_price DOUBLE, ah_high DOUBLE, ah_low DOUBLE, day_volume BIGINT,
    source VARCHAR NOT NULL, loaded_at TIMESTAMP NOT NULL, PRIMARY KEY (symbol, trade_date));
CREATE TABLE ledger (key VARCHAR PRIMARY KEY, dataset VARCHAR NOT NULL, trade_date DATE NOT NULL, etag VARCHAR,
    size BIGINT, last_modified VARCHAR, rows BIGINT, rejected BIGINT, off_date BIGINT, status VARCHAR NOT NULL,
    error VARCHAR, scope VARCHAR NOT NULL, run_id VARCHAR, updated_at TIMESTAMP NOT NULL);
CREATE TABLE day_status (trade_date DATE PRIMARY KEY, status VARCHAR NOT NULL, detail VARCHAR, symbols BIGINT,
    scope VARCHAR NOT NULL, run_id VARCHAR, updated_at TIMESTAMP NOT NULL);
CREATE TABLE rejects (key VARCHAR NOT NULL, trade_date DATE NOT NULL, line BIGINT, reason VARCHAR NOT NULL,
    run_id VARCHAR);
CREATE TABLE runs (run_id VARCHAR PRIMARY KEY, command VARCHAR NOT NULL, arguments VARCHAR,
    started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP, outcome VARCHAR NOT NULL, days_planned INTEGER,
    days_done INTEGER, days_failed INTEGER, days_skipped INTEGER, rows BIGINT, errors VARCHAR, pid INTEGER);
"""


def downgrade(current: Path, target: Path) -> None:
    """Write ``target`` as flatload 0.1 would have left the store ``current`` holds."""
    target.mkdir(parents=True)
    con = duckdb.connect(str(target / "flatload.duckdb"))  # DuckDB 2.x's own default storage format
    try:
        con.execute(V1_TABLES)
        con.execute(f"ATTACH '{current / 'flatload.duckdb'}' AS cur (READ_ONLY)")
        con.execute("INSERT INTO journal SELECT * REPLACE (CAST(round(day_volume) AS BIGINT) AS day_volume) "
                    "FROM cur.journal")
        con.execute("INSERT INTO ledger SELECT * REPLACE (CASE dataset WHEN 'stocks/minute_aggs' THEN "
                    "'minute_aggs_v1' ELSE 'day_aggs_v1' END AS dataset) FROM cur.ledger")
        con.execute("INSERT INTO day_status SELECT trade_date, status, detail, symbols, scope, run_id, updated_at "
                    "FROM cur.day_status WHERE dataset = 'stocks/minute_aggs'")
        con.execute("INSERT INTO rejects SELECT * FROM cur.rejects")
        con.execute("INSERT INTO runs SELECT * FROM cur.runs")
        con.execute("CREATE VIEW minute_bars AS SELECT 1 AS placeholder")  # 0.1's views held absolute paths
    finally:
        con.close()
    # 0.1 kept the journal's partitions in a folder named metrics
    for kind, old in (("minute_aggs", "minute_aggs"), ("day_aggs", "day_aggs"), ("journal", "metrics")):
        src = current / "parquet" / "stocks" / kind
        if src.is_dir():
            shutil.copytree(src, target / "parquet" / "us_stocks_sip" / old)
