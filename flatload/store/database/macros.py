"""The analyst layer's DuckDB objects, from sql/analysis/: adjustment views, journal features, bars macros.

They read ``day_status`` as the migrations leave it and the dataset views, so ``schema.apply_schema``
makes them last. ``bars.sql`` is a template made once per dataset whose minute partitions exist
(``bars`` for stocks, ``options_bars``, ``indices_bars``, ``crypto_bars``, ``forex_bars``):
session windows come from the ``sessions`` table for the NYSE families and are UTC days for the
24-hour markets. Adjustment is for stocks only.
"""
from __future__ import annotations

from pathlib import Path

from ...datasets import REGISTRY, Dataset
from .ddl import split_statements, sql_dir

#: applied in this order; each file's statements are idempotent (CREATE OR REPLACE)
FILES = ("adjustment.sql", "journal_features.sql")
BARS_TEMPLATE = "bars.sql"

_SESSION_SEGMENTS = """\
    SELECT s.trade_date, s.open AS seg_start, s.close AS seg_end FROM sessions s CROSS JOIN p
    WHERE p.sess = 'regular' AND s.trade_date BETWEEN start_date AND end_date
    UNION ALL
    SELECT s.trade_date, s.pre_start, s.open FROM sessions s CROSS JOIN p
    WHERE p.sess = 'extended' AND s.trade_date BETWEEN start_date AND end_date
    UNION ALL
    SELECT s.trade_date, s.close, s.post_end FROM sessions s CROSS JOIN p
    WHERE p.sess = 'extended' AND s.trade_date BETWEEN start_date AND end_date
    UNION ALL
    SELECT s.trade_date, s.pre_start, s.post_end FROM sessions s CROSS JOIN p
    WHERE p.sess = 'all' AND s.trade_date BETWEEN start_date AND end_date"""

_UTC_SEGMENTS = """\
    SELECT CAST(t.d AS DATE) AS trade_date, timezone('UTC', t.d) AS seg_start,
           timezone('UTC', t.d + INTERVAL 1 DAY) AS seg_end
    FROM p CROSS JOIN range(CAST(start_date AS TIMESTAMP), CAST(end_date AS TIMESTAMP) + INTERVAL 1 DAY,
                            INTERVAL 1 DAY) t(d)
    WHERE p.sess = 'all'"""

_STOCK_FACTORS = """\
    SELECT t.trade_date,
           CASE p.adj WHEN 'none' THEN 1.0
                      WHEN 'splits' THEN coalesce(s.split_factor, 1.0)
                      ELSE coalesce(s.split_factor, 1.0) * CASE WHEN v.ex_dividend_date IS NULL THEN 1.0
                                                                 ELSE v.dividend_factor END
           END AS pf,
           CASE WHEN p.adj = 'none' THEN 1.0 ELSE 1.0 / coalesce(s.split_factor, 1.0) END AS vf
    FROM (SELECT DISTINCT trade_date FROM m) t
    CROSS JOIN p
    ASOF LEFT JOIN (SELECT * FROM split_factor_steps WHERE ticker = symbol) s ON t.trade_date < s.execution_date
    ASOF LEFT JOIN (SELECT * FROM dividend_factor_steps WHERE ticker = symbol) v
        ON t.trade_date < v.ex_dividend_date"""

_NO_FACTORS = "    SELECT DISTINCT m.trade_date, 1.0 AS pf, 1.0 AS vf FROM m CROSS JOIN p WHERE p.adj = 'none'"

_STOCK_ADJUST_CHECK = """WHEN adjust <> 'none' AND NOT EXISTS (
                    SELECT 1 FROM flatload_meta WHERE key = 'corporate_actions'
                    AND (value = '*' OR list_contains(string_split(value, ','), symbol)))
                THEN error('no corporate actions loaded for ' || symbol || ': run flatload corporate-actions')"""


def macro_name(ds: Dataset) -> str:
    """``bars`` for stocks, ``<family>_bars`` for the others."""
    return "bars" if ds.family.name == "stocks" else f"{ds.family.name}_bars"


def _analysis_dir() -> Path:
    return sql_dir() / "analysis"


def bars_macro(ds: Dataset) -> str:
    """``CREATE OR REPLACE MACRO`` of the bars of one minute dataset."""
    sessions = ds.calendar.session_windows
    stocks = ds.family.name == "stocks"
    has_volume = ds.column("volume") is not None
    text = (_analysis_dir() / BARS_TEMPLATE).read_text().format(
        macro=macro_name(ds), view=ds.view,
        volume="CAST(v.volume AS DOUBLE)" if has_volume else "CAST(NULL AS DOUBLE)",
        transactions="v.transactions" if ds.column("transactions") is not None else "CAST(NULL AS BIGINT)",
        session_check="" if sessions else
        f"WHEN session <> 'all' THEN error('{ds.family.name} trades around the clock: use session ''all'' (UTC days)')",
        adjust_check=_STOCK_ADJUST_CHECK if stocks else
        "WHEN adjust <> 'none' THEN error('adjustment is for stocks only')",
        segments=_SESSION_SEGMENTS if sessions else _UTC_SEGMENTS,
        factors=_STOCK_FACTORS if stocks else _NO_FACTORS)
    (statement,) = split_statements(text)
    return statement


def statements(have: frozenset[str]) -> list[str]:
    """The analyst layer's statements for a store with partitions of the datasets ``have``."""
    out: list[str] = []
    for name in FILES:
        out.extend(split_statements((_analysis_dir() / name).read_text()))
    for ds in REGISTRY.values():
        # futures sessions (dated by their end, from the evening before) have no SQL segments yet: their bars
        # come from flatload.bars()
        if ds.kind == "minute_aggs" and ds.name in have and ds.date_column is None:
            out.append(bars_macro(ds))
    return out
