"""Bars of the other aggregate datasets: options and indices (NYSE sessions), crypto and forex (UTC days)."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

import flatload
from flatload import sample
from flatload.analysis.sql import query
from flatload.cli.render import iso_times
from flatload.errors import ConfigError
from tests.helpers import analysis_store
from tests.test_bars import INTERVAL, assert_frames_equal

DAYS = [dt.date(2024, 3, 8), dt.date(2024, 3, 9), dt.date(2024, 3, 10), dt.date(2024, 3, 11)]  # Fri..Mon
NAMES = "options,indices,crypto,forex"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    files = sample.generate(DAYS, n_tickers=8, names=NAMES)
    return analysis_store.load_store(tmp_path_factory.mktemp("markets"), files, DAYS, names=NAMES)


def ticker(settings, view: str) -> str:
    return query(f"SELECT min(ticker) FROM {view}", settings).item()


@pytest.mark.parametrize("every", ["1m", "15m", "1h", "4h", "1d", "1w"])
@pytest.mark.parametrize("family, macro, session", [
    ("crypto", "crypto_bars", "all"), ("forex", "forex_bars", "all"), ("options", "options_bars", "regular"),
    ("options", "options_bars", "all"), ("indices", "indices_bars", "regular")])
def test_macros_equal_the_library(store, family, macro, session, every):
    symbol = ticker(store, f"{family}_minute")
    lib = flatload.bars(symbol, DAYS[0], DAYS[-1], every=every, session=session, dataset=family, settings=store)
    sql = query(f"SELECT * FROM {macro}(?, DATE '{DAYS[0]}', DATE '{DAYS[-1]}', {INTERVAL[every]}, '{session}')",
                store, [symbol])
    assert lib.height > 0
    assert_frames_equal(lib, sql)


def test_crypto_bars_are_utc_days_around_the_clock(store):
    symbol = "X:BTCUSD"
    hourly = iso_times(flatload.bars(symbol, DAYS[1], DAYS[2], every="1h", dataset="crypto", settings=store))
    assert hourly["window_start"][0] == "2024-03-09T00:00:00+00:00"
    assert hourly.height == 48  # every hour of a weekend has trades in the sample
    daily = iso_times(flatload.bars(symbol, DAYS[0], DAYS[-1], every="1d", dataset="crypto", settings=store))
    assert daily["window_start"].to_list() == [f"{d}T00:00:00+00:00" for d in DAYS]
    weekly = iso_times(flatload.bars(symbol, DAYS[0], DAYS[-1], every="1w", dataset="crypto", settings=store))
    assert weekly["window_start"].to_list() == ["2024-03-08T00:00:00+00:00", "2024-03-11T00:00:00+00:00"]
    with pytest.raises(ConfigError, match="crypto has no sessions"):
        flatload.bars(symbol, DAYS[0], DAYS[0], session="regular", dataset="crypto", settings=store)
    with pytest.raises(Exception, match="crypto trades around the clock"):
        query(f"SELECT * FROM crypto_bars('{symbol}', DATE '2024-03-08', DATE '2024-03-08', INTERVAL 1 HOUR, "
              "'regular')", store)


def test_index_bars_have_no_volume(store):
    got = flatload.bars("I:SPX", DAYS[0], DAYS[-1], every="30m", dataset="indices", settings=store)
    assert got.height == 26  # two sessions of 13 half hours
    assert got.select(pl.col("volume", "vwap", "transactions").null_count()).row(0) == (26, 26, 26)
    assert got["open"].null_count() == 0


def test_options_regular_session_in_new_york(store):
    symbol = ticker(store, "options_minute")
    got = iso_times(flatload.bars(symbol, DAYS[0], DAYS[0], every="1h", dataset="options", settings=store))
    assert got["window_start"][0] == "2024-03-08T09:30:00-05:00"
    with pytest.raises(ConfigError, match="adjustment is for stocks only, not options"):
        flatload.bars(symbol, DAYS[0], DAYS[0], adjust="splits", dataset="options", settings=store)
