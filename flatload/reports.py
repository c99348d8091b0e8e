"""Read-only reports on a data directory as plain dicts: ``status`` (runs, live progress, failed days), ``gaps``.

Nothing here writes. A load in progress holds the data-dir lock and opens DuckDB only
briefly per commit batch, so reading the journal retries for a moment; when it stays
locked (an analyst's read-write session, a slow commit) the report is rebuilt from the
per-run JSON files, which every run rewrites after each commit, and says so. Both
reports are plain JSON-serializable dicts (dates as ISO strings); ``flatload.cli.render`` draws them as text.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import duckdb

from . import calendar
from .engine.summary import DayFailure
from .errors import JournalLocked
from .settings import Settings
from .store import db, fs, lock

#: a report waits at most this long for the journal, however long --lock-timeout is: it has a fallback
READ_WAIT = 5.0
NOTHING_YET = "nothing loaded yet"
CLASSES = ("flatfile", "rest", "failed", "missing")

_RUN_COLUMNS = ("run_id", "command", "arguments", "started_at", "finished_at", "outcome", "days_planned",
                "days_done", "days_failed", "days_skipped", "rows", "errors", "pid")


def _iso(value: Any) -> str | None:
    """DuckDB TIMESTAMPs are naive UTC (journal._now); give them an explicit offset like the run files."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        return aware.isoformat(timespec="seconds")
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return round((dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds(), 1)


def _count(value: Any) -> int:
    # in a run file the summary's lists (done/failed/skipped) overwrite the counts of the same name
    return len(value) if isinstance(value, list) else int(value or 0)


def _failure_line(f: dict) -> str:
    """The text the pipeline stores in day_status.detail, from a run file's failure (DayFailure.to_dict)."""
    return DayFailure(dt.date.fromisoformat(f["date"]), f.get("key"), f.get("error"), bool(f.get("transient")),
                      f.get("hint")).line()


def _read_journal(settings: Settings, queries: dict[str, tuple[str, list]]) -> tuple[dict[str, list] | None, str | None]:
    """Run ``queries`` on a short read-only connection: ``(rows by name, None)`` or ``(None, why not)``."""
    if not settings.journal_path.exists():
        return None, NOTHING_YET
    try:
        con = db.connect(settings.journal_path, min(settings.lock_timeout, READ_WAIT), read_only=True)
    except JournalLocked as exc:
        return None, f"{exc.message}: read from the run files instead"
    try:
        out: dict[str, list] = {}
        for name, (sql, params) in queries.items():
            try:
                out[name] = con.execute(sql, params).fetchall()  # fetched in full before the next statement
            except duckdb.CatalogException:  # a journal file whose schema was never applied
                out[name] = []
        return out, None
    finally:
        con.close()


def _run_files(settings: Settings) -> list[dict]:
    """Every run file, oldest first: by start, then last write (run ids within one second sort randomly)."""
    keyed = []
    for path in Path(settings.runs_dir).glob("*.json"):  # *.json.tmp (half-written) does not match
        try:
            body = json.loads(path.read_text())
            keyed.append((str(body.get("started")), path.stat().st_mtime_ns, body))
        except (OSError, ValueError, AttributeError):
            continue  # removed or unreadable: skip rather than fail the whole report
    return [body for *_, body in sorted(keyed, key=lambda k: k[:2])]


def _read_run_file(settings: Settings, run_id: str) -> dict | None:
    try:
        return json.loads((Path(settings.runs_dir) / f"{run_id}.json").read_text())
    except (OSError, ValueError):
        return None


def _days_from_runs(bodies: list[dict]) -> dict[str, tuple[str, str | None]]:
    """Replay run files oldest first as the commits did: a load sets the source, a failure marks only a day not loaded."""
    days: dict[str, tuple[str, str | None]] = {}
    for body in bodies:
        for day, source in (body.get("sources") or {}).items():
            days[day] = (source, None)
        for f in body.get("failed") if isinstance(body.get("failed"), list) else []:
            if days.get(f["date"], ("failed", None))[0] == "failed":
                days[f["date"]] = ("failed", _failure_line(f))
    return days


def _holder(settings: Settings) -> dict | None:
    """The lock file's holder while a run holds the data dir, else None."""
    return lock.read_holder(settings.data_dir) if lock.is_locked(settings.data_dir) else None


def _run_record(row: dict | None, body: dict | None, holder: dict | None, now: str) -> dict:
    """One run from its journal row and/or run file; the file has live counts, the row the final word."""
    src = body or {}
    pid = src.get("pid") or (row or {}).get("pid")
    state = None
    for candidate in (src.get("state"), (row or {}).get("outcome")):
        if candidate and candidate != "running":
            state = candidate  # a finished outcome from either source beats 'running'
            break
    if state is None:
        # 'running' is true only while that very process holds the lock; otherwise it died (kill -9)
        alive = holder is not None and holder.get("pid") in (None, pid)
        state = "running" if alive else "killed"
    if body:
        args, errors = body.get("arguments") or {}, body.get("failed") if isinstance(body.get("failed"), list) else []
        counts = {k: _count(body.get(k)) for k in ("planned", "done", "failed", "skipped", "rows")}
    else:
        args, errors = json.loads(row["arguments"] or "{}"), json.loads(row["errors"] or "[]")
        counts = {k: int(row[f"days_{k}"] or 0) for k in ("planned", "done", "failed", "skipped")}
        counts["rows"] = int(row["rows"] or 0)
    started = _iso(row["started_at"]) if row else src.get("started")
    finished = _iso(row["finished_at"]) if row and state not in ("running", "killed") else None
    if state == "running":
        duration = _seconds(started, now)
    elif state == "killed":
        duration = _seconds(started, src.get("updated"))  # until its last sign of life
    else:
        duration = src.get("seconds") or _seconds(started, finished or src.get("updated"))
    return {"run_id": src.get("run_id") or row["run_id"], "command": src.get("command") or row["command"],
            "arguments": args, "state": state, "pid": pid, "started": started, "finished": finished,
            "updated": src.get("updated"), "duration_s": duration, **counts,
            "errors": [{"date": e.get("date"), "key": e.get("key"), "error": e.get("error"), "hint": e.get("hint")}
                       for e in errors]}


def status(settings: Settings, limit: int = 10) -> dict:
    """Recent runs (newest first), the live progress of a run in progress, and the last error per failed day."""
    fs.require_store(settings.data_dir)
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    holder = _holder(settings)
    rows, note = _read_journal(settings, {
        "runs": (f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs ORDER BY started_at DESC, run_id DESC LIMIT ?",
                 [limit]),
        "failed": ("SELECT trade_date, detail, run_id, updated_at FROM day_status WHERE status = 'failed' "
                   "ORDER BY trade_date", [])})
    if rows is not None:
        source = "journal"
        runs = [_run_record(row, _read_run_file(settings, row["run_id"]), holder, now)
                for row in (dict(zip(_RUN_COLUMNS, r)) for r in rows["runs"])]
        failed_days = [{"date": _iso(d), "detail": detail, "run_id": run_id, "updated": _iso(at)}
                       for d, detail, run_id, at in rows["failed"]]
    else:
        bodies = _run_files(settings)
        source = "run files" if bodies else "none"
        if bodies and note == NOTHING_YET:
            note = "no journal yet: read from the run files"
        runs = [_run_record(None, b, holder, now) for b in reversed(bodies[-limit:] if limit > 0 else [])]
        failed_days = [{"date": d, "detail": detail, "run_id": None, "updated": None}
                       for d, (state, detail) in sorted(_days_from_runs(bodies).items()) if state == "failed"]
    if note is None and not runs and not failed_days:
        note = NOTHING_YET
    live = next((r for r in runs if r["state"] == "running"), None)
    in_progress = None
    if holder is not None:  # the lock may be held before the run has a run file (planning)
        r = live or {}
        left = (r["planned"] - r["done"] - r["failed"] - r["skipped"]) if live else None
        in_progress = {"run_id": r.get("run_id"), "command": r.get("command") or holder.get("command"),
                       "pid": holder.get("pid"), "started": r.get("started") or holder.get("started"),
                       "updated": r.get("updated"), "planned": r.get("planned"), "done": r.get("done"),
                       "failed": r.get("failed"), "skipped": r.get("skipped"), "remaining": left,
                       "rows": r.get("rows"), "elapsed_s": _seconds(r.get("started") or holder.get("started"), now)}
    return {"data_dir": str(settings.data_dir), "source": source, "note": note, "runs": runs,
            "in_progress": in_progress, "failed_days": failed_days}


#: the sessions ``gaps`` shows when no --start is given
DEFAULT_GAP_SESSIONS = 30


def default_window(start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
    """``end`` defaults to the latest closed session, ``start`` to 30 sessions before ``end``."""
    end = end or calendar.latest_closed_session()
    if start is None:
        before = calendar.previous_sessions(end, DEFAULT_GAP_SESSIONS)
        start = before[0] if before else end
    return start, end


def gaps(start: dt.date | None, end: dt.date | None, settings: Settings) -> dict:
    """Every NYSE session in ``[start, end]`` as flatfile / rest / failed (with reason) / missing.

    ``end`` defaults to the latest closed session and ``start`` to 30 sessions before it.
    """
    fs.require_store(settings.data_dir)
    start, end = default_window(start, end)
    rows, note = _read_journal(settings, {"days": (
        "SELECT trade_date, status, detail FROM day_status WHERE trade_date BETWEEN ? AND ?", [start, end])})
    if rows is not None:
        source, known = "journal", {_iso(d): (s, detail) for d, s, detail in rows["days"]}
    else:
        bodies = _run_files(settings)
        source, known = ("run files" if bodies else "none"), _days_from_runs(bodies)
        if bodies and note == NOTHING_YET:
            note = "no journal yet: read from the run files"
    days: dict[str, str] = {}
    failed = []
    for session in calendar.sessions(start, end):
        day = session.isoformat()
        state, detail = known.get(day, ("missing", None))
        days[day] = state if state in CLASSES else "missing"
        if state == "failed":
            failed.append({"date": day, "reason": detail})
    counts = {c: sum(1 for s in days.values() if s == c) for c in CLASSES}
    return {"start": start.isoformat(), "end": end.isoformat(), "source": source, "note": note,
            "sessions": len(days), "counts": counts, "complete": counts["failed"] == counts["missing"] == 0,
            "days": days, "failed": failed}
