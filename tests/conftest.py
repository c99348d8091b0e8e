"""Shared fixtures: a real S3 endpoint on loopback (moto's server), sample files, settings.

Worker processes reach the S3 server over HTTP like any client, so process-pool
tests exercise the same path as production. Sample files come from the
package's own generator, never from vendor data.
"""
from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from flatload import sample
from flatload.settings import Settings

# Fixed test sessions: both sides of the 2024 DST switches, two early closes, and a holiday.
DST_SPRING = [dt.date(2024, 3, 8), dt.date(2024, 3, 11)]  # EST Friday, EDT Monday
DST_FALL = [dt.date(2024, 11, 1), dt.date(2024, 11, 4)]  # EDT Friday, EST Monday
EARLY_CLOSES = [dt.date(2024, 7, 3), dt.date(2024, 11, 29)]
HOLIDAY = dt.date(2024, 11, 28)  # Thanksgiving: no file

_bucket_ids = itertools.count()


@pytest.fixture(scope="session", autouse=True)
def _aws_env() -> Iterator[None]:
    # the fake endpoint accepts any keys; setting them keeps boto3 off the real credential chain
    old = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE",
                                          "MASSIVE_API_KEY", "POLYGON_API_KEY")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    for k in ("AWS_PROFILE", "MASSIVE_API_KEY", "POLYGON_API_KEY"):
        os.environ.pop(k, None)
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1, shared by the whole session (buckets keep tests apart)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_client(endpoint: str):
    """A plain boto3 client for arranging test data."""
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        config=Config(signature_version="s3v4"))


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    """A fresh, empty bucket for one test."""
    name = f"flatfiles-{next(_bucket_ids)}"
    s3_client(s3_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture
def settings(tmp_path: Path, s3_endpoint: str, bucket: str) -> Settings:
    """Settings pointing at the test bucket, one inline worker, no REST."""
    return Settings(data_dir=tmp_path / "data", endpoint_url=s3_endpoint, bucket=bucket, workers=1,
                    use_rest=False, lock_timeout=2.0, s3_max_attempts=2)


def upload_days(endpoint: str, bucket: str, days: list[dt.date], n_tickers: int = 30, seed: int = 0) -> dict[str, bytes]:
    """Generate and upload sample files for ``days``; returns ``{key: bytes}``."""
    files = sample.generate(days, n_tickers=n_tickers, seed=seed)
    sample.upload(s3_client(endpoint), bucket, files)
    return files


def journal_rows(settings: Settings, where: str = "TRUE") -> list[tuple]:
    """The journal (without loaded_at), ordered, through a fresh read-only connection."""
    import duckdb

    con = duckdb.connect(str(settings.journal_path), read_only=True)
    try:
        return con.execute(
            "SELECT symbol, trade_date, pre_high, pre_low, open_price, hod, lod, close_price, ah_high, ah_low, "
            f"day_volume, source FROM journal WHERE {where} ORDER BY trade_date, symbol").fetchall()
    finally:
        con.close()


def query(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    """Run one query against the journal file, read-only."""
    import duckdb

    con = duckdb.connect(str(settings.journal_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()
