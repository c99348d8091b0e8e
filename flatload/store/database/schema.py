"""The store's schema: the DDL in sql/ (tables, journal views), migrations, the dataset views over the
Parquet partitions, the ``sessions`` calendar and the analyst layer's views and macros.

Everything here is idempotent and runs on each load (and on first use of a store by sync and
corporate actions): a store made by an earlier flatload is brought up to date in place.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb

from . import macros, migrate, sessions, views
from .db import root_expr
from .ddl import sql_dir, split_statements


def _statements() -> Iterator[str]:
    """Every statement of sql/*.sql, in file order, comments stripped."""
    for path in sorted(sql_dir().glob("*.sql")):
        yield from split_statements(path.read_text())


def views_complete(con: duckdb.DuckDBPyConnection, data_dir: Path) -> bool:
    """True when every dataset with partitions has its view: at a run's end, after the schema was applied at
    its start, only a dataset's first files call for applying it again."""
    have = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    return views.wanted(Path(data_dir) / "parquet") <= have


def apply_schema(con: duckdb.DuckDBPyConnection, data_dir: Path, *, migrations: bool = True) -> list[str]:
    """Tables and journal views from sql/*.sql (each idempotent), migrations, the dataset views, then the
    analyst layer (the ``sessions`` calendar, views and macros from sql/analysis/).

    Returns what the migrations did (nothing on a current store). Migrations move files: run
    them only while holding the data directory's lock. A view over a dataset's partitions is
    made once that dataset has files: a glob that matches nothing cannot be bound.
    """
    for body in _statements():
        con.execute(body)
    done = migrate.migrate(con, Path(data_dir) / "parquet") if migrations else []
    for body in views.view_statements(Path(data_dir) / "parquet", root_expr(data_dir)):
        con.execute(body)
    # the analyst layer's views read day_status as the migrations leave it, and the dataset views
    if migrations or migrate.schema_version(con) >= migrate.SCHEMA_VERSION:
        sessions.sync_sessions(con)
        for body in macros.statements(Path(data_dir) / "parquet"):
            con.execute(body)
    return done
