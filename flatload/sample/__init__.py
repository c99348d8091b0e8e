"""Synthetic flat files, shaped like the vendor's, for the demo, the tests and the benchmark.

One generator per family (``stocks``, ``markets``, ``futures``; trades and quotes in ``ticks``); :func:`generate`
writes the files of any registered datasets for a list of days, in the bucket's key layout, and
:func:`write_ticks` one large tick file chunk by chunk (the benchmark's 10-20 M rows). A dataset added
to the registry needs its family here too: the contract tests generate every entry.
"""
from __future__ import annotations

import datetime as dt
import gzip
import io
from collections.abc import Callable, Iterable
from pathlib import Path

import polars as pl

from .. import datasets
from . import futures, markets, ticks
from .stocks import CSV_COLUMNS, SPECIAL_TICKERS, SampleDay, sample_day

from .ticks import tick_chunks, ticks_day, write_ticks

__all__ = ["CSV_COLUMNS", "SPECIAL_TICKERS", "SampleDay", "sample_day", "generate", "day_files", "to_csv_gz", "upload",
           "write_mirror", "family_day", "tick_chunks", "ticks_day", "write_ticks"]


_AGGREGATES = frozenset({"minute_aggs", "day_aggs"})
_TICKS = ("trades", "quotes")


def _with_ticks(family: str, aggregates: Callable[[], dict[str, pl.DataFrame]]):
    """A family generator making its aggregates and its tick kinds, each only when asked for (``kinds``)."""
    def gen(d: dt.date, n: int, seed: int, kinds: Iterable[str] | None = None,
            **kwargs: object) -> dict[str, pl.DataFrame]:
        wanted = set(kinds) if kinds is not None else _AGGREGATES | set(_TICKS)
        out = aggregates(d, n, seed, **kwargs) if wanted & _AGGREGATES else {}  # type: ignore[call-arg]
        out.update({k: ticks.ticks_day(f"{family}/{k}", d, n, seed) for k in _TICKS if k in wanted})
        return out
    return gen


def _stocks(d: dt.date, n_tickers: int, seed: int, **kwargs: object) -> dict[str, pl.DataFrame]:
    day = sample_day(d, n_tickers, seed, **kwargs)  # type: ignore[arg-type]
    return {"minute_aggs": day.minute, "day_aggs": day.day}


#: family → ``(date, n_tickers, seed, kinds=None, **options) -> {kind: frame}`` (``kinds``: the ones wanted)
GENERATORS: dict[str, Callable[..., dict[str, pl.DataFrame]]] = {
    "stocks": _with_ticks("stocks", _stocks),  # type: ignore[arg-type]
    "options": _with_ticks("options", lambda d, n, seed, **_: markets.options_day(d, max(n // 4, 6), seed)),
    "indices": lambda d, n, seed, **_: markets.indices_day(d, seed),
    "crypto": lambda d, n, seed, **_: markets.crypto_day(d, seed),
    "forex": lambda d, n, seed, **_: markets.forex_day(d, seed),
    **{name: (lambda d, n, seed, _family=name, **_: futures.futures_day(_family, d, seed))
       for name in futures.CONTRACTS},
}


def family_day(family: str, d: dt.date, n_tickers: int = 40, seed: int = 0, kinds: Iterable[str] | None = None,
               **kwargs: object) -> dict[str, pl.DataFrame]:
    """One day's generated frames of ``family``, by kind, in the CSV's column order (``kinds``: only those)."""
    try:
        gen = GENERATORS[family]
    except KeyError:
        raise KeyError(f"no sample generator for family {family!r}: add one to flatload.sample") from None
    return gen(d, n_tickers, seed, kinds=kinds, **kwargs)


def to_csv_gz(frame: pl.DataFrame, level: int = 6) -> bytes:
    """The frame as the vendor ships it: header + rows, gzip."""
    buf = io.BytesIO()
    frame.write_csv(buf)
    return gzip.compress(buf.getvalue(), compresslevel=level)


def day_files(day: SampleDay, level: int = 6) -> dict[str, bytes]:
    """``{key: gz bytes}`` for one generated stocks session."""
    return {datasets.get("stocks/minute_aggs").key(day.date): to_csv_gz(day.minute, level),
            datasets.get("stocks/day_aggs").key(day.date): to_csv_gz(day.day, level)}


def generate(dates: Iterable[dt.date], n_tickers: int = 40, seed: int = 0, names: str | None = None,
             level: int = 6, **kwargs: object) -> dict[str, bytes]:
    """``{key: gz bytes}`` for the datasets ``names`` (default: stocks) on the days their calendars expect.

    Days without a file are skipped (no stocks file on a holiday); index files also appear on
    weekday holidays, as the vendor's do.
    """
    files: dict[str, bytes] = {}
    wanted = datasets.resolve(names)
    families = {ds.family.name: ds.family for ds in wanted}
    for d in dates:
        for name, family in families.items():
            cal = family.calendar
            if not (cal.expects(d) or (cal.loads_unexpected and d.weekday() < 5)):
                continue
            kinds = {ds.kind for ds in wanted if ds.family.name == name}
            frames = family_day(name, d, n_tickers, seed, kinds=kinds, **kwargs)
            for ds in wanted:  # a generator makes no frame for a day its market is closed (futures on Good Friday)
                if ds.family.name == name and ds.kind in frames:
                    frame = frames[ds.kind]  # optional columns a kind lacks (session aggs: exchange) stay out
                    files[ds.key(d)] = to_csv_gz(frame.select(c for c in ds.csv_columns if c in frame.columns), level)
    return files


def write_mirror(root: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` under ``root`` in the bucket's layout."""
    for key, data in files.items():
        path = Path(root) / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def upload(client, bucket: str, files: dict[str, bytes]) -> None:
    """Put ``files`` into an S3 bucket (created when missing)."""
    try:
        client.head_bucket(Bucket=bucket)
    except Exception:  # noqa: BLE001 - any failure here means "create it"
        client.create_bucket(Bucket=bucket)
    for key, data in files.items():
        client.put_object(Bucket=bucket, Key=key, Body=data)
