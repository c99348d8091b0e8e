"""What the reports share: reading the journal briefly (or the run files when it is held), dates as text."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import duckdb

from ..errors import JournalLocked
from ..settings import Settings
from ..store.store import Store

#: a report waits at most this long for the journal, however long --lock-timeout is: it has a fallback
READ_WAIT = 5.0
NOTHING_YET = "nothing loaded yet"


def iso(value: Any) -> str | None:
    """DuckDB TIMESTAMPs are naive UTC (journal._now); give them an explicit offset like the run files."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        return aware.isoformat(timespec="seconds")
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return round((dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds(), 1)


def count(value: Any) -> int:
    # in a run file the summary's lists (done/failed/skipped) overwrite the counts of the same name
    return len(value) if isinstance(value, list) else int(value or 0)


def read_journal(settings: Settings, queries: dict[str, tuple[str, list]]) -> tuple[dict[str, list] | None, str | None]:
    """Run ``queries`` on a short read-only connection: ``(rows by name, None)`` or ``(None, why not)``."""
    if not Store.of(settings).db_path.exists():
        return None, NOTHING_YET
    try:
        con = Store.of(settings).reader(min(settings.lock_timeout, READ_WAIT))
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


def run_files(settings: Settings) -> list[dict]:
    """Every run file, oldest first: by start, then last write (run ids within one second sort randomly)."""
    keyed = []
    for path in Path(Store.of(settings).runs_dir).glob("*.json"):  # *.json.tmp (half-written) does not match
        try:
            body = json.loads(path.read_text())
            keyed.append((str(body.get("started")), path.stat().st_mtime_ns, body))
        except (OSError, ValueError, AttributeError):
            continue  # removed or unreadable: skip rather than fail the whole report
    return [body for *_, body in sorted(keyed, key=lambda k: k[:2])]


def read_run_file(settings: Settings, run_id: str) -> dict | None:
    try:
        return json.loads((Path(Store.of(settings).runs_dir) / f"{run_id}.json").read_text())
    except (OSError, ValueError):
        return None
