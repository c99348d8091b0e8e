"""commit: the only writer of the DuckDB journal during a load, in short, lock-aware connections.

A day counts as loaded only once its partitions are in place and its journal rows,
rejects, ledger entries and status are committed together. Finished days wait in
the runner until the journal is free; an analyst holding the file makes the run
wait up to ``--lock-timeout``, then it stops with finished partitions kept.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import duckdb

from .. import datasets as registry
from ..errors import FlatloadError, JournalLocked, StorageError
from ..settings import Settings
from ..store.database import records
from ..store.store import Store
from ..store.database.ledger import LedgerEntry
from ..tasks.model import TaskResult
from ..tasks.scope import scope_for
from .summary import DayFailure, LoadSummary

#: once a signal came in, the final commit waits only this long (s) for a journal held elsewhere
INTERRUPTED_LOCK_WAIT = 2.0
log = logging.getLogger("flatload")


class Batch:
    """One connection's worth of commits: each day is its own transaction, so a day committed stays committed."""

    def __init__(self, committer: "Committer", con: duckdb.DuckDBPyConnection) -> None:
        self.committer, self.con = committer, con

    def day(self, r: TaskResult) -> TaskResult:
        """Commit a finished day (journal rows, rejects, ledger, status) and forget its recovery record; the day."""
        statuses = {ds: ("suspect", r.suspect[ds]) if ds in r.suspect else (src, None) for ds, src in r.sources.items()}
        store = self.committer.store
        current = store.pointers(r.version, r.written)
        records.commit_day(self.con, r.date, r.ledger, r.rejects, statuses, self.committer.run_id,
                           journal=r.derived.get(registry.JOURNAL.name), source=r.source, scope=r.scope.derived_rows,
                           versions=current)
        store.remove_record(r.family, r.date)
        store.retire(r.date, current)  # after the commit: a reader may still be on the superseded version
        return r

    def failures(self, failures: list[DayFailure]) -> list[DayFailure]:
        """Record failed days, all in one transaction (a 30-year range of missing days records in a moment)."""
        records.commit_failures(self.con, *self.committer.failure_rows(failures), self.committer.run_id)
        return failures


@dataclass
class Committer:
    """The journal's one writer during a load. It owns nothing the runner changes: it takes results and
    failures and says what it committed (:class:`Batch`)."""

    settings: Settings
    run_id: str
    #: true once a signal came in: waits for a held journal are then short
    interrupted: Callable[[], bool] = lambda: False
    store: Store = field(init=False)

    def __post_init__(self) -> None:
        self.store = Store.of(self.settings)

    def connect(self, wait_lock: bool) -> duckdb.DuckDBPyConnection:
        """The journal; JournalLocked if it stays held. ``wait_lock``: wait up to --lock-timeout, but
        only a moment once a signal has come in (before or during the wait)."""
        store, deadline = self.store, time.monotonic() + self.settings.lock_timeout
        while True:
            if not wait_lock:
                return store.writer(0.5)
            if self.interrupted():
                return store.writer(min(self.settings.lock_timeout, INTERRUPTED_LOCK_WAIT))
            try:  # in slices, so that a signal arriving meanwhile ends the wait
                return store.writer(max(0.0, min(1.0, deadline - time.monotonic())))
            except JournalLocked:
                if time.monotonic() >= deadline:
                    raise

    @contextmanager
    def batch(self, wait_lock: bool) -> Iterator[Batch]:
        """A batch of commits on one short connection (JournalLocked when the journal stays held)."""
        con = self.connect(wait_lock)
        # a day's commit is a few thousand rows: DuckDB's thread pool would only take the cores of the workers
        # parsing the next days
        con.execute("SET threads = 1")
        with self.store.writing("commit to the journal"):
            try:
                yield Batch(self, con)
            finally:
                con.close()  # a checkpoint at close writes too

    def failure_rows(self, failures: list[DayFailure]) -> tuple[list[LedgerEntry], list[tuple]]:
        entries, days = {}, []
        for f in failures:
            dss = [registry.get(n) for n in f.datasets]
            scope = scope_for(self.settings, dss, registry.derived_for(dss))
            owner = next((ds.name for ds in dss if f.key.startswith(ds.folder + "/")), None)
            if owner is not None:
                entries[f.key] = LedgerEntry(f.key, owner, f.date, None, None, None, 0, 0, 0, "failed", f.line(),
                                             scope.recorded_text(registry.get(owner)))
            # a day's datasets load together: the others did not fail of their own, say whose file did
            days.extend((ds.name, f.date, f.line() if owner in (None, ds.name)
                         else f"not loaded: {owner} failed: {f.line()}", scope.recorded_text(ds)) for ds in dss)
        return list(entries.values()), days

    def finish(self, summary: LoadSummary, outcome: str) -> None:
        """Record the run's outcome; a dataset that got its first files in this run gets its views now."""
        try:
            con = self.connect(wait_lock=True)
        except JournalLocked:
            if summary.interrupted:
                return  # the journal still says 'running': the next start records the run as killed
            raise
        with self.store.writing("record the run in the journal"):
            try:
                records.finish_run(con, self.run_id, outcome, summary.counts(), [f.to_dict() for f in summary.failed])
                if not self.store.views_complete(con):
                    self.store.apply_schema(con)
            finally:
                con.close()

    def record_failure(self, summary: LoadSummary, exc: StorageError) -> None:
        """The disk filled: free the room the run set aside, then record the run as failed (not 'killed').

        Committed days stay; finished but uncommitted ones keep their partitions and recovery records,
        which the next run commits without refetching. Best effort: if even this cannot be written,
        the next run records this one as killed.
        """
        self.store.release_room()
        try:
            con = self.connect(wait_lock=False)
            try:
                # the WAL entry is the record; a checkpoint at close would need new blocks the disk lacks
                con.execute("PRAGMA disable_checkpoint_on_shutdown")
                why = {"date": None, "key": exc.key, "error": exc.message, "hint": exc.hint}
                records.finish_run(con, self.run_id, "failed", summary.counts(),
                                   [*(f.to_dict() for f in summary.failed), why])
            finally:
                con.close()
        except (duckdb.Error, FlatloadError) as err:
            log.warning("cannot record run %s as failed in the journal: %s", self.run_id, err)
