"""flatload.sync against a real SQLite file and a real PostgreSQL server: upserts, increments, checks, options."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

import flatload
from flatload.errors import (
    ConfigError,
    SyncError,
    TargetAuthFailed,
    TargetMismatch,
    TargetMissing,
    TargetPermissionDenied,
    TargetTypeMismatch,
    TargetUnreachable,
)
from flatload.settings import Settings, hide_password
from flatload.sync.tables import ColumnMap, parse_columns
from flatload.sync.targets import parse_target
from tests.helpers.days import DST_SPRING
from tests.helpers.postgres import PgDatabase
from tests.helpers.sync import (FRACTIONAL_DAY, NO_CLOSE, TABLE, TargetDb, backfill_ddl, journal_values, load_days,
                                load_fractional_day, trader_ddl)

D1, D2 = DST_SPRING
D3 = dt.date(2024, 3, 12)


@pytest.fixture
def store(two_day_store: Settings) -> Settings:
    """A store holding two sessions."""
    return two_day_store


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path: Path) -> TargetDb:
    """The trader's database: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return TargetDb.sqlite(tmp_path / "trading_journal.db")
    return TargetDb.postgres(request.getfixturevalue("pg_db"))


# --- upserts ----------------------------------------------------------------------------------------------


def test_create_then_upsert_twice_writes_nothing_the_second_time(store, target):
    first = flatload.sync(target.url, TABLE, store, create=True)
    n = len(journal_values(store))
    assert first.created and (first.sent, first.inserted, first.updated, first.unchanged) == (n, n, 0, 0)
    assert target.values(TABLE) == journal_values(store)
    target.watch_updates(TABLE)
    second = flatload.sync(target.url, TABLE, store)
    assert (second.sent, second.written, second.created) == (0, 0, False)
    assert second.previous == first.newest
    full = flatload.sync(target.url, TABLE, store, full=True)
    assert (full.sent, full.inserted, full.updated, full.unchanged) == (n, 0, 0, n)
    assert target.updates() == 0  # not one row rewritten: no trigger fired
    assert target.values(TABLE) == journal_values(store)


def test_create_uses_the_journals_types_and_key(store, target):
    flatload.sync(target.url, TABLE, store, create=True)
    if target.dialect == "postgresql":
        types = dict(target.pg.execute("SELECT column_name, data_type FROM information_schema.columns "
                                       "WHERE table_name = %s", [TABLE]))
        key = target.pg.execute("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                                "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary "
                                "ORDER BY a.attname", [TABLE])
        assert types == {"symbol": "character varying", "trade_date": "date",
                         **{c: "double precision" for c in NO_CLOSE[2:] + ["close_price"]}}
        assert [k[0] for k in key] == ["symbol", "trade_date"]
    else:
        info = target.rows("SELECT name, type, pk FROM pragma_table_info('backfill_data')")
        assert {(n, t) for n, t, _ in info} >= {("symbol", "VARCHAR"), ("trade_date", "DATE"), ("hod", "DOUBLE")}
        assert sorted((pk, n) for n, _, pk in info if pk) == [(1, "symbol"), (2, "trade_date")]


def test_a_changed_row_is_updated_and_only_changed_rows_are_sent(store, target, s3_endpoint, bucket):
    flatload.sync(target.url, TABLE, store, create=True)
    target.watch_updates(TABLE)
    before = {r[:2]: r for r in journal_values(store)}
    load_days(store, s3_endpoint, bucket, [D2], seed=7)  # the vendor regenerated D2
    after = {r[:2]: r for r in journal_values(store)}
    changed = [k for k, r in after.items() if before.get(k) != r]
    assert changed and all(d == D2 for _, d in changed)
    result = flatload.sync(target.url, TABLE, store)
    assert result.sent == len(changed)  # D1 rows were not sent again
    assert result.updated == len([k for k in changed if k in before]) == target.updates()
    assert result.inserted == len([k for k in changed if k not in before])
    assert {r[:2]: r for r in target.values(TABLE)} == before | after  # deleted journal rows stay in the target


def test_incremental_sends_only_a_new_day(store, target, s3_endpoint, bucket):
    flatload.sync(target.url, TABLE, store, create=True)
    load_days(store, s3_endpoint, bucket, [D3])
    result = flatload.sync(target.url, TABLE, store)
    new = journal_values(store, where=f"trade_date = '{D3}'")
    assert (result.sent, result.inserted, result.updated) == (len(new), len(new), 0)
    assert target.values(TABLE) == journal_values(store)


def test_full_resends_what_the_target_lost(store, target):
    flatload.sync(target.url, TABLE, store, create=True)
    target.execute(f"DELETE FROM {TABLE} WHERE symbol = 'AAPL'; UPDATE {TABLE} SET hod = -1 WHERE symbol = 'SPY'")
    assert flatload.sync(target.url, TABLE, store).sent == 0  # incremental: the journal did not change
    result = flatload.sync(target.url, TABLE, store, full=True)
    assert (result.inserted, result.updated) == (2, 2)
    assert target.values(TABLE) == journal_values(store)


def test_a_recreated_or_emptied_table_gets_every_row(store, target):
    n = len(journal_values(store))
    flatload.sync(target.url, TABLE, store, create=True)
    target.execute(f"DROP TABLE {TABLE}")
    again = flatload.sync(target.url, TABLE, store, create=True)
    assert (again.created, again.inserted, again.previous) == (True, n, None)
    target.execute(f"DELETE FROM {TABLE}")
    assert flatload.sync(target.url, TABLE, store).inserted == n
    assert target.values(TABLE) == journal_values(store)


def test_since_and_symbols_choose_rows_and_keep_their_own_mark(store, target):
    result = flatload.sync(target.url, TABLE, store, create=True, since=D2, symbols="AAPL,TpC")
    assert result.sent == 2
    assert target.values(TABLE, ["symbol", "trade_date"]) == [("AAPL", D2), ("TpC", D2)]  # not TPC: case counts
    everything = flatload.sync(target.url, TABLE, store)  # other options: a mark of their own, all rows
    assert (everything.sent, everything.unchanged) == (len(journal_values(store)), 2)
    assert flatload.sync(target.url, TABLE, store, since=D2, symbols=["TpC", "AAPL"]).sent == 0


def test_a_subset_of_columns_into_the_issues_table(store, target):
    target.execute(backfill_ddl())
    result = flatload.sync(target.url, TABLE, store, columns=",".join(NO_CLOSE[2:]))  # key columns added
    assert result.inserted == len(journal_values(store))
    assert target.values(TABLE, NO_CLOSE) == journal_values(store, NO_CLOSE)


def test_columns_can_be_renamed(store, target):
    target.execute("CREATE TABLE bars (ticker TEXT, day DATE, high_of_day REAL, PRIMARY KEY (ticker, day))")
    flatload.sync(target.url, "bars", store, columns="symbol=ticker,trade_date=day,hod=high_of_day")
    got = target.rows("SELECT ticker, day, high_of_day FROM bars ORDER BY day, ticker")
    want = journal_values(store, ["symbol", "trade_date", "hod"])
    assert [(s, str(d), h) for s, d, h in got] == [(s, str(d), h) for s, d, h in want]


def test_source_and_loaded_at_can_be_sent(store, target):
    flatload.sync(target.url, TABLE, store, create=True, columns="hod,source,loaded_at")
    got = target.rows(f"SELECT symbol, source, loaded_at FROM {TABLE} ORDER BY trade_date, symbol")
    want = journal_values(store, ["symbol", "source", "loaded_at"])
    assert [(s, src, str(at)) for s, src, at in got] == [(s, src, str(at)) for s, src, at in want]


def test_schema_qualified_table_on_postgres(store, pg_db):
    target = TargetDb.postgres(pg_db)
    result = flatload.sync(target.url, "journal.backfill_data", store, create=True)
    assert result.table == "journal.backfill_data" and result.created
    assert target.values("journal.backfill_data") == journal_values(store)
    with pytest.raises(TargetMissing) as exc:
        flatload.sync(target.url, "other.backfill_data", store)
    assert exc.value.message == "schema other does not exist"


# --- the target does not fit --------------------------------------------------------------------------


def test_missing_table_without_create(store, target):
    with pytest.raises(TargetMissing) as exc:
        flatload.sync(target.url, TABLE, store)
    if target.dialect == "sqlite":  # no file: none is made
        assert exc.value.message == "the SQLite file does not exist"
        assert not target.sqlite_path.exists()
        target.execute("CREATE TABLE other (a INTEGER)")
        with pytest.raises(TargetMissing) as exc:
            flatload.sync(target.url, TABLE, store)
    assert exc.value.message == "table backfill_data does not exist"
    assert exc.value.hint.startswith("pass --create to make it")
    assert exc.value.exit_code == 8 and not exc.value.transient


def test_missing_column_is_named_with_the_columns_that_fit(store, target):
    target.execute(backfill_ddl())
    with pytest.raises(TargetMissing) as exc:
        flatload.sync(target.url, TABLE, store)
    assert exc.value.message == "table backfill_data has no column close_price"
    assert exc.value.hint == f"add it, or leave it out: --columns {','.join(NO_CLOSE)}"
    assert exc.value.key == flatload.sync.targets.parse_target(target.url).shown


def test_type_mismatch(store, target):
    target.execute(backfill_ddl(extra=", close_price INTEGER"))
    with pytest.raises(TargetTypeMismatch) as exc:
        flatload.sync(target.url, TABLE, store)
    assert exc.value.message.startswith("column backfill_data.close_price is INTEGER but the journal's close_price "
                                        "needs a DOUBLE PRECISION column")
    assert exc.value.exit_code == 8


def test_a_value_the_column_cannot_hold_on_postgres(store, pg_db: PgDatabase):
    pg_db.execute(backfill_ddl().replace("VARCHAR(16)", "VARCHAR(3)"))
    with pytest.raises(TargetTypeMismatch) as exc:
        flatload.sync(pg_db.url(), TABLE, store, columns=",".join(NO_CLOSE))
    assert exc.value.message == "value too long for type character varying(3)"
    assert exc.value.hint.startswith("change the column's type to match the journal's")


def test_no_key_to_upsert_on(store, target):
    target.execute("CREATE TABLE plain (symbol TEXT, trade_date DATE, hod DOUBLE PRECISION)")
    with pytest.raises(TargetMismatch) as exc:
        flatload.sync(target.url, "plain", store, columns="hod")
    assert exc.value.message == "table plain has no primary key or unique constraint on (symbol, trade_date)"


def test_a_unique_constraint_is_key_enough(store, target):
    serial = "id SERIAL PRIMARY KEY" if target.dialect == "postgresql" else "id INTEGER PRIMARY KEY"
    target.execute(f"CREATE TABLE keyed ({serial}, symbol TEXT NOT NULL, trade_date DATE NOT NULL, "
                   f"hod DOUBLE PRECISION, UNIQUE (symbol, trade_date))")
    assert flatload.sync(target.url, "keyed", store, columns="hod").inserted == len(journal_values(store))


def test_a_not_null_column_flatload_does_not_fill(store, target):
    target.execute(backfill_ddl(extra=", note TEXT NOT NULL"))
    with pytest.raises(TargetMismatch) as exc:
        flatload.sync(target.url, TABLE, store, columns=",".join(NO_CLOSE))
    assert exc.value.message == "column backfill_data.note is NOT NULL without a default, and the journal does " \
                                "not fill it"


def test_a_failed_batch_keeps_the_committed_ones_and_the_mark(store, target):
    target.execute(backfill_ddl(extra=", CHECK (symbol <> 'SPY')"))
    cols = ",".join(NO_CLOSE)
    with pytest.raises(TargetMismatch) as exc:
        flatload.sync(target.url, TABLE, store, columns=cols, batch_size=4)
    committed = len(target.values(TABLE, NO_CLOSE))
    assert 0 < committed < len(journal_values(store))
    assert exc.value.message.startswith("the table refused the rows: ")
    assert f"{committed:,} of {len(journal_values(store)):,} row(s) were committed first" in exc.value.hint
    if target.dialect == "postgresql":
        target.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT {TABLE}_symbol_check")
    else:  # SQLite cannot drop a CHECK: the trader rebuilds the table
        target.execute(f"ALTER TABLE {TABLE} RENAME TO old; {backfill_ddl()}; INSERT INTO {TABLE} SELECT * FROM old; "
                       f"DROP TABLE old")
    retry = flatload.sync(target.url, TABLE, store, columns=cols)  # the mark did not move: everything again
    assert (retry.sent, retry.unchanged) == (len(journal_values(store)), committed)
    assert target.values(TABLE, NO_CLOSE) == journal_values(store, NO_CLOSE)


# --- options ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url,message", [
    ("mysql://u:pw-Secret1@h/db", "--to 'mysql://u:***@h/db': flatload syncs to SQLite or PostgreSQL"),
    ("sqlite://", "--to 'sqlite://' names no SQLite file"),
    ("no url at all", "--to 'no url at all' is not a database URL"),
])
def test_bad_urls(store, url, message):
    with pytest.raises(ConfigError) as exc:
        flatload.sync(url, TABLE, store)
    assert exc.value.message == message and exc.value.exit_code == 2


def test_unknown_journal_column(store, tmp_path):
    with pytest.raises(ConfigError) as exc:
        flatload.sync(f"sqlite:///{tmp_path}/x.db", TABLE, store, columns="hod,vwap", create=True)
    assert exc.value.message == "--columns: the journal has no column vwap"
    assert not (tmp_path / "x.db").exists()


def test_no_journal_yet(settings, tmp_path):
    settings.data_dir.mkdir(parents=True)
    with pytest.raises(ConfigError) as exc:
        flatload.sync(f"sqlite:///{tmp_path}/x.db", TABLE, settings, create=True)
    assert exc.value.message == "no journal in this data directory yet"


def test_sqlite_schema_other_than_main(store, tmp_path):
    with pytest.raises(ConfigError) as exc:
        flatload.sync(f"sqlite:///{tmp_path}/x.db", "journal.backfill_data", store)
    assert exc.value.message == "--table 'journal.backfill_data': a SQLite file has no schema 'journal'"


def test_parse_columns():
    assert parse_columns("hod, lod=low") == (ColumnMap("symbol", "symbol"), ColumnMap("trade_date", "trade_date"),
                                             ColumnMap("hod", "hod"), ColumnMap("lod", "low"))
    assert parse_columns(["trade_date=day", "symbol"])[:2] == (ColumnMap("trade_date", "day"),
                                                               ColumnMap("symbol", "symbol"))
    assert parse_columns({"hod": "high"})[-1] == ColumnMap("hod", "high")
    with pytest.raises(ConfigError, match="names the target column x twice"):
        parse_columns("hod=x,lod=x")
    with pytest.raises(ConfigError, match="an empty column name"):
        parse_columns("hod=")


NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=12)
#: the texts checked hold these words anyway: a password that is one of their substrings proves nothing
_AROUND = "postgresql+psycopg2://trader:***@db.example.com:5433/app failed: / "
SECRET = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs")), min_size=3,
                 max_size=24).filter(lambda s: s not in _AROUND)


@given(st.lists(NAME, unique=True, min_size=1, max_size=8))
def test_parse_columns_keeps_order_and_puts_the_key_first(names):
    maps = parse_columns(",".join(names))
    assert [m.journal for m in maps[:2]] == ["symbol", "trade_date"]
    assert [m.journal for m in maps[2:]] == [n for n in names if n not in ("symbol", "trade_date")]
    assert all(m.journal == m.target for m in maps)


@given(st.dictionaries(NAME, NAME, min_size=1, max_size=6))
def test_parse_columns_renames_or_refuses_a_target_used_twice(mapping):
    spec = ",".join(f"{j}={t}" for j, t in mapping.items())
    try:
        maps = parse_columns(spec)
    except ConfigError as exc:
        assert "twice" in exc.message
        return
    assert {(m.journal, m.target) for m in maps} >= set(mapping.items())
    assert len({m.target for m in maps}) == len(maps)


@given(SECRET, st.sampled_from(["postgresql", "postgres", "postgresql+psycopg2"]))
def test_a_url_password_is_never_shown(secret, scheme):
    url = f"{scheme}://trader:{quote(secret, safe='')}@db.example.com:5433/app"
    target = parse_target(url)
    assert target.password == secret
    for text in (target.shown, target.key, hide_password(url), target.redact(f"failed: {secret} / {url}")):
        assert secret not in text and quote(secret, safe="") not in text
    assert target.shown == f"{scheme}://trader:***@db.example.com:5433/app"  # as typed, password masked
    assert target.key == "postgresql+psycopg://trader@db.example.com:5433/app"


def test_errors_are_sync_errors():
    for cls in (TargetUnreachable, TargetAuthFailed, TargetPermissionDenied, TargetMissing, TargetTypeMismatch):
        assert issubclass(cls, SyncError)


# --- the trader's own table: ISO text dates, integer volumes ------------------------------------------------


def test_the_traders_own_table_takes_iso_dates_and_whole_volumes(store, target):
    target.execute(trader_ddl(target.dialect))
    first = flatload.sync(target.url, TABLE, store, columns=",".join(NO_CLOSE))
    want = journal_values(store, NO_CLOSE)
    assert first.inserted == len(want)
    got = target.rows(f"SELECT {', '.join(NO_CLOSE)} FROM {TABLE} ORDER BY trade_date, symbol")
    assert [r[:2] for r in got] == [(s, d.isoformat()) for s, d, *_ in want]  # ISO text, as the app wrote it
    assert [r[-1] for r in got] == [None if r[-1] is None else int(r[-1]) for r in want]
    assert all(type(r[-1]) is int for r in got if r[-1] is not None)
    assert [r[2:-1] for r in got] == [tuple(r[2:-1]) for r in want]
    target.watch_updates(TABLE)
    again = flatload.sync(target.url, TABLE, store, columns=",".join(NO_CLOSE), full=True)
    assert (again.unchanged, again.written, target.updates()) == (len(want), 0, 0)  # like compares with like


def test_loaded_at_goes_into_a_text_column_as_iso_text(store, target):
    target.execute(f"CREATE TABLE stamps (symbol TEXT, trade_date TEXT, loaded_at TEXT, PRIMARY KEY (symbol, "
                   f"trade_date))")
    flatload.sync(target.url, "stamps", store, columns="loaded_at")
    got = target.rows("SELECT loaded_at FROM stamps ORDER BY trade_date, symbol")
    assert [g for (g,) in got] == [at.isoformat() for (at,) in journal_values(store, ["loaded_at"])]


def test_a_fractional_volume_for_an_integer_column_fails_naming_it_and_writes_nothing(settings, s3_endpoint, bucket,
                                                                                      target):
    day = FRACTIONAL_DAY
    load_fractional_day(settings, s3_endpoint, bucket, day)
    target.execute(trader_ddl(target.dialect))
    with pytest.raises(TargetTypeMismatch) as exc:
        flatload.sync(target.url, TABLE, settings, columns=",".join(NO_CLOSE), batch_size=2)
    symbol, volume = journal_values(settings, ["symbol", "day_volume"], f"day_volume <> floor(day_volume)")[0]
    assert exc.value.message.startswith(f"{symbol} {day}: day_volume {volume!r} is not a whole number, and "
                                        f"backfill_data.day_volume is ")
    assert exc.value.hint.startswith("make the column REAL / DOUBLE PRECISION") and exc.value.exit_code == 8
    assert target.rows(f"SELECT count(*) FROM {TABLE}") == [(0,)]


def test_a_table_the_user_cannot_write_is_a_permission_problem_before_any_type_check(store, pg_db: PgDatabase):
    pg_db.execute(backfill_ddl(extra=", close_price INTEGER"))  # a mismatch too: the permission is said first
    pg_db.server.create_role("viewer", "viewer-pw-7Qz")
    pg_db.execute("GRANT SELECT ON backfill_data TO viewer")
    with pytest.raises(TargetPermissionDenied) as exc:
        flatload.sync(pg_db.url(user="viewer", password="viewer-pw-7Qz"), TABLE, store)
    assert exc.value.message == "permission denied for table backfill_data" and exc.value.exit_code == 7
    assert exc.value.hint.startswith("GRANT SELECT, INSERT, UPDATE ON backfill_data TO viewer")
