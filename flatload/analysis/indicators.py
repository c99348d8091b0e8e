"""Indicators on bars, computed with TA-Lib (``--indicators sma:20,rsi:14,macd``).

| spec         | columns                                 | computed by                                   |
|--------------|-----------------------------------------|-----------------------------------------------|
| ``sma:N``    | ``sma_N``                               | TA-Lib SMA(close, N)                          |
| ``ema:N``    | ``ema_N``                               | TA-Lib EMA(close, N)                          |
| ``rsi:N``    | ``rsi_N``                               | TA-Lib RSI(close, N) (Wilder)                 |
| ``macd``     | ``macd, macd_signal, macd_hist``        | TA-Lib MACD(close, 12, 26, 9)                 |
| ``bbands:N`` | ``bb_upper_N, bb_middle_N, bb_lower_N`` | TA-Lib BBANDS(close, N, 2σ, 2σ, SMA)          |
| ``atr:N``    | ``atr_N``                               | TA-Lib ATR(high, low, close, N) (Wilder)      |
| ``vwap``     | ``session_vwap``                        | Σ(typical × volume) / Σ volume since the      |
|              |                                         | session's first bar (TA-Lib has no VWAP)      |

N defaults to 20 (sma, ema, bbands) or 14 (rsi, atr). Indicators run over every bar in order,
across sessions, as a chart does; where the store holds history before ``--start`` it is read
first, so values at the start are what a run over the whole history gives. Values before enough
bars exist are null.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from ..errors import ConfigError

DEFAULT_PERIOD = {"sma": 20, "ema": 20, "rsi": 14, "bbands": 20, "atr": 14}
NO_PERIOD = ("macd", "vwap")
SPEC_HELP = "sma:N, ema:N, rsi:N, macd, bbands:N, atr:N or vwap, comma-separated: sma:20,rsi:14,macd"
#: TA-Lib's smallest periods
_MIN_PERIOD = {"sma": 2, "ema": 2, "rsi": 2, "bbands": 2, "atr": 1}
_MAX_PERIOD = 100_000


@dataclass(frozen=True)
class Indicator:
    """One indicator asked for: its name and period (None for macd and vwap)."""

    name: str
    period: int | None = None

    @property
    def columns(self) -> list[str]:
        """The columns it adds."""
        if self.name == "macd":
            return ["macd", "macd_signal", "macd_hist"]
        if self.name == "vwap":
            return ["session_vwap"]
        if self.name == "bbands":
            return [f"bb_{part}_{self.period}" for part in ("upper", "middle", "lower")]
        return [f"{self.name}_{self.period}"]


def _one(item: str) -> Indicator:
    name, _, arg = item.strip().lower().partition(":")
    if name not in DEFAULT_PERIOD and name not in NO_PERIOD:
        raise ConfigError(f"unknown indicator {item.strip()!r}", hint=f"use {SPEC_HELP}")
    if name in NO_PERIOD:
        if arg:
            raise ConfigError(f"{name} takes no period: {item.strip()!r}",
                              hint="macd is MACD(12, 26, 9); vwap restarts each session")
        return Indicator(name)
    if not arg:
        return Indicator(name, DEFAULT_PERIOD[name])
    if not arg.isdigit() or not _MIN_PERIOD[name] <= int(arg) <= _MAX_PERIOD:
        raise ConfigError(f"{item.strip()!r}: the period must be a whole number from {_MIN_PERIOD[name]} "
                          f"to {_MAX_PERIOD}", hint=f"use {SPEC_HELP}")
    return Indicator(name, int(arg))


def parse_indicators(spec: str | Sequence[str] | None) -> list[Indicator]:
    """``"sma:20,rsi:14,macd"`` (or a list of items) → indicators, duplicates dropped, order kept."""
    if spec is None:
        return []
    items = spec.split(",") if isinstance(spec, str) else [i for part in spec for i in part.split(",")]
    return list(dict.fromkeys(_one(i) for i in items if i.strip()))


def _talib() -> object:
    try:
        import talib
    except ImportError as exc:  # the wheel bundles the C library; a source build needs it installed
        raise ConfigError(f"TA-Lib is not importable ({exc})",
                          hint="pip install 'ta-lib>=0.6.5': its wheels bundle the TA-Lib C library") from None
    return talib


def _arrays(bars: pl.DataFrame) -> dict[str, np.ndarray]:
    return {c: bars[c].cast(pl.Float64).fill_null(float("nan")).to_numpy().astype(np.float64, copy=True)
            for c in ("high", "low", "close")}


def _outputs(ta: object, x: dict[str, np.ndarray], i: Indicator) -> list[np.ndarray]:
    calls: dict[str, Callable[[], object]] = {
        "sma": lambda: ta.SMA(x["close"], timeperiod=i.period),  # type: ignore[attr-defined]
        "ema": lambda: ta.EMA(x["close"], timeperiod=i.period),  # type: ignore[attr-defined]
        "rsi": lambda: ta.RSI(x["close"], timeperiod=i.period),  # type: ignore[attr-defined]
        "atr": lambda: ta.ATR(x["high"], x["low"], x["close"], timeperiod=i.period),  # type: ignore[attr-defined]
        "macd": lambda: ta.MACD(x["close"], fastperiod=12, slowperiod=26, signalperiod=9),  # type: ignore[attr-defined]
        "bbands": lambda: ta.BBANDS(x["close"], timeperiod=i.period, nbdevup=2.0, nbdevdn=2.0,  # type: ignore[attr-defined]
                                    matype=0),
    }
    out = calls[i.name]()
    return list(out) if isinstance(out, tuple) else [out]  # type: ignore[list-item]


def session_vwap(bars: pl.DataFrame) -> pl.Series:
    """Σ(typical × volume) / Σ volume from the first bar of each trade date through each bar.

    A bar's ``vwap × volume`` is its minutes' Σ(typical × volume), so this is exact, not an average
    of averages.
    """
    pv = (pl.col("vwap") * pl.col("volume")).cum_sum().over("trade_date")
    vol = pl.col("volume").cum_sum().over("trade_date")
    return bars.select(pl.when(vol != 0).then(pv / vol).alias("session_vwap")).to_series()


def compute(bars: pl.DataFrame, wanted: Sequence[Indicator]) -> pl.DataFrame:
    """``bars`` (sorted by time, with high, low, close, volume, vwap, trade_date) plus each indicator's columns."""
    if not wanted:
        return bars
    columns: dict[str, pl.Series] = {}
    needs_talib = [i for i in wanted if i.name != "vwap"]
    x = _arrays(bars) if needs_talib else {}
    ta = _talib() if needs_talib else None
    for i in wanted:
        if i.name == "vwap":
            columns["session_vwap"] = session_vwap(bars)
            continue
        for name, values in zip(i.columns, _outputs(ta, x, i)):
            columns[name] = pl.Series(name, values, dtype=pl.Float64).fill_nan(None)
    return bars.with_columns(**columns)
