"""The vendor's ticker reference and ticker changes, from REST into the store's ``tickers`` and ``ticker_events``.

``load_tickers`` (``flatload tickers``) reads ``/v3/reference/tickers`` of a market, active and delisted
(the whole list replaces what the store held of that market), then the ticker changes
(``/vX/reference/tickers/{composite_figi}/events``, one call per share class, no bulk endpoint) of the
share classes in scope (``--symbols``: those that ever listed under these tickers; else all) that are
new or whose reference row changed since their events were read. ``refresh_tickers`` (run by
``flatload refresh`` once tickers were loaded) does the same again, which costs the list's pages and
the events of what changed. The events are asked for by composite FIGI, never by ticker: a ticker
names whoever holds it now, so a recycled ticker would return the wrong company's history.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import polars as pl

from ..errors import ConfigError
from ..fetch.rest import RestClient
from ..settings import Settings
from ..store.database import db
from ..store.database.ledger import scope_text
from ..store.files import fs
from ..store.store import Store
from .sql import frame, kept_scope

#: the flatload_meta key holding the symbols whose ticker changes are loaded ('*': all)
META_KEY = "tickers"
TICKER_SCHEMA: dict[str, pl.DataType] = {
    "entity": pl.String(), "ticker": pl.String(), "name": pl.String(), "market": pl.String(),
    "locale": pl.String(), "type": pl.String(), "primary_exchange": pl.String(), "active": pl.Boolean(),
    "currency_name": pl.String(), "cik": pl.String(), "composite_figi": pl.String(),
    "share_class_figi": pl.String(), "delisted_date": pl.Date(), "last_updated_utc": pl.Datetime("us"),
}
EVENT_SCHEMA: dict[str, pl.DataType] = {"entity": pl.String(), "event_date": pl.Date(), "type": pl.String(),
                                       "ticker": pl.String()}
CHECK_SCHEMA: dict[str, pl.DataType] = {"entity": pl.String(), "last_updated_utc": pl.Datetime("us"),
                                       "found": pl.Boolean()}


@dataclass(frozen=True)
class TickerReference:
    """What one load or refresh of the ticker reference wrote."""

    tickers: int
    delisted: int
    events: int
    checked: int
    skipped: int
    scope: str

    def line(self) -> str:
        """One line for the terminal."""
        who = "all share classes" if self.scope == "*" else self.scope.replace(",", ", ")
        skipped = f"; {self.skipped} row(s) without a ticker skipped" if self.skipped else ""
        return (f"tickers: {self.tickers} ({self.delisted} delisted), {self.events} ticker change(s) of "
                f"{self.checked} share class(es) read for {who}{skipped}")


def _instant(value: Any) -> dt.datetime | None:
    try:
        ts = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None
    if ts is not None and ts.tzinfo is not None:
        ts = ts.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return ts


def _entity(r: dict[str, Any], delisted: dt.date | None) -> str:
    figi = r.get("share_class_figi") or r.get("composite_figi")
    return str(figi) if figi else f"ticker:{r['ticker']}:{delisted or 'active'}"


def ticker_rows(results: Iterable[dict[str, Any]], market: str) -> tuple[pl.DataFrame, int]:
    """The reference's results as table rows, and how many were unusable (no ticker)."""
    rows, bad = [], 0
    for r in results:
        if not isinstance(r.get("ticker"), str) or not r["ticker"]:
            bad += 1
            continue
        gone = _instant(r.get("delisted_utc"))
        # the UTC date: the vendor stamps delistings at midnight (UTC or New York), and New York's date of
        # 00:00Z would be the day before
        delisted = gone.date() if gone else None
        rows.append({"entity": _entity(r, delisted), "ticker": r["ticker"], "market": r.get("market") or market,
                     "active": bool(r.get("active", delisted is None)), "delisted_date": delisted,
                     "last_updated_utc": _instant(r.get("last_updated_utc")),
                     **{k: (str(r[k]) if r.get(k) is not None else None) for k in
                        ("name", "locale", "type", "primary_exchange", "currency_name", "cik", "composite_figi",
                         "share_class_figi")}})
    frame = pl.DataFrame(rows, schema=TICKER_SCHEMA)
    # the same listing on two pages (the vendor updating while we page) is one row: the latest
    return frame.sort("last_updated_utc", nulls_last=False).unique(["entity", "ticker"], keep="last",
                                                                   maintain_order=True), bad


def event_rows(entity: str, results: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The ticker changes of one entity's events answer (rows without a date or a ticker are dropped)."""
    out = []
    for e in (results or {}).get("events") or []:
        change = e.get("ticker_change") if isinstance(e, dict) else None
        ticker = change.get("ticker") if isinstance(change, dict) else None
        try:
            day = dt.date.fromisoformat(str(e.get("date"))[:10])
        except ValueError:
            continue
        if e.get("type", "ticker_change") == "ticker_change" and isinstance(ticker, str) and ticker:
            out.append({"entity": entity, "event_date": day, "type": "ticker_change", "ticker": ticker})
    return out


def _to_check(tickers: pl.DataFrame, held: pl.DataFrame, symbols: frozenset[str] | None) -> pl.DataFrame:
    """The entities with a composite FIGI whose events to read: in scope, and new or changed since last read."""
    wanted = tickers.filter(pl.col("composite_figi").is_not_null())
    if symbols is not None:
        in_scope = wanted.filter(pl.col("ticker").is_in(pl.Series(sorted(symbols), dtype=pl.String).implode()))
        wanted = wanted.filter(pl.col("entity").is_in(in_scope["entity"].implode()))
    latest = wanted.group_by("entity").agg(pl.col("composite_figi").max(), pl.col("last_updated_utc").max())
    joined = latest.join(held, on="entity", how="left", suffix="_held")
    changed = pl.col("checked_at").is_null() | pl.col("last_updated_utc").ne_missing(pl.col("last_updated_utc_held"))
    return joined.filter(changed).select("entity", "composite_figi", "last_updated_utc").sort("entity")


def _events(client: RestClient, todo: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every entity's ticker changes (threads: one call each) and the check rows recording what was read."""
    pairs = list(zip(todo["entity"], todo["composite_figi"]))
    with ThreadPoolExecutor(client.max_concurrency, thread_name_prefix="flatload-events") as pool:
        answers = list(pool.map(lambda p: client.ticker_events(p[1]), pairs))
    events = [row for (entity, _), answer in zip(pairs, answers) for row in event_rows(entity, answer)]
    checks = todo.select("entity", "last_updated_utc").with_columns(
        found=pl.Series([a is not None for a in answers], dtype=pl.Boolean))
    return pl.DataFrame(events, schema=EVENT_SCHEMA), checks.cast(CHECK_SCHEMA)  # type: ignore[arg-type]


def _held_checks(store: Store) -> pl.DataFrame:
    empty = pl.DataFrame(schema={**CHECK_SCHEMA, "checked_at": pl.Datetime("us")}).drop("found")
    if not store.db_path.exists():
        return empty
    con = store.reader()
    try:
        if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'ticker_event_checks'"
                           ).fetchall()[0][0]:
            return empty
        return frame(con, "SELECT entity, last_updated_utc, checked_at FROM ticker_event_checks", []).cast(
            empty.schema)  # type: ignore[arg-type]
    finally:
        con.close()


def _write(settings: Settings, market: str, tickers: pl.DataFrame, events: pl.DataFrame, checks: pl.DataFrame,
           symbols: frozenset[str] | None) -> str:
    """The market's reference rows, the entities' events and checks, and the scope, in one transaction."""
    fs.prepare_data_dir(settings.data_dir)
    store = Store.of(settings)
    con = store.writer()
    now = "CAST(timezone('UTC', now()) AS TIMESTAMP)"
    try:
        store.apply_schema(con, migrations=False)
        held = con.execute("SELECT value FROM flatload_meta WHERE key = ?", [META_KEY]).fetchall()
        scope = "*" if symbols is None or (held and held[0][0] == "*") else scope_text(
            symbols | (frozenset(held[0][0].split(",")) if held and held[0][0] else frozenset()))
        with db.transaction(con), db.registered(con, "_tickers", tickers), \
                db.registered(con, "_events", events), db.registered(con, "_checks", checks):
            con.execute("DELETE FROM tickers WHERE market = ?", [market])
            con.execute(f"INSERT INTO tickers ({', '.join(TICKER_SCHEMA)}, loaded_at) "
                        f"SELECT {', '.join(TICKER_SCHEMA)}, {now} FROM _tickers")
            con.execute("DELETE FROM ticker_events WHERE entity IN (SELECT entity FROM _checks)")
            con.execute(f"INSERT OR REPLACE INTO ticker_events SELECT *, {now} FROM _events")
            con.execute(f"INSERT OR REPLACE INTO ticker_event_checks SELECT *, {now} FROM _checks")
            con.execute("INSERT OR REPLACE INTO flatload_meta VALUES (?, ?)", [META_KEY, scope])
        return scope
    finally:
        con.close()


def load_tickers(settings: Settings, symbols: Iterable[str] | None = None, market: str = "stocks",
                 events: bool = True) -> TickerReference:
    """Load the ticker reference of ``market`` and the ticker changes of ``symbols``' share classes (None: all).

    ``events=False`` reads the reference only (no per-share-class calls): delistings and recycled tickers
    are then kept apart, renames are not followed.
    """
    wanted = frozenset(symbols) if symbols is not None else None
    if wanted is not None and not wanted:
        raise ConfigError("no symbols given", hint="pass --symbols A,B or leave it out for all share classes")
    store = Store.of(settings)
    with RestClient.of(settings, "the ticker reference and its renames") as client:
        tickers, bad = ticker_rows([*client.tickers(market, True), *client.tickers(market, False)], market)
        todo = _to_check(tickers, _held_checks(store), wanted) if events else tickers.clear().select(
            "entity", "composite_figi", "last_updated_utc")
        changes, checks = _events(client, todo)
    scope = _write(settings, market, tickers, changes, checks, wanted)
    return TickerReference(tickers.height, int((~tickers["active"]).sum()), changes.height, checks.height, bad, scope)


def refresh_tickers(settings: Settings, market: str = "stocks") -> TickerReference | None:
    """Keep a store's ticker reference current: the list again, the events of what changed since.

    None when there is nothing to keep current: no API key, REST turned off, or tickers never loaded here.
    """
    held = kept_scope(settings, META_KEY)
    if held is None:
        return None
    return load_tickers(settings, None if held == "*" else held.split(","), market)
