"""Arranging sync tests: a store with sample days loaded, and the target's rows read back independently.

The target is read with the standard library's sqlite3 and with psycopg, never through
flatload's own SQLAlchemy code, so a test sees what the trader's application would see.
"""
from __future__ import annotations

import datetime as dt
import pickle
import sqlite3
import traceback
from collections.abc import Sequence
from pathlib import Path

import flatload
from flatload.datasets.stocks import JOURNAL_COLUMNS
from flatload.settings import Settings
from tests.helpers.postgres import PgDatabase
from tests.helpers.store import query, upload_days

N_TICKERS = 10
TABLE = "backfill_data"
#: the issue's table: no close_price
NO_CLOSE = ["symbol", "trade_date", "pre_high", "pre_low", "open_price", "hod", "lod", "ah_high", "ah_low",
            "day_volume"]
#: the first session of the SIP's fractional share volume
FRACTIONAL_DAY = dt.date(2026, 2, 23)


def backfill_ddl(table: str = TABLE, real: str = "DOUBLE PRECISION", extra: str = "") -> str:
    """The issue's ``backfill_data`` table, as a trader's app would have made it."""
    metrics = ", ".join(f"{c} {real}" for c in NO_CLOSE[2:])
    return f"CREATE TABLE {table} (symbol VARCHAR(16) NOT NULL, trade_date DATE NOT NULL, {metrics}{extra}, " \
           f"PRIMARY KEY (symbol, trade_date))"


def assert_no_secret(err: BaseException, secret: str) -> None:
    """The password appears in no text an error carries: str, one_line, hint, args, repr, pickle, and the driver's
    error is not chained to it (a --verbose traceback shows only flatload's)."""
    texts = [str(err), repr(err), err.one_line(), err.hint or "", *map(str, err.args),
             "".join(traceback.format_exception_only(err)), str(pickle.loads(pickle.dumps(err)).one_line())]
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)
    for text in texts:
        assert secret not in text, text


def load_days(settings: Settings, s3_endpoint: str, bucket: str, days: list[dt.date], seed: int = 0,
              n_tickers: int = N_TICKERS) -> None:
    """Upload sample files for ``days`` (over any older objects) and load them into the store."""
    upload_days(s3_endpoint, bucket, days, n_tickers=n_tickers, seed=seed)
    summary = flatload.load(min(days), max(days), settings)
    assert summary.exit_code == 0, summary.lines()


def journal_values(settings: Settings, columns: Sequence[str] = JOURNAL_COLUMNS, where: str = "TRUE") -> list[tuple]:
    """The journal's ``columns``, ordered by (trade_date, symbol)."""
    return query(settings, f"SELECT {', '.join(columns)} FROM journal WHERE {where} ORDER BY trade_date, symbol")


def sqlite_values(path: Path, table: str, columns: Sequence[str] = JOURNAL_COLUMNS, where: str = "TRUE") -> list[tuple]:
    """The SQLite table's ``columns``, trade_date parsed back to a date, ordered like the journal."""
    con = sqlite3.connect(path)
    try:
        rows = con.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE {where} "
                           f"ORDER BY trade_date, symbol").fetchall()
    finally:
        con.close()
    at = list(columns).index("trade_date") if "trade_date" in columns else None
    return [tuple(dt.date.fromisoformat(v) if i == at else v for i, v in enumerate(r)) for r in rows]


def pg_values(db: PgDatabase, table: str, columns: Sequence[str] = JOURNAL_COLUMNS, where: str = "TRUE") -> list[tuple]:
    """The PostgreSQL table's ``columns``, ordered like the journal."""
    return db.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE {where} ORDER BY trade_date, symbol")


class TargetDb:
    """The trader's database in a test: a SQLite file or a PostgreSQL database, read and arranged directly."""

    def __init__(self, dialect: str, url: str, sqlite_path: Path | None = None, pg: PgDatabase | None = None):
        self.dialect, self.url, self.sqlite_path, self.pg = dialect, url, sqlite_path, pg

    @classmethod
    def sqlite(cls, path: Path) -> "TargetDb":
        """A SQLite file (not created yet) at ``path``."""
        return cls("sqlite", f"sqlite:///{path}", sqlite_path=path)

    @classmethod
    def postgres(cls, db: PgDatabase) -> "TargetDb":
        """A PostgreSQL database, the password in the URL."""
        return cls("postgresql", db.url(), pg=db)

    def execute(self, script: str) -> None:
        """Run DDL/DML statements (``;``-separated) as the owner."""
        if self.pg is not None:
            self.pg.execute(script)
            return
        con = sqlite3.connect(self.sqlite_path)
        try:
            con.executescript(script)
        finally:
            con.close()

    def rows(self, sql: str) -> list[tuple]:
        """The rows of one query."""
        if self.pg is not None:
            return self.pg.execute(sql)
        con = sqlite3.connect(self.sqlite_path)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    def values(self, table: str, columns: Sequence[str] = JOURNAL_COLUMNS, where: str = "TRUE") -> list[tuple]:
        """The table's ``columns``, ordered by (trade_date, symbol)."""
        if self.pg is not None:
            return pg_values(self.pg, table, columns, where)
        return sqlite_values(self.sqlite_path, table, columns, where)

    def watch_updates(self, table: str) -> None:
        """Count every UPDATE of a row of ``table`` from now on (a trigger into a ``rewrites`` table)."""
        if self.pg is not None:
            self.execute(f"CREATE TABLE rewrites (symbol text); "
                         f"CREATE FUNCTION note_rewrite() RETURNS trigger LANGUAGE plpgsql AS "
                         f"$$ BEGIN INSERT INTO rewrites VALUES (NEW.symbol); RETURN NEW; END $$; "
                         f"CREATE TRIGGER rewrite AFTER UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION note_rewrite()")
        else:
            self.execute(f"CREATE TABLE rewrites (symbol TEXT); CREATE TRIGGER rewrite AFTER UPDATE ON {table} "
                         f"BEGIN INSERT INTO rewrites VALUES (NEW.symbol); END;")

    def updates(self) -> int:
        """Rows updated since :meth:`watch_updates`."""
        return self.rows("SELECT count(*) FROM rewrites")[0][0]


def trader_ddl(dialect: str, table: str = TABLE, extra: str = "") -> str:
    """The trading-journal table traders already have: ISO text dates and integer volumes (SQLite: TEXT, REAL,
    INTEGER; PostgreSQL: text, double precision, bigint)."""
    text, real, whole = ("TEXT", "REAL", "INTEGER") if dialect == "sqlite" else ("text", "double precision", "bigint")
    prices = ", ".join(f"{c} {real}" for c in NO_CLOSE[2:-1])
    return f"CREATE TABLE {table} (symbol {text}, trade_date {text}, {prices}, day_volume {whole}{extra}, " \
           f"PRIMARY KEY (symbol, trade_date))"


def load_fractional_day(settings: Settings, s3_endpoint: str, bucket: str, d: dt.date, n_tickers: int = N_TICKERS
                        ) -> None:
    """Load a session whose volumes carry fractions of a share (the SIP's, from 2026-02-23 on)."""
    from flatload import sample
    from tests.helpers.store import s3_client

    sample.upload(s3_client(s3_endpoint), bucket, sample.generate([d], n_tickers=n_tickers, fractional_volume=True))
    summary = flatload.load(d, d, settings)
    assert summary.exit_code == 0, summary.lines()
