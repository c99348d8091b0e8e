"""Interrupting a real ``flatload load`` process: SIGINT, SIGTERM and ``kill -9`` at chosen moments.

Each test drives one data directory through a chain of interrupted runs of the same
command, then a final rerun, and checks after every step what a user relies on:

* SIGINT/SIGTERM: the run stops taking new days, finishes (or drops) the days in
  flight, commits what is done, exits 130/143 and is recorded as interrupted in the
  DuckDB ``runs`` table and in its ``runs/<id>.json`` file;
* ``kill -9`` (early, mid-write, mid-commit, of the parent or of the whole group): no
  worker outlives the parent, every visible Parquet file reads in full at every moment
  (a reader thread opens each as it appears), the next run removes leftover temp files
  and marks the dead run 'killed'; a dead worker (OOM killer) fails its days, transiently;
* always: the journal holds exactly the committed days, each equal to a clean run's;
  the final rerun ends with a journal and partitions identical to a clean run's, and
  does not fetch again the days an earlier run finished but did not commit.

Triggers are deterministic where possible: the load reads S3 through a proxy
(``tests/helpers/s3_proxy.py``) whose request hook sends the signal when the n-th
minute file is requested, i.e. while that day is in flight; other triggers watch the
Parquet tree, the run file or the journal's WAL, stopping the process group (SIGSTOP)
to confirm the moment before killing it. Nothing in the code under test is patched.
"""
from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flatload.engine.api import load
from flatload.engine.runner import AHEAD
from flatload.settings import Settings
from tests.helpers.interrupts import (
    DAYS,
    END,
    N_TICKERS,
    START,
    Chain,
    Gate,
    Reference,
    Run,
    double_ctrl_c,
    hold_journal_then,
    kill_a_worker,
    kill_at_minute_get,
    kill_during_commit,
    kill_mid_write,
    partitions,
    signal_at_minute_get,
    snapshot,
)
from tests.helpers.s3_proxy import S3FaultProxy
from tests.helpers.store import s3_client, upload_days

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sys.platform != "linux", reason="signals to process groups, /proc")]


#: the n-th minute file a run requests with W workers, at which some day is surely on a worker already:
#: the fetch stage downloads at most W + AHEAD days before handing one over
def ON_A_WORKER(workers: int) -> int:  # noqa: N802 - reads as the constant it is, per worker count
    return workers + AHEAD + 1


# ---- the data, a clean run's result, a chain of runs on one data directory ---------------------
@pytest.fixture(scope="module")
def source(s3_endpoint: str) -> str:
    """A bucket holding the sample files of DAYS."""
    name = "flatfiles-interrupts"
    s3_client(s3_endpoint).create_bucket(Bucket=name)
    upload_days(s3_endpoint, name, DAYS, n_tickers=N_TICKERS)
    return name


@pytest.fixture(scope="module")
def reference(source: str, s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """What an uninterrupted load of DAYS leaves behind (in-process: the journal does not depend on workers)."""
    data_dir = tmp_path_factory.mktemp("clean") / "data"
    settings = Settings(data_dir=data_dir, endpoint_url=s3_endpoint, bucket=source, workers=1, use_rest=False)
    summary = load(START, END, settings)
    assert summary.outcome == "ok" and sorted(summary.done) == DAYS, summary.lines()
    return Reference(snapshot(data_dir), partitions(data_dir))


@pytest.fixture
def chain_for(tmp_path: Path, s3_endpoint: str, source: str, reference: Reference) -> Iterator[Callable[[int], Chain]]:
    made: list[Chain] = []
    gate = Gate()
    with S3FaultProxy(s3_endpoint, on_request=gate) as proxy:
        def make(workers: int, *extra: str) -> Chain:
            chain = Chain(tmp_path / "data", proxy.url, source, workers, gate, reference, extra=extra)
            made.append(chain)
            return chain
        try:
            yield make
        finally:
            for chain in made:
                chain.cleanup()


# ---- the tests -------------------------------------------------------------------------------
def test_process_pool_interrupts_resume(chain_for: Callable[[int], Chain]) -> None:
    """--workers 2: Ctrl-C, kill -9 of the parent, of a worker, SIGTERM to the group, to the parent, a rerun."""
    chain = chain_for(2)
    # Ctrl-C reaches the workers too: they ignore it, the parent finishes the days in flight
    signal_at_minute_get(chain, "1-ctrl-c", ON_A_WORKER(2), Run.ctrl_c, signal.SIGINT)
    # kill -9 of the parent alone: its workers must not outlive it
    kill_at_minute_get(chain, "2-kill-early", 1)
    # a worker killed (OOM killer): the run ends 'partial', the days it could not load are retried later
    kill_a_worker(chain, "2b-kill-a-worker", ON_A_WORKER(2))
    # SIGTERM to the whole group (systemd's default KillMode): the workers die, their days are
    # dropped (not failed) and their half-written temp files removed
    signal_at_minute_get(chain, "3-sigterm-group", 2, lambda r: os.killpg(r.pid, signal.SIGTERM), signal.SIGTERM,
                         workers_killed=True)
    # SIGTERM to the parent alone (kill PID): the days in flight are finished
    signal_at_minute_get(chain, "4-sigterm", ON_A_WORKER(2), lambda r: os.kill(r.pid, signal.SIGTERM),
                         signal.SIGTERM)
    # Ctrl-C, acknowledged at once; Ctrl-C again: the days in flight are aborted, the store stays consistent
    double_ctrl_c(chain, "4b-ctrl-c-twice", 2)  # the second Ctrl-C drops whatever is in flight
    final = chain.start("5-rerun")
    final.check_complete(final.wait())


def test_cluster_interrupts_resume(chain_for: Callable[[int], Chain]) -> None:
    """--cluster local:2: Ctrl-C; kill -9 of the parent while its workers fetch (the LocalCluster's workers go
    with it, nothing half-written is visible); then a rerun on a new cluster completes, equal to a clean run."""
    chain = chain_for(2, "--cluster", "local:2")
    # Ctrl-C reaches the cluster's workers too: they ignore it, the parent finishes the days in flight
    signal_at_minute_get(chain, "1-ctrl-c", ON_A_WORKER(2), Run.ctrl_c, signal.SIGINT)
    kill_at_minute_get(chain, "2-kill-parent", 3)
    final = chain.start("3-rerun")
    final.check_complete(final.wait())


def test_inline_interrupts_resume(chain_for: Callable[[int], Chain]) -> None:
    """--workers 1: SIGTERM, kill -9 mid-write, Ctrl-C, SIGTERM while the journal is held, kill -9 mid-commit,
    a rerun."""
    chain = chain_for(1)
    signal_at_minute_get(chain, "1-sigterm", ON_A_WORKER(1), lambda r: os.kill(r.pid, signal.SIGTERM),
                         signal.SIGTERM)
    kill_mid_write(chain, "2-kill-mid-write", after=2)
    signal_at_minute_get(chain, "3-ctrl-c", ON_A_WORKER(1), Run.ctrl_c, signal.SIGINT)
    double_ctrl_c(chain, "3b-ctrl-c-twice", ON_A_WORKER(1))

    # someone holds the journal at the end: a signal ends the wait at once, nothing is lost
    run = hold_journal_then(chain, "4-sigterm-while-locked", lambda r: os.kill(r.pid, signal.SIGTERM))
    rc = run.rc  # type: ignore[attr-defined]
    assert rc == 128 + signal.SIGTERM, f"exit {rc}\n{run.logs()}"
    run.check_common(rc)
    run.check_not_refetched()
    body = run.run_file()
    assert body["state"] == "interrupted" and body["interrupted_by_signal"] == signal.SIGTERM, body
    assert body["done"] == [] and any("not committed" in w for w in body["warnings"]), body
    assert chain.assert_journal_consistent() == run.committed  # nothing could be committed
    chain.runs.append((body["run_id"], "killed"))  # its journal row says 'running' until the next start

    # kill -9 at the very end, in the middle of committing the days finished earlier
    kill_during_commit(chain, "5-kill-during-commit")

    final = chain.start("6-rerun")
    final.check_complete(final.wait())
    assert chain.gate.gets == [], "every day was finished by an earlier run: nothing to fetch"
