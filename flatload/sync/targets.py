"""The user's own database: its URL (normalized, password hidden), its engine, and the table named.

URLs are SQLAlchemy's: ``sqlite:///journal.db`` (relative to the current directory),
``sqlite:////abs/path.db``, ``postgresql://user@host:5432/db`` (psycopg 3 whatever driver
the URL names: an application's ``postgresql+psycopg2://`` URL works as it is). The
password comes from the URL, else from ``PGPASSWORD`` or ``~/.pgpass`` (libpq reads
those), and is never shown: every message renders the URL with ``***`` in its place.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import NullPool

from ..errors import ConfigError, TargetMissing
from ..settings import hide_password, sync_url_problem

#: seconds to wait for a PostgreSQL server to accept a connection (libpq waits forever by default)
CONNECT_TIMEOUT = 10
_PG_DRIVERS = {"", "psycopg", "psycopg2", "psycopg2cffi", "pg8000", "asyncpg", "psycopg_async"}
_SQLITE_DRIVERS = {"", "pysqlite", "aiosqlite"}
_EXAMPLES = "sqlite:///trading_journal.db or postgresql://user@host/db"


@dataclass(frozen=True)
class TableName:
    """``schema.name`` as the user wrote it; ``schema`` None means the default (search_path / main)."""

    name: str
    schema: str | None = None

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


@dataclass(frozen=True)
class Target:
    """A parsed target URL: the engine's URL, what to show, and the key sync state is kept under."""

    url: URL
    dialect: str  # 'sqlite' | 'postgresql'
    #: the URL as the user wrote it (``postgresql://…``, a relative SQLite path): what messages echo
    typed: str = ""

    @property
    def shown(self) -> str:
        """The URL as the user typed it, the password replaced by ``***``: safe for any message or log."""
        if self.typed:
            return self.redact(self.typed)
        return self.url.render_as_string(hide_password=True)

    @property
    def key(self) -> str:
        """The URL without any password: the same database is the same key whichever password was given."""
        return self.url._replace(password=None).render_as_string(hide_password=False)  # set() ignores None

    @property
    def password(self) -> str | None:
        """The URL's own password (None when libpq finds it in PGPASSWORD or ~/.pgpass)."""
        return self.url.password  # type: ignore[return-value]

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file, absolute; None for PostgreSQL."""
        return Path(self.url.database) if self.dialect == "sqlite" and self.url.database else None

    def redact(self, text: str) -> str:
        """``text`` with this target's password (raw or URL-quoted) and any URL's password replaced by ``***``."""
        secret = self.password
        # a password of one or two characters would garble every message and is masked in URLs anyway
        if secret and len(secret) >= 3:
            for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
                text = text.replace(form, "***")
        return hide_password(text)


def parse_target(text: str) -> Target:
    """The target URL, normalized: psycopg 3 for PostgreSQL, an absolute path for SQLite."""
    problem = sync_url_problem(text)  # the schemes sync writes to: the rule the config file is checked by too
    if problem is not None:
        raise ConfigError(f"--to {problem[0]}", hint=problem[1])
    try:
        url = make_url(text.strip())
    except (sa.exc.ArgumentError, ValueError):
        raise ConfigError(f"--to {hide_password(text)!r} is not a database URL",
                          hint=f"write it like {_EXAMPLES}") from None
    backend, _, driver = url.drivername.partition("+")
    if backend in ("postgresql", "postgres") and driver in _PG_DRIVERS:
        url = url.set(drivername="postgresql+psycopg")
        if url.host and url.port is None:
            url = url.set(port=5432)  # one database, one state key, with or without the default port
        return Target(url, "postgresql", text.strip())
    if backend == "sqlite" and driver in _SQLITE_DRIVERS:
        database = url.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise ConfigError(f"--to {url.render_as_string(hide_password=True)!r} names no SQLite file",
                              hint="give a file: sqlite:///trading_journal.db (relative) or sqlite:////abs/path.db")
        return Target(url.set(drivername="sqlite", database=str(Path(database).expanduser().resolve())), "sqlite",
                      text.strip())
    raise ConfigError(f"--to {url.render_as_string(hide_password=True)!r}: flatload syncs to SQLite or PostgreSQL",
                      hint=f"write the URL like {_EXAMPLES}")


def parse_table(text: str, target: Target) -> TableName:
    """``backfill_data`` or ``schema.backfill_data`` (PostgreSQL schemas; SQLite has ``main`` only)."""
    parts = text.strip().split(".")
    if not all(parts) or len(parts) > 2:
        raise ConfigError(f"--table {text!r} is not a table name", hint="write it like backfill_data or "
                                                                       "journal.backfill_data")
    if len(parts) == 1:
        return TableName(parts[0])
    schema, name = parts
    if target.dialect == "sqlite":
        if schema != "main":
            raise ConfigError(f"--table {text!r}: a SQLite file has no schema {schema!r}",
                              hint=f"use --table {name}")
        return TableName(name)
    return TableName(name, schema)


def engine(target: Target, *, create: bool, busy_timeout: float) -> Engine:
    """A one-connection-at-a-time engine; a missing SQLite file is an error unless ``create``."""
    if target.dialect == "sqlite":
        path = target.sqlite_path
        assert path is not None
        if path.is_dir():
            raise TargetMissing("that is a directory, not a SQLite file", key=target.shown,
                                hint="name the file: sqlite:///path/to/trading_journal.db")
        if not path.exists():
            if not create:
                raise TargetMissing("the SQLite file does not exist", key=target.shown,
                                    hint="check the path, or pass --create to make it with the table")
            if not path.parent.is_dir():
                raise TargetMissing(f"the directory {path.parent} does not exist", key=target.shown,
                                    hint="create the directory first, or fix the path")
        return sa.create_engine(target.url, poolclass=NullPool, connect_args={"timeout": busy_timeout})
    # no server-side prepared statements: a pooler in transaction mode (PgBouncer) cannot keep them
    args: dict[str, object] = {"application_name": "flatload sync", "prepare_threshold": None}
    if "connect_timeout" not in target.url.query:
        args["connect_timeout"] = CONNECT_TIMEOUT
    return sa.create_engine(target.url, poolclass=NullPool, connect_args=args)
