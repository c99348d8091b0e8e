"""Upserts into the target, one transaction per batch, never rewriting a row whose values are the same.

Each batch goes first into a temporary staging table on the target's connection (PostgreSQL:
``COPY``; SQLite: one prepared INSERT run per row), then into the table with one
``INSERT ... SELECT ... ON CONFLICT (key) DO UPDATE SET ... WHERE <a value IS DISTINCT FROM the
new one>`` (SQLite spells it ``IS NOT``): an unchanged row is not touched, so its triggers do not
fire and PostgreSQL writes no new row version. ``RETURNING`` counts the rows written; a join of
the staged keys with the table, in the same transaction, splits them into inserted and updated.
Staging keeps the statements short: binding a batch's values into one statement costs more
to parse than the database needs to write them.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from .tables import Prepared

STAGE = "flatload_sync_stage"


@dataclass
class Counts:
    """Rows sent, and what the target did with them."""

    sent: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    batches: int = 0

    @property
    def written(self) -> int:
        """Rows inserted or updated."""
        return self.inserted + self.updated

    def add(self, other: "Counts") -> None:
        """Fold a batch's counts into these."""
        self.sent += other.sent
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.batches += other.batches


def stage_table(prepared: Prepared) -> sa.Table:
    """The temporary staging table: the target's column names, the journal's types.

    On PostgreSQL it lives for one transaction (``ON COMMIT DROP``), so a pooler that hands each
    transaction another server connection (PgBouncer in transaction mode) never loses it.
    """
    return sa.Table(STAGE, sa.MetaData(), *[sa.Column(c, t) for c, t in prepared.stage_types.items()],
                    prefixes=["TEMPORARY"], postgresql_on_commit="DROP")


def statement(prepared: Prepared, stage: sa.Table, dialect: str) -> sa.Insert:
    """The dialect's upsert from ``stage`` into the table, returning a row per row written."""
    table = prepared.table
    names = list(prepared.stage_types)
    # SQLite needs a WHERE in an upsert's SELECT: without one, ON CONFLICT would parse as a join's ON
    rows = sa.select(*[stage.c[c] for c in names]).where(sa.true())
    ins = (postgresql if dialect == "postgresql" else sqlite).insert(table).from_select(names, rows)
    key_cols = [table.c[k] for k in prepared.key]
    if not prepared.values:  # only the key is synced: a row that exists has nothing to update
        return ins.on_conflict_do_nothing(index_elements=key_cols).returning(key_cols[0])
    changed = sa.or_(*[table.c[c].is_distinct_from(ins.excluded[c]) for c in prepared.values])
    return ins.on_conflict_do_update(index_elements=key_cols, set_={c: ins.excluded[c] for c in prepared.values},
                                     where=changed).returning(key_cols[0])


def _fill(conn: Connection, stage: sa.Table, rows: Sequence[dict]) -> None:
    if conn.dialect.name != "postgresql":
        conn.execute(stage.insert(), list(rows))
        return
    from psycopg import sql

    names = [c.name for c in stage.columns]
    copy = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(STAGE),
                                                     sql.SQL(", ").join(map(sql.Identifier, names)))
    with conn.connection.driver_connection.cursor() as cur, cur.copy(copy) as pipe:
        for row in rows:
            pipe.write_row([row[n] for n in names])


def _existing(conn: Connection, prepared: Prepared, stage: sa.Table) -> int:
    """How many staged keys the table holds already."""
    table = prepared.table
    on = sa.and_(*[table.c[k] == stage.c[k] for k in prepared.key])
    return int(conn.execute(sa.select(sa.func.count()).select_from(stage.join(table, on))).scalar_one())


def write_batch(conn: Connection, prepared: Prepared, stage: sa.Table, stmt: sa.Insert, rows: Sequence[dict]) -> Counts:
    """Upsert ``rows`` (target column names) on ``conn`` inside the caller's transaction."""
    postgres = conn.dialect.name == "postgresql"
    stage.create(conn, checkfirst=not postgres)  # SQLite keeps it for the connection, emptied after each batch
    _fill(conn, stage, rows)
    existing = _existing(conn, prepared, stage)
    written = len(conn.execute(stmt).all())
    if not postgres:
        conn.execute(stage.delete())
    inserted = len(rows) - existing
    return Counts(sent=len(rows), inserted=inserted, updated=written - inserted,
                  unchanged=len(rows) - written, batches=1)


def push(conn: Connection, prepared: Prepared, batches: Iterable[list[dict]]) -> Iterator[Counts]:
    """Write each batch in a transaction of its own; yields each batch's counts once it committed."""
    stage = stage_table(prepared)
    stmt = statement(prepared, stage, conn.dialect.name)
    for rows in batches:
        if not rows:
            continue
        with conn.begin():
            counts = write_batch(conn, prepared, stage, stmt, rows)
        yield counts
