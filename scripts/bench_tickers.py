#!/usr/bin/env python
"""What the ticker reference costs: ``flatload tickers`` against the tests' fake REST API on loopback, at the size
of the vendor's stock list, then the identity views over a journal of that many symbols.

    python scripts/bench_tickers.py --tickers 30000 --renamed 0.1 --journal-days 60

Prints the requests made and the seconds of each step (a measurement, not a test: nothing is asserted on times).
The fake answers locally, so the figure is flatload's own cost per call; the vendor's latency multiplies the
events calls (one per share class, 4 at a time).
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import polars as pl  # noqa: E402

import flatload  # noqa: E402
from flatload.analysis.sql import query  # noqa: E402
from flatload.store.database import db  # noqa: E402
from flatload.store.files import fs  # noqa: E402
from flatload.store.store import Store  # noqa: E402
from tests.helpers.rest_server import FakeRest  # noqa: E402


def _reference(n: int, renamed: float) -> tuple[list[dict], dict[str, list[tuple[str, str]]]]:
    rows, events = [], {}
    for i in range(n):
        active = i % 4 != 0  # a quarter delisted, as in the vendor's list
        figi = f"BBG{i:09d}"
        row = {"ticker": f"T{i:05d}", "name": f"Company {i}", "market": "stocks", "type": "CS", "active": active,
               "composite_figi": figi, "share_class_figi": f"SC{i:09d}", "last_updated_utc": "2024-06-01T00:00:00Z"}
        if not active:
            row["delisted_utc"] = "2022-05-02T00:00:00Z"
        rows.append(row)
        changes = [("2015-01-02", row["ticker"])]
        if i < n * renamed:
            changes = [("2010-01-04", f"OLD{i:05d}"), ("2020-03-02", row["ticker"])]
        events[figi] = changes
    return rows, events


def _journal(settings: flatload.Settings, tickers: list[str], days: int) -> int:
    start = dt.date(2022, 1, 3)
    dates = [start + dt.timedelta(days=d) for d in range(days)]
    frame = pl.DataFrame({"symbol": [t for t in tickers for _ in dates], "trade_date": dates * len(tickers)})
    frame = frame.with_columns(close_price=pl.lit(10.0), source=pl.lit("flatfile"))
    fs.prepare_data_dir(settings.data_dir)
    store = Store.of(settings)
    con = store.writer()
    try:
        store.apply_schema(con, migrations=False)
        with db.registered(con, "_j", frame):
            con.execute("INSERT INTO journal (symbol, trade_date, close_price, source, loaded_at) "
                        "SELECT symbol, trade_date, close_price, source, now()::TIMESTAMP FROM _j")
    finally:
        con.close()
    return frame.height


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tickers", type=int, default=30_000)
    ap.add_argument("--renamed", type=float, default=0.1, help="share of share classes with a rename")
    ap.add_argument("--journal-days", type=int, default=60)
    args = ap.parse_args()
    rows, events = _reference(args.tickers, args.renamed)
    with FakeRest(api_key="k", page_size=1000) as fake, tempfile.TemporaryDirectory() as tmp:
        fake.set_tickers(rows)
        for figi, changes in events.items():
            fake.set_events(figi, figi, changes)
        settings = flatload.Settings(data_dir=Path(tmp) / "data", api_key="k", rest_url=fake.url)
        n = _journal(settings, [r["ticker"] for r in rows], args.journal_days)
        t0 = time.perf_counter()
        first = flatload.load_tickers(settings)
        t1 = time.perf_counter()
        calls = len(fake.requests)
        again = flatload.refresh_tickers(settings)
        t2 = time.perf_counter()
        spans = query("SELECT count(*) AS n FROM symbol_history", settings)["n"][0]
        t3 = time.perf_counter()
        joined = query("SELECT count(*) AS n FROM journal_by_company", settings)["n"][0]
        t4 = time.perf_counter()
        one = query("SELECT count(*) AS n FROM journal_by_company WHERE company_ticker = 'T00001'", settings)["n"][0]
        t5 = time.perf_counter()
    print(f"reference: {args.tickers:,} tickers, {first.events:,} ticker changes of {first.checked:,} share classes")
    print(f"flatload tickers:         {t1 - t0:7.2f} s, {calls:,} requests ({(t1 - t0) / calls * 1e3:.2f} ms each)")
    print(f"refresh, nothing changed: {t2 - t1:7.2f} s, {len(fake.requests) - calls:,} requests "
          f"({again.checked if again else 0} share classes read again)")
    print(f"symbol_history:           {t3 - t2:7.2f} s ({spans:,} spans)")
    print(f"journal_by_company:       {t4 - t3:7.2f} s ({joined:,} of {n:,} journal rows)")
    print(f"one company's journal:    {t5 - t4:7.2f} s ({one} rows)")


if __name__ == "__main__":
    main()
