"""Are two contenders' outputs the same? The journal (floats within 1e-9 relative) and every minute and day bar."""
from __future__ import annotations

from pathlib import Path


def _parts(root: Path, kind: str) -> str | None:
    """The glob of a store's ``kind`` partitions, whichever layout its release used."""
    for folder in (f"stocks/{kind}", f"us_stocks_sip/{kind}"):
        if (root / "parquet" / folder).is_dir():
            return (root / "parquet" / folder).as_posix() + "/date=*/*.parquet"
    return None


def _journal(root: Path) -> Path:
    return root / "flatload.duckdb" if (root / "flatload.duckdb").exists() else root / "journal.duckdb"


def compare(a: Path, b: Path) -> dict:
    """Journal rows that differ and bar counts/hashes per date, between stores ``a`` and ``b``."""
    import duckdb

    from flatload.datasets.journal import JOURNAL_COLUMNS

    con = duckdb.connect()
    con.execute(f"ATTACH '{_journal(a).as_posix()}' AS x (READ_ONLY)")
    con.execute(f"ATTACH '{_journal(b).as_posix()}' AS y (READ_ONLY)")
    con.execute("CREATE MACRO near(p, q) AS (p IS NULL AND q IS NULL) OR "
                "(p IS NOT NULL AND q IS NOT NULL AND abs(p - q) <= 1e-9 * greatest(1, abs(p)))")
    values = [c for c in JOURNAL_COLUMNS if c not in ("symbol", "trade_date")]
    cond = " AND ".join(f"near(s.{c}, t.{c})" for c in values)
    n = [con.execute(f"SELECT count(*) FROM {db}.journal").fetchone()[0] for db in ("x", "y")]
    diff = con.execute(f"SELECT count(*) FROM x.journal s FULL JOIN y.journal t USING (symbol, trade_date) "
                       f"WHERE s.symbol IS NULL OR t.symbol IS NULL OR NOT ({cond})").fetchone()[0]
    bars = {}
    for kind in ("minute_aggs", "day_aggs"):
        q = ("SELECT regexp_extract(filename, 'date=([0-9-]+)', 1) AS d, count(*), sum(hash(ticker, "
             "epoch_ns(window_start), volume::DOUBLE, open, close, high, low, transactions))::VARCHAR "
             "FROM read_parquet('{g}', filename = true) GROUP BY ALL ORDER BY d")
        got = [con.execute(q.format(g=g)).fetchall() if g else None for g in (_parts(a, kind), _parts(b, kind))]
        bars[kind] = got[0] == got[1] and got[0] is not None
    con.close()
    return {"journal_rows": n, "journal_diff": diff, "bars_equal": bars,
            "match": n[0] == n[1] and diff == 0 and all(bars.values())}
