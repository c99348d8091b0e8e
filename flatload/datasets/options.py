"""Options contract tickers, ``O:<root><YYMMDD><C|P><strike x 1000, 8 digits>``, parsed from the right.

Roots may carry digits after corporate actions (``O:AAPL1...``), so the fixed-width tail
(15 characters) is cut off first and the root is what remains.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

#: the tail after the root: 6 date digits, C or P, 8 strike digits
TAIL = 15
_PATTERN = r"^O:([A-Za-z0-9.]+)(\d{2})(\d{2})(\d{2})([CP])(\d{8})$"
CONTRACT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("underlying", "String"), ("expiration", "Date"), ("contract_type", "String"), ("strike", "Float64"))


def contract_exprs(ticker: "pl.Expr") -> "list[pl.Expr]":
    """``underlying, expiration, contract_type, strike`` from an options ticker column (null where it does not parse)."""
    import polars as pl

    # a match test and fixed-width slices: capture groups (str.extract_groups) cost 50 times more
    valid = ticker.str.contains(_PATTERN)
    root_len = pl.max_horizontal(ticker.str.len_chars() - (2 + TAIL), pl.lit(0))
    cp = ticker.str.slice(-9, 1)
    # strict=False: an impossible date (991332) becomes null, which rejects the row
    expiration = pl.concat_str(pl.lit("20"), ticker.str.slice(-TAIL, 6)).str.to_date("%Y%m%d", strict=False)
    return [
        pl.when(valid).then(ticker.str.slice(2, root_len)).alias("underlying"),
        pl.when(valid).then(expiration).alias("expiration"),
        pl.when(valid & (cp == "C")).then(pl.lit("call")).when(valid & (cp == "P")).then(pl.lit("put"))
        .alias("contract_type"),
        pl.when(valid).then(ticker.str.slice(-8).cast(pl.Int64, strict=False) / 1000).alias("strike"),
    ]


def derive_contracts(frame: "pl.DataFrame") -> "tuple[pl.DataFrame, pl.DataFrame]":
    """Add the contract columns; a ticker that does not parse (or names an impossible date) is a reject."""
    import polars as pl

    # parsed once per contract, then joined: a day has ~20 rows per contract and the regex
    # is what costs (over every row it took 8 of an options day's 11 seconds)
    contracts = frame.select(pl.col("ticker").unique()).with_columns(contract_exprs(pl.col("ticker")))
    with_cols = frame.join(contracts, on="ticker", how="left", maintain_order="left")
    bad = pl.any_horizontal(pl.col(n).is_null() for n, _ in CONTRACT_COLUMNS)
    rejects = with_cols.filter(bad).select(
        line=pl.col("_line"), reason=pl.lit("not an options ticker (O:<root><YYMMDD><C|P><strike x1000, 8 digits>): ")
        + pl.col("ticker").fill_null("(empty)"))
    return with_cols.filter(~bad), rejects
