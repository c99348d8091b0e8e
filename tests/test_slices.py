"""A large tick file parsed by several workers at once (slices), joined into one day before its commit: the same
rows, rejects, ledger and failures as a whole-file load, on the process pool, with the stocks pair beside it, on a
Dask cluster with the partitions on object storage; the slicing itself as Hypothesis properties."""
from __future__ import annotations

import os
import signal
import threading


import pytest
from hypothesis import given
from hypothesis import strategies as st

from flatload import datasets, sample
from flatload.engine.api import load
from flatload.fetch.source import ObjectInfo
from flatload.settings import Settings, cores
from flatload.tasks.model import FileTask, Task
from flatload.engine.slicing import shares
from tests.helpers import object_store as objs
from tests.helpers.dask_cluster import dask_processes
from tests.helpers.faults import FirstDownloadHeld
from tests.helpers.s3_proxy import S3FaultProxy
from tests.helpers.store import journal_rows, query, s3_client
from tests.helpers.ticks import (DAY, edit_lines, expected_rows, hidden_entries, in_slices, large_day,
                                 mirror_settings, part_files, set_field, small_day, spread_bad_rows, view_rows)

NAME = "stocks/trades"
LEDGER = "SELECT key, dataset, trade_date, etag, size, rows, rejected, off_date, status, error FROM ledger ORDER BY key"


@pytest.mark.slow
def test_a_tick_day_in_slices_equals_the_whole_file_load(tmp_path):
    path = large_day(tmp_path, NAME, 300_000)
    picked = frozenset(spread_bad_rows(path)[0])
    whole = mirror_settings(tmp_path)
    sliced = in_slices(mirror_settings(tmp_path).replace(data_dir=tmp_path / "sliced"), path)

    assert load(DAY, DAY, whole, datasets=NAME).exit_code == 0
    summary = load(DAY, DAY, sliced, datasets=NAME)

    assert (summary.exit_code, summary.done) == (0, [DAY]), summary.lines()
    assert view_rows(sliced, NAME) == expected_rows(NAME, path, skip_lines=picked) == view_rows(whole, NAME)
    rejects = "SELECT key, line, reason FROM rejects ORDER BY line"
    assert query(sliced, rejects) == query(whole, rejects) and len(query(sliced, rejects)) == 5
    assert query(sliced, LEDGER) == query(whole, LEDGER)
    # both slices wrote parts, numbered apart, now in the one partition; nothing hidden is left
    numbers = sorted(int(p.name.split("-")[1]) for p in part_files(sliced, NAME))
    assert numbers[0] == 0 and numbers[-1] >= 100_000
    assert hidden_entries(sliced) == [] and not list((tmp_path / "sliced" / "parquet").glob("*/_commit/*"))
    again = load(DAY, DAY, sliced, datasets=NAME)
    assert (again.exit_code, again.done, len(again.skipped)) == (0, [], 1)


@pytest.mark.slow
def test_a_file_dated_another_day_fails_whole_in_slices_and_the_loaded_partition_stays(tmp_path):
    path = large_day(tmp_path, NAME, 60_000)
    settings = in_slices(mirror_settings(tmp_path), path)
    assert load(DAY, DAY, settings, datasets=NAME).exit_code == 0
    before = view_rows(settings, NAME)

    def shift(lines: list[str]) -> list[str]:  # every row a day later (quoted rows dropped: plain splits only)
        header = lines[0].split(",")
        col = header.index("sip_timestamp")
        return [lines[0], *(set_field(ln, "sip_timestamp", str(int(ln.split(",")[col]) + 86_400 * 10**9), header)
                            for ln in lines[1:] if '"' not in ln)]

    edit_lines(path, shift)
    summary = load(DAY, DAY, in_slices(settings, path).replace(force=True), datasets=NAME)

    assert summary.exit_code != 0 and [f.message for f in summary.failed] == [
        "every row is dated 2024-03-12 (New York), not 2024-03-11; refusing to load it as 2024-03-11"]
    assert view_rows(settings, NAME) == before
    assert hidden_entries(settings) == []  # the slices' sealed parts were removed with the day


@pytest.mark.slow
def test_a_truncated_file_in_slices_fails_once_with_its_problem(tmp_path):
    path = large_day(tmp_path, NAME, 60_000)
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    settings = in_slices(mirror_settings(tmp_path), path, 2)

    summary = load(DAY, DAY, settings.replace(slice_bytes=path.stat().st_size // 2), datasets=NAME)

    assert [(f.key, f.message) for f in summary.failed] == [
        (datasets.get(NAME).key(DAY), "truncated gzip (the file ends before the gzip stream does)")]
    assert hidden_entries(settings) == []
    assert query(settings, "SELECT status FROM ledger") == [("failed",)]


@pytest.mark.slow
def test_the_stocks_pair_beside_trades_in_slices_commits_the_journal_and_the_trades_together(tmp_path):
    files = sample.generate([DAY], n_tickers=40, names="stocks,stocks/trades")
    sample.write_mirror(tmp_path / "mirror", files)
    trades = tmp_path / "mirror" / datasets.get(NAME).key(DAY)
    whole = mirror_settings(tmp_path)
    sliced = in_slices(whole.replace(data_dir=tmp_path / "sliced"), trades)

    assert load(DAY, DAY, whole, datasets="stocks,stocks/trades").exit_code == 0
    summary = load(DAY, DAY, sliced, datasets="stocks,stocks/trades")

    assert (summary.exit_code, summary.done) == (0, [DAY]), summary.lines()
    assert journal_rows(sliced) == journal_rows(whole) and len(journal_rows(sliced)) > 0
    assert view_rows(sliced, NAME) == expected_rows(NAME, trades)
    assert query(sliced, LEDGER) == query(whole, LEDGER) and len(query(sliced, LEDGER)) == 3


@pytest.mark.slow
def test_slices_on_a_dask_cluster_write_one_version_on_object_storage(tmp_path, s3_endpoint):
    path = small_day(tmp_path, NAME, n_tickers=40)
    s = objs.on_store(in_slices(mirror_settings(tmp_path), path).replace(cluster="local:2"), s3_endpoint,
                      objs.store_bucket(s3_endpoint))

    summary = load(DAY, DAY, s, datasets=NAME)

    assert (summary.exit_code, summary.done) == (0, [DAY]), summary.lines()
    assert view_rows(s, NAME) == expected_rows(NAME, path)
    [version] = objs.versions_held(s)[(NAME, DAY.isoformat())]
    assert objs.pointers(s) == {(NAME, DAY.isoformat()): version}
    parts = [k.rsplit("/", 1)[1] for k in objs.keys(s) if f"version={version}/" in k]
    assert "part-00000.parquet" in parts and "part-100000.parquet" in parts
    assert not list((tmp_path / "data").rglob("*.parquet"))


@pytest.mark.slow
def test_a_dask_worker_killed_holding_a_slice_costs_a_retry_of_that_slice(settings, s3_endpoint, bucket, tmp_path):
    files = sample.generate([DAY], n_tickers=40, names=NAME)
    sample.upload(s3_client(s3_endpoint), bucket, files)
    [(key, data)] = files.items()
    hold = FirstDownloadHeld(key)
    out = []
    with dask_processes(tmp_path) as dask, S3FaultProxy(s3_endpoint) as proxy:
        proxy.on_request = hold
        s = settings.replace(endpoint_url=proxy.url, cluster=dask.address, slice_bytes=len(data) // 2)
        run = threading.Thread(target=lambda: out.append(load(DAY, DAY, s, datasets=NAME)))
        run.start()
        assert hold.held.wait(60)
        victim = dask.last_busy_worker_pid()  # the one whose slice is held: the rest of the day is done
        os.kill(victim, signal.SIGKILL)
        hold.release()
        run.join(120)

    [summary] = out
    assert (summary.exit_code, summary.done, summary.failed) == (0, [DAY], [])
    assert proxy.count(key) >= 3  # each slice fetched the file, and the killed one's slice once more
    path = tmp_path / "file.csv.gz"
    path.write_bytes(data)
    assert view_rows(s, NAME) == expected_rows(NAME, path)
    assert sorted({int(p.name.split("-")[1]) // 100_000 for p in part_files(s, NAME)}) == [0, 1]
    assert hidden_entries(s) == []


def _task(size: int) -> Task:
    obj = ObjectInfo(key="k", etag='"e"', size=size, last_modified="2024-03-12T00:00:00Z")
    bounds = datasets.get(NAME).calendar.bounds(DAY)
    return Task(DAY, "stocks", (FileTask(NAME, "k", obj),), bounds)


@given(size=st.integers(0, 10**10), slots=st.integers(1, 64), slice_bytes=st.integers(1, 10**9),
       chunks=st.integers(1, 500))
def test_every_chunk_of_a_sliced_file_is_parsed_by_exactly_one_slice(size, slots, slice_bytes, chunks):
    plan = shares(_task(size), slots, slice_bytes)
    if not plan:
        assert slots < 2 or size < 2 * slice_bytes
        return
    assert 2 <= len(plan) <= slots and len(plan) <= size // slice_bytes
    assert [s.index for s in plan] == list(range(len(plan))) and {s.count for s in plan} == {len(plan)}
    assert all(sum(s.owns(n) for s in plan) == 1 for n in range(chunks))
    spans = [range(s.first_part, s.first_part + s.PART_SPAN) for s in plan]
    assert all(a.stop <= b.start for a, b in zip(spans, spans[1:]))


@given(slots=st.integers(1, 64), asked=st.integers(1, 64))
def test_slices_asked_for_are_capped_by_the_jobs_that_run_at_once(slots, asked):
    assert Settings(slices=asked).slice_slots(slots) == min(slots, asked)


def test_by_default_this_machine_slices_once_per_two_cores_and_a_remote_cluster_once_per_worker():
    here = max(1, min(64, cores() // 2))
    assert Settings().slice_slots(64) == Settings(cluster="local:4").slice_slots(64) == here
    assert Settings(cluster="tcp://scheduler:8786").slice_slots(7) == 7
    if cores() <= 3:
        assert Settings().slice_slots(2) == 1  # a 2-core machine never slices by default (scripts/bench_slices.py)
