"""Arranging a test bucket and reading a store back: boto3 for the bucket, read-only DuckDB for the store."""
from __future__ import annotations

import datetime as dt

import boto3
import duckdb
from botocore.config import Config

from flatload import datasets, sample
from flatload.settings import Settings
from flatload.store.store import Store


def s3_client(endpoint: str):
    """A plain boto3 client for arranging test data."""
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        config=Config(signature_version="s3v4"))


def upload_days(endpoint: str, bucket: str, days: list[dt.date], n_tickers: int = 30, seed: int = 0) -> dict[str, bytes]:
    """Generate and upload sample files for ``days``; returns ``{key: bytes}``."""
    files = sample.generate(days, n_tickers=n_tickers, seed=seed)
    sample.upload(s3_client(endpoint), bucket, files)
    return files


def journal_rows(settings: Settings, where: str = "TRUE") -> list[tuple]:
    """The journal (without loaded_at), ordered, through a fresh read-only connection."""
    con = duckdb.connect(str(Store.of(settings).db_path), read_only=True)
    try:
        return con.execute(
            "SELECT symbol, trade_date, pre_high, pre_low, open_price, hod, lod, close_price, ah_high, ah_low, "
            f"day_volume, source FROM journal WHERE {where} ORDER BY trade_date, symbol").fetchall()
    finally:
        con.close()


def query(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    """Run one query against the journal file, read-only."""
    con = duckdb.connect(str(Store.of(settings).db_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def mkey(d: dt.date) -> str:
    """The stocks minute file's key for ``d``."""
    return datasets.get("stocks/minute_aggs").key(d)


def dkey(d: dt.date) -> str:
    """The stocks day file's key for ``d``."""
    return datasets.get("stocks/day_aggs").key(d)
