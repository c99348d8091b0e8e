"""Progress as people see it: a terminal of any width, log lines that agree with the summary, a live status."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time

import pytest

from flatload import reports
from flatload.store.database import db
from tests.helpers.days import DST_SPRING
from tests.helpers.s3_proxy import S3FaultProxy
from tests.helpers.store import upload_days
from tests.helpers.terminals import run_on_terminal
from flatload.store.store import Store

D1, D2 = DST_SPRING


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLATLOAD_", "MASSIVE_", "POLYGON_"))}
    return {**env, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "PYTHONUNBUFFERED": "1"}


def _load_argv(settings, *extra: str) -> list[str]:
    return [sys.executable, "-m", "flatload.cli", "load", "--start", str(D1), "--end", str(D2), "--endpoint-url",
            settings.endpoint_url, "--bucket", settings.bucket, "--data-dir", str(settings.data_dir), "--workers",
            "1", "--no-rest", *extra]


@pytest.mark.parametrize("columns", [0, 100])
def test_progress_shows_on_any_terminal(settings, s3_endpoint, bucket, columns):
    upload_days(s3_endpoint, bucket, DST_SPRING, n_tickers=8)
    code, out = run_on_terminal(_load_argv(settings), columns, _env())
    assert code == 0, out
    if columns == 0:  # a terminal that reports no width gets log lines, not an invisible bar
        assert "flatload INFO loading 2 day(s)" in out and "2/2 days (0 failed)" in out
    else:
        assert "loading: 100%" in out and "2/2" in out
    assert "load: 2 day(s) loaded, 0 skipped, 0 failed;" in out


def test_the_progress_lines_agree_with_the_summary(settings, s3_endpoint, bucket):
    upload_days(s3_endpoint, bucket, [D1], n_tickers=8)  # D2 has no files: it fails in the plan
    run = subprocess.run(_load_argv(settings), capture_output=True, text=True, env=_env(), timeout=120)
    assert run.returncode == 1
    assert "loading 2 day(s) (1 cannot load)" in run.stderr
    assert "2/2 days (1 failed)" in run.stderr
    assert run.stdout.startswith("load: 1 day(s) loaded, 0 skipped, 1 failed;")


def test_a_run_that_only_commits_finished_days_says_so(settings, s3_endpoint, bucket):
    upload_days(s3_endpoint, bucket, DST_SPRING, n_tickers=8)
    taken: list = []
    once = threading.Lock()

    def take_journal_on_first_fetch(method: str, path: str) -> None:
        # planned and fetching: an analyst's session takes the journal now, so nothing can be committed
        with once:  # downloads run on several threads
            if method == "GET" and path.endswith(".csv.gz") and not taken:
                taken.append(db.connect(Store.of(settings).db_path))

    with S3FaultProxy(s3_endpoint, on_request=take_journal_on_first_fetch) as proxy:
        held = subprocess.run(_load_argv(settings.replace(endpoint_url=proxy.url), "--lock-timeout", "1"),
                              capture_output=True, text=True, env=_env(), timeout=120)
    taken[0].close()
    assert held.returncode == 3, held.stderr
    rerun = subprocess.run(_load_argv(settings), capture_output=True, text=True, env=_env(), timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert "loading 2 day(s) (2 finished by an earlier run)" in rerun.stderr
    assert rerun.stdout.startswith("load: 2 day(s) loaded, 0 skipped, 0 failed;")


def test_status_shows_live_progress_while_a_day_is_in_flight(settings, s3_endpoint, bucket):
    days = [dt.date(2024, 3, 4), dt.date(2024, 3, 5), dt.date(2024, 3, 6)]
    upload_days(s3_endpoint, bucket, days, n_tickers=8)
    release = threading.Event()
    seen: list[str] = []

    def hold_third_minute_file(method: str, path: str) -> None:
        if method == "GET" and path.endswith(f"/minute_aggs_v1/2024/03/{days[2]}.csv.gz"):
            seen.append(path)
            release.wait(60)

    with S3FaultProxy(s3_endpoint, on_request=hold_third_minute_file) as proxy:
        argv = _load_argv(settings.replace(endpoint_url=proxy.url))
        argv[argv.index("--end") + 1] = str(days[-1])
        argv[argv.index("--start") + 1] = str(days[0])
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
        try:
            deadline = time.monotonic() + 60
            while not seen:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
                time.sleep(0.05)
            # the first two days finish while the third is held (a loaded machine may take seconds)
            while (first := _progress(settings)) is None or first["days_done"] < 2:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
                time.sleep(0.1)
            time.sleep(2.5)
            second = _progress(settings)
        finally:
            release.set()
        assert proc.wait(60) == 0
    for p in (first, second):  # the third day is being downloaded: the fetch stage runs ahead of the workers
        assert (p["phase"], p["days_total"], p["days_done"], p["fetching"]) == ("loading", 3, 2, [str(days[2])])
        assert p["rows"] > 0 and p["progress_pct"] == pytest.approx(66.7)
    assert second["updated"] != first["updated"]  # rewritten while nothing else happened: a heartbeat
    assert reports.status(settings)["in_progress"] is None


def _progress(settings) -> dict:
    report = reports.status(settings)
    json.dumps(report)
    return report["in_progress"]
