"""``sync``: push the journal's new and changed rows into the user's own SQLite or PostgreSQL table."""
from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, SyncError, TargetTypeMismatch
from ..settings import Settings, parse_symbols
from ..store.store import Store
from . import classify, extract, state, tables, targets, upsert
from .extract import Selection
from .summary import SyncSummary
from .tables import ColumnMap
from .targets import TableName, Target

#: rows per target transaction: large enough to amortize round trips, small enough to hold in memory
DEFAULT_BATCH_SIZE = 10_000
#: seconds between progress log lines of a long sync
_LOG_EVERY = 10.0
log = logging.getLogger("flatload.sync")


def sync(to: str, table: str, settings: Settings, *, columns: str | Sequence[str] | Mapping[str, str] | None = None,
         since: dt.date | None = None, symbols: str | Iterable[str] | None = None, create: bool = False,
         full: bool = False, batch_size: int = DEFAULT_BATCH_SIZE) -> SyncSummary:
    """Upsert the journal rows loaded since the last sync to ``to``'s ``table`` (all of them with ``full``).

    ``to`` is a SQLAlchemy URL (``sqlite:///journal.db``, ``postgresql://user@host/db``); ``table`` may
    be ``schema.table`` on PostgreSQL. ``columns``: ``JOURNAL[=TARGET]`` names (symbol and trade_date
    are always sent); ``since``: trade dates on or after it; ``symbols``: case-sensitive tickers.
    ``create`` makes a missing table. The mark is kept per target, table and these options, and moves
    only once every batch committed. Raises :class:`~flatload.errors.SyncError` subclasses (password
    never shown), :class:`~flatload.errors.ConfigError` for bad options.
    """
    started = time.monotonic()
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    target = targets.parse_target(to)
    name = targets.parse_table(table, target)
    maps = tables.parse_columns(columns)
    chosen = parse_symbols(symbols) if isinstance(symbols, str) or symbols is None else frozenset(symbols) or None
    req = _Request(settings, target, name, maps, since, chosen, state.scope(maps, since, chosen), create, batch_size)
    Store.of(settings).require()
    with extract.spool_dir(settings) as tmp:
        selection = _select(req, Path(tmp), full)
        counts, created, selection = _send(req, selection, Path(tmp))
    if selection.newest is not None:
        state.write_mark(settings, target.key, str(name), req.scope, selection.newest, selection.rows)
    return SyncSummary(target=target.shown, table=str(name), sent=counts.sent, inserted=counts.inserted,
                       updated=counts.updated, unchanged=counts.unchanged, batches=counts.batches, created=created,
                       full=full, previous=selection.previous, newest=selection.newest,
                       seconds=time.monotonic() - started)


def _check_whole(selection: Selection, prepared: tables.Prepared, maps: Sequence[ColumnMap]) -> None:
    """A count headed for an integer column must be whole (fractional volume since 2026-02-23): the first
    that is not fails the sync before anything is written."""
    for c in maps:
        if prepared.convert.get(c.target) != "whole":
            continue
        bad = selection.first_fraction(c.journal)
        if bad is not None:
            symbol, day, value = bad
            column = prepared.table.c[c.target]
            raise TargetTypeMismatch(
                f"{symbol} {day}: {c.journal} {value!r} is not a whole number, and {prepared.table.fullname}."
                f"{c.target} is {column.type} (nothing was written)",
                hint="make the column REAL / DOUBLE PRECISION (the SIP reports fractional volume since "
                     "2026-02-23), or leave it out with --columns")


@dataclass(frozen=True)
class _Request:
    """One sync's parsed options."""

    settings: Settings
    target: Target
    name: TableName
    maps: tuple[ColumnMap, ...]
    since: dt.date | None
    symbols: frozenset[str] | None
    scope: str
    create: bool
    batch_size: int


def _select(req: _Request, spool_dir: Path, full: bool) -> Selection:
    mark = None if full else (req.target.key, str(req.name), req.scope)
    path = spool_dir / ("all.parquet" if full else "new.parquet")
    return extract.select(req.settings, req.maps, path, since=req.since, symbols=req.symbols, mark=mark)


def _send(req: _Request, selection: Selection, spool_dir: Path) -> tuple[upsert.Counts, bool, Selection]:
    """Check (or create) the table, then upsert the selection batch by batch: the counts, whether it created
    the table, and the rows sent (all of them when the table is empty: new, or emptied since the last sync)."""
    target, name = req.target, req.name
    counts = upsert.Counts()
    with classify.talking_to(target, name):  # a missing driver is named like any other target problem
        engine = targets.engine(target, create=req.create, busy_timeout=req.settings.lock_timeout)
    last_log = time.monotonic()
    try:
        with classify.talking_to(target, name), engine.connect() as conn:
            prepared = tables.prepare(conn, name, req.maps, selection.schema, req.create)
            if selection.previous is not None and prepared.empty:
                log.info("sync: %s %s is empty: sending every row, not only those since the last sync",
                         target.shown, name)
                selection = _select(req, spool_dir, full=True)
            _check_whole(selection, prepared, req.maps)
            try:
                with classify.talking_to(target, name):
                    batches = selection.batches(req.maps, req.batch_size, prepared.convert)
                    for batch in upsert.push(conn, prepared, batches):
                        counts.add(batch)
                        if time.monotonic() - last_log >= _LOG_EVERY:
                            log.info("sync: %s of %s row(s) sent to %s %s", f"{counts.sent:,}",
                                     f"{selection.rows:,}", target.shown, name)
                            last_log = time.monotonic()
            except SyncError as err:
                if counts.sent:  # the committed batches are kept; say so, and that rerunning is safe
                    err.hint = (f"{err.hint}; " if err.hint else "") + \
                        f"{counts.sent:,} of {selection.rows:,} row(s) were committed first, and the next sync " \
                        f"sends them again (unchanged rows are not rewritten)"
                raise
    finally:
        engine.dispose()
    return counts, prepared.created, selection
