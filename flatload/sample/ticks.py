"""Synthetic trades and quotes (stocks and options), shaped like the vendor's tick files.

Nothing here is vendor data. What matters to the loader is reproduced: the registry's
header, rows ordered by ticker then ``sip_timestamp``, integer-nanosecond timestamps with
non-zero nanoseconds, ``conditions`` as quoted comma lists, empty optional fields (TRF
columns outside TRF trades), fractional trade sizes from 2026-02-23, case-sensitive
tickers, and a very uneven number of rows per ticker. Large days are produced chunk by
chunk (:func:`tick_chunks`, :func:`write_ticks`) so generation stays in bounded memory.
"""
from __future__ import annotations

import datetime as dt
import gzip
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl

from .. import calendar
from ..datasets import get
from .markets import OPTION_CONTRACTS
from .stocks import _tickers

#: the SIP reports fractional trade sizes from this session on
FRACTIONAL_SIZES = dt.date(2026, 2, 23)
#: quote sizes are shares (not round lots) from this session on
QUOTE_SIZES_IN_SHARES = dt.date(2025, 11, 3)
TRF_EXCHANGE = 4
_CONDITIONS = pl.Series([None, None, None, None, "12", "14,41", "12,37", "37", "14,37,41"], dtype=pl.String)


def _names(family: str, d: dt.date, n: int, seed: int) -> list[str]:
    if family == "stocks":
        return _tickers(n, np.random.default_rng(seed))
    expiry = d + dt.timedelta(days=(4 - d.weekday()) % 7 or 7)
    names = [t.format(exp=f"{expiry:%y%m%d}") for t in OPTION_CONTRACTS]
    names += [f"O:SPY{expiry:%y%m%d}{'CP'[i % 2]}{int(400_000 + 500 * i):08d}" for i in range(max(0, n - len(names)))]
    return names[:max(n, 1)]


def _counts(n_tickers: int, rows: int, rng: np.random.Generator) -> np.ndarray:
    """Rows per ticker: a few names trade all day, most trade a little (every ticker at least once)."""
    weights = 1.0 / (np.arange(n_tickers) + 8.0) ** 1.2
    rng.shuffle(weights)
    counts = rng.multinomial(max(rows - n_tickers, 0), weights / weights.sum()) + 1
    return counts if rows >= n_tickers else np.minimum(counts, 1)


def _window(family: str, d: dt.date) -> tuple[int, int]:
    b = calendar.session_bounds(d)
    return (b.pre_start, b.post_end) if family == "stocks" else (b.open, b.close)


def _chunk(ds_name: str, d: dt.date, names: list[str], counts: np.ndarray, base: np.ndarray,
           rng: np.random.Generator, seq0: int) -> pl.DataFrame:
    """The rows of the tickers ``names`` (already in ticker order), each ticker's rows in time order."""
    family, kind = ds_name.split("/")
    lo, hi = _window(family, d)
    idx = np.repeat(np.arange(len(names)), counts)
    n = idx.size
    sip = rng.integers(lo, hi, n, dtype=np.int64)
    order = np.lexsort((sip, idx))
    idx, sip = idx[order], sip[order]
    # a random walk per ticker: cumulative returns, restarted at each ticker's first row
    steps = rng.normal(0, 0.0004, n)
    csum = np.cumsum(steps)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    walk = np.exp(csum - np.repeat(csum[starts] - steps[starts], counts))
    price = base[idx] * walk
    price = np.where(price >= 1.0, np.round(price, 2), np.round(price, 4))
    exchange = rng.integers(1, 22, n)
    cols: dict[str, object] = {
        "ticker": pl.Series(names, dtype=pl.String).gather(idx),
        "sip_timestamp": sip,
        "participant_timestamp": sip - rng.integers(1_000, 900_000, n),
        "sequence_number": seq0 + np.arange(n, dtype=np.int64),
        "tape": np.where(family == "stocks", rng.integers(1, 4, n), 0),
        "conditions": _CONDITIONS.gather(rng.integers(0, len(_CONDITIONS), n)),
    }
    if kind == "trades":
        cols.update(_trade_columns(d, price, exchange, sip, rng, family))
    else:
        cols.update(_quote_columns(d, price, rng, family))
    frame = pl.DataFrame(cols)
    return frame.select(get(ds_name).csv_columns)


def _trade_columns(d: dt.date, price: np.ndarray, exchange: np.ndarray, sip: np.ndarray,
                   rng: np.random.Generator, family: str) -> dict[str, object]:
    n = price.size
    size = rng.integers(1, 500, n).astype(np.float64) * np.where(rng.random(n) < 0.2, 100, 1)
    if family == "stocks" and d >= FRACTIONAL_SIZES:
        size = np.where(rng.random(n) < 0.05, np.round(rng.random(n) * 3, 6) + 0.000001, size)
    trf = (exchange == TRF_EXCHANGE) & (family == "stocks")
    return {
        "price": price, "size": pl.Series(size) if d >= FRACTIONAL_SIZES else pl.Series(size.astype(np.int64)),
        "exchange": exchange, "correction": np.where(rng.random(n) < 0.001, 1, 0),
        "id": pl.Series(rng.integers(1, 10**7, n)).cast(pl.String),
        "trf_id": pl.Series(np.where(trf, 201, 0)).cast(pl.Int64).zip_with(pl.Series(trf), pl.Series([None] * n,
                                                                                            dtype=pl.Int64)),
        "trf_timestamp": pl.Series(sip - 2_000_000).zip_with(pl.Series(trf), pl.Series([None] * n, dtype=pl.Int64)),
    }


def _quote_columns(d: dt.date, price: np.ndarray, rng: np.random.Generator, family: str) -> dict[str, object]:
    n = price.size
    half = np.maximum(np.round(price * 0.0005, 2), 0.01)
    lots = rng.integers(1, 50, n)
    shares = d >= QUOTE_SIZES_IN_SHARES and family == "stocks"
    return {
        "bid_price": np.round(price - half, 4), "ask_price": np.round(price + half, 4),
        "bid_size": lots * (100 if shares else 1), "ask_size": rng.integers(1, 50, n) * (100 if shares else 1),
        "bid_exchange": rng.integers(1, 22, n), "ask_exchange": rng.integers(1, 22, n),
        "indicators": pl.Series([None, "604"], dtype=pl.String).gather((rng.random(n) < 0.02).astype(np.int64)), "trf_timestamp": pl.Series([None] * n, dtype=pl.Int64),
    }


def tick_chunks(name: str, d: dt.date, rows: int, n_tickers: int = 40, seed: int = 0,
                chunk_rows: int = 1_000_000) -> Iterator[pl.DataFrame]:
    """One day of ``name`` (``stocks/trades``, ...) as frames of about ``chunk_rows`` rows, in the vendor's order."""
    family = name.split("/")[0]
    names = _names(family, d, n_tickers, seed)
    rng = np.random.default_rng([seed, d.toordinal(), len(name)])
    order = sorted(range(len(names)), key=lambda i: names[i])  # the vendor sorts by ticker (byte order)
    names = [names[i] for i in order]
    counts = _counts(len(names), rows, rng)
    base = np.exp(rng.uniform(np.log(0.5 if family == "options" else 2), np.log(600), len(names)))
    lo = seq = 0
    while lo < len(names):
        hi = lo + 1
        while hi < len(names) and counts[lo:hi].sum() < chunk_rows:
            hi += 1
        yield _chunk(name, d, names[lo:hi], counts[lo:hi], base[lo:hi], rng, seq)
        seq += int(counts[lo:hi].sum())
        lo = hi


def ticks_day(name: str, d: dt.date, n_tickers: int = 40, seed: int = 0, rows_per_ticker: int = 60) -> pl.DataFrame:
    """A small day of ``name`` in one frame (tests, the demo): about ``rows_per_ticker`` rows a ticker."""
    return pl.concat(list(tick_chunks(name, d, n_tickers * rows_per_ticker, n_tickers, seed)))


def write_ticks(path: Path, name: str, d: dt.date, rows: int, n_tickers: int = 10_000, seed: int = 0,
                level: int = 6, chunk_rows: int = 1_000_000) -> int:
    """Write one day of ``name`` with about ``rows`` rows as a gzip CSV at ``path``, chunk by chunk; rows written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    tmp = path.with_name(path.name + ".part")
    with gzip.open(tmp, "wb", compresslevel=level) as fh:
        for i, chunk in enumerate(tick_chunks(name, d, rows, n_tickers, seed, chunk_rows)):
            buf = io.BytesIO()
            chunk.write_csv(buf, include_header=i == 0)
            fh.write(buf.getvalue())
            written += chunk.height
    tmp.replace(path)
    return written
