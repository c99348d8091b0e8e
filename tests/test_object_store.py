"""Partitions on object storage (``--store s3://...``, moto's S3 with a bucket of its own): versions made current by
the day's commit, superseded ones removed, leftovers swept; read by the journal's views in this DuckDB, by Polars,
and by DuckDB 1.5 with httpfs."""
from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest
from click.testing import CliRunner

from flatload.cli import cli
from flatload.datasets import JOURNAL
from flatload.engine.api import load
from flatload.errors import ConfigError, JournalLocked
from flatload.store.objects import versions
from flatload.store.store import Store
from tests.helpers import oracle
from tests.helpers import object_store as objs
from tests.helpers.days import DST_SPRING
from tests.helpers.faults import JournalTakenOnFirstFetch, parquet_files
from tests.helpers.s3_proxy import S3FaultProxy
from tests.helpers.store import journal_rows, upload_days
from tests.helpers.ticks import DAY, expected_rows, mirror_settings, small_day, view_rows

D1, D2 = DST_SPRING
DAYS = [D2, dt.date(2024, 3, 12), dt.date(2024, 3, 13)]
FOLDERS = ("stocks/minute_aggs", "stocks/day_aggs", JOURNAL.name)
MINUTE_SQL = ("SELECT ticker, trade_date, epoch_ns(window_start), open, high, low, close, volume, transactions "
              "FROM stocks_minute ORDER BY ALL")


@pytest.fixture
def remote(settings, s3_endpoint):
    """``settings`` with the partitions in a bucket of their own (the journal stays in the data dir)."""
    return objs.on_store(settings, s3_endpoint, objs.store_bucket(s3_endpoint))


def test_a_load_onto_object_storage_equals_the_local_disk(remote, settings, s3_endpoint, bucket, tmp_path):
    files = upload_days(s3_endpoint, bucket, DAYS, n_tickers=20)
    remote = remote.replace(workers=2)  # worker processes write to the store themselves

    summary = load(DAYS[0], DAYS[-1], remote)
    local = settings.replace(data_dir=tmp_path / "local")
    assert load(DAYS[0], DAYS[-1], local).exit_code == 0

    assert (summary.exit_code, sorted(summary.done)) == (0, DAYS)
    assert [r[:11] for r in journal_rows(remote)] == oracle.journal_from_bucket_files(files, DAYS)
    assert journal_rows(remote) == journal_rows(local)
    assert parquet_files(remote) == []  # nothing on the local disk but the journal
    assert objs.views(remote, MINUTE_SQL) == objs.views(local, MINUTE_SQL)
    assert objs.views(remote, "SELECT * FROM stocks_day ORDER BY ALL") == \
        objs.views(local, "SELECT * FROM stocks_day ORDER BY ALL")
    # one version per partition, the one the journal points at, and no recovery record left
    held = objs.versions_held(remote)
    assert sorted(held) == sorted((f, d.isoformat()) for f in FOLDERS for d in DAYS)
    assert {k: {v} for k, v in objs.pointers(remote).items()} == held
    assert not [k for k in objs.keys(remote) if "/_commit/" in k]
    again = load(DAYS[0], DAYS[-1], remote)
    assert (again.exit_code, again.done, len(again.skipped)) == (0, [], 3)


def test_a_regenerated_day_becomes_a_new_version_and_the_old_one_goes(remote, s3_endpoint, bucket):
    upload_days(s3_endpoint, bucket, DAYS, n_tickers=20)
    assert load(DAYS[0], DAYS[-1], remote).exit_code == 0
    before = objs.pointers(remote)
    files = upload_days(s3_endpoint, bucket, [DAYS[1]], n_tickers=20, seed=7)  # the vendor rewrote day 2

    summary = load(DAYS[0], DAYS[-1], remote)

    assert (summary.exit_code, summary.done) == (0, [DAYS[1]])
    after = objs.pointers(remote)
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {(f, DAYS[1].isoformat()) for f in FOLDERS}
    assert objs.versions_held(remote) == {k: {v} for k, v in after.items()}  # the superseded version is gone
    rows = objs.views(remote, "SELECT ticker, epoch_ns(window_start), close FROM stocks_minute "
                              f"WHERE trade_date = DATE '{DAYS[1]}' ORDER BY ALL")
    assert rows == sorted((r["ticker"], r["window_start"], r["close"]) for r in oracle.read_rows(files[oracle.minute_key(DAYS[1])]))


def test_a_finished_day_the_journal_refused_commits_from_its_record_and_leftovers_are_swept(remote, s3_endpoint,
                                                                                           bucket):
    upload_days(s3_endpoint, bucket, DAYS[:1], n_tickers=20)
    analyst = JournalTakenOnFirstFetch(Store.of(remote).db_path)
    try:
        with S3FaultProxy(s3_endpoint, on_request=analyst) as proxy:
            with pytest.raises(JournalLocked):
                load(DAYS[0], DAYS[0], remote.replace(endpoint_url=proxy.url, lock_timeout=1.0))
    finally:
        analyst.release()
    assert analyst.taken
    written = objs.versions_held(remote)
    assert sorted(written) == sorted((f, DAYS[0].isoformat()) for f in FOLDERS)
    # a worker of a run killed mid-day wrote a version nobody will commit
    objects = Store.of(remote).objects
    stray = versions.part_key(objects, "stocks/minute_aggs", DAYS[1], "vdeadbeef0000", 0)
    objects.put_bytes(stray, b"half a day")

    with S3FaultProxy(s3_endpoint) as proxy:
        again = load(DAYS[0], DAYS[0], remote.replace(endpoint_url=proxy.url))
        assert proxy.object_requests() == []  # committed from the record, nothing fetched again

    assert (again.exit_code, again.done) == (0, [DAYS[0]])
    assert any("removed 1 object(s) of partition versions" in line for line in again.warnings)
    assert objs.versions_held(remote) == written  # the recorded version kept and made current
    assert {k: {v} for k, v in objs.pointers(remote).items()} == written
    assert stray not in objs.keys(remote)


def test_tick_data_on_object_storage_reads_exact_in_the_view(tmp_path, s3_endpoint):
    path = small_day(tmp_path, "stocks/trades", n_tickers=12)
    s = objs.on_store(mirror_settings(tmp_path).replace(workers=2), s3_endpoint, objs.store_bucket(s3_endpoint))

    summary = load(DAY, DAY, s, datasets="stocks/trades")

    assert summary.exit_code == 0, summary.failed
    assert view_rows(s, "stocks/trades") == expected_rows("stocks/trades", path)
    assert list(objs.versions_held(s)) == [("stocks/trades", DAY.isoformat())]
    assert not list((tmp_path / "data").rglob("*.parquet"))


def test_polars_reads_the_hive_paths_and_duckdb_1x_with_httpfs_reads_the_views(remote, s3_endpoint, bucket):
    upload_days(s3_endpoint, bucket, DAYS, n_tickers=20)
    assert load(DAYS[0], DAYS[-1], remote).exit_code == 0
    mine = objs.views(remote, "SELECT ticker, trade_date, close, volume FROM stocks_minute ORDER BY ALL")

    assert objs.polars_rows(remote, "stocks/minute_aggs", ["ticker", "date", "close", "volume"]) == mine
    # another DuckDB, reading the bucket with its own httpfs: the same rows, through the same pointers
    sql = ("SELECT ticker, m.trade_date::VARCHAR, epoch_ns(window_start)::VARCHAR, close, volume FROM stocks_minute m "
           "JOIN journal j ON j.symbol = m.ticker AND j.trade_date = m.trade_date ORDER BY ALL")
    assert [tuple(r) for r in objs.httpfs_query(remote, sql)] == [tuple(r) for r in objs.views(remote, sql)]
    assert objs.httpfs_query(remote, "SELECT count(*) FROM day_bars") == [[3 * 20]]


def test_the_cli_loads_onto_the_store_and_a_journal_keeps_its_store(remote, s3_endpoint, bucket, tmp_path):
    upload_days(s3_endpoint, bucket, DAYS[:1], n_tickers=5)
    base = ["load", "--start", DAYS[0].isoformat(), "--end", DAYS[0].isoformat(), "--endpoint-url", s3_endpoint,
            "--bucket", bucket, "--data-dir", str(remote.data_dir), "--workers", "1", "--no-rest", "-q"]
    env = {**objs.store_env(remote), "AWS_ACCESS_KEY_ID": "vendor-key", "AWS_SECRET_ACCESS_KEY": "vendor-secret"}
    runner = CliRunner()

    done = runner.invoke(cli, base, env=env)
    assert done.exit_code == 0, done.output
    assert sorted(objs.versions_held(remote)) == sorted((f, DAYS[0].isoformat()) for f in FOLDERS)

    plain = runner.invoke(cli, base, env={k: v for k, v in env.items() if not k.startswith("FLATLOAD_STORE")})
    assert plain.exit_code == 2
    assert plain.stderr == (f"Error: {Store.of(remote).db_path}: this journal's partitions are in {remote.store} "
                            f"(pass --store {remote.store})\n")

    down = runner.invoke(cli, base, env={**env, "FLATLOAD_STORE_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert down.exit_code == 5, down.output
    assert down.stderr.startswith(f"Error: {remote.store}/_flatload-probe: cannot write the store: ")
    assert down.stderr.endswith("(check --store and FLATLOAD_STORE_ENDPOINT_URL, then rerun)\n")


def test_a_store_on_local_disk_refuses_a_store_url_that_would_hide_its_partitions(remote, settings, s3_endpoint,
                                                                                  bucket):
    upload_days(s3_endpoint, bucket, DAYS[:1], n_tickers=5)
    assert load(DAYS[0], DAYS[0], settings).exit_code == 0

    with pytest.raises(ConfigError) as refused:
        load(DAYS[0], DAYS[0], remote.replace(force=True))

    assert refused.value.one_line() == (f"{Store.of(settings).db_path}: this journal's partitions are in the local "
                                        "parquet/ folder (drop --store, or use another --data-dir)")
    assert objs.keys(remote) == []


def test_temp_folders_of_a_worker_killed_mid_upload_are_swept_and_a_live_ones_kept(tmp_path):
    # a real process that has exited (its pid is free) and one still running, as a killed and a live worker
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead_dir = tmp_path / f"flatload-build-{gone.stdout.strip()}-stocks-trades-20240311-abc"
        live_dir = tmp_path / f"flatload-build-{live.pid}-stocks-trades-20240311-def"
        other = tmp_path / "flatload-something-else"
        for folder in (dead_dir, live_dir, other):
            folder.mkdir()
            (folder / "part-00000.parquet").write_bytes(b"half a part")

        assert versions.sweep_orphans(tmp_path, force=True) == 1

        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live_dir.name, other.name])
    finally:
        live.kill()
        live.wait()
