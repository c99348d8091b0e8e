"""What follows a load that ran: keep splits and dividends current (refresh), push the journal (--sync-to).

Each step is optional and independent: its failure is reported with the load's summary and
never undoes the load. The CLI renders the outcome; library callers read it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .engine.summary import LoadSummary
from .errors import FlatloadError
from .settings import Settings


@dataclass
class Followups:
    """What the steps after a load did: one line each, and the error of a step that failed."""

    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: the sync's error: it decides the exit code when the load itself loaded everything
    sync_error: FlatloadError | None = None


def _ran(summary: LoadSummary, settings: Settings) -> bool:
    # not after a dry run, nor after a run stopped by a signal or the file system: the user asked to stop
    return not settings.dry_run and not summary.interrupted and summary.stop_code is None


def after_load(summary: LoadSummary, settings: Settings, *, corporate_actions: bool = False) -> Followups:
    """Run the follow-up steps ``settings`` and the command ask for, after ``summary``'s load."""
    out = Followups()
    if not _ran(summary, settings):
        return out
    if corporate_actions and any(ds.startswith("stocks/") for ds in summary.datasets):
        from .analysis.corporate_actions import refresh_corporate_actions

        try:
            result = refresh_corporate_actions(settings)
            if result is not None:
                out.lines.append(result.line())
        except FlatloadError as err:  # the day's load stands; the next refresh tries again
            out.warnings.append(f"corporate actions not refreshed: {err.one_line()}")
        from .analysis.tickers import refresh_tickers

        try:
            reference = refresh_tickers(settings)
            if reference is not None:
                out.lines.append(reference.line())
        except FlatloadError as err:
            out.warnings.append(f"ticker reference not refreshed: {err.one_line()}")
    if settings.sync_to:
        from .sync import sync as run_sync

        try:
            out.lines.append(run_sync(settings.sync_to, settings.sync_table, settings).line())
        except FlatloadError as err:
            out.sync_error = err
    return out
