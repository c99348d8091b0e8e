"""flatload: Polygon.io / Massive S3 flat files → Parquet partitions + a DuckDB trading journal.

``flatload.load(start, end, settings)`` is the library entry point the CLI calls; ``flatload.bars(...)``
the analyst's (bars at any timeframe, adjusted, with indicators); ``flatload.sync(to, table, settings)``
pushes the journal into the user's own database.
Imports are lazy so that pool workers can size Polars' thread pool before Polars loads.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["load", "refresh", "load_pairs", "bars", "load_corporate_actions", "refresh_corporate_actions",
           "load_tickers", "refresh_tickers", "sync",
           "Settings", "LoadSummary", "SyncSummary"]


def __getattr__(name: str) -> Any:
    if name in ("load", "refresh", "load_pairs", "run_days"):
        from .engine import api

        return getattr(api, name)
    if name == "bars":
        from .analysis.bars import bars

        return bars
    if name in ("load_corporate_actions", "refresh_corporate_actions"):
        from .analysis import corporate_actions

        return getattr(corporate_actions, name)
    if name in ("load_tickers", "refresh_tickers"):
        from .analysis import tickers

        return getattr(tickers, name)
    if name == "Settings":
        from .settings import Settings

        return Settings
    if name == "LoadSummary":
        from .engine.summary import LoadSummary

        return LoadSummary
    if name in ("sync", "SyncSummary"):
        import importlib

        package = importlib.import_module(".sync", __name__)  # a callable package: flatload.sync(...) works
        return package if name == "sync" else package.SyncSummary
    raise AttributeError(name)
