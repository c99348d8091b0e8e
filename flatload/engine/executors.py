"""The one pool factory: inline for one worker, a process pool for more.

Each worker process builds its own store (boto3 client) and REST client in the
initializer: clients do not cross a fork/spawn boundary. Workers ignore SIGINT so
that Ctrl-C reaches only the parent, which finishes in-flight days and commits.
A worker exits as soon as its parent dies (kill -9, OOM killer): it must not go on
writing partitions into a data directory that the next run already holds.
"""
from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

from ..settings import Settings

_CTX: Any = None  # the worker's WorkerContext


def build_context(settings: Settings, rest_rpm: int | None = None):
    """The per-process state a worker needs (also used inline)."""
    from ..fetch import LazySource
    from ..store.store import Store
    from ..tasks.model import WorkerContext

    rest = None
    hint = "set MASSIVE_API_KEY to fill missing days from the REST API"
    if not settings.use_rest:
        hint = "drop --no-rest to fill missing days from the REST API, or rerun once the file is published"
    elif settings.api_key:
        from ..fetch.rest import RestClient

        rest = RestClient(settings.rest_url, settings.api_key, rpm=rest_rpm, max_retries=settings.rest_max_retries,
                          backoff_factor=settings.rest_backoff, backoff_max=max(settings.rest_backoff * 60, 1.0))
    return WorkerContext(source=LazySource(settings), store=Store.of(settings), rest=rest,  # type: ignore[arg-type]
                         rest_hint=hint)


def _ignore_sigint() -> None:
    # Ctrl-C signals the whole foreground group; the parent alone decides what stops.
    # Polars installs a native SIGINT handler when imported (it cancels a running query
    # with KeyboardInterrupt), replacing SIG_IGN behind Python's back: so this is applied
    # again after the imports and before each task, not only at start.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _exit_with_parent() -> None:
    """Exit this worker the moment its parent process dies (its sentinel becomes readable)."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return
    sentinel = parent.sentinel

    def watch() -> None:
        multiprocessing.connection.wait([sentinel])
        os._exit(1)  # mid-write is fine: partitions are replaced atomically, temp files are swept

    threading.Thread(target=watch, name="flatload-parent-watch", daemon=True).start()


def _init_worker(settings: Settings, rest_rpm: int | None) -> None:
    global _CTX
    _ignore_sigint()
    _exit_with_parent()
    _CTX = build_context(settings, rest_rpm)
    # what a day's task runs on, imported now, while the parent fetches the first objects: otherwise the
    # first day of each worker pays for Polars and the parser (a third of a second)
    import flatload.tasks.aggs  # noqa: F401
    _ignore_sigint()


def _run_in_worker(fn: Callable[..., Any], *args: Any) -> Any:
    _ignore_sigint()
    return fn(_CTX, *args)


class InlineExecutor(Executor):
    """Runs each call at submit time in this process: one worker, easy to debug."""

    #: a task runs in the caller's thread (a signal handler can interrupt it there)
    inline = True
    #: one task at a time: a day is never split into slices here
    slots = 1

    def __init__(self, settings: Settings) -> None:
        self.ctx = build_context(settings, settings.rest_rpm)

    def begin_shutdown(self) -> None:
        """Nothing runs in the background."""

    def abort(self) -> None:
        """Nothing runs in the background."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        fut: Future = Future()
        try:
            fut.set_result(fn(self.ctx, *args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed back like a pool would
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            fut.set_exception(exc)
        return fut


class WorkerPool(Executor):
    """A process pool whose ``submit(fn, *args)`` calls ``fn(worker_context, *args)``."""

    inline = False

    def __init__(self, settings: Settings) -> None:
        workers = settings.workers
        rpm = max(1, settings.rest_rpm // workers) if settings.rest_rpm else None
        # spawn, not fork: the parent may already run Polars and urllib3 threads
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_init_worker, initargs=(settings, rpm))
        self._closing: threading.Thread | None = None
        self._spawn_all(workers)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        return self.pool.submit(_run_in_worker, fn, *args)

    def _spawn_all(self, workers: int) -> None:
        """Start every worker now, with SIGINT ignored while they start.

        A spawned interpreter inherits an ignored SIGINT, and Python installs its KeyboardInterrupt handler
        only over the default one: a Ctrl-C while a worker is still importing cannot kill it (the parent
        alone decides what stops). Spawning all of them here keeps that moment at the start of the run,
        not in the middle of it (a Ctrl-C in these few milliseconds is not seen).
        """
        if threading.current_thread() is not threading.main_thread():
            return
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:  # each submit finding no idle worker starts one (fork and exec happen in submit)
            for _ in range(workers):
                self.pool.submit(os.getpid)
        finally:
            signal.signal(signal.SIGINT, old)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._closing is not None:
            if wait:
                self._closing.join()
            return
        self.pool.shutdown(wait=wait, cancel_futures=cancel_futures)

    def abort(self) -> None:
        """Kill the workers now: whatever they were writing is a temp file that the next sweep removes."""
        kill = getattr(self.pool, "kill_workers", None)  # Python 3.14+
        if kill is not None:
            kill()
        else:
            for proc in list(getattr(self.pool, "_processes", {}).values()):
                proc.kill()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def begin_shutdown(self) -> None:
        """Let idle workers exit in the background (the parent commits meanwhile); ``shutdown`` joins."""
        if self._closing is None:
            self._closing = threading.Thread(target=self.pool.shutdown, kwargs={"wait": True},
                                             name="flatload-pool-shutdown", daemon=True)
            self._closing.start()


@contextmanager
def make_pool(settings: Settings) -> Iterator[Executor]:
    """``workers=1``: inline. More: a spawn process pool, each worker's Polars capped to its share of cores."""
    if settings.workers == 1:
        yield InlineExecutor(settings)
        return
    cores = os.cpu_count() or 1
    threads = str(max(1, cores // settings.workers))
    # spawned children read the environment at start; the parent's own thread pool is already sized
    saved = os.environ.get("POLARS_MAX_THREADS")
    os.environ["POLARS_MAX_THREADS"] = threads
    pool = WorkerPool(settings)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if saved is None:
            os.environ.pop("POLARS_MAX_THREADS", None)
        else:
            os.environ["POLARS_MAX_THREADS"] = saved
