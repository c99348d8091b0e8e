"""Indicators (TA-Lib) against plain formulas written out here, and the warm-up from loaded history."""
from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

import flatload
from flatload.analysis.indicators import Indicator, compute, parse_indicators, session_vwap
from flatload.errors import ConfigError
from tests.helpers.analysis_store import DAYS


def sma(xs: list[float], n: int) -> list[float | None]:
    return [None if i + 1 < n else sum(xs[i + 1 - n:i + 1]) / n for i in range(len(xs))]


def rsi_wilder(xs: list[float], n: int) -> list[float | None]:
    """Wilder's RSI: the first average gain/loss is the mean of the first n changes, then
    avg = (avg x (n - 1) + change) / n; RSI = 100 - 100 / (1 + gain / loss)."""
    out: list[float | None] = [None] * len(xs)
    changes = [b - a for a, b in zip(xs, xs[1:])]
    if len(changes) < n:
        return out
    gain = sum(max(c, 0) for c in changes[:n]) / n
    loss = sum(max(-c, 0) for c in changes[:n]) / n
    for i in range(n, len(xs)):
        if i > n:
            c = changes[i - 1]
            gain = (gain * (n - 1) + max(c, 0)) / n
            loss = (loss * (n - 1) + max(-c, 0)) / n
        out[i] = 100.0 if loss == 0 else 100 - 100 / (1 + gain / loss)
    return out


def ema(xs: list[float], n: int) -> list[float | None]:
    """Seeded with the mean of the first n values, then k = 2 / (n + 1)."""
    out: list[float | None] = [None] * len(xs)
    if len(xs) < n:
        return out
    value = sum(xs[:n]) / n
    out[n - 1] = value
    for i in range(n, len(xs)):
        value = xs[i] * 2 / (n + 1) + value * (1 - 2 / (n + 1))
        out[i] = value
    return out


def close_enough(got: list, want: list, tol: float = 1e-9) -> None:
    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(got, want)):
        assert (a is None) == (b is None), (i, a, b)
        if a is not None:
            assert math.isclose(a, b, rel_tol=tol, abs_tol=tol), (i, a, b)


@pytest.fixture
def five_minute(bars_store) -> pl.DataFrame:
    settings, _ = bars_store
    return flatload.bars("AAPL", DAYS[0], DAYS[-1], every="5m", indicators="sma:20,rsi:14,ema:9,bbands:20,macd",
                         settings=settings)


def test_sma_and_rsi_equal_the_plain_formulas(five_minute):
    closes = five_minute["close"].to_list()
    # the first bars of the store: no history before them, so the warm-up values are null, not NaN
    close_enough(five_minute["sma_20"].to_list(), sma(closes, 20))
    close_enough(five_minute["rsi_14"].to_list(), rsi_wilder(closes, 14))
    close_enough(five_minute["ema_9"].to_list(), ema(closes, 9))


def test_bollinger_bands_are_sma_plus_minus_two_population_sigma(five_minute):
    closes = five_minute["close"].to_list()
    for i in range(19, len(closes)):
        window = closes[i - 19:i + 1]
        mean = sum(window) / 20
        sigma = math.sqrt(sum((x - mean) ** 2 for x in window) / 20)
        row = five_minute.row(i, named=True)
        assert row["bb_middle_20"] == pytest.approx(mean, rel=1e-9)
        assert row["bb_upper_20"] == pytest.approx(mean + 2 * sigma, rel=1e-7)
        assert row["bb_lower_20"] == pytest.approx(mean - 2 * sigma, rel=1e-7)


def test_macd_columns(five_minute):
    full = five_minute.drop_nulls("macd_signal")
    assert full.height == five_minute.height - 33  # 26 + 9 - 2 bars of warm-up
    assert (full["macd"] - full["macd_signal"] - full["macd_hist"]).abs().max() < 1e-9
    # TA-Lib starts all three outputs together, once the signal line has its 9 values
    assert five_minute["macd"].null_count() == five_minute["macd_hist"].null_count() == 33


def test_values_at_start_use_the_history_before_it(bars_store):
    """Asked from 2024-07-02, the indicators equal those of a run from the store's first session."""
    settings, _ = bars_store
    spec = "sma:20,ema:50,rsi:14,atr:14,macd,bbands:10,vwap"
    full = flatload.bars("AAPL", DAYS[0], DAYS[-1], every="15m", indicators=spec, settings=settings)
    late = flatload.bars("AAPL", dt.date(2024, 7, 2), DAYS[-1], every="15m", indicators=spec, settings=settings)
    tail = full.filter(pl.col("window_start") >= late["window_start"][0])
    assert tail.height == late.height
    for col in late.columns[2:]:
        close_enough(late[col].to_list(), tail[col].to_list(), 1e-12)
    assert late.row(0, named=True)["ema_50"] is not None  # no warm-up nulls: history exists
    plain = flatload.bars("AAPL", dt.date(2024, 7, 2), DAYS[-1], every="15m", settings=settings)
    assert plain.equals(late.select(plain.columns))  # asking for indicators changes no bar


def test_session_vwap_restarts_each_trade_date():
    bars = pl.DataFrame({"trade_date": [dt.date(2024, 3, 8)] * 2 + [dt.date(2024, 3, 11)],
                         "vwap": [10.0, 12.0, 20.0], "volume": [100.0, 300.0, 50.0]})
    assert session_vwap(bars).to_list() == [10.0, (1000 + 3600) / 400, 20.0]


@pytest.mark.parametrize("spec, columns", [
    ("sma:20,rsi:14,atr:14", ["sma_20", "rsi_14", "atr_14"]),
    ("SMA, rsi ,macd,vwap,sma:20", ["sma_20", "rsi_14", "macd", "macd_signal", "macd_hist", "session_vwap"]),
    ("bbands:10,ema:9", ["bb_upper_10", "bb_middle_10", "bb_lower_10", "ema_9"]),
    ("atr:1", ["atr_1"]),
])
def test_parse_indicators(spec, columns):
    assert [c for i in parse_indicators(spec) for c in i.columns] == columns


@pytest.mark.parametrize("spec, message", [
    ("stoch:14", "unknown indicator 'stoch:14' (use sma:N, ema:N, rsi:N, macd, bbands:N, atr:N or vwap, "
                 "comma-separated: sma:20,rsi:14,macd)"),
    ("sma:1", "'sma:1': the period must be a whole number from 2 to 100000 (use sma:N, ema:N, rsi:N, macd, "
              "bbands:N, atr:N or vwap, comma-separated: sma:20,rsi:14,macd)"),
    ("rsi:x", "'rsi:x': the period must be a whole number from 2 to 100000 (use sma:N, ema:N, rsi:N, macd, "
              "bbands:N, atr:N or vwap, comma-separated: sma:20,rsi:14,macd)"),
    ("macd:12", "macd takes no period: 'macd:12' (macd is MACD(12, 26, 9); vwap restarts each session)"),
])
def test_bad_indicator_specs(spec, message):
    with pytest.raises(ConfigError) as err:
        parse_indicators(spec)
    assert err.value.one_line() == message


@hypothesis_settings(deadline=None)
@given(st.lists(st.floats(min_value=1, max_value=1000, allow_nan=False), min_size=1, max_size=60),
       st.integers(min_value=2, max_value=30))
def test_sma_on_any_series(closes, n):
    bars = pl.DataFrame({"high": closes, "low": closes, "close": closes})
    got = compute(bars, [Indicator("sma", n)])[f"sma_{n}"].to_list()
    close_enough(got, sma(closes, n), 1e-9)
