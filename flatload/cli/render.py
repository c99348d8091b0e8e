"""Terminal text for the read-only reports (``flatload.reports``) and for frames (``flatload sql``, ``bars``)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from ..reports.gaps import CLASSES

if TYPE_CHECKING:  # Polars loads only when a frame is rendered
    import polars as pl

#: one character per day in the gaps matrix; '-' marks a weekend/holiday, ' ' a day outside the range
MARKS = {"flatfile": "F", "rest": "R", "suspect": "S", "failed": "x", "missing": "."}
NO_SESSION, OUTSIDE = "-", " "
#: the matrix line of a month is ``"YYYY-MM  "`` then days 1..31, so day d is at index MATRIX_PREFIX + d - 1
MATRIX_PREFIX = 9
LEGEND = "legend: F flatfile  R rest  S suspect  x failed  . missing  - no file expected (weekend/holiday)"


def _dur(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{sec:02d}s"


def _progress_line(p: dict) -> str:
    head = f"in progress: {p['command']} {p['run_id'] or ''}, pid {p['pid']}, {_dur(p['elapsed_s'])}"
    if p["phase"] != "loading" or p.get("days_total") is None:
        return head + f" ({p['phase']})"
    eta = f", about {_dur(p['eta_s'])} to go" if p.get("eta_s") else ""
    flight = f"; in flight: {', '.join(p['in_flight'])}" if p.get("in_flight") else ""
    return (head + f": {p['days_done'] + p['days_failed']}/{p['days_total']} days ({p['progress_pct']:.0f} %), "
            f"{p['days_failed']} failed; {p['rows']:,} rows, {p['rows_per_s']:,.0f} rows/s, "
            f"{p['bytes_per_s'] / 1e6:.1f} MB/s{eta}{flight}; updated {p['updated'] or '-'}")


def _ranges(title: str, ranges: list[dict], limit: int) -> list[str]:
    if not ranges:
        return []
    out = [title]
    for r in ranges[:limit]:
        when = r["first"] if r["count"] == 1 else f"{r['first']}..{r['last']} ({r['count']:,} days)"
        out.append(f"  {r['dataset']:<20} {when}  {r['detail'] if r['count'] == 1 else r['reason']}")
    if len(ranges) > limit:
        out.append(f"  … and {len(ranges) - limit} more (--limit N shows more, --json lists every day)")
    return out


def render_status(report: dict) -> str:
    """Compact terminal text for :func:`flatload.reports.status`, at most ``limit`` lines per list."""
    lines = [f"data dir {report['data_dir']} (read from {report['source']})"]
    if report["note"]:
        lines.append(f"note: {report['note']}")
    if report["in_progress"]:
        lines.append(_progress_line(report["in_progress"]))
    if report["runs"]:
        lines.append("recent runs (newest first):")
    for r in report["runs"]:
        args = " ".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}"
                        for k, v in r["arguments"].items() if v not in (None, False, [], ""))
        lines.append(f"  {r['run_id']}  {r['command']:<7} {r['state']:<11} done {r['done']} failed {r['failed']} "
                     f"skipped {r['skipped']} of {r['planned']}  {r['rows']:,} rows  {_dur(r['duration_s'])}  {args}")
        # a run-wide error (the journal could not be written) has no date
        lines.extend(f"      ! {e['date'] or 'run:'} {e['error']}" for e in r["errors"][:3])
        if len(r["errors"]) > 3:
            lines.append(f"      … and {len(r['errors']) - 3} more (--json lists them)")
    lines += _ranges("failed days (last error):", report["failed_ranges"], report["limit"])
    lines += _ranges("suspect days (loaded, look incomplete; the next run loads them again):",
                     report["suspect_ranges"], report["limit"])
    return "\n".join(lines)


def _ruler() -> str:
    cells = [" "] * 31
    for d in (1, 5, 10, 15, 20, 25, 30):
        cells[d - 1:d - 1 + len(str(d))] = str(d)
    return " " * MATRIX_PREFIX + "".join(cells)


def _matrix(days: dict[str, str], start: dt.date, end: dt.date) -> list[str]:
    lines = [_ruler()]
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        cells = []
        for d in range(1, 32):
            try:
                day = dt.date(year, month, d)
            except ValueError:  # Feb 30 and the like: keep every line 31 wide so columns line up
                cells.append(OUTSIDE)
                continue
            state = days.get(day.isoformat())
            cells.append(OUTSIDE if not start <= day <= end else MARKS[state] if state else NO_SESSION)
        lines.append(f"{year:04d}-{month:02d}  " + "".join(cells))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return lines


def render_gaps(report: dict) -> str:
    """Per dataset, a month-by-day matrix (one line per month, one character per day); the legend; failed days."""
    start, end = dt.date.fromisoformat(report["start"]), dt.date.fromisoformat(report["end"])
    c = report["counts"]
    lines = [f"{report['start']} .. {report['end']}: {report['sessions']} day(s), "
             + ", ".join(f"{c[k]} {k}" for k in reversed(CLASSES))
             + (" - complete" if report["complete"] else " - INCOMPLETE")]
    if report["note"]:
        lines.append(f"note: {report['note']}")
    for sec in report["by_dataset"]:
        lines.append(f"{sec['dataset']} ({sec['calendar']}; first file {sec['first_date']})")
        lines += _matrix(sec["days"], start, end)
    lines.append(LEGEND)
    for title, key in (("failed days:", "failed"), ("suspect days:", "suspect")):
        if report[key]:
            lines.append(title)
            lines.extend(f"  {f['dataset']:<20} {f['date']}  {f['reason']}" for f in report[key])
    return "\n".join(lines)


def render_datasets(report: dict) -> str:
    """The registry as a table, what this store holds of each dataset, and the bucket's folders (--remote)."""
    lines = [f"{'dataset':<20} {'key prefix':<32} {'calendar':<30} {'first file':<12} {'loaded here':<28} columns"]
    for d in report["datasets"]:
        first = d["first_date"] + ("" if d["first_date_known"] else "~")
        ld = d["loaded"]
        here = f"{ld['days']} day(s) {ld['first']}..{ld['last']}" if ld["days"] else "-"
        if ld["failed"] or ld["suspect"]:
            here += f" ({ld['failed']} failed, {ld['suspect']} suspect)"
        cols = ",".join(c["name"] for c in d["columns"]) + "".join(f",+{c['name']}" for c in d["derived_columns"])
        lines.append(f"{d['name']:<20} {d['key_prefix']:<32} {d['calendar']:<30} {first:<12} {here:<28} {cols}")
    lines.append("~ first file not documented by the vendor: the listing decides")
    remote = report.get("remote")
    if remote:
        lines.append(f"in {remote['source']}:")
        for f in remote["folders"]:
            lines.append(f"  {f['prefix']:<40} {f['dataset'] or 'unknown: not in the registry'}")
        if remote["missing"]:
            lines.append("registered but not in the bucket: " + ", ".join(remote["missing"]))
    if report.get("note"):
        lines.append(f"note: {report['note']}")
    return "\n".join(lines)


def frame_text(frame, fmt: str) -> str:
    """A Polars frame as ``table`` (every row and column), ``csv`` or ``json`` (records) text."""
    import polars as pl

    if fmt == "csv":
        return frame.write_csv()
    if fmt == "json":
        return frame.write_json()
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=10_000, tbl_hide_dataframe_shape=True,
                   tbl_hide_column_data_types=True, fmt_str_lengths=200, fmt_float="full"):
        return str(frame)


def iso_times(frame: "pl.DataFrame") -> "pl.DataFrame":
    """Time-zone-aware columns as ISO 8601 text with the offset (``2024-03-04T09:30:00-05:00``)."""
    import polars as pl

    zoned = [c for c, t in frame.schema.items() if isinstance(t, pl.Datetime) and t.time_zone]
    return frame.with_columns(pl.col(c).dt.strftime("%Y-%m-%dT%H:%M:%S%:z") for c in zoned)


#: ``--out`` file suffixes and the format each implies
SUFFIX_FORMATS = {".csv": "csv", ".json": "json", ".parquet": "parquet", ".pq": "parquet", ".txt": "table"}


def write_frame(frame: "pl.DataFrame", fmt: str, out: Path) -> int:
    """Write ``frame`` to the file ``out`` as table, csv, json (records) or parquet; returns its rows.

    Text formats carry times as ISO 8601 with the offset; parquet keeps them typed.
    """
    if fmt == "parquet":
        frame.write_parquet(out)
    else:
        out.write_text(frame_text(iso_times(frame), fmt).rstrip("\n") + "\n")
    return frame.height
