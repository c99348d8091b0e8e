"""The JSON API under ``/api/v1``: backfill jobs, and the library's reports, journal and bars.

Reads are open; with a token, every request that changes something (start, stop) needs
``Authorization: Bearer <token>``. Client values are checked (:mod:`.models`) before they
reach anything: SQL gets them as parameters only, and no path is built from them.
"""
from __future__ import annotations

import datetime as dt
import secrets
from typing import Annotated, Any

import polars as pl
import polars.selectors as cs
from fastapi import APIRouter, Depends, Path, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .. import calendar, reports
from ..analysis.bars import bars as load_bars
from ..analysis.minutes import NoBars
from ..analysis.sql import query
from ..analysis.timeframes import SESSIONS, parse_every
from ..errors import ConfigError
from ..settings import Settings
from .jobs import RETRY_AFTER_S, JobConflict, JobNotFound, JobNotRunning, Jobs, JobStarting
from .models import (
    ApiError,
    BackfillRequest,
    IsoDate,
    JobAccepted,
    JobId,
    JobStatus,
    RecentJobs,
    Symbol,
    resolve_datasets,
)
from ..store.store import Store

#: more bars than this in one answer is a mistake (a year of minutes): ask for a wider ``every``
MAX_BARS = 100_000
MAX_JOURNAL_ROWS = 100_000

router = APIRouter()
bearer = HTTPBearer(auto_error=False, description="Needed to start or stop jobs when the server has a token")


class ApiProblem(Exception):
    """An error answer: HTTP ``status`` and one line; ``job_id`` names the job it concerns."""

    def __init__(self, status: int, message: str, job_id: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.job_id, self.headers = status, message, job_id, headers


def invalid(field: str, message: str, where: str = "query") -> RequestValidationError:
    """A 422 naming ``field``, shaped like FastAPI's own (for checks across fields)."""
    return RequestValidationError([{"loc": (where, field), "msg": message, "type": "value_error"}])


def require_token(request: Request,
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None) -> None:
    """With a server token: 401 unless the request carries ``Authorization: Bearer <token>``."""
    token: str | None = request.app.state.token
    if token is None:
        return
    given = credentials.credentials if credentials is not None else ""
    if not secrets.compare_digest(given.encode(), token.encode()):
        raise ApiProblem(401, "this server needs a token: send Authorization: Bearer <token>",
                         headers={"WWW-Authenticate": "Bearer"})


def jobs_of(request: Request) -> Jobs:
    return request.app.state.jobs


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


JobsDep = Annotated[Jobs, Depends(jobs_of)]
SettingsDep = Annotated[Settings, Depends(settings_of)]
JobPath = Annotated[JobId, Path(description="A job id (the run id), as POST /backfill returned it")]
_ERRORS: dict[int | str, dict[str, Any]] = {422: {"model": ApiError, "description": "Invalid input: names the field"}}
_AUTH: dict[int | str, dict[str, Any]] = {401: {"model": ApiError, "description": "Missing or wrong token"}}


def _ordered(start: dt.date | None, end: dt.date | None) -> None:
    if start is not None and end is not None and end < start:
        raise invalid("end", f"end {end} is before start {start}")


@router.post("/backfill", status_code=202, response_model=JobAccepted, dependencies=[Depends(require_token)],
             responses={**_ERRORS, **_AUTH, 409: {"model": ApiError, "description": "A job runs: names it"}})
def start_backfill(body: BackfillRequest, jobs: JobsDep) -> JobAccepted:
    """Start a backfill: an ordinary ``flatload load`` run as a process of its own (same lock, run records
    and exit codes). 409 names the job while another run holds the data dir."""
    try:
        job_id = jobs.start(body.start, body.end, ",".join(body.datasets) if body.datasets else None, body.symbols,
                            force=body.force)
    except JobConflict as exc:
        raise ApiProblem(409, exc.message, job_id=exc.job_id) from None
    return JobAccepted(job_id=job_id, status="queued")


@router.get("/backfill/status/{job_id}", response_model=JobStatus,
            responses={**_ERRORS, 404: {"model": ApiError, "description": "No such job"}})
def backfill_status(job_id: JobPath, jobs: JobsDep) -> dict:
    """A job's state and live progress (at most 1 s old while it runs), its failed days and exit code."""
    doc = jobs.status(job_id)
    if doc is None:
        raise ApiProblem(404, f"no job {job_id} on this data dir", job_id=job_id)
    return doc


@router.get("/backfill/recent", response_model=RecentJobs, responses=_ERRORS)
def recent_backfills(jobs: JobsDep, limit: Annotated[int, Query(ge=1, le=500)] = 20) -> dict:
    """Every run on the data dir, newest first: this API's jobs and the runs of the CLI or cron."""
    return jobs.recent(limit)


@router.delete("/backfill/{job_id}", status_code=202, response_model=JobStatus,
               dependencies=[Depends(require_token)],
               responses={**_ERRORS, **_AUTH, 404: {"model": ApiError, "description": "No such job"},
                          409: {"model": ApiError, "description": "The job has ended; or it is starting its load "
                                                                 "this moment: send the stop again after "
                                                                 "Retry-After seconds"}})
def stop_backfill(job_id: JobPath, jobs: JobsDep) -> dict:
    """Stop a job as Ctrl-C does: the days in flight finish and are committed, then its status becomes
    ``interrupted``. A second DELETE aborts the days in flight (still consistent). A job whose load has
    not started yet never starts it (``stop_requested`` is true at once); 409 with ``Retry-After`` in the
    moment it is starting it, when the stop could not be delivered."""
    try:
        return jobs.stop(job_id)
    except JobNotFound as exc:
        raise ApiProblem(404, exc.message, job_id=job_id) from None
    except JobStarting as exc:
        raise ApiProblem(409, exc.message, job_id=job_id, headers={"Retry-After": str(RETRY_AFTER_S)}) from None
    except JobNotRunning as exc:
        raise ApiProblem(409, exc.message, job_id=job_id) from None


def _datasets_param(dataset: str | None) -> str | None:
    try:
        names = resolve_datasets(dataset)
    except ValueError as exc:
        raise invalid("dataset", str(exc)) from None
    return ",".join(names) if names else None


@router.get("/gaps", responses=_ERRORS)
def gaps(settings: SettingsDep,
         dataset: Annotated[str | None, Query(max_length=500, description="Names or families, comma-separated "
                                                                          "[stocks]")] = None,
         start: Annotated[IsoDate | None, Query(description="[30 sessions before end]")] = None,
         end: Annotated[IsoDate | None, Query(description="[the latest complete day]")] = None) -> dict:
    """Every day in range of each dataset: flatfile, rest, suspect, failed or missing (``gaps --json``)."""
    _ordered(start, end)
    return reports.gaps(start, end, settings, _datasets_param(dataset))


@router.get("/datasets")
def datasets(settings: SettingsDep) -> dict:
    """The datasets flatload loads and what this data dir holds of each (``datasets --json``)."""
    return reports.datasets(settings)


@router.get("/journal", responses=_ERRORS)
def journal(settings: SettingsDep, symbol: Annotated[Symbol | None, Query()] = None,
            start: Annotated[IsoDate | None, Query()] = None, end: Annotated[IsoDate | None, Query()] = None,
            limit: Annotated[int, Query(ge=1, le=MAX_JOURNAL_ROWS)] = 1000) -> dict:
    """Journal rows (session metrics per symbol and day), by date then symbol; ``truncated`` past ``limit``."""
    _ordered(start, end)
    out: dict[str, Any] = {"symbol": symbol, "start": start, "end": end, "rows": [], "count": 0, "truncated": False}
    if not Store.of(settings).db_path.exists():
        return {**out, "note": reports.NOTHING_YET}
    conditions, params = [], []
    for sql, value in (("symbol = ?", symbol), ("trade_date >= ?", start), ("trade_date <= ?", end)):
        if value is not None:
            conditions.append(sql)
            params.append(value)
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    frame = query(f"SELECT * FROM journal{where} ORDER BY trade_date, symbol LIMIT ?", settings, [*params, limit + 1])
    # loaded_at is naive UTC in the journal: say so, as the other documents do
    rows = frame.head(limit).with_columns(cs.datetime(time_zone=None).dt.replace_time_zone("UTC")).to_dicts()
    return {**out, "rows": rows, "count": len(rows), "truncated": frame.height > limit, "note": None}


@router.get("/bars", responses={**_ERRORS, 404: {"model": ApiError, "description": "No bars of the symbol"}})
def bars(settings: SettingsDep, symbol: Annotated[Symbol, Query()], start: Annotated[IsoDate, Query()],
         end: Annotated[IsoDate | None, Query(description="[start]")] = None,
         every: Annotated[str, Query(max_length=8, description="1m, 5m, 1h, 1d, 1w")] = "1m",
         session: Annotated[str | None, Query(description="regular (default), extended or all")] = None) -> dict:
    """A stock's bars (``flatload.bars``), times as UTC epoch seconds and New York wall time, with each
    session's bounds (pre-market from 04:00, open, close, after-hours end) for shading."""
    end = end or start
    _ordered(start, end)
    try:
        parse_every(every)
    except ConfigError as exc:
        raise invalid("every", exc.one_line()) from None
    if session is not None and session not in SESSIONS:
        raise invalid("session", f"{session[:20]!r} is not a session: use {', '.join(SESSIONS)}")
    try:
        frame = load_bars(symbol, start, end, every=every, session=session, settings=settings)
    except (NoBars, ConfigError) as exc:
        raise ApiProblem(404, exc.one_line()) from None
    if frame.height > MAX_BARS:
        raise invalid("every", f"{frame.height:,} bars is more than {MAX_BARS:,}: ask for a wider every or a "
                               "shorter range")
    start_col = pl.col("window_start")
    rows = frame.select(start_col.dt.epoch("s").alias("time"),
                        start_col.dt.to_string("%Y-%m-%dT%H:%M:%S%:z").alias("window_start"),
                        "open", "high", "low", "close", "volume", "vwap", "transactions").to_dicts()
    return {"symbol": symbol, "start": start, "end": end, "every": every, "session": session or "regular",
            "count": len(rows), "bars": rows, "sessions": _sessions(start, end)}


def _sessions(start: dt.date, end: dt.date) -> list[dict]:
    """Each NYSE session's bounds in UTC epoch seconds (early closes close at 13:00)."""
    out = []
    for d in calendar.sessions(start, end):
        b = calendar.session_bounds(d)
        out.append({"date": d, "pre_start": b.pre_start // 10**9, "open": b.open // 10**9,
                    "close": b.close // 10**9, "post_end": b.post_end // 10**9, "early_close": b.early_close})
    return out
