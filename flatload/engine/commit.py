"""commit: the only writer of the DuckDB journal during a load, in short, lock-aware connections.

A day counts as loaded only once its partitions are in place and its journal rows,
rejects, ledger entries and status are committed together. Finished days wait in
``pending`` until the journal is free; an analyst holding the file makes the run
wait up to ``--lock-timeout``, then it stops with finished partitions kept.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import duckdb

from ..datasets import DAY, MINUTE
from ..errors import JournalLocked
from ..settings import Settings
from ..store import db, journal
from ..store.fs import storage_error
from ..store.ledger import scope_text
from ..store.runlog import RunLog
from ..tasks.model import DayResult
from .summary import DayFailure, LoadSummary

#: once a signal came in, the final commit waits only this long (s) for a journal held elsewhere
INTERRUPTED_LOCK_WAIT = 2.0


@dataclass
class Committer:
    """Commits finished and failed days in batches; each day is its own transaction, counted once."""

    settings: Settings
    summary: LoadSummary
    runlog: RunLog
    pending: list[DayResult] = field(default_factory=list)
    pending_fail: list[DayFailure] = field(default_factory=list)
    last_commit: float = field(default_factory=time.monotonic)
    #: SIGINT/SIGTERM received so far (shared with the runner's signal handler)
    got: list[int] = field(default_factory=list)

    def connect(self, wait_lock: bool):
        """The journal; JournalLocked if it stays held. ``wait_lock``: wait up to --lock-timeout, but
        only a moment once a signal has come in (before or during the wait)."""
        path, deadline = self.settings.journal_path, time.monotonic() + self.settings.lock_timeout
        while True:
            if not wait_lock:
                return db.connect(path, 0.5)
            if self.got:
                return db.connect(path, min(self.settings.lock_timeout, INTERRUPTED_LOCK_WAIT))
            try:  # in slices, so that a signal arriving meanwhile ends the wait
                return db.connect(path, max(0.0, min(1.0, deadline - time.monotonic())))
            except JournalLocked:
                if time.monotonic() >= deadline:
                    raise

    def commit(self, wait_lock: bool) -> JournalLocked | None:
        """Commit what is pending; the lock error when the journal stayed held and ``wait_lock``."""
        if not self.pending and not self.pending_fail:
            return None
        try:
            con = self.connect(wait_lock)
        except JournalLocked as exc:
            return exc if wait_lock else None
        try:
            self._commit_pending(con)
        except duckdb.Error as exc:
            mapped = storage_error(exc, self.settings.journal_path, "commit to the journal")
            if mapped is None:
                raise
            raise mapped from None
        finally:
            con.close()
        self.last_commit = time.monotonic()
        self.runlog.write(self.summary.to_dict(), state="running")
        return None

    def _commit_pending(self, con) -> None:
        while self.pending:
            r = self.pending[0]
            journal.commit_day(con, r.date, r.metrics, r.source, r.ledger, r.rejects, self.summary.run_id)
            self.summary.record_done(self.pending.pop(0))
        while self.pending_fail:
            f = self.pending_fail[0]
            journal.commit_failure(con, f.date, f.key, DAY if "/day_aggs" in f.key else MINUTE, f.line(),
                                   scope_text(self.settings.symbols), self.summary.run_id)
            self.summary.failed.append(self.pending_fail.pop(0))

    def finish(self, outcome: str) -> None:
        """Record the run's outcome; views over Parquet globs are (re)made now that files exist."""
        try:
            con = self.connect(wait_lock=True)
        except JournalLocked:
            if self.summary.interrupted:
                return  # the journal still says 'running': the next start records the run as killed
            raise
        try:
            journal.finish_run(con, self.summary.run_id, outcome, self.summary.counts(),
                               [f.to_dict() for f in self.summary.failed])
            db.apply_schema(con, self.settings.data_dir, self.settings.asset)
        finally:
            con.close()
