"""The DuckDB file: opening it (lock-aware), its storage format, transactions.

The file is kept in DuckDB's v1.0.0 storage format (storage version 64), which every
DuckDB from 0.10 on reads: the DuckDB CLI, DBeaver, R and older Python clients open it
even when flatload itself runs a newer DuckDB. Views over the Parquet partitions never
store an absolute path, so a copied or moved store reads its own partitions and never
another store's. They find the store as :func:`root_expr` says, without depending on the
client's working directory (GUI clients have none worth the name).
"""
from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

from ...errors import ConfigError, JournalLocked
from ..files.fs import storage_error

#: the database's file name inside a data directory (its views recognise their own file by it)
JOURNAL_NAME = "flatload.duckdb"

#: written by DuckDB 0.10 through 1.x as their default; readable by every later release
STORAGE_VERSION = "v1.0.0"
STORAGE_VERSION_NUMBER = 64
#: the DuckDB variable the views read their root directory from
ROOT_VARIABLE = "flatload_root"
_HEADER = struct.Struct("<8x4sQ")
# "... Conflicting lock is held in /usr/bin/python3 (PID 1234). See also ..." (a read-only holder
# adds "However, you would be able to open this database in read-only mode ..." before "See also")
_HOLDER = re.compile(r"Conflicting lock is held in (.+?)(?: \(PID (\d+)\))?(?:\.\s|\.?$)")




def _is_lock_error(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


def lock_holder(message: str) -> str:
    """'/usr/bin/python3 (PID 1234)' out of DuckDB's lock error, or a generic phrase."""
    m = _HOLDER.search(message)
    if not m:
        return "another process"
    return f"{m.group(1)} (PID {m.group(2)})" if m.group(2) else m.group(1)


def storage_version(path: Path) -> int | None:
    """The storage version number in a DuckDB file's header (64 = v0.10/v1.0 format), or None if no file."""
    try:
        with open(path, "rb") as fh:
            magic, version = _HEADER.unpack(fh.read(_HEADER.size))
    except (OSError, struct.error):
        return None
    return int(version) if magic == b"DUCK" else None


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def root_expr(known_root: Path | None = None) -> str:
    """The SQL expression (a constant, so a table function takes it) for the store directory a view reads.

    In order: ``getvariable('flatload_root')`` (flatload sets it on each connection; a user may set it);
    else the directory of the database file itself, which DuckDB reveals through its default
    ``temp_directory`` (``<file>.tmp`` beside the file, whatever the client's working directory: the
    CLI, DBeaver, R, a notebook); else, when that cannot tell (the file was ATTACHed to another
    database, renamed, or the client set its own temp directory), an error naming the one statement
    that re-points the views. ``known_root``, where the store was when the views were made, is only
    quoted in that message as the likely answer: it is never read.
    """
    temp = "current_setting('temp_directory')"
    where = Path(known_root).resolve().as_posix() if known_root is not None else "/path/to/store"
    message = (f"flatload: this DuckDB session cannot tell where the store's Parquet files are (the file was "
               f"attached, renamed or temp_directory was set): run SET VARIABLE {ROOT_VARIABLE} = '{where}' "
               f"(the store's directory) first")
    return (f"coalesce(getvariable('{ROOT_VARIABLE}'), CASE WHEN parse_filename({temp}) = '{JOURNAL_NAME}.tmp' "
            f"THEN coalesce(nullif(parse_dirpath({temp}), ''), '.') ELSE error({_sql_literal(message)}) END)")


def set_root(con: duckdb.DuckDBPyConnection, data_dir: Path) -> None:
    """Point the views of this connection at ``data_dir`` (the store's directory)."""
    con.execute(f"SET VARIABLE {ROOT_VARIABLE} = {_sql_literal(Path(data_dir).resolve().as_posix())}")


def connect(path: Path, lock_timeout: float = 0.0, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB file, waiting with backoff up to ``lock_timeout`` s while another process holds it.

    The connection's views read the partitions next to the file, wherever it has been copied or moved.
    """
    path = Path(path)
    if read_only and not path.exists():
        raise FileNotFoundError(path)
    backoff = wait_exponential(multiplier=0.1, max=5)

    def wait(state) -> float:  # never sleep past the deadline: the last try is at lock_timeout, not after it
        return max(0.0, min(backoff(state), lock_timeout - state.seconds_since_start))

    config = {"storage_compatibility_version": STORAGE_VERSION}
    try:
        for attempt in Retrying(retry=retry_if_exception(_is_lock_error), stop=stop_after_delay(lock_timeout),
                                wait=wait, reraise=True):
            with attempt:
                con = duckdb.connect(str(path), read_only=read_only, config=config)
                set_root(con, path.parent)
                return con
    except duckdb.IOException as exc:
        if "not a valid DuckDB database" in str(exc):
            raise ConfigError("not a DuckDB database file", key=str(path),
                              hint="move it away (flatload makes a new one) or point --data-dir at the right store"
                              ) from None
        if not _is_lock_error(exc):
            raise (storage_error(exc, path, "open the journal") or exc) from None
        raise JournalLocked(f"the journal is held by {lock_holder(str(exc))}", key=str(path),
                            hint="close that DuckDB session (or pass a longer --lock-timeout) and rerun; "
                                 "finished Parquet partitions are kept") from None
    raise AssertionError("unreachable")


def ensure_storage_format(path: Path, lock_timeout: float = 0.0) -> bool:
    """Rewrite a journal written in a newer storage format into the readable one; True if it did.

    Call while holding the data-dir lock. The old file is checkpointed first (so no WAL is left
    behind to be replayed onto the new file), copied table by table into a temp file in the v1.0.0
    format, fsynced, and renamed over the old one: a crash leaves one of the two whole files.
    """
    path = Path(path)
    version = storage_version(path)
    if version is None or version == STORAGE_VERSION_NUMBER:
        return False
    con = connect(path, lock_timeout)  # a default connection: the file keeps its format until replaced
    con.execute("CHECKPOINT")
    con.close()
    tmp = path.with_name(f".{path.name}.convert-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH {_sql_literal(str(path))} AS old_store (READ_ONLY)")
        con.execute(f"ATTACH {_sql_literal(str(tmp))} AS new_store (STORAGE_VERSION '{STORAGE_VERSION}')")
        tables = con.execute("SELECT table_name, sql FROM duckdb_tables() WHERE database_name = 'old_store' "
                             "ORDER BY table_name").fetchall()
        con.execute("USE new_store")
        for name, ddl in tables:  # each table's own DDL keeps its primary key, which the upserts rely on
            con.execute(ddl)
            con.execute(f'INSERT INTO new_store."{name}" SELECT * FROM old_store."{name}"')
        # views are not copied: apply_schema makes them again, pointing at this store
        con.execute("USE memory")
        con.execute("DETACH new_store")
        con.execute("DETACH old_store")
    except BaseException:
        con.close()
        tmp.unlink(missing_ok=True)
        raise
    con.close()
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return True



@contextmanager
def writing(path: Path, action: str) -> Iterator[None]:
    """Turn a DuckDB error that is really the file system's (a full disk at the WAL or a checkpoint, a
    read-only mount) into the StorageError naming the journal; other DuckDB errors pass unchanged."""
    try:
        yield
    except duckdb.Error as exc:
        mapped = storage_error(exc, path, action)
        if mapped is None:
            raise
        raise mapped from None


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN … COMMIT, rolled back on any exception."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


class _ArrowStream:
    """A frame seen by DuckDB through the Arrow C stream interface: a new stream for every scan.

    Registering a Polars frame itself (or ``frame.to_arrow()``) makes DuckDB or Polars import
    pyarrow and numpy, a quarter of a second of a one-day load's commit for nothing.
    """

    def __init__(self, frame: Any) -> None:
        self.frame = frame

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        return self.frame.__arrow_c_stream__(requested_schema)


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, frame: Any) -> Iterator[None]:
    """``frame`` (a Polars DataFrame) as the view ``name`` of ``con`` for the duration of the block."""
    con.register(name, _ArrowStream(frame))
    try:
        yield
    finally:
        con.unregister(name)
