"""The JSON API against a live server on loopback: real HTTP, real ``flatload load`` jobs, moto's S3.

Jobs load generated files from the moto fixture (through the fault proxy where a test needs a
job to stay running: :class:`tests.helpers.web.HoldGate` holds its downloads). Each check is
what a program driving the API relies on: the codes (202, 404, 409, 401, 422), the status
document while running and after, and a store a stopped job leaves consistent.
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
import signal
import subprocess
import sys

import polars as pl
import pytest

from flatload import calendar, reports
from flatload.engine.api import load
from flatload.settings import Settings
from tests.helpers import interrupts
from tests.helpers.s3_proxy import S3FaultProxy
from tests.helpers.store import query, s3_client, upload_days
from tests.helpers.web import HoldGate, LiveServer, WrapperPause, stop_when_deliverable
from flatload.store.store import Store

WEEK = calendar.sessions(dt.date(2024, 3, 4), dt.date(2024, 3, 8))
TWO_WEEKS = calendar.sessions(dt.date(2024, 3, 4), dt.date(2024, 3, 15))
JOB_KEYS = {"job_id", "status", "progress_pct", "days_done", "days_total", "rows", "bytes", "rows_per_s", "eta_s",
            "in_flight", "errors", "started_at", "finished_at", "exit_code"}


def _span(days: list[dt.date]) -> dict:
    return {"start": days[0].isoformat(), "end": days[-1].isoformat()}


def test_backfill_runs_to_completion_and_shows_in_recent_and_gaps(settings: Settings, s3_endpoint: str,
                                                                 bucket: str) -> None:
    upload_days(s3_endpoint, bucket, WEEK, n_tickers=12)
    load(WEEK[0], WEEK[0], settings)  # a run of the CLI's kind, before the server: recent lists it too
    with LiveServer(settings) as server:
        job_id = server.start({**_span(WEEK), "datasets": ["stocks"]})
        doc, seen = server.wait(job_id)

        assert JOB_KEYS <= doc.keys()
        assert doc["status"] == "ok" and doc["exit_code"] == 0, doc
        assert doc["progress_pct"] == 100.0
        assert (doc["days_done"], doc["days_total"], doc["days_skipped"]) == (4, 4, 1)  # the CLI loaded WEEK[0]
        assert doc["errors"] == [] and doc["in_flight"] == [] and doc["rows"] > 0 and doc["bytes"] > 0
        assert doc["started_at"] <= doc["finished_at"]
        assert {d["status"] for d in seen} <= {"queued", "running", "ok"}
        pcts = [d["progress_pct"] for d in seen if d["progress_pct"] is not None]
        assert pcts == sorted(pcts), "progress never goes back"

        recent = server.client.get("/api/v1/backfill/recent", params={"limit": 20}).json()
        job, cli_run = recent["jobs"]
        assert (job["job_id"], job["source"], job["status"]) == (job_id, "web", "ok")
        assert (cli_run["source"], cli_run["status"], cli_run["days_done"]) == ("cli", "ok", 1)
        assert recent["failed"] == []

        gaps = server.client.get("/api/v1/gaps", params={**_span(WEEK), "dataset": "stocks"}).json()
        assert gaps["complete"] and gaps["days"] == {d.isoformat(): "flatfile" for d in WEEK}
        assert gaps == reports.gaps(WEEK[0], WEEK[-1], settings)  # the gaps --json document itself

    # an ordinary run: the same record `flatload status` shows, under the job's id
    assert query(settings, "SELECT outcome, days_done FROM runs WHERE run_id = ?", [job_id]) == [("ok", 4)]


def test_journal_and_bars_read_the_store(settings: Settings, s3_endpoint: str, bucket: str) -> None:
    upload_days(s3_endpoint, bucket, WEEK[:2], n_tickers=12)
    load(WEEK[0], WEEK[1], settings)
    with LiveServer(settings) as server:
        res = server.client.get("/api/v1/journal", params={"symbol": "TpC", **_span(WEEK[:2])})
        rows = res.json()["rows"]
        assert [(r["symbol"], r["trade_date"]) for r in rows] == [("TpC", WEEK[0].isoformat()),
                                                                 ("TpC", WEEK[1].isoformat())]
        assert rows[0]["loaded_at"].endswith("Z") and rows[0]["source"] == "flatfile"

        res = server.client.get("/api/v1/bars", params={"symbol": "TpC", "start": WEEK[0].isoformat(),
                                                         "session": "all"})
        doc = res.json()
        assert res.status_code == 200 and doc["count"] == len(doc["bars"]) > 0
        session = doc["sessions"][0]
        assert session["date"] == WEEK[0].isoformat() and session["close"] - session["open"] == 390 * 60
        assert all(session["pre_start"] <= b["time"] < session["post_end"] for b in doc["bars"])
        import flatload

        expected = flatload.bars("TpC", WEEK[0], WEEK[0], session="all", settings=settings)
        assert [b["close"] for b in doc["bars"]] == expected["close"].to_list()

        hourly = server.client.get("/api/v1/bars", params={"symbol": "TpC", "start": WEEK[0].isoformat(),
                                                            "end": WEEK[1].isoformat(), "every": "1h"}).json()
        assert hourly["count"] == 2 * 7  # 09:30-16:00 in hour bars anchored at the open, two sessions

        missing = server.client.get("/api/v1/bars", params={"symbol": "tpc", "start": WEEK[0].isoformat()})
        assert missing.status_code == 404 and "case-sensitive" in missing.json()["error"]


def test_a_second_job_while_one_runs_is_409_naming_it(settings: Settings, s3_endpoint: str, bucket: str) -> None:
    upload_days(s3_endpoint, bucket, WEEK, n_tickers=12)
    gate = HoldGate(hold_from=1)
    with S3FaultProxy(s3_endpoint, on_request=gate) as proxy:
        s = settings.replace(endpoint_url=proxy.url)
        try:
            with LiveServer(s, keep_jobs=True) as server:
                first = server.start(_span(WEEK))
                res = server.client.post("/api/v1/backfill", json=_span(WEEK))  # still starting up
                assert res.status_code == 409 and res.json()["job_id"] == first
                assert gate.held.wait(60), "the job never asked for a file"
                res = server.client.post("/api/v1/backfill", json=_span(WEEK))
                assert res.status_code == 409 and res.json()["job_id"] == first
                assert first in res.json()["error"]
                assert server.status(first)["status"] == "running"

            # the server restarts: the job went on, holds the data dir's lock, and is still known
            with LiveServer(s) as again:
                res = again.client.post("/api/v1/backfill", json=_span(WEEK))
                assert res.status_code == 409 and res.json()["job_id"] == first
                assert "another flatload run holds this data dir" in res.json()["error"]
                assert again.status(first)["status"] == "running"
                gate.release()
                doc, _ = again.wait(first)
                assert (doc["status"], doc["exit_code"], doc["days_done"]) == ("ok", 0, len(WEEK))
        finally:
            gate.release()


def test_delete_mid_run_commits_finished_days_and_the_rerun_completes(settings: Settings, s3_endpoint: str,
                                                                     bucket: str) -> None:
    upload_days(s3_endpoint, bucket, TWO_WEEKS, n_tickers=12)
    gate = HoldGate(hold_from=3)  # two days download; the third waits
    with S3FaultProxy(s3_endpoint, on_request=gate) as proxy:
        s = settings.replace(endpoint_url=proxy.url)
        try:
            with LiveServer(s) as server:
                job_id = server.start(_span(TWO_WEEKS))
                server.wait(job_id, until=lambda d: d["days_done"] >= 2 and d["status"] == "running")
                res = server.client.delete(f"/api/v1/backfill/{job_id}")
                assert res.status_code == 202 and res.json()["stop_requested"] is True
                gate.release()
                doc, _ = server.wait(job_id)
                assert (doc["status"], doc["exit_code"]) == ("interrupted", 130), doc
                assert doc["days_done"] == 2 and doc["days_total"] == len(TWO_WEEKS) and doc["progress_pct"] < 100
                assert doc["errors"] == [] and doc["finished_at"] is not None

                # consistent: exactly the finished days are committed, whole; nothing half-written remains
                # (downloads run in parallel: which two days got through first is not fixed)
                loaded = {r[0] for r in query(s, "SELECT DISTINCT trade_date FROM day_status")}
                assert len(loaded) == 2 and loaded < set(TWO_WEEKS)
                assert {r[0] for r in query(s, "SELECT DISTINCT trade_date FROM journal")} == loaded
                assert not interrupts.temp_files(s.data_dir)
                for path in (s.data_dir / "parquet").rglob("*.parquet"):
                    pl.read_parquet(path)
                gaps = server.client.get("/api/v1/gaps", params=_span(TWO_WEEKS)).json()
                flat = [d for d, st in gaps["days"].items() if st == "flatfile"]
                assert flat == [d.isoformat() for d in sorted(loaded)]

                assert server.client.delete(f"/api/v1/backfill/{job_id}").status_code == 409  # it has ended
                rerun = server.start(_span(TWO_WEEKS))
                doc, _ = server.wait(rerun)
                assert (doc["status"], doc["days_done"], doc["days_skipped"]) == ("ok", len(TWO_WEEKS) - 2, 2)
                gaps = server.client.get("/api/v1/gaps", params=_span(TWO_WEEKS)).json()
                assert gaps["complete"]
        finally:
            gate.release()


def test_a_run_started_by_the_cli_is_listed_followed_and_stopped_like_a_job(settings: Settings, s3_endpoint: str,
                                                                            bucket: str) -> None:
    upload_days(s3_endpoint, bucket, WEEK, n_tickers=12)
    gate = HoldGate(hold_from=2)
    with S3FaultProxy(s3_endpoint, on_request=gate) as proxy:
        argv = [sys.executable, "-m", "flatload.cli", "load", f"--start={WEEK[0]}", f"--end={WEEK[-1]}",
                f"--endpoint-url={proxy.url}", f"--bucket={bucket}", f"--data-dir={settings.data_dir}",
                "--workers=1", "--no-rest", "--quiet"]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            with LiveServer(settings) as server:
                assert gate.held.wait(60), "the load never asked for its second file"
                [run] = server.client.get("/api/v1/backfill/recent").json()["jobs"]
                assert (run["source"], run["status"], run["command"]) == ("cli", "running", "load")
                assert server.status(run["job_id"])["days_total"] == len(WEEK)
                res = server.client.post("/api/v1/backfill", json=_span(WEEK))
                assert res.status_code == 409 and res.json()["job_id"] == run["job_id"]
                assert server.client.delete(f"/api/v1/backfill/{run['job_id']}").status_code == 202
                gate.release()
                assert proc.wait(60) == 130, proc.stdout.read().decode()  # type: ignore[union-attr]
                doc = server.status(run["job_id"])
                assert (doc["status"], doc["source"], doc["exit_code"]) == ("interrupted", "cli", None)
        finally:
            gate.release()
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_a_job_stopped_while_still_starting_ends_interrupted(settings: Settings, s3_endpoint: str,
                                                            bucket: str) -> None:
    upload_days(s3_endpoint, bucket, WEEK[:1], n_tickers=12)
    with LiveServer(settings) as server:
        job_id = server.start(_span(WEEK[:1]))
        res = server.client.delete(f"/api/v1/backfill/{job_id}")  # its process is still importing
        assert res.status_code == 202 and res.json()["status"] == "queued"
        doc, _ = server.wait(job_id)
        assert doc["status"] == "interrupted" and doc["exit_code"] != 0, doc
        assert doc["finished_at"] is not None and doc["progress_pct"] is not None
        # nothing was left holding the data dir: the next job runs
        assert server.wait(server.start(_span(WEEK[:1])))[0]["status"] == "ok"


def test_a_stop_before_the_load_starts_is_kept_and_the_load_never_starts(settings: Settings, s3_endpoint: str,
                                                                        bucket: str, tmp_path: Path) -> None:
    upload_days(s3_endpoint, bucket, WEEK[:1], n_tickers=12)
    # the job's wrapper is held before it starts the load, as a busy machine may leave it
    with WrapperPause(tmp_path / "pause", "fcntl.flock") as pause, LiveServer(settings) as server:
        job_id = server.start(_span(WEEK[:1]))
        pause.wait_parked()
        res = server.client.delete(f"/api/v1/backfill/{job_id}")
        assert res.status_code == 202 and res.json()["status"] == "queued" and res.json()["stop_requested"], res.text
        assert server.status(job_id)["stop_requested"] is True  # kept in the job's record, not only signalled
        pause.release()
        doc, _ = server.wait(job_id)
        assert (doc["status"], doc["exit_code"]) == ("interrupted", 130), doc
        assert doc["message"] == "stopped before its load started (nothing was loaded)"
        assert server.client.delete(f"/api/v1/backfill/{job_id}").status_code == 409  # it has ended
    assert reports.run(settings, job_id) is None, "the load never ran"


def test_a_stop_while_the_load_is_being_started_is_409_with_retry_after_then_delivered(
        settings: Settings, s3_endpoint: str, bucket: str, tmp_path: Path) -> None:
    upload_days(s3_endpoint, bucket, WEEK[:1], n_tickers=12)
    gate = HoldGate(hold_from=1)  # once the load runs, it cannot finish before the stop reaches it
    with S3FaultProxy(s3_endpoint, on_request=gate) as proxy:
        s = settings.replace(endpoint_url=proxy.url)
        try:
            with WrapperPause(tmp_path / "pause", "subprocess.Popen") as pause, LiveServer(s) as server:
                job_id = server.start(_span(WEEK[:1]))
                pause.wait_parked()  # the wrapper has decided to start the load: a signal now would find none
                res = server.client.delete(f"/api/v1/backfill/{job_id}")
                assert res.status_code == 409 and res.headers.get("retry-after") == "1", res.text
                assert "starting its load right now" in res.json()["error"] and res.json()["job_id"] == job_id
                assert server.status(job_id)["stop_requested"] is False  # refused, so not half-recorded
                pause.release()
                res = stop_when_deliverable(server, job_id)
                assert res.status_code == 202 and res.json()["stop_requested"], res.text
                doc, _ = server.wait(job_id)
                assert doc["status"] == "interrupted" and doc["exit_code"] not in (0, None), doc
                assert doc["days_done"] == 0
        finally:
            gate.release()


def test_failed_days_make_a_partial_job_with_errors_and_exit_1(settings: Settings, s3_endpoint: str,
                                                              bucket: str) -> None:
    files = upload_days(s3_endpoint, bucket, WEEK[:3], n_tickers=12)
    bad = next(k for k in files if "minute_aggs" in k and WEEK[1].isoformat() in k)
    s3_client(s3_endpoint).put_object(Bucket=bucket, Key=bad, Body=b"not gzip at all")
    with LiveServer(settings) as server:
        doc, _ = server.wait(server.start(_span(WEEK[:3])))
        assert (doc["status"], doc["exit_code"], doc["days_failed"]) == ("partial", 1, 1)
        [error] = doc["errors"]
        assert error["date"] == WEEK[1].isoformat() and error["key"] == bad and error["error"]
        recent = server.client.get("/api/v1/backfill/recent").json()
        # the day of both stocks datasets failed (the journal needs both files), one line each
        assert {(f["dataset"], f["first"], f["count"]) for f in recent["failed"]} == {
            ("stocks/minute_aggs", WEEK[1].isoformat(), 1), ("stocks/day_aggs", WEEK[1].isoformat(), 1)}


def test_a_job_that_cannot_start_fails_with_the_loads_exit_code_and_message(settings: Settings) -> None:
    from click.testing import CliRunner

    from flatload.cli import cli
    from flatload.web.jobs import load_command

    s = settings.replace(bucket="no-such-bucket")
    with LiveServer(s) as server:
        job_id = server.start(_span(WEEK))
        doc, _ = server.wait(job_id)
    argv = load_command(s, WEEK[0], WEEK[-1], None, None, "same-as-cli")[3:]
    expected = CliRunner().invoke(cli, argv)
    assert doc["status"] == "failed" and doc["exit_code"] == expected.exit_code != 0, (doc, expected.output)
    assert doc["message"] and doc["message"] in expected.output


def test_unknown_jobs_are_404_and_bad_ids_422(settings: Settings) -> None:
    with LiveServer(settings) as server:
        c = server.client
        for res in (c.get("/api/v1/backfill/status/20240101T000000Z-abcdef"),
                    c.delete("/api/v1/backfill/20240101T000000Z-abcdef")):
            assert res.status_code == 404 and res.json() == {
                "error": "no job 20240101T000000Z-abcdef on this data dir", "job_id": "20240101T000000Z-abcdef"}
        for bad in ("..", ".job", "a.b", "x" * 65, "%2e%2e%2fflatload"):
            res = c.get(f"/api/v1/backfill/status/{bad}")
            assert res.status_code in (404, 405, 422) and "job_id" not in res.json(), (bad, res.text)
        assert c.get("/api/v1/backfill/status/a.b").json()["detail"][0]["field"] == "job_id"
        assert c.get("/api/v1/nothing-here").status_code == 404
    assert not Store.of(settings).runs_dir.exists() or not any(Store.of(settings).runs_dir.iterdir()), "a bad id touched no file"


def test_with_a_token_mutations_need_it_and_reads_do_not(settings: Settings, s3_endpoint: str, bucket: str) -> None:
    upload_days(s3_endpoint, bucket, WEEK[:1], n_tickers=12)
    with LiveServer(settings, token="s3cret-t0ken") as server:
        c = server.client
        good = {"Authorization": "Bearer s3cret-t0ken"}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic czNjcmV0LXQwa2Vu"}):
            res = c.post("/api/v1/backfill", json=_span(WEEK), headers=headers)
            assert res.status_code == 401 and res.headers["www-authenticate"] == "Bearer", res.text
            assert c.delete("/api/v1/backfill/x1", headers=headers).status_code == 401
        # no token: a bad body is refused as unauthenticated, not validated
        assert c.post("/api/v1/backfill", json={"start": "nope"}).status_code == 401
        assert c.post("/api/v1/backfill", json={"start": "nope"}, headers=good).status_code == 422
        assert c.get("/api/v1/backfill/recent").status_code == 200
        job_id = server.start(_span(WEEK[:1]), headers=good)
        assert server.wait(job_id)[0]["status"] == "ok"
        assert c.delete(f"/api/v1/backfill/{job_id}", headers=good).status_code == 409


@pytest.mark.parametrize(("path", "kwargs", "field", "says"), [
    ("/backfill", {"json": {"start": "2024-13-01", "end": "2024-03-08"}}, "start", "is not a date like"),
    ("/backfill", {"json": {"start": "20240304", "end": "2024-03-08"}}, "start", "is not a date like"),
    ("/backfill", {"json": {"start": 1709510400, "end": "2024-03-08"}}, "start", "is not a date like"),
    ("/backfill", {"json": {"end": "2024-03-08"}}, "start", "Field required"),
    ("/backfill", {"json": {"start": "2024-03-08", "end": "2024-03-04"}}, "end", "end 2024-03-04 is before start"),
    ("/backfill", {"json": {"start": "2024-03-04", "end": "2024-03-08", "datasets": ["stocks", "bonds"]}},
     "datasets", "unknown dataset 'bonds'"),
    ("/backfill", {"json": {"start": "2024-03-04", "end": "2024-03-08", "symbols": [f"S{i}" for i in range(1001)]}},
     "symbols", "at most 1000"),
    ("/backfill", {"json": {"start": "2024-03-04", "end": "2024-03-08", "symbols": ["AAPL", "'; DROP TABLE"]}},
     "symbols.1", "is not a ticker"),
    ("/backfill", {"json": {"start": "2024-03-04", "end": "2024-03-08", "data_dir": "/etc"}}, "data_dir",
     "Extra inputs are not permitted"),
    ("/gaps", {"params": {"dataset": "stocks,../etc"}}, "dataset", "unknown dataset"),
    ("/gaps", {"params": {"start": "2024-03-08", "end": "2024-03-01"}}, "end", "is before start"),
    ("/journal", {"params": {"symbol": "A' OR '1'='1"}}, "symbol", "is not a ticker"),
    ("/journal", {"params": {"start": "yesterday"}}, "start", "is not a date like"),
    ("/bars", {"params": {"symbol": "AAPL", "start": "2024-03-04", "every": "7x"}}, "every", "not a bar width"),
    ("/bars", {"params": {"symbol": "AAPL", "start": "2024-03-04", "session": "night"}}, "session",
     "is not a session"),
    ("/bars", {"params": {"start": "2024-03-04"}}, "symbol", "Field required"),
    ("/backfill/recent", {"params": {"limit": 0}}, "limit", "greater than or equal to 1"),
    ("/backfill", {"content": b'{"start": "2024-03-04",', "headers": {"Content-Type": "application/json"}}, "body",
     'the body is not valid JSON (Expecting property name enclosed in double quotes, at character 23); send an '
     'object like {"start": "2024-03-04", '),
    ("/backfill", {"json": {"start": "2024-03-04", "end": "2024-03-08", "force": "perhaps"}}, "force",
     "Input should be a valid boolean"),
])
def test_bad_input_is_422_naming_the_field(settings: Settings, path: str, kwargs: dict, field: str,
                                           says: str) -> None:
    with LiveServer(settings) as server:
        method = server.client.post if path == "/backfill" else server.client.get
        res = method(f"/api/v1{path}", **kwargs)
    assert res.status_code == 422, res.text
    body = res.json()
    assert body["detail"][0]["field"] == field and says in body["detail"][0]["message"], body
    assert body["error"].startswith(f"{field}: ")
    assert not Store.of(settings).runs_dir.exists() or not any(Store.of(settings).runs_dir.iterdir()), "nothing was started"


def test_openapi_documents_the_api(settings: Settings) -> None:
    with LiveServer(settings) as server:
        spec = server.client.get("/api/v1/openapi.json").json()
    paths = spec["paths"]
    assert {"/api/v1/backfill", "/api/v1/backfill/status/{job_id}", "/api/v1/backfill/recent",
            "/api/v1/backfill/{job_id}", "/api/v1/gaps", "/api/v1/journal", "/api/v1/bars"} <= paths.keys()
    post = paths["/api/v1/backfill"]["post"]
    assert {"202", "401", "409", "422"} <= post["responses"].keys()
    assert post["security"] == [{"HTTPBearer": []}]
    assert {"404", "401", "409"} <= paths["/api/v1/backfill/{job_id}"]["delete"]["responses"].keys()
    assert "404" in paths["/api/v1/backfill/status/{job_id}"]["get"]["responses"]
    request = spec["components"]["schemas"]["BackfillRequest"]
    assert set(request["required"]) == {"start", "end"} and "example" in request
    status = spec["components"]["schemas"]["JobStatus"]["properties"]
    assert JOB_KEYS <= status.keys()


def test_force_reloads_what_is_loaded_like_load_force(settings: Settings, s3_endpoint: str, bucket: str) -> None:
    upload_days(s3_endpoint, bucket, WEEK[:2], n_tickers=6)
    load(WEEK[0], WEEK[1], settings)
    with LiveServer(settings) as server:
        plain, _ = server.wait(server.start(_span(WEEK[:2])))
        forced, _ = server.wait(server.start({**_span(WEEK[:2]), "force": True}))
    assert (plain["status"], plain["days_done"], plain["days_skipped"]) == ("ok", 0, 2)
    assert (forced["status"], forced["days_done"], forced["days_skipped"]) == ("ok", 2, 0)
