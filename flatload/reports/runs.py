"""``status``: recent runs, the live progress of a run in progress, failed and suspect days.

Nothing here writes. A load in progress holds the data-dir lock and opens DuckDB only
briefly per commit batch, so reading the journal retries for a moment; when it stays
locked (an analyst's read-write session, a slow commit) the report is rebuilt from the
per-run JSON files and says so. A running load rewrites its file every second, so the
live progress shown is never more than a second old.
"""
from __future__ import annotations

import datetime as dt
import json

from ..settings import Settings
from ..store.files import lock
from ..store.store import Store
from .common import NOTHING_YET, count, iso, read_journal, read_run_file, run_files, seconds

_RUN_COLUMNS = ("run_id", "command", "arguments", "started_at", "finished_at", "outcome", "days_planned",
                "days_done", "days_failed", "days_skipped", "rows", "errors", "pid")
#: per dataset and day, oldest first: the status rows failures and suspects are grouped from
_DAYS_SQL = ("SELECT dataset, trade_date, status, detail, run_id, updated_at FROM day_status "
             "ORDER BY dataset, trade_date")


def _holder(settings: Settings) -> dict | None:
    """The lock file's holder while a run holds the data dir, else None."""
    return lock.read_holder(settings.data_dir) if lock.is_locked(settings.data_dir) else None


def _state(row: dict | None, body: dict | None, holder: dict | None) -> str:
    src = body or {}
    for candidate in (src.get("state"), (row or {}).get("outcome")):
        if candidate and candidate != "running":
            return candidate  # a finished outcome from either source beats 'running'
    # 'running' is true only while that very process holds the lock; otherwise it died (kill -9)
    pid = src.get("pid") or (row or {}).get("pid")
    return "running" if holder is not None and holder.get("pid") in (None, pid) else "killed"


def run_record(row: dict | None, body: dict | None, holder: dict | None, now: str) -> dict:
    """One run from its journal row and/or run file; the file has live counts, the row the final word."""
    src = body or {}
    state = _state(row, body, holder)
    if body:
        args, errors = body.get("arguments") or {}, body.get("failed") if isinstance(body.get("failed"), list) else []
        counts = {k: count(body.get(k)) for k in ("planned", "done", "failed", "skipped", "rows")}
    else:
        args, errors = json.loads(row["arguments"] or "{}"), json.loads(row["errors"] or "[]")
        counts = {k: int(row[f"days_{k}"] or 0) for k in ("planned", "done", "failed", "skipped")}
        counts["rows"] = int(row["rows"] or 0)
    started = iso(row["started_at"]) if row else src.get("started")
    finished = iso(row["finished_at"]) if row and state not in ("running", "killed") else None
    if state == "running":
        duration = seconds(started, now)
    elif state == "killed":
        duration = seconds(started, src.get("updated"))  # until its last sign of life
    else:
        duration = src.get("seconds") or seconds(started, finished or src.get("updated"))
    return {"run_id": src.get("run_id") or row["run_id"], "command": src.get("command") or row["command"],
            "arguments": args, "state": state, "pid": src.get("pid") or (row or {}).get("pid"), "started": started,
            "finished": finished, "updated": src.get("updated"), "duration_s": duration, **counts,
            "progress": src.get("progress"), "exit_code": src.get("exit_code"),
            "errors": [{"date": e.get("date"), "key": e.get("key"), "error": e.get("error"), "hint": e.get("hint")}
                       for e in errors]}


def _in_progress(holder: dict | None, runs: list[dict], now: str) -> dict | None:
    """The run holding the data dir: planning (no run file yet), loading (with live progress), or finishing."""
    if holder is None:
        return None
    if holder.get("run_id"):
        r = next((r for r in runs if r["run_id"] == holder["run_id"]), None) or {}
    else:  # a lock taken before its run had an id: only a running run of that process can be it
        r = next((r for r in runs if r["state"] == "running" and r["pid"] == holder.get("pid")), None) or {}
    phase = "planning" if not r else "loading" if r["state"] == "running" else "finishing"
    started = r.get("started") or holder.get("started")
    return {"run_id": r.get("run_id"), "command": r.get("command") or holder.get("command"),
            "pid": holder.get("pid"), "phase": phase, "started": started, "updated": r.get("updated"),
            "elapsed_s": seconds(started, now), **(r.get("progress") or {})}


def _reason(detail: str | None) -> str | None:
    """A failure's detail without its object key, which differs day by day (``key: why``, or for a dataset
    that failed with another's file ``not loaded: <dataset> failed: key: why``)."""
    if not detail:
        return None
    head, sep, rest = detail.partition(" failed: ") if detail.startswith("not loaded: ") else ("", "", detail)
    return head + sep + rest.split(": ", 1)[-1]


def _group_days(rows: list[tuple], wanted: str) -> tuple[list[dict], list[dict]]:
    """Days in ``wanted`` state, and their runs: consecutive days of a dataset failing for one reason."""
    days, ranges = [], []
    prev: tuple | None = None
    for ds, d, status, detail, run_id, at in rows:
        if status != wanted:
            prev = None
            continue
        days.append({"dataset": ds, "date": iso(d), "detail": detail, "run_id": run_id, "updated": iso(at)})
        reason = _reason(detail)
        if prev is not None and prev[0] == ds and prev[1] == reason:
            ranges[-1].update(last=iso(d), count=ranges[-1]["count"] + 1)
        else:
            ranges.append({"dataset": ds, "first": iso(d), "last": iso(d), "count": 1, "detail": detail,
                           "reason": reason})
        prev = (ds, reason)
    return days, ranges


def status(settings: Settings, limit: int = 10) -> dict:
    """Recent runs (newest first), the live progress of a run in progress, failed and suspect days.

    ``failed_days`` lists every failed day; ``failed_ranges`` groups consecutive days of a
    dataset that failed for the same reason (what a terminal shows, ``limit`` at most).
    """
    Store.of(settings).require_dir()
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    holder = _holder(settings)
    rows, note = read_journal(settings, {
        "runs": (f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs ORDER BY started_at DESC, run_id DESC LIMIT ?",
                 [limit]), "days": (_DAYS_SQL, [])})
    if rows is not None:
        source = "journal"
        runs = [run_record(row, read_run_file(settings, row["run_id"]), holder, now)
                for row in (dict(zip(_RUN_COLUMNS, r)) for r in rows["runs"])]
        day_rows = rows["days"]
    else:
        bodies = run_files(settings)
        source = "run files" if bodies else "none"
        if bodies and note == NOTHING_YET:
            note = "no journal yet: read from the run files"
        runs = [run_record(None, b, holder, now) for b in reversed(bodies[-limit:] if limit > 0 else [])]
        day_rows = days_from_runs(bodies)
    failed, failed_ranges = _group_days(day_rows, "failed")
    suspect, suspect_ranges = _group_days(day_rows, "suspect")
    if note is None and not runs and not failed and not suspect:
        note = NOTHING_YET
    return {"data_dir": str(settings.data_dir), "source": source, "note": note, "limit": limit, "runs": runs,
            "in_progress": _in_progress(holder, runs, now), "failed_days": failed, "failed_ranges": failed_ranges,
            "suspect_days": suspect, "suspect_ranges": suspect_ranges}


def run(settings: Settings, run_id: str) -> dict | None:
    """One run from its file alone (no journal read: cheap enough to poll every second); None without a file.

    ``run_id`` must already be a safe file name: callers validate it before asking.
    """
    body = read_run_file(settings, run_id)
    if body is None:
        return None
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return run_record(None, body, _holder(settings), now)


def days_from_runs(bodies: list[dict]) -> list[tuple]:
    """Replay run files oldest first as the commits did: ``(dataset, date, status, detail, run_id, updated)``.

    A load sets each dataset's status; a failure marks only a day not loaded before.
    """
    days: dict[tuple[str, str], tuple] = {}
    for body in bodies:
        run_id, at = body.get("run_id"), body.get("updated")
        for item in body.get("loaded") or []:
            for ds, st in item["datasets"].items():
                days[(ds, item["date"])] = (st, None, run_id, at)
        for f in body.get("failed") if isinstance(body.get("failed"), list) else []:
            line = f"{f.get('key')}: {f.get('error')}" + (f" ({f['hint']})" if f.get("hint") else "")
            for ds in f.get("datasets") or []:
                if days.get((ds, f["date"]), ("failed",))[0] == "failed":
                    days[(ds, f["date"])] = ("failed", line, run_id, at)
    return [(ds, dt.date.fromisoformat(d), *rest) for (ds, d), rest in sorted(days.items())]
