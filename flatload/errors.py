"""Domain exceptions.

Every error the library raises on purpose is a :class:`FlatloadError`, marked
``transient`` (retrying later may succeed) or terminal (it will fail the same
way until someone changes the input or the configuration). They carry the object
key they concern and a ``hint`` (the next step for the user), and they pickle
cleanly so a worker process can hand them back to the parent.
"""
from __future__ import annotations


class FlatloadError(Exception):
    """Base class. ``str(err)`` is one line naming the file and what went wrong."""

    transient: bool = False
    #: process exit code the CLI uses when this error ends the whole run
    exit_code: int = 1

    def __init__(self, message: str = "", *, key: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.key = key
        self.hint = hint

    # BaseException pickles as ``cls(*args)`` plus ``__dict__``: keyword fields
    # ride in __dict__, so subclasses must keep ``message`` as the only positional.
    def __reduce__(self):  # type: ignore[override]
        return (self.__class__, (self.message,), self.__dict__)

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message

    def one_line(self) -> str:
        """The message plus the hint, on one line, for the CLI and the ledger."""
        text = str(self)
        return f"{text} ({self.hint})" if self.hint else text


class TerminalError(FlatloadError):
    """Retrying will not help: the input or the configuration must change."""

    transient = False


class TransientError(FlatloadError):
    """A retry later may succeed (network, throttling, a file not yet published)."""

    transient = True


class ConfigError(TerminalError):
    """Bad settings or arguments."""

    exit_code = 2


class QueryError(TerminalError):
    """An analyst's SQL failed (syntax, unknown table or column): fix the query."""

    exit_code = 2


class NotEntitled(TerminalError):
    """HTTP 401/403 from S3 or REST: the plan does not cover this dataset."""


class ObjectMissing(TransientError):
    """The flat file for a session is not in the bucket (yet)."""


class CorruptFile(TerminalError):
    """Truncated or corrupt gzip, empty object, unreadable CSV."""


class SchemaError(TerminalError):
    """A required column is missing from the CSV header."""


class WrongDate(TerminalError):
    """Every row of the file belongs to another New York date."""


class EndpointUnreachable(TransientError):
    """The S3 or REST endpoint did not answer at all."""


class FetchError(TransientError):
    """A request failed after the client's retries (5xx, throttling, dropped connections)."""


class RestUnavailable(TerminalError):
    """A day needs the REST fallback but it is off or has no API key."""


class StorageError(TerminalError):
    """The data directory cannot be written: read-only file system, permission denied, not a directory."""

    exit_code = 5


class StoreUnavailable(TransientError):
    """The object store (``--store s3://...``) did not answer, or failed after botocore's retries."""

    exit_code = 5


class DiskFull(StorageError):
    """No space left (or a quota reached) while writing into the data directory."""


class ClusterUnavailable(TransientError):
    """The Dask scheduler named by --cluster cannot be reached, or lost the run's workers."""

    exit_code = 9


class WorkerLost(TransientError):
    """A cluster worker died while it held a day, as many times as the scheduler allows: the day is not loaded."""


class JournalLocked(TransientError):
    """Another process holds the DuckDB file."""

    exit_code = 3


class AlreadyRunning(TransientError):
    """Another flatload run holds the data directory lock."""

    exit_code = 4


class Interrupted(FlatloadError):
    """The run stopped on SIGINT/SIGTERM after committing finished days."""

    def __init__(self, message: str = "", *, key: str | None = None, hint: str | None = None,
                 signum: int = 2) -> None:
        super().__init__(message, key=key, hint=hint)
        self.signum = signum

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        return 128 + self.signum


class SyncError(FlatloadError):
    """Syncing the journal into the user's own database failed; ``key`` names the target, password hidden.

    Exit 1 when the target refused the rows for a reason none of the subclasses covers.
    """


class TargetUnreachable(SyncError, TransientError):
    """The target did not answer (down, wrong host or port, network), dropped the connection, or is busy."""

    exit_code = 6


class TargetAccessDenied(SyncError, TerminalError):
    """The target refused the user: see :class:`TargetAuthFailed` and :class:`TargetPermissionDenied`."""

    exit_code = 7


class TargetAuthFailed(TargetAccessDenied):
    """Bad or missing credentials (wrong password, unknown user, no password supplied)."""


class TargetPermissionDenied(TargetAccessDenied):
    """Logged in, but not allowed to read, write or create the table (or the SQLite file is read-only)."""


class TargetMismatch(SyncError, TerminalError):
    """The target does not fit the journal: see :class:`TargetMissing` and :class:`TargetTypeMismatch`."""

    exit_code = 8


class TargetMissing(TargetMismatch):
    """The database, schema, table or a column is not there (``--create`` makes a missing table)."""


class TargetTypeMismatch(TargetMismatch):
    """A target column's type cannot hold the journal's values, or the table has no key to upsert on."""
