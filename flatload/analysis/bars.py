"""Bars at any timeframe from the minute partitions: ``flatload.bars()``, and the pure resampling behind it.

Each bar: ``symbol, window_start`` (the bar's start, in the dataset's zone), ``open`` (the first
minute's open), ``high``/``low`` (the extremes), ``close`` (the last minute's close), ``volume``
and ``transactions`` (sums), and ``vwap`` = Σ(typical × volume) / Σ volume with typical =
(high + low + close) / 3 of each minute: flat files carry no per-minute VWAP, so this is the
closest the minutes allow. Intervals without a minute bar produce no row. The DuckDB macro
``bars(...)`` in the store computes the same bars (sql/analysis/bars.sql).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import polars as pl

from .. import datasets
from ..datasets import Dataset
from ..errors import ConfigError
from ..settings import Settings
from . import adjust as adj
from . import identity
from . import indicators as ind
from .identity import Company
from .minutes import MINUTE_SCHEMA, no_bars, read_minutes, require_view
from .sql import reader
from .timeframes import Every, bucket_expr, parse_every, resolve_session, segments

#: where ``1d`` bars come from: the session's minute bars, or the vendor's day file
DAY_SOURCES = ("minutes", "day-file")
BAR_COLUMNS = ["symbol", "window_start", "open", "high", "low", "close", "volume", "vwap", "transactions"]
#: resample()'s output: the bar start in UTC ns and the trade date of its first session, besides the bar
RESAMPLED_SCHEMA: dict[str, pl.DataType] = {
    "bucket": pl.Int64(), "trade_date": pl.Date(), "open": pl.Float64(), "high": pl.Float64(),
    "low": pl.Float64(), "close": pl.Float64(), "volume": pl.Float64(), "vwap": pl.Float64(),
    "transactions": pl.Int64(),
}


def _sum_or_null(col: str) -> pl.Expr:
    """The sum, null when every value is null (as SQL's sum), not Polars' 0."""
    return pl.when(pl.col(col).count() > 0).then(pl.col(col).sum())


def resample(minutes: pl.DataFrame, segs: pl.DataFrame, every: Every) -> pl.DataFrame:
    """Aggregate minute bars into bars of ``every`` within the segments ``segs`` (see timeframes).

    ``minutes``: trade_date, ts (UTC ns), open, high, low, close, volume, transactions and an
    optional ``price_factor`` (a null factor makes the prices of its bar null). Minutes outside
    every segment are dropped.
    """
    if "price_factor" not in minutes.columns:
        minutes = minutes.with_columns(price_factor=pl.lit(1.0))
    ts = pl.col("ts")
    joined = (minutes.join(segs, on="trade_date", how="inner")
              .filter((ts >= pl.col("seg_start")) & (ts < pl.col("seg_end")))
              .with_columns(bucket=bucket_expr(ts, every))
              .sort("ts"))
    typical_volume = (pl.col("high") + pl.col("low") + pl.col("close")) / 3 * pl.col("volume")
    priced = pl.col("price_factor").is_not_null().all()
    bars = (joined.with_columns(pv=typical_volume)
            .group_by("bucket", maintain_order=True)
            .agg(trade_date=pl.col("trade_date").first(),
                 open=pl.when(priced).then(pl.col("open").first()),
                 high=pl.when(priced).then(pl.col("high").max()),
                 low=pl.when(priced).then(pl.col("low").min()),
                 close=pl.when(priced).then(pl.col("close").last()),
                 volume=_sum_or_null("volume"),
                 pv=pl.when(priced).then(_sum_or_null("pv")),
                 transactions=_sum_or_null("transactions")))
    vwap = pl.when(pl.col("volume") != 0).then(pl.col("pv") / pl.col("volume"))
    return bars.with_columns(vwap=vwap).select(list(RESAMPLED_SCHEMA)).cast(RESAMPLED_SCHEMA).sort("bucket")  # type: ignore[arg-type]


def minute_dataset(dataset: str) -> Dataset:
    """The minute aggregates of a family (``stocks``) or a registry name (``options/minute_aggs``)."""
    name = dataset if "/" in dataset else f"{dataset}/minute_aggs"
    ds = datasets.get(name)
    if ds.kind != "minute_aggs":
        raise ConfigError(f"bars are made from minute aggregates, not {ds.name}",
                          hint=f"use --dataset {ds.family.name}")
    return ds


def _cut(ds: Dataset, minutes: pl.DataFrame, start: dt.date, end: dt.date, session: str,
         every: Every) -> pl.DataFrame:
    """Bars of ``[start, end]`` and, before them, bars of the history loaded before ``start`` (warm-up)."""
    parts = []
    first = minutes["trade_date"].min() if minutes.height else None
    if first is not None and first < start:  # history: its own segments, so its last week ends before start
        hist = minutes.filter(pl.col("trade_date") < start)
        parts.append(resample(hist, segments(ds.calendar, first, start - dt.timedelta(days=1), session), every)
                     .with_columns(requested=pl.lit(False)))
    main = minutes.filter(pl.col("trade_date") >= start)
    parts.append(resample(main, segments(ds.calendar, start, end, session), every)
                 .with_columns(requested=pl.lit(True)))
    return pl.concat(parts)


def _day_file_cut(ds: Dataset, days: pl.DataFrame, start: dt.date, end: dt.date) -> pl.DataFrame:
    """The vendor's day bars as :func:`_cut` shapes bars: one per trade date, starting where a ``1d`` bar from
    the minutes starts (the session's start), so the two sources line up row by row."""
    if days.height == 0:
        return pl.DataFrame(schema={**RESAMPLED_SCHEMA, "requested": pl.Boolean()})
    first = days["trade_date"].min()
    session = resolve_session(None, ds.calendar, ds.family.name)
    starts = segments(ds.calendar, first, end, session).group_by("trade_date").agg(bucket=pl.col("day_start").min())
    priced = pl.col("price_factor").is_not_null() if "price_factor" in days.columns else pl.lit(True)
    return (days.join(starts, on="trade_date", how="inner")
            .with_columns(*(pl.when(priced).then(pl.col(c)) for c in ("open", "high", "low", "close")),
                          vwap=pl.lit(None, pl.Float64))  # day files carry no VWAP
            .select(list(RESAMPLED_SCHEMA)).cast(RESAMPLED_SCHEMA)  # type: ignore[arg-type]
            .sort("bucket").with_columns(requested=pl.col("trade_date") >= start))


def _finish(frame: pl.DataFrame, symbol: str, zone: ZoneInfo, company: Company | None = None) -> pl.DataFrame:
    start = pl.from_epoch(pl.col("bucket"), time_unit="ns").dt.replace_time_zone("UTC").dt.convert_time_zone(zone.key)
    extra = [c for c in frame.columns if c not in RESAMPLED_SCHEMA and c != "requested"]
    named = []
    if company is not None:  # the ticker each bar traded under (its first session's)
        on = {d: company.ticker_on(d) for d in frame["trade_date"].unique()}
        named = [pl.col("trade_date").replace_strict(on, return_dtype=pl.String, default=None).alias("traded_as")]
    return frame.select(pl.lit(symbol, pl.String).alias("symbol"), start.alias("window_start"),
                        *BAR_COLUMNS[2:], *named, *extra)


def _date(value: dt.date | str, name: str) -> dt.date:
    if isinstance(value, dt.datetime):
        raise ConfigError(f"{name} takes a date, not a datetime: {value}")
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} {value!r} is not a date like 2024-03-11") from None


def bars(symbol: str, start: dt.date | str, end: dt.date | str, every: str = "1m", session: str | None = None,
         adjust: str = "none", indicators: str | Sequence[str] | None = None, dataset: str = "stocks",
         settings: Settings | None = None, day_source: str = "minutes", follow_renames: bool = False) -> pl.DataFrame:
    """``symbol``'s bars from ``start`` to ``end`` (trade dates, inclusive) out of the store's minute bars.

    ``start``/``end``: dates, or ISO text. ``every``: ``<n>m``, ``<n>h``, ``1d`` or ``1w``. ``session``: ``regular`` (default where there are
    sessions), ``extended`` or ``all`` (the only one for crypto and forex, which run in UTC days).
    ``adjust``: ``none``, ``splits`` or ``all`` (stocks; needs ``flatload corporate-actions``).
    ``indicators``: e.g. ``"sma:20,rsi:14,macd"`` (TA-Lib); their values at ``start`` use all the
    history the store holds before it. Returns a Polars frame with :data:`BAR_COLUMNS` (``window_start``
    in the dataset's zone) and a column per indicator output. Raises :class:`~.minutes.NoBars` when
    the store has no minute bar of ``symbol`` in the range.

    ``day_source``: where ``1d`` bars come from. ``minutes`` (the default) resamples the session's
    minutes, so close is the last minute's close and volume the session's minutes' sum; ``day-file``
    takes the vendor's day aggregates as they are (the journal's close_price and day_volume: the
    official close, the whole day's volume), with no VWAP.

    ``follow_renames``: ``symbol`` is the company that traded under it within the range (the latest, when
    the ticker was recycled), followed across its renames by the store's ticker reference (``flatload
    tickers``): its bars under each of its tickers on that ticker's dates, adjusted by the corporate actions
    of each name, labelled with its current ticker and a ``traded_as`` column. Another company that used
    one of its tickers is never mixed in.
    """
    ds = minute_dataset(dataset)
    if day_source not in DAY_SOURCES:
        raise ConfigError(f"day source {day_source!r} is not one of {', '.join(DAY_SOURCES)}")
    if day_source == "day-file":
        if every != "1d":
            raise ConfigError("the day file holds one bar per day: --day-source day-file needs --every 1d")
        if session is not None:
            raise ConfigError("a day file's bar covers the vendor's whole day: --session does not apply to it",
                              hint="leave --session out, or use --day-source minutes")
        ds_day = datasets.get(f"{ds.family.name}/day_aggs")
    start, end = _date(start, "start"), _date(end, "end")
    if end < start:
        raise ConfigError(f"--end {end} is before --start {start}")
    width = parse_every(every)
    session = resolve_session(session, ds.calendar, ds.family.name)
    if adjust not in adj.ADJUST:
        raise ConfigError(f"--adjust {adjust!r} is not an adjustment", hint="use none, splits or all")
    if adjust != "none" and ds.family.name != "stocks":
        raise ConfigError(f"adjustment is for stocks only, not {ds.family.name}", hint="use --adjust none")
    wanted = ind.parse_indicators(indicators)
    if settings is None:
        from ..config import from_env

        settings = from_env()
    source = ds_day if day_source == "day-file" else ds
    with reader(settings) as con:
        require_view(con, source)
        firm = identity.company(con, symbol, start, end) if follow_renames else None
        who = [(s.ticker, s.first, s.last) for s in firm.spans] if firm is not None else symbol
        minutes = read_minutes(con, source, who, None if wanted else start, end)
        if minutes.filter(pl.col("trade_date") >= start).height == 0:
            raise no_bars(con, source, symbol, start, end)
        factors = adj.load_factors(con, who, minutes["trade_date"].unique().to_list(), adjust)
    adjusted = adj.apply_factors(minutes, factors)
    if day_source == "day-file":
        cut = _day_file_cut(ds, adjusted, start, end)
    else:
        cut = _cut(ds, adjusted, start, end, session, width)
    cut = ind.compute(cut, wanted)
    return _finish(cut.filter(pl.col("requested")), firm.ticker if firm else symbol, ds.calendar.tz, firm)


__all__ = ["bars", "resample", "BAR_COLUMNS", "MINUTE_SCHEMA", "minute_dataset"]
