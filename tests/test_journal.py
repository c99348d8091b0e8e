"""records.upsert_day on a real DuckDB file: idempotent, per-date, scope-limited."""
from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from flatload import datasets
from flatload.datasets.stocks import JOURNAL_COLUMNS, METRICS_SCHEMA
from flatload.store.database import db, records, schema
from flatload.store.database.ledger import scope_covers

D1 = dt.date(2024, 3, 8)
D2 = dt.date(2024, 3, 11)
SYMBOLS = ["AAPL", "TpC", "TPC", "NA", "BRK.B", "ABRpD", "x", "SPY"]
VALUE = st.one_of(st.none(), st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False))
#: exact: fractional shares trade since 2026-02-23
VOLUME = st.one_of(st.none(), st.floats(min_value=0, max_value=1e15, allow_nan=False, allow_infinity=False))
SELECT = ("SELECT symbol, trade_date, pre_high, pre_low, open_price, hod, lod, close_price, ah_high, ah_low, "
          "day_volume, source, loaded_at FROM journal ORDER BY trade_date, symbol")
HYPO = dict(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def metrics_frame(d: dt.date, rows: dict[str, tuple]) -> pl.DataFrame:
    """A metrics frame (journal columns) for ``d`` from ``{symbol: (9 values)}``."""
    data = [(sym, d, *vals) for sym, vals in sorted(rows.items())]
    return pl.DataFrame(data, schema=METRICS_SCHEMA, orient="row")


@st.composite
def day_rows(draw, symbols=SYMBOLS, min_size=0):
    chosen = draw(st.lists(st.sampled_from(symbols), unique=True, min_size=min_size))
    return {s: (*draw(st.tuples(*[VALUE] * 8)), draw(VOLUME)) for s in chosen}


@pytest.fixture
def con(tmp_path: Path):
    c = duckdb.connect(str(tmp_path / "flatload.duckdb"))
    schema.apply_schema(c, tmp_path)
    yield c
    c.close()


def _reset(con) -> None:
    con.execute("DELETE FROM journal")


def _upsert(con, d, rows, source="flatfile", scope=None) -> None:
    with db.transaction(con):
        records.upsert_day(con, d, metrics_frame(d, rows), source, scope)


def _all(con) -> list[tuple]:
    return con.execute(SELECT).fetchall()


def _expected(d: dt.date, rows: dict[str, tuple], source: str = "flatfile") -> list[tuple]:
    return [(s, d, *rows[s], source) for s in sorted(rows)]


def _by_key(table: list[tuple]) -> dict[tuple, tuple]:
    return {(r[0], r[1]): r for r in table}


def test_schema_is_idempotent(tmp_path: Path):
    path = tmp_path / "j.duckdb"
    for _ in range(2):
        c = duckdb.connect(str(path))
        schema.apply_schema(c, tmp_path)
        cols = [r[0] for r in c.execute("DESCRIBE journal").fetchall()]
        c.close()
    assert cols == JOURNAL_COLUMNS + ["source", "loaded_at"]


@hsettings(**HYPO)
@given(day_rows())
def test_upsert_twice_changes_nothing(con, rows):
    _reset(con)
    _upsert(con, D1, rows)
    first = _all(con)
    assert [r[:-1] for r in first] == _expected(D1, rows)
    _upsert(con, D1, rows)
    assert _all(con) == first  # loaded_at included
    keys = [(r[0], r[1]) for r in first]
    assert len(keys) == len(set(keys))


def test_changed_row_gets_new_loaded_at_others_keep_theirs(con):
    rows = {"TpC": (1.0, 0.5, 2.0, 3.0, 1.5, 2.5, None, None, 10), "TPC": (None,) * 8 + (None,),
            "NA": (4.0, 3.0, 4.0, 5.0, 3.0, 4.5, 6.0, 1.0, 0)}
    _upsert(con, D1, rows)
    before = _by_key(_all(con))
    time.sleep(0.002)
    changed = {**rows, "TpC": (1.0, 0.5, 2.0, 3.0, 1.5, 2.5, 9.0, None, 10)}
    _upsert(con, D1, changed, source="rest")
    after = _by_key(_all(con))
    assert after[("TpC", D1)][8] == 9.0 and after[("TpC", D1)][-1] > before[("TpC", D1)][-1]
    # a source change alone is a change; TPC/NA values are equal but their source moved to rest
    assert after[("NA", D1)][-2] == "rest"
    _upsert(con, D1, changed, source="rest")
    assert _by_key(_all(con)) == after


def _two_days(con, rows) -> None:
    """An empty journal, then the same rows upserted for D1 and D2."""
    _reset(con)
    _upsert(con, D1, rows)
    _upsert(con, D2, rows)


@hsettings(**HYPO)
@given(day_rows(min_size=1), st.data())
def test_fewer_symbols_removes_missing_for_that_date_only(con, rows, data):
    _two_days(con, rows)
    other_day = [r for r in _all(con) if r[1] == D2]
    keep = data.draw(st.sets(st.sampled_from(sorted(rows))))
    fewer = {s: rows[s] for s in keep}
    _upsert(con, D1, fewer)
    table = _all(con)
    assert [r[:-1] for r in table if r[1] == D1] == _expected(D1, fewer)
    assert [r for r in table if r[1] == D2] == other_day  # untouched, loaded_at included


@hsettings(**HYPO)
@given(day_rows(min_size=1), st.data())
def test_scoped_upsert_only_touches_scope(con, rows, data):
    _two_days(con, rows)
    before = _by_key(_all(con))
    scope = frozenset(data.draw(st.sets(st.sampled_from(SYMBOLS), min_size=1)))
    # what a scoped load hands over: metrics for (some of) the scope's symbols, new values
    new = data.draw(day_rows(symbols=sorted(scope)))
    _upsert(con, D1, new, scope=scope)
    after = _by_key(_all(con))
    for key, row in before.items():
        sym, d = key
        if d == D2 or sym not in scope:
            assert after.get(key) == row, key  # outside the scope: identical, loaded_at included
    for sym in scope:
        if sym in new:
            assert after[(sym, D1)][:-1] == (sym, D1, *new[sym], "flatfile")
        else:
            assert (sym, D1) not in after  # in scope but absent from the new metrics: removed
    keys = list(after)
    assert len(keys) == len(set(keys))


def test_upsert_rolls_back_with_the_transaction(con):
    rows = {"AAPL": (1.0,) * 8 + (5,)}
    _upsert(con, D1, rows)
    before = _all(con)
    with pytest.raises(RuntimeError):
        with db.transaction(con):
            records.upsert_day(con, D1, metrics_frame(D1, {"TpC": (2.0,) * 8 + (1,)}), "flatfile", None)
            raise RuntimeError("crash before commit")
    assert _all(con) == before


def test_ledger_round_trip(con):
    entry = records.LedgerEntry(datasets.get("stocks/minute_aggs").key(D1), "stocks/minute_aggs", D1,
                                "abc-9", 10, "2024-03-09T00:00:00+00:00", 5, 1, 0, "loaded", None, "*")
    with db.transaction(con):
        records.write_ledger(con, [entry], "run-1")
    assert records.read_ledger(con, [entry.key, "other"]) == {entry.key: entry}
    assert scope_covers("*", frozenset({"TpC"}))
    assert scope_covers("NA,TpC", frozenset({"TpC"}))
    assert not scope_covers("TPC", frozenset({"TpC"}))
    assert not scope_covers("TpC", None)
