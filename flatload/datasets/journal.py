"""The stocks journal's columns and their types (by Polars name): what the metrics produce and the table holds.

Kept apart from the metrics code (``stocks.py``) so the store and the sync read them without Polars.
"""
from __future__ import annotations

#: one row per (symbol, trade_date), in this order
JOURNAL_TYPES: dict[str, str] = {
    "symbol": "String", "trade_date": "Date", "pre_high": "Float64", "pre_low": "Float64",
    "open_price": "Float64", "hod": "Float64", "lod": "Float64", "close_price": "Float64",
    "ah_high": "Float64", "ah_low": "Float64", "day_volume": "Float64",
}
JOURNAL_COLUMNS = list(JOURNAL_TYPES)
#: counts: whole numbers historically (fractional volume since 2026-02-23), so an integer target column may hold
#: them as long as each value is whole; prices never go into an integer column
COUNT_COLUMNS = ("day_volume",)
