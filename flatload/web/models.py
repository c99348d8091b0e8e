"""The API's request and response shapes (they document it in OpenAPI) and the checks on client values.

Every client value is checked here before use: dates are ``YYYY-MM-DD``, datasets resolve in
the registry, symbols look like tickers, job ids are safe file names. A failed check names
the field (``start: '2024-13-01' is not a date like 2024-03-11``).
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

from .. import datasets as registry
from ..errors import ConfigError
from ..universe import ticker_problem
from .jobfiles import JOB_ID

#: a ticker as the vendor writes them: BRK.B, ABRpD, O:SPY230327P00390000, X:BTCUSD, I:SPX
MAX_SYMBOLS = 1000
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
JOB_STATES = "queued | running | ok | partial | failed | interrupted | killed"


def parse_date(value: Any) -> dt.date:
    """``"2024-03-11"`` → a date; anything else (a timestamp, ``20240311``, ``2024-13-01``) is refused."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a date like 2024-03-11")


def resolve_datasets(value: str | list[str] | None) -> list[str] | None:
    """Registry names or families (a list, or comma-separated) → registry names (None: the default, stocks)."""
    if value is None:
        return None
    parts = value.split(",") if isinstance(value, str) else value
    if any(not isinstance(p, str) for p in parts):
        raise ValueError("datasets are names such as stocks or options/day_aggs")
    try:
        return [d.name for d in registry.resolve(",".join(parts))]
    except ConfigError as exc:
        raise ValueError(exc.one_line()) from None


def check_symbol(value: str) -> str:
    """A ticker (case kept: ``TpC`` and ``TPC`` differ), or ValueError."""
    problem = ticker_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


IsoDate = Annotated[dt.date, BeforeValidator(parse_date),
                    Field(json_schema_extra={"type": "string", "format": "date", "example": "2024-03-04"})]
Symbol = Annotated[str, AfterValidator(check_symbol), Field(examples=["AAPL"])]
JobId = Annotated[str, Field(pattern=JOB_ID.pattern, examples=["20240304T142501Z-3fa9c1"])]


class BackfillRequest(BaseModel):
    """A backfill: every day from ``start`` to ``end`` of ``datasets`` (default: stocks), as ``flatload load``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "example": {"start": "2024-03-04", "end": "2024-03-08", "datasets": ["stocks"], "symbols": ["AAPL"]}})

    start: IsoDate
    end: IsoDate
    datasets: Annotated[list[str] | None, AfterValidator(resolve_datasets)] = Field(
        None, description="Registry names or families (stocks, options/day_aggs, ...); default: stocks")
    symbols: list[Symbol] | None = Field(
        None, max_length=MAX_SYMBOLS, description=f"The journal's (and REST's) tickers, at most {MAX_SYMBOLS:,}")
    force: bool = Field(False, description="Reload days already loaded with the same ETag, as load --force")

    @field_validator("end")
    @classmethod
    def _end_not_before_start(cls, end: dt.date, info: ValidationInfo) -> dt.date:
        start = info.data.get("start")  # absent when start itself was invalid
        if start is not None and end < start:
            raise ValueError(f"end {end} is before start {start}")
        return end


class JobAccepted(BaseModel):
    """A job was started: follow it at ``/api/v1/backfill/status/{job_id}``."""

    job_id: str
    status: str = Field(description=JOB_STATES)


class JobError(BaseModel):
    """One failed day of a job, with the object that failed, why, and the next step."""

    date: str | None = None
    key: str | None = None
    error: str | None = None
    hint: str | None = None


class JobStatus(BaseModel):
    """A job (or a run started by the CLI or cron): state, live progress (at most 1 s old), outcome."""

    job_id: str
    status: str = Field(description=JOB_STATES)
    source: str = Field(description="web: started by this API; cli: by flatload load/refresh, cron, ...")
    command: str
    arguments: dict[str, Any]
    progress_pct: float | None = None
    days_done: int = 0
    days_total: int = 0
    days_failed: int = 0
    days_skipped: int = 0
    rows: int = Field(0, description="CSV rows processed")
    bytes: int = Field(0, description="bytes downloaded")
    rows_per_s: float | None = None
    bytes_per_s: float | None = Field(None, description="download rate")
    eta_s: float | None = None
    elapsed_s: float | None = None
    in_flight: list[str] = Field(default_factory=list, description="dates on a worker")
    fetching: list[str] = Field(default_factory=list, description="dates downloading")
    errors: list[JobError] = Field(default_factory=list)
    started_at: str | None = None
    finished_at: str | None = None
    updated_at: str | None = None
    exit_code: int | None = Field(None, description="the load's exit code (flatload --help lists them); "
                                                    "null while it runs, or for runs not started here")
    message: str | None = Field(None, description="why a job ended early (its one-line error)")
    stop_requested: bool | None = None


class RecentJobs(BaseModel):
    """Every run on the data dir, newest first, and its failed and suspect days grouped by cause."""

    jobs: list[JobStatus]
    failed: list[dict[str, Any]] = Field(description="failed days: dataset, first, last, count, detail")
    suspect: list[dict[str, Any]]
    source: str
    note: str | None = None


class ApiError(BaseModel):
    """An error: one line saying what is wrong and what to do."""

    error: str
    job_id: str | None = None
    detail: list[dict[str, Any]] | None = Field(None, description="422: each invalid field")
