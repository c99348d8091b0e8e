"""The target table: which journal column goes to which target column, and a table that fits them.

``prepare`` reflects the table (or creates it with ``create``: the journal's types, primary
key ``(symbol, trade_date)``) and checks it before any row is sent: every mapped column
exists with a type that holds the journal's values, the key columns carry a primary key
or unique constraint (the upsert's conflict target), and no NOT NULL column without a
default is left for flatload to fill. Each failure names what is missing and what to do.
"""
from __future__ import annotations

import datetime as dt
import decimal
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..datasets.journal import COUNT_COLUMNS, JOURNAL_COLUMNS
from ..errors import ConfigError, TargetMismatch, TargetMissing, TargetPermissionDenied, TargetTypeMismatch
from . import classify
from .targets import TableName

#: the journal's key: always synced, the upsert's conflict target
KEY = ("symbol", "trade_date")
#: what a target column's Python type must be to hold a journal value of each kind
_HOLDS: dict[str, tuple[type, ...]] = {"text": (str,), "date": (dt.date,), "number": (float, decimal.Decimal),
                                       "integer": (int, float, decimal.Decimal), "timestamp": (dt.datetime,)}
_SQL_TYPE = {"text": "a text", "date": "a DATE", "number": "a DOUBLE PRECISION", "integer": "an integer",
             "timestamp": "a TIMESTAMP"}


@dataclass(frozen=True)
class ColumnMap:
    """A journal column and the target column it is written to."""

    journal: str
    target: str


@dataclass(frozen=True)
class Prepared:
    """A checked (or freshly created) target table and the columns written to it."""

    table: sa.Table
    columns: tuple[ColumnMap, ...]
    created: bool
    #: target column → the SQL type of the journal's values for it (staging, --create)
    stage_types: dict[str, sa.types.TypeEngine]
    #: the table held no row when checked (new, or emptied since the last sync)
    empty: bool
    #: target column → how its journal values are written: "iso" (a date or time as ISO text into a text
    #: column: SQLite has no date type) or "whole" (a count into an integer column); absent: as they are
    convert: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> list[str]:
        """The target's names for (symbol, trade_date)."""
        return [c.target for c in self.columns if c.journal in KEY]

    @property
    def values(self) -> list[str]:
        """The target columns an upsert may update."""
        return [c.target for c in self.columns if c.journal not in KEY]


def parse_columns(spec: str | Sequence[str] | Mapping[str, str] | None) -> tuple[ColumnMap, ...]:
    """``"symbol,trade_date,hod=high_of_day"`` (``JOURNAL[=TARGET]``) → column maps, symbol and trade_date first.

    None: every journal metric under its own name. symbol and trade_date are added when left out.
    """
    if spec is None:
        return tuple(ColumnMap(c, c) for c in JOURNAL_COLUMNS)
    if isinstance(spec, Mapping):
        pairs = [(j.strip(), t.strip()) for j, t in spec.items()]
    else:
        items = spec.split(",") if isinstance(spec, str) else list(spec)
        pairs = [(j.strip(), (t if eq else j).strip()) for j, eq, t in (i.partition("=") for i in items if i.strip())]
    if not pairs:
        raise ConfigError("--columns names no column", hint="leave it out to send every metric, or list some")
    if any(not j or not t for j, t in pairs):
        raise ConfigError(f"--columns {spec!r}: an empty column name", hint="write it like symbol,trade_date,hod,lod "
                                                                           "or hod=high_of_day to rename")
    given = {j for j, _ in pairs}
    pairs = [(k, k) for k in KEY if k not in given] + sorted(pairs, key=lambda p: p[0] not in KEY)
    for side in (0, 1):
        names = [p[side] for p in pairs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"--columns names the {('journal', 'target')[side]} column {', '.join(dupes)} twice")
    return tuple(ColumnMap(j, t) for j, t in pairs)


def kind(arrow_type: pa.DataType) -> str:
    """The journal column's kind: text, date, number, integer or timestamp."""
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "text"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_integer(arrow_type):
        return "integer"
    return "number"


def _sa_type(k: str) -> sa.types.TypeEngine:
    return {"text": sa.String(), "date": sa.Date(), "number": sa.Double(), "integer": sa.BigInteger(),
            "timestamp": sa.DateTime()}[k]


def holds(column_type: sa.types.TypeEngine, k: str) -> bool:
    """Whether a target column of ``column_type`` holds journal values of kind ``k`` (unknown types pass)."""
    try:
        py = column_type.python_type
    except NotImplementedError:  # a type SQLAlchemy does not know (citext, domains): the server decides
        return True
    if k == "date" and py is dt.datetime:  # a datetime is a date to Python, not to a journal
        return False
    return issubclass(py, _HOLDS[k])


def prepare(conn: Connection, name: TableName, columns: Sequence[ColumnMap], schema: pa.Schema,
            create: bool) -> Prepared:
    """The target table, checked against ``columns`` (created first when missing and ``create``), in one
    transaction on ``conn``."""
    kinds = {c.target: kind(schema.field(c.journal).type) for c in columns}
    with conn.begin():
        created = _ensure(conn, name, columns, kinds, create)
        table = sa.Table(name.name, sa.MetaData(), schema=name.schema, autoload_with=conn)
        _check_writable(conn, name)  # before the types: a table the user cannot write is a permission problem
        convert = _check_columns(table, name, columns, kinds, conn.dialect)
        _check_key(sa.inspect(conn), name, [c.target for c in columns if c.journal in KEY])
        _check_unfilled(table, name, {c.target for c in columns})
        empty = conn.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first() is None
    written = {c: {"iso": "text", "whole": "integer"}.get(convert.get(c, ""), k) for c, k in kinds.items()}
    return Prepared(table, tuple(columns), created, {c: _sa_type(k) for c, k in written.items()}, empty, convert)


def _check_writable(conn: Connection, name: TableName) -> None:
    """TargetPermissionDenied, with what to run, when this user may not read and write the table.

    Asked before the column types are checked: a user who may not write the table learns that first, not
    that a column's type would not fit either.
    """
    if conn.dialect.name == "sqlite":
        path = conn.engine.url.database
        if path and not (os.access(path, os.W_OK) and os.access(os.path.dirname(path) or ".", os.W_OK)):
            raise TargetPermissionDenied("cannot write the SQLite file: it (or its directory, where SQLite keeps "
                                         "its journal) is read-only for this user",
                                         hint="make the file and its directory writable by this user")
        return
    who = conn.execute(sa.text("SELECT current_user")).scalar_one()
    # without USAGE on the schema the server refuses even to look the table up; an unqualified name was found
    # on the search_path, which skips schemas the user may not use
    if name.schema and not conn.execute(sa.text("SELECT has_schema_privilege(current_user, :s, 'USAGE')"),
                                        {"s": name.schema}).scalar_one():
        raise TargetPermissionDenied(f"permission denied for schema {name.schema}",
                                     hint=f"GRANT USAGE ON SCHEMA {name.schema} TO {who}")
    qualified = ".".join(conn.dialect.identifier_preparer.quote(p) for p in (name.schema, name.name) if p)
    allowed = conn.execute(sa.text(
        "SELECT has_table_privilege(current_user, :t, 'SELECT') AND has_table_privilege(current_user, :t, 'INSERT') "
        "AND has_table_privilege(current_user, :t, 'UPDATE')"), {"t": qualified}).scalar_one()
    if not allowed:
        raise TargetPermissionDenied(f"permission denied for table {name}", hint=classify.table_grant(who, name))


def _ensure(conn: Connection, name: TableName, columns: Sequence[ColumnMap], kinds: dict[str, str],
            create: bool) -> bool:
    """True when the table had to be created (and was)."""
    inspector = sa.inspect(conn)
    if name.schema and name.schema not in inspector.get_schema_names():
        if not create:
            raise TargetMissing(f"schema {name.schema} does not exist",
                                hint=f"create it (CREATE SCHEMA {name.schema}), or pass --create")
        conn.execute(sa.schema.CreateSchema(name.schema, if_not_exists=True))
    if inspector.has_table(name.name, schema=name.schema):
        return False
    if not create:
        raise TargetMissing(f"table {name} does not exist",
                            hint="pass --create to make it (the journal's types, PRIMARY KEY (symbol, "
                                 "trade_date)), or fix --table")
    made = [sa.Column(c.target, _sa_type(kinds[c.target]), primary_key=c.journal in KEY, nullable=c.journal not in KEY)
            for c in columns]
    sa.Table(name.name, sa.MetaData(), *made, schema=name.schema).create(conn, checkfirst=True)
    return True


def _type_name(column_type: sa.types.TypeEngine, dialect: sa.Dialect) -> str:
    try:
        return column_type.compile(dialect=dialect)
    except sa.exc.CompileError:
        return str(column_type.__class__.__name__)


def _conversion(column_type: sa.types.TypeEngine, k: str, journal: str) -> str | None:
    """How a journal value of kind ``k`` goes into a column it does not hold as it is, or None when it cannot."""
    try:
        py = column_type.python_type
    except NotImplementedError:
        return None
    if k in ("date", "timestamp") and issubclass(py, str):
        return "iso"  # SQLite has no date type: ISO text is the convention
    if k == "number" and journal in COUNT_COLUMNS and issubclass(py, int) and not issubclass(py, bool):
        return "whole"  # checked value by value before anything is sent
    return None


def _check_columns(table: sa.Table, name: TableName, columns: Sequence[ColumnMap], kinds: dict[str, str],
                   dialect: sa.Dialect) -> dict[str, str]:
    """The conversions the target's columns need (see :attr:`Prepared.convert`); raises when one cannot hold
    the journal's values at all."""
    missing = [c.target for c in columns if c.target not in table.c]
    if missing:
        fits = ",".join(c.journal if c.journal == c.target else f"{c.journal}={c.target}"
                        for c in columns if c.target in table.c)
        raise TargetMissing(f"table {name} has no column {', '.join(missing)}",
                            hint=f"add it, or leave it out: --columns {fits}")
    convert = {}
    for c in columns:
        col = table.c[c.target]
        if holds(col.type, kinds[c.target]):
            continue
        how = _conversion(col.type, kinds[c.target], c.journal)
        if how is not None:
            convert[c.target] = how
            continue
        raise TargetTypeMismatch(
            f"column {name}.{c.target} is {_type_name(col.type, dialect)} but the journal's {c.journal} "
            f"needs {_SQL_TYPE[kinds[c.target]]} column",
            hint="change the column's type, or leave it out with --columns")
    return convert


def _check_key(inspector: sa.Inspector, name: TableName, key: list[str]) -> None:
    wanted = set(key)
    candidates = [inspector.get_pk_constraint(name.name, schema=name.schema).get("constrained_columns") or []]
    candidates += [u["column_names"] for u in inspector.get_unique_constraints(name.name, schema=name.schema)]
    candidates += [i["column_names"] for i in inspector.get_indexes(name.name, schema=name.schema)
                   if i.get("unique") and not (i.get("dialect_options") or {}).get("postgresql_where")]
    if not any(set(c) == wanted for c in candidates):
        raise TargetMismatch(f"table {name} has no primary key or unique constraint on ({', '.join(key)})",
                             hint=f"add PRIMARY KEY ({', '.join(key)}): flatload upserts on it")


def _check_unfilled(table: sa.Table, name: TableName, written: set[str]) -> None:
    for col in table.columns:
        if col.name in written or col.nullable or col.server_default is not None or col.identity is not None:
            continue
        if col.primary_key and col.autoincrement in (True, "auto") and len(table.primary_key.columns) == 1 \
                and isinstance(col.type, sa.Integer):
            continue  # a rowid / serial key fills itself
        raise TargetMismatch(f"column {name}.{col.name} is NOT NULL without a default, and the journal does not "
                             f"fill it", hint="give it a default or allow NULL, or map a journal column to it "
                                               "with --columns JOURNAL=TARGET")
