"""The Dask executor: the same tasks on a Dask distributed cluster, behind the pool's ``submit`` contract.

``--cluster local[:N]`` starts a ``distributed.LocalCluster`` of N single-threaded worker processes;
any other value is a scheduler address (``tcp://host:8786``). The parent still plans and alone
commits; each worker fetches its own objects (ranged GETs, size and ETag checks, as the fetch stage
does) and writes its partitions into the store, returning the same small result. A worker that dies
holding a day costs a retry of that day on another worker (the scheduler's ``allowed-failures``):
partitions are replaced atomically and the commit happens once, in the parent, so a retried day
never duplicates rows.

The store must be reachable from the workers at the same path: one machine, or a shared file
system (object storage comes next).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Executor, Future
from contextlib import contextmanager
from typing import Any

from ..errors import ClusterUnavailable, WorkerLost
from ..settings import Settings, parse_cluster
from .executors import build_context

#: seconds to wait for a scheduler to answer, and for its first worker
CONNECT_TIMEOUT = 10.0
#: worker contexts built on this worker process, one per run's settings (a worker serves many runs)
_CONTEXTS: dict[Settings, Any] = {}


def _ignore_ctrl_c_plugin() -> Any:
    """A worker plugin for the run's own LocalCluster: Ctrl-C reaches the whole foreground group, and the
    parent alone decides what stops (it finishes the days in flight and commits). Polars installs a native
    SIGINT handler when imported, so the imports come first, then SIGINT is ignored again."""
    from distributed import WorkerPlugin

    class IgnoreCtrlC(WorkerPlugin):
        name = "flatload-ignore-ctrl-c"

        def setup(self, worker: Any) -> None:
            import signal
            import threading

            from ..tasks import aggs  # noqa: F401 - Polars and the parser, imported before SIGINT is ignored

            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, signal.SIG_IGN)

    return IgnoreCtrlC()


def _local_cluster(n: int) -> Any:
    """A LocalCluster of ``n`` single-threaded worker processes that do not die of the terminal's Ctrl-C."""
    import signal
    import threading

    from distributed import LocalCluster

    main = threading.current_thread() is threading.main_thread()
    # spawned while SIGINT is ignored, the worker processes start with it ignored
    old = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        return LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                            silence_logs=logging.ERROR)
    finally:
        if main:
            signal.signal(signal.SIGINT, old)


def _on_worker(settings: Settings, fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(context, *args)`` on a Dask worker, building that worker's context once per settings."""
    ctx = _CONTEXTS.get(settings)
    if ctx is None:
        ctx = _CONTEXTS[settings] = build_context(settings, settings.rest_rpm)
    return fn(ctx, *args)


class ClusterExecutor(Executor):
    """``submit(fn, *args)`` runs ``fn(worker_context, *args)`` on a Dask worker; a ``concurrent.futures``
    future comes back, so the runner waits on cluster days as on pool days."""

    inline = False
    #: workers fetch their own objects: the parent downloads nothing (no fetch stage)
    fetches_own = True

    def __init__(self, settings: Settings) -> None:
        from distributed import Client

        self.settings = settings
        where, n = parse_cluster(settings.cluster or "")
        self.cluster = None
        try:
            if where == "local":
                self.cluster = _local_cluster(n or settings.workers)
                self.client = Client(self.cluster, timeout=CONNECT_TIMEOUT)
                self.client.register_plugin(_ignore_ctrl_c_plugin())
            else:
                self.client = Client(where, timeout=CONNECT_TIMEOUT)
                self.client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            self.close()
            raise ClusterUnavailable(f"cannot reach the Dask scheduler ({exc})", key=where,
                                     hint="start it (dask scheduler; dask worker ADDRESS) or fix --cluster / "
                                          "FLATLOAD_CLUSTER; rerun when it answers") from None
        self._futures: set[Any] = set()

    @property
    def slots(self) -> int:
        """Tasks the cluster runs at once: its workers' threads."""
        workers = self.client.scheduler_info().get("workers", {})
        return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        out: Future = Future()
        out.set_running_or_notify_cancel()
        remote = self.client.submit(_on_worker, self.settings, fn, *args, pure=False)
        self._futures.add(remote)
        remote.add_done_callback(lambda done: self._settle(done, out))
        return out

    def _settle(self, remote: Any, out: Future) -> None:
        """Hand a finished cluster future's outcome to the runner's future (a dead worker: WorkerLost)."""
        from distributed import KilledWorker

        self._futures.discard(remote)
        try:
            out.set_result(remote.result())
        except KilledWorker as exc:
            out.set_exception(WorkerLost(f"cluster workers died while loading this day ({exc})",
                                         hint="rerun the same command; if workers die again (out of memory?), "
                                              "give them more memory"))
        except CancelledError:
            out.set_exception(WorkerLost("the day was cancelled on the cluster", hint="rerun the same command"))
        except BaseException as exc:  # noqa: BLE001 - the task's own error (a domain error), as a pool hands it back
            out.set_exception(exc)

    def begin_shutdown(self) -> None:
        """Nothing to let go early: the cluster's workers stay up until :meth:`shutdown`."""

    def abort(self) -> None:
        """Cancel every day still on the cluster (a worker's atomic writes leave at most temp files)."""
        if self._futures:
            self.client.cancel(list(self._futures), force=True)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            self.abort()
        self.close()

    def close(self) -> None:
        """Disconnect, and stop a local cluster this executor started."""
        client = getattr(self, "client", None)
        if client is not None:
            client.close()
        if self.cluster is not None:
            self.cluster.close()


def _quiet_dask() -> None:
    """Dask logs every worker and connection at INFO on loggers of its own levels: keep them to errors unless
    flatload itself logs at DEBUG (--verbose)."""
    import distributed  # noqa: F401 - its logging configuration is applied at import

    if logging.getLogger("flatload").getEffectiveLevel() <= logging.DEBUG:
        return
    for name in list(logging.root.manager.loggerDict):
        if name.startswith(("distributed", "tornado")):
            logging.getLogger(name).setLevel(logging.ERROR)


@contextmanager
def cluster_pool(settings: Settings) -> Iterator[ClusterExecutor]:
    """A cluster executor for the run; a local cluster's workers get one Polars thread each."""
    _quiet_dask()
    saved = os.environ.get("POLARS_MAX_THREADS")
    os.environ["POLARS_MAX_THREADS"] = "1"  # the nannies spawn workers that read it at start
    try:
        pool = ClusterExecutor(settings)
    finally:
        if saved is None:
            os.environ.pop("POLARS_MAX_THREADS", None)
        else:
            os.environ["POLARS_MAX_THREADS"] = saved
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
