"""The same load on a Dask cluster: a LocalCluster of two worker processes, and ``dask scheduler`` + ``dask worker``
started from their command-line tools on loopback, both reading the moto S3 server themselves."""
from __future__ import annotations

import datetime as dt
import os
import signal
import threading

import polars as pl
import pytest
from click.testing import CliRunner

from flatload.cli import cli
from flatload.config import from_env
from flatload.engine.api import load
from flatload.errors import ConfigError
from flatload.settings import Settings, parse_cluster
from flatload.store.store import Store
from tests.helpers import oracle
from tests.helpers.dask_cluster import dask_processes
from tests.helpers.days import DST_SPRING
from tests.helpers.faults import FirstDownloadHeld, parquet_files
from tests.helpers.s3_proxy import S3FaultProxy
from tests.helpers.store import journal_rows, upload_days

D1, D2 = DST_SPRING
DAYS = [D2, dt.date(2024, 3, 12), dt.date(2024, 3, 13)]


@pytest.mark.parametrize(("spec", "parsed"), [("local", ("local", None)), ("local:3", ("local", 3)),
                                              ("tcp://10.0.0.5:8786", ("tcp://10.0.0.5:8786", None)),
                                              ("scheduler:8786", ("scheduler:8786", None))])
def test_a_cluster_is_local_with_its_workers_or_a_scheduler_address(spec, parsed):
    assert parse_cluster(spec) == parsed
    assert from_env({"FLATLOAD_CLUSTER": spec}).cluster == spec


@pytest.mark.parametrize("spec", ["local:0", "nowhere", "tcp://host", "local:two"])
def test_a_cluster_that_names_nothing_is_refused_before_any_work(spec):
    with pytest.raises(ConfigError) as exc:
        Settings(cluster=spec)
    assert exc.value.one_line().startswith(f"--cluster {spec}") or exc.value.one_line().startswith(f"--cluster {spec!r}")


def _partitions(settings: Settings) -> dict[str, pl.DataFrame]:
    root = Store.of(settings).parquet_root
    return {p: pl.read_parquet(root / p, hive_partitioning=False) for p in parquet_files(settings)}


def test_a_local_cluster_loads_what_the_process_pool_loads(settings, s3_endpoint, bucket, tmp_path):
    files = upload_days(s3_endpoint, bucket, DAYS, n_tickers=20)
    clustered = settings.replace(cluster="local:2", workers=2)
    pooled = settings.replace(data_dir=tmp_path / "pool", workers=2)

    summary = load(DAYS[0], DAYS[-1], clustered)

    assert (summary.exit_code, sorted(summary.done), summary.failed) == (0, DAYS, [])
    assert [r[:11] for r in journal_rows(clustered)] == oracle.journal_from_bucket_files(files, DAYS)
    assert load(DAYS[0], DAYS[-1], pooled).exit_code == 0
    assert journal_rows(clustered) == journal_rows(pooled)
    mine, theirs = _partitions(clustered), _partitions(pooled)
    assert sorted(mine) == sorted(theirs) and all(mine[p].equals(theirs[p]) for p in mine)
    again = load(DAYS[0], DAYS[-1], clustered)  # same ETags: nothing is sent to the cluster
    assert (again.exit_code, again.done, len(again.skipped)) == (0, [], 3)


def test_a_worker_killed_mid_day_costs_a_retry_on_another_worker(settings, s3_endpoint, bucket, tmp_path):
    files = upload_days(s3_endpoint, bucket, [D1], n_tickers=20)
    key = oracle.minute_key(D1)
    hold = FirstDownloadHeld(key)
    out = []
    with dask_processes(tmp_path) as dask, S3FaultProxy(s3_endpoint) as proxy:
        proxy.on_request = hold
        s = settings.replace(endpoint_url=proxy.url, cluster=dask.address)
        run = threading.Thread(target=lambda: out.append(load(D1, D1, s)))
        run.start()
        assert hold.held.wait(60)
        victim = dask.busy_worker_pid()
        os.kill(victim, signal.SIGKILL)
        hold.release()
        run.join(120)
        survivors = dask.worker_pids()

    [summary] = out
    assert (summary.exit_code, summary.done, summary.failed) == (0, [D1], [])
    assert victim not in survivors.values() and len(survivors) == 1
    assert proxy.count(key) >= 2  # the other worker fetched the day again
    assert [r[:11] for r in journal_rows(s)] == oracle.journal_from_bucket_files(files, [D1])
    assert parquet_files(s) == sorted(f"stocks/{ds}/date={D1}/part-0.parquet" for ds in ("minute_aggs", "day_aggs",
                                                                                          "journal"))


def test_an_unreachable_scheduler_is_exit_9_naming_it_and_the_rerun_loads(settings, s3_endpoint, bucket):
    upload_days(s3_endpoint, bucket, [D1], n_tickers=5)
    args = ["load", "--start", str(D1), "--end", str(D1), "--endpoint-url", s3_endpoint, "--bucket", bucket,
            "--data-dir", str(settings.data_dir), "--no-rest", "--quiet"]
    result = CliRunner().invoke(cli, [*args, "--cluster", "tcp://127.0.0.1:9"])
    assert result.exit_code == 9, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("stopped: tcp://127.0.0.1:9: cannot reach the Dask scheduler (")
    assert line.endswith("(start it (dask scheduler; dask worker ADDRESS) or fix --cluster / FLATLOAD_CLUSTER; "
                         "rerun when it answers); 1 day(s) not started; fix that and rerun the same command to resume")
    assert CliRunner().invoke(cli, args).exit_code == 0
    assert {r[1] for r in journal_rows(settings)} == {D1}
