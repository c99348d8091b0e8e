"""The store's schema: the DDL in sql/ (tables, journal views), migrations, the dataset views over the
Parquet partitions, the ``sessions`` calendar and the analyst layer's views and macros.

Everything here is idempotent and runs on each load (and on first use of a store by sync and
corporate actions): a store made by an earlier flatload is brought up to date in place.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb

from . import macros, migrate, sessions, views
from ..files import partitions
from .db import root_expr
from .ddl import sql_dir, split_statements


def _statements() -> Iterator[str]:
    """Every statement of sql/*.sql, in file order, comments stripped."""
    for path in sorted(sql_dir().glob("*.sql")):
        yield from split_statements(path.read_text())


def views_complete(con: duckdb.DuckDBPyConnection, layout: views.Layout) -> bool:
    """True when every dataset with partitions has its view: at a run's end, after the schema was applied at
    its start, only a dataset's first files call for applying it again."""
    have = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    return views.wanted(layout) <= have


def local_layout(data_dir: Path) -> views.Layout:
    """The layout of partitions in ``<data_dir>/parquet`` (views find that folder as :func:`root_expr` says)."""
    parquet = Path(data_dir) / "parquet"
    have = frozenset(name for name in _partition_names() if partitions.has_files(parquet, name))
    return views.Layout(f"{root_expr(data_dir)} || '/parquet'", have)


def _partition_names() -> list[str]:
    from ...datasets import DERIVED, REGISTRY

    return [*REGISTRY, *DERIVED]


def apply_schema(con: duckdb.DuckDBPyConnection, data_dir: Path, *, migrations: bool = True,
                 layout: "Callable[[], views.Layout] | None" = None) -> list[str]:
    """Tables and journal views from sql/*.sql (each idempotent), migrations, the dataset views, then the
    analyst layer (the ``sessions`` calendar, views and macros from sql/analysis/).

    Returns what the migrations did (nothing on a current store). Migrations move files: run
    them only while holding the data directory's lock. A view over a dataset's partitions is
    made once that dataset has files: a glob that matches nothing cannot be bound. ``layout`` says
    where the partitions are once the tables exist (default: ``<data_dir>/parquet``).
    """
    for body in _statements():
        con.execute(body)
    done = migrate.migrate(con, Path(data_dir) / "parquet") if migrations else []
    where = layout() if layout is not None else local_layout(data_dir)
    for body in views.view_statements(where):
        con.execute(body)
    # the analyst layer's views read day_status as the migrations leave it, and the dataset views
    if migrations or migrate.schema_version(con) >= migrate.SCHEMA_VERSION:
        sessions.sync_sessions(con)
        for body in macros.statements(where.have):
            con.execute(body)
    return done
