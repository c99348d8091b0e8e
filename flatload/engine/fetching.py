"""The fetch stage: objects are downloaded ahead of the CPU workers, within a byte budget.

Fetching is I/O bound and parsing CPU bound: as their own stages neither waits for the
other. The runner hands tasks to :class:`FetchStage` while the bytes held (downloaded or
downloading, not yet processed) stay within the budget; each comes back with its files in
place: small objects in memory, large ones spooled under the data directory, a mirror's
files read where they are. Byte ranges, retries of a range cut short, If-Match and the
size/MD5 checks are the source's (boto3's transfer manager).
"""
from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from ..store.store import Store
from ..store.files.fs import storage_error
from ..tasks.model import FileTask, Task
from ..fetch.source import Source


class FetchStage:
    """Downloads tasks' objects on a few threads; :meth:`release` frees a task's bytes once it is processed."""

    def __init__(self, source: Source, store: Store, budget_bytes: int, spool_above: int = 16 << 20,
                 threads: int = 4, on_bytes: Callable[[int], None] | None = None) -> None:
        self.source = source
        self.store = store
        self.budget = budget_bytes
        #: objects up to this size travel in memory (pickled to the worker); larger ones are spooled to disk
        self.spool_above = spool_above
        self.held = 0
        self.on_bytes = on_bytes or (lambda n: None)
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="flatload-fetch")
        self._lock = threading.Lock()
        self._cancelled = threading.Event()

    def __enter__(self) -> "FetchStage":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def room_for(self, task: Task) -> bool:
        """True when ``task`` fits in the budget (a task larger than the whole budget goes alone)."""
        with self._lock:
            return self.held == 0 or self.held + task.nbytes <= self.budget

    def submit(self, task: Task) -> Future:
        """Start fetching ``task``'s objects; the future gives the task with its files in place."""
        with self._lock:
            self.held += task.nbytes
        return self._pool.submit(self._fetch, task)

    def release(self, task: Task) -> None:
        """``task`` is processed (or failed): its spooled files go and its bytes leave the budget."""
        for f in task.files:
            if self.store.spooled(f.local):
                self.store.remove_spooled(f.local)  # type: ignore[arg-type]
        with self._lock:
            self.held -= task.nbytes

    def cancel(self) -> None:
        """Stop starting downloads (a stop was asked for); downloads under way finish or fail."""
        self._cancelled.set()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _fetch(self, task: Task) -> Task:
        files = []
        try:
            for f in task.files:
                files.append(f if f.obj is None or self._cancelled.is_set() else self._one(f))
        except BaseException:
            for done in files:  # a failed day keeps nothing in the spool
                if self.store.spooled(done.local):
                    self.store.remove_spooled(done.local)  # type: ignore[arg-type]
            raise
        return dataclasses.replace(task, files=tuple(files))

    def _one(self, f: FileTask) -> FileTask:
        assert f.obj is not None
        local = self.source.local_path(f.key)
        if local is not None:  # a mirror: read in place
            return dataclasses.replace(f, local=str(local))
        if f.obj.size <= self.spool_above:
            data = self.source.download(f.key, f.obj.size, f.obj.etag)
            self.on_bytes(f.obj.size)
            return dataclasses.replace(f, data=data)
        path = self.store.spool_path(f.key)
        try:
            self.source.download(f.key, f.obj.size, f.obj.etag, dest=path)
        except OSError as exc:  # the spool's disk, not the download: a full disk stops the run like a partition's
            self.store.remove_spooled(path)
            raise (storage_error(exc, path, "spool a download") or exc) from None
        except BaseException:
            self.store.remove_spooled(path)
            raise
        self.on_bytes(f.obj.size)
        return dataclasses.replace(f, local=str(path))
