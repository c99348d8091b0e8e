"""A store whose days show every state the dashboard draws: flat file, REST, suspect, failed, missing.

Sessions from 2024-02-01 to 2024-03-15 are published (generated files in a moto bucket), except
that one day's minute file is corrupt (failed), one is a header without rows (suspect) and one
is absent but served by the fake REST API (rest). Everything up to 2024-03-12 is loaded;
the last three sessions are published but not loaded (missing), for a job to load.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from flatload import calendar, sample
from flatload.engine.api import load
from flatload.settings import Settings
from tests.helpers.rest_server import FakeRest
from tests.helpers.store import mkey, s3_client

DAYS = calendar.sessions(dt.date(2024, 2, 1), dt.date(2024, 3, 15))
FAILED, SUSPECT, REST = dt.date(2024, 3, 6), dt.date(2024, 3, 7), dt.date(2024, 3, 8)
LOADED_UNTIL = dt.date(2024, 3, 12)
NOT_LOADED = [d for d in DAYS if d > LOADED_UNTIL]
N_TICKERS = 12
KEY = "dashboard-key"
#: a symbol and session with bars in every part of the session, in the generated files (the page's default symbol)
SYMBOL, CHART_DAY = "SPY", dt.date(2024, 3, 11)


def expected_states(dataset: str) -> dict[str, str]:
    """Each session's state in ``dataset``'s heatmap (the day file is fine on the suspect day)."""
    out = {d.isoformat(): "flatfile" for d in DAYS}
    out.update({d.isoformat(): "missing" for d in NOT_LOADED})
    out[FAILED.isoformat()], out[REST.isoformat()] = "failed", "rest"
    out[SUSPECT.isoformat()] = "suspect" if dataset == "stocks/minute_aggs" else "flatfile"
    return out


def build(data_dir: Path, endpoint: str, bucket: str) -> Settings:
    """Publish the files, load up to LOADED_UNTIL; the settings of the store (REST off from now on)."""
    files = sample.generate([d for d in DAYS if d != REST], n_tickers=N_TICKERS)
    files[mkey(FAILED)] = b"\x1f\x8b this is not a gzip stream"
    empty = sample.sample_day(SUSPECT, N_TICKERS).minute.head(0)
    files[mkey(SUSPECT)] = sample.to_csv_gz(empty)
    s3_client(endpoint).create_bucket(Bucket=bucket)
    sample.upload(s3_client(endpoint), bucket, files)
    settings = Settings(data_dir=data_dir, endpoint_url=endpoint, bucket=bucket, workers=1, use_rest=False,
                        lock_timeout=5.0, s3_max_attempts=2)
    rest_day = sample.sample_day(REST, N_TICKERS)
    with FakeRest(minute=rest_day.minute, day=rest_day.day, api_key=KEY) as rest:
        with_rest = settings.replace(use_rest=True, api_key=KEY, rest_url=rest.url, rest_backoff=0.01,
                                     rest_max_retries=1, symbols=frozenset({SYMBOL, "AAPL"}))
        summary = load(DAYS[0], LOADED_UNTIL, with_rest)
    assert summary.sources.get(REST) == "rest", summary.lines()
    assert {f.date for f in summary.failed} == {FAILED}, summary.lines()
    return settings


def minute_bars(settings: Settings, symbol: str, day: dt.date) -> int:
    """How many minute bars of ``symbol`` the store holds on ``day`` (what the chart should draw)."""
    import flatload

    return flatload.bars(symbol, day, day, session="all", settings=settings).height

