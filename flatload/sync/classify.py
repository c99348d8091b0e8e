"""Database errors from the target, as one-line domain errors naming the target (password hidden).

PostgreSQL errors carry a SQLSTATE; failures before a session exists (refused, unknown
host, bad password) only a libpq message. SQLite errors carry an error name (Python 3.11+)
or, before that, only their text. Transient: the server did not answer or is busy; every
other failure repeats until someone changes the target, the credentials or the options.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from ..errors import (
    ConfigError,
    SyncError,
    TargetAuthFailed,
    TargetMismatch,
    TargetMissing,
    TargetPermissionDenied,
    TargetTypeMismatch,
    TargetUnreachable,
)
from .targets import TableName, Target

_CREDENTIALS = "check the user and password (in the URL, PGPASSWORD or ~/.pgpass)"
_RERUN = "rerun when the target is reachable: the sync resends whatever it did not commit"
# libpq's prefixes say where it connected, which the key already says
_NOISE = re.compile(r'^(connection failed: )?(connection to server (at|on) "[^"]*"(, port \d+)? failed: )?'
                    r'(FATAL:|ERROR:)?\s*')
_AUTH_TEXT = re.compile(r"password authentication failed|no password supplied|authentication failed|"
                        r"role \S+ does not exist|no pg_hba\.conf entry", re.IGNORECASE)
_NO_DATABASE = re.compile(r'database "[^"]*" does not exist')
_TYPE_STATES = {"42804", "22P02", "22003", "22007", "22008", "42883", "22001", "22005"}
_CONSTRAINT_STATES = {"23502", "23503", "23505", "23514", "42P10"}
_MISSING_STATES = {"42P01", "42703", "3F000", "3D000"}
_TRANSIENT_CLASSES = ("08", "40", "53", "57", "55P03")


def detail(orig: BaseException) -> str:
    """The database's own message, first line, without libpq's connection preamble."""
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    return _NOISE.sub("", text).strip() or text


def table_grant(who: str, table: TableName | None) -> str:
    """The GRANT that lets ``who`` sync into ``table``: the upsert reads the rows it compares, and writes."""
    return f"GRANT SELECT, INSERT, UPDATE ON {table or 'the table'} TO {who} (and USAGE, CREATE on its schema " \
           f"for --create)"


def _grant_hint(target: Target, table: TableName | None, text: str) -> str:
    who = target.url.username or "this user"
    if "temporary" in text:  # each batch is staged in a temporary table
        return f"GRANT TEMPORARY ON DATABASE {target.url.database} TO {who}"
    return table_grant(who, table)


def _postgres(orig: BaseException, target: Target, table: TableName | None) -> SyncError:
    state = getattr(orig, "sqlstate", None) or ""
    text = detail(orig)
    key = target.shown
    if state in ("28P01", "28000") or (not state and _AUTH_TEXT.search(text)):
        return TargetAuthFailed(f"login refused: {text}", key=key, hint=_CREDENTIALS)
    if state == "3D000" or (not state and _NO_DATABASE.search(text)):
        return TargetMissing(text, key=key, hint="create the database (createdb NAME), or fix the URL")
    if state in ("42501", "25006"):
        return TargetPermissionDenied(text, key=key, hint=_grant_hint(target, table, text))
    if state in _MISSING_STATES:
        return TargetMissing(text, key=key, hint="fix --table/--columns, or pass --create for a missing table")
    if state in _TYPE_STATES:
        return TargetTypeMismatch(text, key=key, hint="change the column's type to match the journal's "
                                                      "(DOUBLE PRECISION, DATE, text), or leave it out with --columns")
    if state in _CONSTRAINT_STATES:
        return TargetMismatch(f"the table refused the rows: {text}", key=key,
                              hint="relax that constraint, or sync into a table made with --create")
    if not state or state.startswith(_TRANSIENT_CLASSES):
        return TargetUnreachable(f"the server did not answer: {text}" if not state else text, key=key, hint=_RERUN)
    return SyncError(f"{text} (SQLSTATE {state})", key=key, hint="fix what the database says and rerun")


def _sqlite(orig: BaseException, target: Target) -> SyncError:
    name = getattr(orig, "sqlite_errorname", "") or ""
    text = detail(orig)
    lowered = text.lower()
    key = target.shown
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in lowered:
        return TargetUnreachable("the SQLite file is locked by another program", key=key,
                                 hint="rerun when it is done (or pass a longer --lock-timeout)")
    if name.startswith(("SQLITE_READONLY", "SQLITE_PERM", "SQLITE_CANTOPEN", "SQLITE_AUTH")) \
            or "readonly database" in lowered or "unable to open database" in lowered:
        return TargetPermissionDenied(f"cannot write the SQLite file: {text}", key=key,
                                      hint="make the file and its directory writable by this user")
    if name == "SQLITE_NOTADB" or "not a database" in lowered:
        return TargetMismatch("the file is not a SQLite database", key=key, hint="check the path in --to")
    if name == "SQLITE_CONSTRAINT_DATATYPE" or lowered.startswith("cannot store"):
        return TargetTypeMismatch(text, key=key, hint="change the column's type to match the journal's "
                                                      "(REAL, DATE, TEXT), or leave it out with --columns")
    if name.startswith("SQLITE_CONSTRAINT") or "constraint" in lowered:
        return TargetMismatch(f"the table refused the rows: {text}", key=key,
                              hint="relax that constraint, or sync into a table made with --create")
    if "no such table" in lowered or "no such column" in lowered or "has no column" in lowered:
        return TargetMissing(text, key=key, hint="fix --table/--columns, or pass --create for a missing table")
    return SyncError(text, key=key, hint="fix what SQLite says and rerun")


def classify(exc: sa.exc.DBAPIError, target: Target, table: TableName | None) -> SyncError:
    """The domain error for a database error raised while talking to ``target``."""
    orig = exc.orig if exc.orig is not None else exc
    error = _sqlite(orig, target) if target.dialect == "sqlite" else _postgres(orig, target, table)
    error.message = target.redact(error.message)
    error.args = (error.message,)
    error.hint = target.redact(error.hint) if error.hint else None
    return error


@contextmanager
def talking_to(target: Target, table: TableName | None) -> Iterator[None]:
    """Turn what the target's driver raises into domain errors; the password never reaches a message."""
    try:
        yield
    except SyncError as err:  # raised by the checks, which know the table but not the target
        if err.key is None:
            err.key = target.shown
        raise
    except sa.exc.DBAPIError as exc:
        raise classify(exc, target, table) from None
    except sa.exc.NoSuchTableError:
        raise TargetMissing(f"table {table} does not exist", key=target.shown,
                            hint="pass --create to make it, or fix --table") from None
    except ModuleNotFoundError as exc:  # the driver is an install-time dependency; say which one is gone
        raise ConfigError(f"the database driver {exc.name} is not installed", key=target.shown,
                          hint="pip install 'psycopg[binary]' (or reinstall flatload)") from None
