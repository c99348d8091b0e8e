"""flatload.sync against servers that refuse, credentials from every source, and the password never shown."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
from urllib.parse import quote

import pytest

import flatload
from flatload.store.store import Store
from flatload.errors import (
    JournalLocked,
    TargetAuthFailed,
    TargetMissing,
    TargetPermissionDenied,
    TargetUnreachable,
)
from flatload.settings import Settings
from tests.helpers.postgres import PgDatabase, free_port
from tests.helpers.store import query
from tests.helpers.sync import TABLE, assert_no_secret, backfill_ddl, journal_values, sqlite_values


@pytest.fixture
def store(two_day_store: Settings) -> Settings:
    """A store holding two sessions."""
    return two_day_store


def test_wrong_password_is_refused_and_never_shown(store, pg_db: PgDatabase):
    secret = "Wr0ng-Secret-Pw"
    with pytest.raises(TargetAuthFailed) as exc:
        flatload.sync(pg_db.url(password=secret), TABLE, store, create=True)
    assert exc.value.exit_code == 7 and not exc.value.transient
    assert exc.value.message == 'login refused: password authentication failed for user "trader"'
    assert exc.value.key == f"postgresql://trader:***@127.0.0.1:{pg_db.server.port}/{pg_db.name}"  # as typed
    assert exc.value.hint == "check the user and password (in the URL, PGPASSWORD or ~/.pgpass)"
    assert_no_secret(exc.value, secret)


def test_a_password_with_url_characters(store, pg_db: PgDatabase):
    secret = "p@ss:w/rd%42"
    pg_db.server.create_role("odd", secret)
    pg_db.execute("GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO odd")
    url = pg_db.url(user="odd", password=quote(secret, safe=""))
    pg_db.execute(backfill_ddl(extra=", close_price DOUBLE PRECISION"))
    pg_db.execute("GRANT SELECT, INSERT, UPDATE ON backfill_data TO odd")
    result = flatload.sync(url, TABLE, store)
    assert result.inserted == len(journal_values(store)) and "p%40ss" not in result.line()
    with pytest.raises(TargetMissing) as exc:
        flatload.sync(url, "nosuch", store)
    assert_no_secret(exc.value, secret)
    assert_no_secret(exc.value, quote(secret, safe=""))


def test_no_password_anywhere(store, pg_db: PgDatabase, monkeypatch, tmp_path):
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))
    with pytest.raises(TargetAuthFailed) as exc:
        flatload.sync(pg_db.url(password=None), TABLE, store, create=True)
    assert exc.value.message == "login refused: fe_sendauth: no password supplied"


def test_password_from_pgpassword_and_pgpass(store, pg_db: PgDatabase, monkeypatch, tmp_path):
    url = pg_db.url(password=None)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))
    monkeypatch.setenv("PGPASSWORD", pg_db.password)
    assert flatload.sync(url, TABLE, store, create=True).created
    monkeypatch.delenv("PGPASSWORD")
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{pg_db.server.port}:{pg_db.name}:{pg_db.user}:{pg_db.password}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    assert flatload.sync(url, TABLE, store, full=True).unchanged == len(journal_values(store))


def test_the_same_database_keeps_one_mark_whichever_password_source(store, pg_db: PgDatabase, monkeypatch):
    flatload.sync(pg_db.url(), TABLE, store, create=True)
    monkeypatch.setenv("PGPASSWORD", pg_db.password)
    assert flatload.sync(pg_db.url(password=None), TABLE, store).sent == 0
    marks = query(store, "SELECT target, table_name FROM sync_state")
    assert marks == [(f"postgresql+psycopg://trader@127.0.0.1:{pg_db.server.port}/{pg_db.name}", TABLE)]


def test_permission_denied(store, pg_db: PgDatabase):
    pg_db.execute(backfill_ddl(extra=", close_price DOUBLE PRECISION"))
    pg_db.server.create_role("reader", "reader-pw-3Kx")
    pg_db.execute("GRANT SELECT ON backfill_data TO reader")
    with pytest.raises(TargetPermissionDenied) as exc:
        flatload.sync(pg_db.url(user="reader", password="reader-pw-3Kx"), TABLE, store)
    assert exc.value.message == "permission denied for table backfill_data"
    assert exc.value.hint.startswith("GRANT SELECT, INSERT, UPDATE ON backfill_data TO reader")
    assert exc.value.exit_code == 7
    assert_no_secret(exc.value, "reader-pw-3Kx")


def test_a_writer_needs_temporary_tables_too(store, pg_db: PgDatabase):
    pg_db.execute(backfill_ddl(extra=", close_price DOUBLE PRECISION"))
    pg_db.server.create_role("writer", "writer-pw-8Jm")
    pg_db.execute("GRANT SELECT, INSERT, UPDATE ON backfill_data TO writer")
    pg_db.execute(f"REVOKE TEMPORARY ON DATABASE {pg_db.name} FROM PUBLIC", as_admin=True)
    url = pg_db.url(user="writer", password="writer-pw-8Jm")
    with pytest.raises(TargetPermissionDenied) as exc:
        flatload.sync(url, TABLE, store)
    assert exc.value.message == f'permission denied to create temporary tables in database "{pg_db.name}"'
    assert exc.value.hint == f"GRANT TEMPORARY ON DATABASE {pg_db.name} TO writer"
    pg_db.execute(f"GRANT TEMPORARY ON DATABASE {pg_db.name} TO writer", as_admin=True)
    assert flatload.sync(url, TABLE, store).inserted == len(journal_values(store))


def test_a_target_that_is_down(store):
    secret = "down-Secret-99"
    url = f"postgresql://trader:{secret}@127.0.0.1:{free_port()}/journal"
    with pytest.raises(TargetUnreachable) as exc:
        flatload.sync(url, TABLE, store, create=True)
    assert exc.value.transient and exc.value.exit_code == 6
    assert exc.value.message.startswith("the server did not answer: Connection refused")
    assert exc.value.hint.startswith("rerun when the target is reachable")
    assert_no_secret(exc.value, secret)
    assert query(store, "SELECT count(*) FROM sync_state")[0][0] == 0  # nothing remembered


def test_a_missing_database(store, pg_db: PgDatabase):
    with pytest.raises(TargetMissing) as exc:
        flatload.sync(pg_db.url().rsplit("/", 1)[0] + "/nosuchdb", TABLE, store)
    assert exc.value.message == 'database "nosuchdb" does not exist'


def test_a_locked_sqlite_file_is_busy(store, tmp_path):
    path = tmp_path / "busy.db"
    flatload.sync(f"sqlite:///{path}", TABLE, store, create=True)
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(TargetUnreachable) as exc:
            flatload.sync(f"sqlite:///{path}", TABLE, store.replace(lock_timeout=0.2), full=True)
    finally:
        holder.close()
    assert exc.value.message == "the SQLite file is locked by another program"


def test_summary_never_shows_the_password(store, pg_db: PgDatabase):
    result = flatload.sync(pg_db.url(), TABLE, store, create=True)
    assert pg_db.password not in result.line() and pg_db.password not in repr(result.to_dict())
    assert result.target.startswith("postgresql://trader:***@")
    assert pg_db.password not in repr(store.replace(sync_to=pg_db.url()))




def test_a_journal_held_by_another_process_after_the_target_committed(store, tmp_path):
    reader = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; "
                               f"c = duckdb.connect({str(Store.of(store).db_path)!r}, read_only=True); "
                               "print('open', flush=True); sys.stdin.read()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "open"
        with pytest.raises(JournalLocked) as exc:  # reading shares the file; recording the mark cannot
            flatload.sync(f"sqlite:///{tmp_path}/t.db", TABLE, store.replace(lock_timeout=0.3), create=True)
    finally:
        reader.communicate("")
    assert exc.value.exit_code == 3
    assert exc.value.hint.startswith("the target has the rows, but the sync could not be recorded")
    assert len(sqlite_values(tmp_path / "t.db", TABLE)) == len(journal_values(store))
    assert flatload.sync(f"sqlite:///{tmp_path}/t.db", TABLE, store).unchanged == len(journal_values(store))
