"""The datasets flatload loads: key layout of the vendor's flat files."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

MINUTE = "minute_aggs_v1"
DAY = "day_aggs_v1"


def object_key(asset: str, dataset: str, d: dt.date) -> str:
    """``us_stocks_sip/minute_aggs_v1/2024/03/2024-03-11.csv.gz``."""
    return f"{asset}/{dataset}/{d:%Y}/{d:%m}/{d:%Y-%m-%d}.csv.gz"


def month_prefixes(asset: str, dataset: str, days: Iterable[dt.date]) -> list[str]:
    """One listing prefix per month touched by ``days`` (a month is < 1,000 keys: one page)."""
    return sorted({f"{asset}/{dataset}/{d:%Y}/{d:%m}/" for d in days})
