"""The NYSE session table from ``exchange_calendars``, kept on disk so that a run need not import it.

``exchange_calendars`` (with pandas) takes about half a second to import and build: more than a
whole no-op run should cost. The table it gives (each session's date, open and close) is
written once to the user's cache directory and read back in milliseconds; it is built again
when ``exchange_calendars`` changes (an update adds a holiday) or after 30 days (the calendar's
horizon moves forward). Nothing is hard-coded: every date comes from the calendar.
"""
from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

FORMAT = 1
#: the first session the table holds (the vendor's files start in September 2003)
FIRST = dt.date(2003, 1, 1)
#: rebuild after this long even when nothing changed, so the horizon keeps a year ahead
MAX_AGE = dt.timedelta(days=30)


@dataclass(frozen=True)
class SessionTable:
    """Every session as (date ordinal, open ns, close ns), sorted, with a digest of the whole."""

    ordinals: tuple[int, ...]
    opens: tuple[int, ...]
    closes: tuple[int, ...]
    digest: str
    index: dict[int, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.index.update({o: i for i, o in enumerate(self.ordinals)})

    def between(self, start: dt.date, end: dt.date) -> tuple[int, int]:
        """The index range ``[i, j)`` of the sessions in ``[start, end]``."""
        return (bisect.bisect_left(self.ordinals, start.toordinal()),
                bisect.bisect_right(self.ordinals, end.toordinal()))


def cache_dir() -> Path:
    """``$FLATLOAD_CACHE_DIR``, else ``$XDG_CACHE_HOME/flatload``, else ``~/.cache/flatload``."""
    if os.environ.get("FLATLOAD_CACHE_DIR"):
        return Path(os.environ["FLATLOAD_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "flatload"


def _source_stamp() -> str:
    """What identifies the installed exchange_calendars (its module file and its modification time)."""
    spec = importlib.util.find_spec("exchange_calendars")
    origin = Path(spec.origin) if spec and spec.origin else None
    if origin is None:
        return "exchange_calendars: not installed"
    return f"{origin}:{origin.stat().st_mtime_ns}"


def _build() -> SessionTable:
    import exchange_calendars as xcals
    import pandas as pd

    sched = xcals.get_calendar("XNYS", start=FIRST.isoformat()).schedule
    ordinals = tuple(d.toordinal() for d in pd.DatetimeIndex(sched.index).date)
    opens = tuple(int(x) for x in pd.DatetimeIndex(sched["open"]).as_unit("ns").asi8)
    closes = tuple(int(x) for x in pd.DatetimeIndex(sched["close"]).as_unit("ns").asi8)
    digest = hashlib.sha256(json.dumps([ordinals, opens, closes]).encode()).hexdigest()[:16]
    return SessionTable(ordinals, opens, closes, digest)


def _read(path: Path, stamp: str, today: dt.date) -> SessionTable | None:
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if body.get("format") != FORMAT or body.get("source") != stamp:
        return None
    if today - dt.date.fromisoformat(body["built"]) > MAX_AGE:
        return None
    return SessionTable(tuple(body["ordinals"]), tuple(body["opens"]), tuple(body["closes"]), body["digest"])


def _write(path: Path, stamp: str, today: dt.date, table: SessionTable) -> None:
    body = {"format": FORMAT, "source": stamp, "built": today.isoformat(), "digest": table.digest,
            "ordinals": table.ordinals, "opens": table.opens, "closes": table.closes}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(body))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home: the table is simply built again next time


@lru_cache(maxsize=1)
def xnys() -> SessionTable:
    """The session table: from the cache when it is current, else built from exchange_calendars (and cached)."""
    stamp, today = _source_stamp(), dt.date.today()
    # one file per exchange_calendars install: two virtualenvs sharing the cache directory
    # would otherwise rebuild it in turn, each finding the other's
    tag = hashlib.sha256(stamp.encode()).hexdigest()[:10]
    path = cache_dir() / f"xnys-sessions-v{FORMAT}-{tag}.json"
    table = _read(path, stamp, today)
    if table is None:
        table = _build()
        _write(path, stamp, today, table)
        _prune(path.parent, keep=path)
    return table


def _prune(folder: Path, keep: Path) -> None:
    """Remove the tables of installs not seen for MAX_AGE (their files are rewritten at least that often)."""
    horizon = dt.datetime.now().timestamp() - 2 * MAX_AGE.total_seconds()
    for old in folder.glob("xnys-sessions-v*.json"):
        try:
            if old != keep and old.stat().st_mtime < horizon:
                old.unlink()
        except OSError:
            pass
