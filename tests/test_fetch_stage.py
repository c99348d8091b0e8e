"""The fetch stage against a real S3 server through the fault proxy: byte ranges, a range cut short
refetched alone, a short object refused, the spool cleaned after success, failure and kill -9."""
from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from flatload import sample
from flatload.engine.api import load
from flatload.store.files import spool
from tests.helpers import oracle
from tests.helpers.s3_proxy import Fault, S3FaultProxy
from tests.helpers.store import journal_rows, mkey, s3_client

DAYS = [dt.date(2024, 3, 4), dt.date(2024, 3, 5), dt.date(2024, 3, 6)]
PART = 64 * 1024


def _upload(endpoint: str, bucket: str) -> dict[str, bytes]:
    files = sample.generate(DAYS, n_tickers=120)  # minute files of a few hundred KB: several parts each
    sample.upload(s3_client(endpoint), bucket, files)
    assert all(len(files[mkey(d)]) > 3 * PART for d in DAYS)
    return files


def _ranged(settings, url: str):
    # tiny parts and spool threshold, so that these small files take the paths real-size ones take
    return settings.replace(endpoint_url=url, s3_part_size=PART, spool_above=PART, workers=1)


def test_large_objects_come_as_byte_ranges_and_a_range_cut_short_is_refetched_alone(s3_endpoint, bucket, settings):
    files = _upload(s3_endpoint, bucket)
    key = mkey(DAYS[1])
    with S3FaultProxy(s3_endpoint, [Fault(key, action="truncate", times=1)]) as proxy:
        summary = load(DAYS[0], DAYS[-1], _ranged(settings, proxy.url))
        gets = [s for s in proxy.object_requests() if s.path.endswith("/" + key)]
    assert summary.exit_code == 0, summary.lines()
    parts = -(-len(files[key]) // PART)
    ranges = [g.range for g in gets]
    assert all(r and r.startswith("bytes=") for r in ranges)
    assert len(gets) == parts + 1  # every range once, and the one cut short once more
    [cut] = [g for g in gets if g.outcome == "truncate"]
    assert ranges.count(cut.range) == 2
    assert [r[:11] for r in journal_rows(settings)] == oracle.journal_from_bucket_files(files, DAYS)


@pytest.mark.parametrize("action", ["short", "short-checked"])
def test_a_short_object_is_refused_not_loaded(s3_endpoint, bucket, settings, action):
    files = _upload(s3_endpoint, bucket)
    key = mkey(DAYS[0])
    # a consistent answer, but half the bytes the listing promised (with or without the server's checksum)
    with S3FaultProxy(s3_endpoint, [Fault(key, action=action, times=None)]) as proxy:
        summary = load(DAYS[0], DAYS[0], settings.replace(endpoint_url=proxy.url, workers=1))
    [failure] = summary.failed
    assert failure.key == key and failure.transient
    assert failure.message == (
        f"short object: {len(files[key]) // 2:,} of the {len(files[key]):,} bytes listed arrived" if action == "short"
        else "the bytes do not match the checksum S3 sent with them")
    assert journal_rows(settings) == []


def test_the_spool_is_empty_after_a_run_that_succeeded_or_failed(s3_endpoint, bucket, settings):
    files = _upload(s3_endpoint, bucket)
    spooled: list[str] = []

    def watch(method: str, path: str) -> None:  # what the spool holds while the run is under way
        folder = spool.spool_dir(settings.data_dir)
        if folder.is_dir():
            spooled.extend(p.name for p in folder.iterdir())

    broken = {mkey(DAYS[2]): files[mkey(DAYS[2])][:-200]}  # a truncated gzip: that day fails in its worker
    sample.upload(s3_client(s3_endpoint), bucket, broken)
    with S3FaultProxy(s3_endpoint, on_request=watch) as proxy:
        summary = load(DAYS[0], DAYS[-1], _ranged(settings, proxy.url))
    assert [f.date for f in summary.failed] == [DAYS[2]] and sorted(summary.done) == DAYS[:2]
    assert spooled, "the minute files went through the spool"
    assert not spool.spool_dir(settings.data_dir).exists()


def test_the_spool_left_by_kill_9_is_swept_by_the_next_run(s3_endpoint, bucket, settings, tmp_path):
    files = _upload(s3_endpoint, bucket)
    key = mkey(DAYS[0])
    hold, held = threading.Event(), threading.Event()
    seen: list[str] = []

    def stall_a_range(method: str, path: str) -> None:
        if method == "GET" and path.endswith("/" + key):
            seen.append(path)
            if len(seen) == 3:  # two ranges are in the spool's temp file, the third hangs
                held.set()
                hold.wait(60)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLATLOAD_", "MASSIVE_", "POLYGON_"))}
    with S3FaultProxy(s3_endpoint, on_request=stall_a_range) as proxy:
        code = ("import datetime as dt, sys; from pathlib import Path; from flatload import load; "
                "from flatload.settings import Settings; "
                f"s = Settings(data_dir=Path({str(settings.data_dir)!r}), endpoint_url={proxy.url!r}, "
                f"bucket={bucket!r}, workers=1, use_rest=False, s3_part_size={PART}, spool_above={PART}); "
                f"load(dt.date.fromisoformat('{DAYS[0]}'), dt.date.fromisoformat('{DAYS[0]}'), s)")
        proc = subprocess.Popen([sys.executable, "-c", code], env=env)
        try:
            assert held.wait(60), "the download never reached its third range"
            deadline = time.monotonic() + 30
            folder = spool.spool_dir(settings.data_dir)
            while not (folder.is_dir() and any(folder.iterdir())):
                assert time.monotonic() < deadline, "nothing was spooled"
                time.sleep(0.02)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
        finally:
            hold.set()
    assert any(folder.iterdir()), "kill -9 left the spooled part behind"
    rerun = load(DAYS[0], DAYS[0], settings.replace(workers=1))
    assert rerun.exit_code == 0 and not folder.exists()
    assert [r[:11] for r in journal_rows(settings)] == oracle.journal_from_bucket_files(files, DAYS[:1])
