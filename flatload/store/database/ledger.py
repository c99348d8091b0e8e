"""The ledger's record of one object, and symbol scopes: plain data, shared by workers and the journal.

Kept apart from journal.py so that pool workers, which build these records, never import DuckDB.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class LedgerEntry:
    """One object as the ledger remembers it."""

    key: str
    dataset: str
    trade_date: dt.date
    etag: str | None
    size: int | None
    last_modified: str | None
    rows: int
    rejected: int
    off_date: int
    status: str  # loaded | failed | missing
    error: str | None
    scope: str


def scope_text(scope: frozenset[str] | None) -> str:
    """How a scope is stored: '*' for all symbols."""
    return "*" if scope is None else ",".join(sorted(scope))


def scope_covers(stored: str, wanted: frozenset[str] | None) -> bool:
    """True when a load done with scope ``stored`` already holds every symbol ``wanted``."""
    if stored == "*":
        return True
    return wanted is not None and wanted <= set(stored.split(","))
