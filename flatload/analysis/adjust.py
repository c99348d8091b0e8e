"""Split and dividend adjustment factors per session, and applying them to minute bars (stocks only).

The flat files are unadjusted on purpose; adjustment is a view of them. For session ``d``:

- split factor: the product of ``split_from / split_to`` over the symbol's splits with
  ``d < execution_date <= today`` (New York). A split executes overnight: the session before the
  execution date (its after-hours included) is the last pre-split trading, the execution date
  itself (its pre-market included) is post-split. Prices are multiplied by the factor, volumes
  divided by it: everything is in today's shares.
- dividend factor (``adjust="all"``, the total-return convention): the product of
  ``1 - cash_amount / previous close`` over the symbol's cash dividends with
  ``d < ex_dividend_date <= the store's last stocks session``, where the previous close is the
  journal's close of the session before the ex-date. A dividend whose previous close is not in
  the journal (or that is not paid in USD) has no factor, and the prices it would adjust are
  NULL rather than wrong. Dividends after the store's last session are not applied yet: the
  series is anchored at the last close the store holds.

The SQL views ``adjustment_factors`` / ``dividend_factors`` and the ``bars`` macro compute the
same numbers (sql/analysis/adjustment.sql).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import duckdb
import polars as pl

from .. import calendar
from ..errors import ConfigError
from ..store.database.ledger import scope_covers
from .minutes import Name, of_names
from .sql import frame

ADJUST = ("none", "splits", "all")
#: the flatload_meta key holding the symbols whose corporate actions are loaded ('*': all)
META_KEY = "corporate_actions"
FACTOR_SCHEMA: dict[str, pl.DataType] = {"trade_date": pl.Date(), "price_factor": pl.Float64(),
                                        "volume_factor": pl.Float64()}
PRICE_COLUMNS = ("open", "high", "low", "close")


def new_york_today(now: dt.datetime | None = None) -> dt.date:
    """Today's date in New York."""
    return (now or dt.datetime.now(dt.timezone.utc)).astimezone(calendar.NY).date()


def split_factors(dates: pl.Series, splits: pl.DataFrame, today: dt.date) -> pl.Series:
    """Per date, the product of ``split_from / split_to`` over splits with ``date < execution_date <= today``."""
    events = splits.filter(pl.col("execution_date") <= today).unique(
        ["execution_date", "split_from", "split_to"])
    factor = pl.lit(1.0)
    for ex, ratio in zip(events["execution_date"], (events["split_from"] / events["split_to"])):
        factor = factor * pl.when(pl.col("d") < ex).then(pl.lit(ratio)).otherwise(1.0)
    # with_columns, not select: a factor that is a plain 1.0 must still be one value per date
    return pl.DataFrame({"d": dates}).with_columns(factor.alias("split_factor"))["split_factor"]


def dividend_event_factors(dividends: pl.DataFrame) -> pl.Series:
    """``1 - cash_amount / prev_close`` per dividend; null without a previous close or when not in USD."""
    ok = ((pl.col("currency").fill_null("USD") == "USD") & (pl.col("prev_close") > pl.col("cash_amount")))
    return dividends.select(pl.when(ok).then(1 - pl.col("cash_amount") / pl.col("prev_close"))
                            .alias("factor")).to_series()


def dividend_factors(dates: pl.Series, events: pl.DataFrame, anchor: dt.date | None) -> pl.Series:
    """Per date, the product of the ``factor`` of ``events`` with ``date < ex_dividend_date <= anchor``.

    A null event factor makes the product null for every date before that ex-date.
    """
    factor = pl.lit(1.0)
    if anchor is not None:
        for ex, f in zip(events["ex_dividend_date"], events["factor"]):
            if ex <= anchor:
                factor = factor * pl.when(pl.col("d") < ex).then(pl.lit(f, pl.Float64)).otherwise(1.0)
    return pl.DataFrame({"d": dates}).with_columns(factor.alias("dividend_factor"))["dividend_factor"]


def factor_table(dates: Sequence[dt.date], adjust: str, splits: pl.DataFrame, dividends: pl.DataFrame,
                 today: dt.date, anchor: dt.date | None) -> pl.DataFrame:
    """``trade_date, price_factor, volume_factor`` for ``dates`` under ``adjust`` (none, splits or all).

    ``splits``: execution_date, split_from, split_to; ``dividends``: ex_dividend_date, factor.
    """
    d = pl.Series("trade_date", sorted(set(dates)), dtype=pl.Date)
    if adjust == "none":
        ones = pl.Series([1.0] * d.len(), dtype=pl.Float64)
        return pl.DataFrame({"trade_date": d, "price_factor": ones, "volume_factor": ones})
    split = split_factors(d, splits, today)
    price = split * dividend_factors(d, dividends, anchor) if adjust == "all" else split
    return pl.DataFrame({"trade_date": d, "price_factor": price, "volume_factor": 1.0 / split}, schema=FACTOR_SCHEMA)


def apply_factors(minutes: pl.DataFrame, factors: pl.DataFrame) -> pl.DataFrame:
    """Minute bars with prices x price_factor and volume x volume_factor of their trade_date."""
    joined = minutes.join(factors, on="trade_date", how="left")
    return joined.with_columns(
        *(pl.col(c) * pl.col("price_factor") for c in PRICE_COLUMNS),
        pl.col("volume") * pl.col("volume_factor"),
    ).drop("volume_factor")


# ---------------------------------------------------------------------------------------------- reading
def _check_loaded(con: duckdb.DuckDBPyConnection, names: Sequence[Name]) -> None:
    rows = con.execute("SELECT value FROM flatload_meta WHERE key = ?", [META_KEY]).fetchall()
    missing = [t for t, _, _ in names if not rows or not scope_covers(rows[0][0], frozenset([t]))]
    if missing:
        listed = ",".join(dict.fromkeys(missing))
        raise ConfigError(f"no corporate actions loaded for {listed!r}: adjusted prices would be wrong",
                          hint=f"run flatload corporate-actions --symbols {listed}, "
                               "or without --symbols for every symbol")


def _dividends(con: duckdb.DuckDBPyConnection, names: Sequence[Name]) -> pl.DataFrame:
    who, params = of_names(names, "ticker", "ex_dividend_date", slack=1)
    divs = frame(con, "SELECT DISTINCT ex_dividend_date, cash_amount, currency FROM dividends "
                      f"WHERE {who} AND cash_amount > 0 ORDER BY ex_dividend_date", params)
    prev = [(calendar.previous_sessions(d, 1) or [None])[0] for d in divs["ex_dividend_date"]]
    divs = divs.with_columns(prev_date=pl.Series(prev, dtype=pl.Date))
    who, params = of_names(names, "symbol", "trade_date")
    closes = frame(con, f"SELECT trade_date AS prev_date, close_price AS prev_close FROM journal WHERE {who}", params)
    divs = divs.join(closes, on="prev_date", how="left")
    return divs.with_columns(factor=dividend_event_factors(divs))


def load_factors(con: duckdb.DuckDBPyConnection, symbol: str | Sequence[Name], dates: Sequence[dt.date],
                 adjust: str, today: dt.date | None = None) -> pl.DataFrame:
    """The factors of ``symbol`` (a ticker, or a company's names: see :func:`.minutes.read_minutes`) for
    ``dates`` from the store's splits, dividends and journal."""
    if adjust not in ADJUST:
        raise ConfigError(f"--adjust {adjust!r} is not an adjustment", hint="use none, splits or all")
    if adjust == "none":
        return factor_table(dates, adjust, pl.DataFrame(), pl.DataFrame(), dt.date.min, None)
    names: Sequence[Name] = [(symbol, None, None)] if isinstance(symbol, str) else symbol
    _check_loaded(con, names)
    who, params = of_names(names, "ticker", "execution_date", slack=1)
    splits = frame(con, f"SELECT execution_date, split_from, split_to FROM splits WHERE {who}", params)
    dividends = pl.DataFrame(schema={"ex_dividend_date": pl.Date(), "factor": pl.Float64()})
    anchor = None
    if adjust == "all":
        dividends = _dividends(con, names)
        anchor = con.execute("SELECT max(trade_date) FROM day_status WHERE dataset IN "
                             "('stocks/minute_aggs', 'stocks/day_aggs') AND status IN ('flatfile', 'rest', 'suspect')"
                             ).fetchall()[0][0]
    return factor_table(dates, adjust, splits, dividends, today or new_york_today(), anchor)
