"""``flatload demo``: a local S3 server with generated sample files, loaded like a real run.

No credentials and no network: moto's S3 server listens on loopback, the sample
generator fills it with a few recent sessions (one of them an early close), and
the ordinary load path (listing, pool, Parquet, DuckDB) runs against it.
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from . import calendar, sample
from .engine.api import run_days
from .engine.progress import Reporter
from .engine.summary import LoadSummary
from .errors import ConfigError
from .fetch.s3 import make_client
from .settings import Settings
from .store.store import Store

EXAMPLE_QUERY = """\
SELECT symbol, trade_date, pre_high, pre_low, open_price AS open, hod, lod, close_price AS close,
       ah_high, ah_low, day_volume AS volume, source
FROM journal
WHERE symbol IN ('AAPL', 'BRK.B', 'TpC', 'TPC')
ORDER BY symbol, trade_date"""


@dataclass
class DemoResult:
    """What the demo loaded and an example query's answer."""

    summary: LoadSummary
    data_dir: Path
    sessions: list[dt.date]
    early_close: dt.date
    query: str
    table: str


def demo_sessions(today: dt.date | None = None) -> tuple[list[dt.date], dt.date]:
    """The last three closed sessions plus the latest early close and the session before it."""
    latest = calendar.latest_closed_session(
        dt.datetime.combine(today, dt.time(23, 0), tzinfo=dt.timezone.utc) if today else None)
    recent = calendar.previous_sessions(latest, 2) + [latest]
    early = calendar.early_closes(latest - dt.timedelta(days=400), latest)[-1]
    around = calendar.previous_sessions(early, 1) + [early]
    return sorted(set(recent + around)), early


def run_demo(data_dir: Path, workers: int = 2, n_tickers: int = 60, reporter: Reporter | None = None) -> DemoResult:
    """Start moto's S3 server on loopback, upload sample files, load them into ``data_dir``."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise ConfigError("the demo needs moto's S3 server", hint="pip install -e '.[demo]'") from None
    days, early = demo_sessions()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        # moto accepts any credentials; set them so boto3 never looks further (IMDS, profiles)
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "demo")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "demo")
        settings = Settings(data_dir=Path(data_dir), endpoint_url=f"http://{host}:{port}", bucket="flatfiles",
                            workers=workers, use_rest=False)
        sample.upload(make_client(settings), settings.bucket, sample.generate(days, n_tickers=n_tickers))
        summary = run_days(days, settings, reporter, command="demo", arguments={"sessions": days})
    finally:
        server.stop()
    con = Store.of(settings).reader()
    try:
        with pl.Config(tbl_cols=-1, tbl_rows=-1, tbl_width_chars=200, tbl_hide_dataframe_shape=True,
                       tbl_hide_column_data_types=True, fmt_float="full"):
            table = str(con.sql(EXAMPLE_QUERY).pl())
    finally:
        con.close()
    return DemoResult(summary, Path(data_dir), days, early, EXAMPLE_QUERY, table)
