"""status and gaps over state made by real loads against the local S3 server."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest

from flatload import reports as report
from flatload.cli import render
from flatload.engine import api as pipeline
from flatload.engine.progress import Progress
from flatload.engine.summary import LoadSummary
from flatload.errors import ConfigError
from flatload.settings import Settings
from flatload.store.database import db, records, schema
from flatload.store.files.lock import run_lock
from flatload.store.files.runlog import RunLog
from tests.helpers.store import mkey, upload_days
from flatload.store.store import Store

D = {n: dt.date(2024, 3, n) for n in (1, 4, 5, 6, 7, 8, 11)}
NO_FILE = "no flat file in the bucket"


def _line(text: str, month: str, dataset: str = "stocks/minute_aggs") -> str:
    """The matrix line of ``month`` ('YYYY-MM') in ``dataset``'s matrix, without its prefix: index d - 1 is day d."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(dataset + " ("))
    line = next(ln for ln in lines[start:] if ln.startswith(month + "  "))
    return line[render.MATRIX_PREFIX:]


def test_missing_data_dir_is_an_error_not_nothing_loaded(settings: Settings) -> None:
    for call in (lambda: report.status(settings), lambda: report.gaps(D[4], D[8], settings)):
        with pytest.raises(ConfigError) as err:
            call()
        assert err.value.one_line() == (f"{settings.data_dir}: no such data directory (check --data-dir / "
                                        "FLATLOAD_DATA_DIR (flatload load creates it))")
        assert err.value.exit_code == 2


def test_empty_data_dir_says_nothing_loaded(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True)
    st = report.status(settings)
    assert (st["source"], st["note"], st["runs"], st["in_progress"], st["failed_days"]) == \
        ("none", report.NOTHING_YET, [], None, [])
    assert "nothing loaded yet" in render.render_status(st)
    gp = report.gaps(D[4], D[8], settings)
    assert gp["counts"] == {"flatfile": 0, "rest": 0, "failed": 0, "suspect": 0, "missing": 5}
    assert gp["complete"] is False and gp["note"] == report.NOTHING_YET
    assert _line(render.render_gaps(gp), "2024-03")[3:8] == "....."
    json.dumps(st), json.dumps(gp)


def test_partial_load_then_fill_the_missing_day(settings: Settings, s3_endpoint: str, bucket: str) -> None:
    upload_days(s3_endpoint, bucket, [D[5], D[6], D[8]], n_tickers=10)  # 2024-03-07 has no files
    assert pipeline.load(D[5], D[8], settings).outcome == "partial"

    gp = report.gaps(dt.date(2024, 2, 28), dt.date(2024, 3, 31), settings)
    json.dumps(gp)
    assert gp["source"] == "journal" and gp["note"] is None
    assert {d: s for d, s in gp["days"].items() if s != "missing"} == {
        "2024-03-05": "flatfile", "2024-03-06": "flatfile", "2024-03-07": "failed", "2024-03-08": "flatfile"}
    assert gp["days"]["2024-02-29"] == gp["days"]["2024-03-01"] == gp["days"]["2024-03-11"] == "missing"
    assert "2024-03-29" not in gp["days"] and "2024-03-09" not in gp["days"]  # Good Friday, Saturday
    assert gp["counts"] == {"flatfile": 3, "rest": 0, "failed": 1, "suspect": 0, "missing": 18}
    assert gp["sessions"] == 22 and gp["complete"] is False
    # the pair fails together (the journal needs both files): once per dataset, naming the missing file
    assert [(f["dataset"], f["date"]) for f in gp["failed"]] == [("stocks/minute_aggs", "2024-03-07"),
                                                                 ("stocks/day_aggs", "2024-03-07")]
    failed = gp["failed"][0]
    assert NO_FILE in failed["reason"] and mkey(D[7]) in failed["reason"]

    text = render.render_gaps(gp)
    assert _line(text, "2024-03") == ".--.FFxF--.....--.....--....---"  # 29th: Good Friday
    assert _line(text, "2024-02") == " " * 27 + ".." + "  "  # before --start, and no Feb 30/31
    assert _line(text, "2024-03")[6] == "x" and _line(text, "2024-03")[4] == "F"
    assert _line(text, "2024-03", "stocks/day_aggs") == _line(text, "2024-03")
    assert render.LEGEND in text and f"  stocks/minute_aggs   2024-03-07  {failed['reason']}" in text

    st = report.status(settings)
    json.dumps(st)
    assert [r["state"] for r in st["runs"]] == ["partial"]
    run = st["runs"][0]
    assert (run["command"], run["planned"], run["done"], run["failed"], run["skipped"]) == ("load", 4, 3, 1, 0)
    assert run["rows"] > 0 and run["arguments"]["start"] == "2024-03-05" and run["finished"] is not None
    assert [e["date"] for e in run["errors"]] == ["2024-03-07"] and run["errors"][0]["error"] == NO_FILE
    assert [(f["dataset"], f["date"], f["run_id"]) for f in st["failed_days"]] == [
        ("stocks/day_aggs", "2024-03-07", run["run_id"]), ("stocks/minute_aggs", "2024-03-07", run["run_id"])]
    assert NO_FILE in st["failed_days"][0]["detail"] and st["in_progress"] is None

    upload_days(s3_endpoint, bucket, [D[7]], n_tickers=10)
    assert pipeline.load(D[5], D[8], settings).outcome == "ok"
    st = report.status(settings)
    assert [r["state"] for r in st["runs"]] == ["ok", "partial"]  # newest first
    assert [(r["done"], r["failed"], r["skipped"]) for r in st["runs"]] == [(1, 0, 3), (3, 1, 0)]
    assert st["failed_days"] == [] and st["note"] is None
    text = render.render_status(st)
    assert "recent runs" in text and " ok " in text and " partial " in text and "failed days" not in text
    gp = report.gaps(D[5], D[8], settings)
    assert gp["complete"] is True and gp["counts"]["flatfile"] == 4 and gp["failed"] == []
    assert _line(render.render_gaps(gp), "2024-03") == "    FFFF" + " " * 23
    assert [r["state"] for r in report.status(settings, limit=1)["runs"]] == ["ok"]


def test_rest_days_count_as_complete(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    con = db.connect(Store.of(settings).db_path)
    try:
        schema.apply_schema(con, settings.data_dir)
        for ds in ("stocks/minute_aggs", "stocks/day_aggs"):
            records.set_day_status(con, ds, D[4], "rest", None, 10, "*", "r1")
            records.set_day_status(con, ds, D[5], "flatfile", None, 10, "*", "r1")
    finally:
        con.close()
    gp = report.gaps(D[4], D[5], settings)
    assert gp["days"] == {"2024-03-04": "rest", "2024-03-05": "flatfile"} and gp["complete"] is True
    assert _line(render.render_gaps(gp), "2024-03")[3:5] == "RF"


def _abandoned_run(settings: Settings, run_id: str, pid_in_file: int | None = None) -> None:
    """What a kill -9 leaves: a runs row and a run file both saying 'running', after one commit."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    con = db.connect(Store.of(settings).db_path)
    try:
        records.start_run(con, run_id, "load", {"start": "2024-03-11", "end": "2024-03-15"}, os.getpid())
    finally:
        con.close()
    summary = LoadSummary(run_id=run_id, command="load", planned=5, done=[D[11]], rows=123)
    progress = Progress(total=5, total_bytes=1000, done=1, rows=123)
    runlog = RunLog(Store.of(settings).runs_dir, run_id, "load", {"start": "2024-03-11", "end": "2024-03-15"})
    if pid_in_file is not None:
        runlog.header["pid"] = pid_in_file
    runlog.write({**summary.to_dict(), "progress": progress.snapshot()}, state="running")


def test_running_file_without_lock_holder_is_killed(settings: Settings, s3_endpoint: str, bucket: str) -> None:
    upload_days(s3_endpoint, bucket, [D[5]], n_tickers=10)
    assert pipeline.load(D[5], D[5], settings).outcome == "ok"
    run_id = "20990101T000000Z-dead01"
    _abandoned_run(settings, run_id)

    st = report.status(settings)
    assert [(r["run_id"], r["state"]) for r in st["runs"]][0] == (run_id, "killed")
    assert st["runs"][0]["done"] == 1 and st["runs"][0]["finished"] is None and st["in_progress"] is None
    assert "killed" in render.render_status(st)

    # the same file while this process holds the data dir: a live run with its progress
    with run_lock(settings.data_dir, "load"):
        st = report.status(settings)
        assert st["runs"][0]["state"] == "running"
        p = st["in_progress"]
        assert (p["run_id"], p["pid"], p["phase"], p["days_total"], p["days_done"], p["rows"]) == \
            (run_id, os.getpid(), "loading", 5, 1, 123)
        assert "in progress: load " + run_id in render.render_status(st)
        json.dumps(st)
    # a lock held by another pid than the file's means a newer run: the old one died
    _abandoned_run(settings, run_id, pid_in_file=os.getpid() + 100_000)
    with run_lock(settings.data_dir, "load"):
        st = report.status(settings)
        assert st["runs"][0]["state"] == "killed" and st["in_progress"]["run_id"] is None
        assert st["in_progress"]["phase"] == "planning"


def test_status_falls_back_to_run_files_while_journal_is_held(settings: Settings, s3_endpoint: str,
                                                              bucket: str) -> None:
    upload_days(s3_endpoint, bucket, [D[5]], n_tickers=10)
    assert pipeline.load(D[5], D[6], settings).outcome == "partial"  # 2024-03-06 has no files
    code = f"import duckdb,time; c=duckdb.connect({str(Store.of(settings).db_path)!r}); print('ready', flush=True); time.sleep(5)"
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        quick = settings.replace(lock_timeout=0.2)
        st = report.status(quick)
        json.dumps(st)
        assert st["source"] == "run files" and "read from the run files" in st["note"]
        assert str(holder.pid) in st["note"]  # DuckDB names the process holding the file
        assert [(r["state"], r["done"], r["failed"]) for r in st["runs"]] == [("partial", 1, 1)]
        assert [f["date"] for f in st["failed_days"]] == ["2024-03-06"] * 2 and NO_FILE in st["failed_days"][0]["detail"]
        assert "read from the run files" in render.render_status(st)
        gp = report.gaps(D[4], D[6], quick)
        assert gp["source"] == "run files"
        assert gp["days"] == {"2024-03-04": "missing", "2024-03-05": "flatfile", "2024-03-06": "failed"}
    finally:
        holder.kill()
        holder.wait()
    assert report.status(settings)["source"] == "journal"
