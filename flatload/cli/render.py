"""Terminal text for the read-only reports (``flatload.reports``): status lines and the gaps matrix."""
from __future__ import annotations

import datetime as dt

from ..reports import CLASSES

#: one character per day in the gaps matrix; '-' marks a weekend/holiday, ' ' a day outside the range
MARKS = {"flatfile": "F", "rest": "R", "failed": "x", "missing": "."}
NO_SESSION, OUTSIDE = "-", " "
#: the matrix line of a month is ``"YYYY-MM  "`` then days 1..31, so day d is at index MATRIX_PREFIX + d - 1
MATRIX_PREFIX = 9
LEGEND = "legend: F flatfile  R rest  x failed  . missing  - no session (weekend/holiday)"


def _dur(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{sec:02d}s"


def render_status(report: dict) -> str:
    """Compact terminal text for :func:`status`."""
    lines = [f"data dir {report['data_dir']} (read from {report['source']})"]
    if report["note"]:
        lines.append(f"note: {report['note']}")
    p = report["in_progress"]
    if p:
        head = f"in progress: {p['command']} {p['run_id'] or '(planning)'}, pid {p['pid']}, {_dur(p['elapsed_s'])}"
        if p["planned"] is not None:
            head += (f": {p['done']}/{p['planned']} days done, {p['failed']} failed, {p['skipped']} skipped, "
                     f"{p['remaining']} to go; {p['rows']:,} rows; last commit {p['updated'] or '-'}")
        lines.append(head)
    if report["runs"]:
        lines.append("recent runs (newest first):")
    for r in report["runs"]:
        args = " ".join(f"{k}={v}" for k, v in r["arguments"].items() if v not in (None, False, [], ""))
        lines.append(f"  {r['run_id']}  {r['command']:<7} {r['state']:<11} done {r['done']} failed {r['failed']} "
                     f"skipped {r['skipped']} of {r['planned']}  {r['rows']:,} rows  {_dur(r['duration_s'])}  {args}")
        lines.extend(f"      ! {e['date']} {e['error']}" for e in r["errors"][:3])
        if len(r["errors"]) > 3:
            lines.append(f"      … and {len(r['errors']) - 3} more (--json lists them)")
    if report["failed_days"]:
        lines.append("failed days (last error):")
        lines.extend(f"  {f['date']}  {f['detail']}" for f in report["failed_days"])
    return "\n".join(lines)


def _ruler() -> str:
    cells = [" "] * 31
    for d in (1, 5, 10, 15, 20, 25, 30):
        cells[d - 1:d - 1 + len(str(d))] = str(d)
    return " " * MATRIX_PREFIX + "".join(cells)


def render_gaps(report: dict) -> str:
    """A month-by-day matrix, one line per month, one character per day; then the legend and failed days."""
    start, end = dt.date.fromisoformat(report["start"]), dt.date.fromisoformat(report["end"])
    c = report["counts"]
    lines = [f"{report['start']} .. {report['end']}: {report['sessions']} sessions, "
             + ", ".join(f"{c[k]} {k}" for k in CLASSES)
             + (" - complete" if report["complete"] else " - INCOMPLETE")]
    if report["note"]:
        lines.append(f"note: {report['note']}")
    lines.append(_ruler())
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        cells = []
        for d in range(1, 32):
            try:
                day = dt.date(year, month, d)
            except ValueError:  # Feb 30 and the like: keep every line 31 wide so columns line up
                cells.append(OUTSIDE)
                continue
            state = report["days"].get(day.isoformat())
            cells.append(OUTSIDE if not start <= day <= end else MARKS[state] if state else NO_SESSION)
        lines.append(f"{year:04d}-{month:02d}  " + "".join(cells))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    lines.append(LEGEND)
    if report["failed"]:
        lines.append("failed days:")
        lines.extend(f"  {f['date']}  {f['reason']}" for f in report["failed"])
    return "\n".join(lines)


def frame_text(frame, fmt: str) -> str:
    """A Polars frame as ``table`` (every row and column), ``csv`` or ``json`` (records) text."""
    import polars as pl

    if fmt == "csv":
        return frame.write_csv()
    if fmt == "json":
        return frame.write_json()
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=10_000, tbl_hide_dataframe_shape=True,
                   tbl_hide_column_data_types=True, fmt_str_lengths=200):
        return str(frame)
