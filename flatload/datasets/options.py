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

    parts = ticker.str.extract_groups(_PATTERN)
    # strict=False: an impossible date (991332) becomes null, which rejects the row
    expiration = pl.concat_str(pl.lit("20"), *(parts.struct.field(str(i)) for i in (2, 3, 4))).str.to_date(
        "%Y%m%d", strict=False)
    return [
        parts.struct.field("1").alias("underlying"),
        expiration.alias("expiration"),
        pl.when(parts.struct.field("5") == "C").then(pl.lit("call"))
        .when(parts.struct.field("5") == "P").then(pl.lit("put")).alias("contract_type"),
        (parts.struct.field("6").cast(pl.Int64) / 1000).alias("strike"),
    ]


def derive_contracts(frame: "pl.DataFrame") -> "tuple[pl.DataFrame, pl.DataFrame]":
    """Add the contract columns; a ticker that does not parse (or names an impossible date) is a reject."""
    import polars as pl

    with_cols = frame.with_columns(contract_exprs(pl.col("ticker")))
    bad = pl.any_horizontal(pl.col(n).is_null() for n, _ in CONTRACT_COLUMNS)
    rejects = with_cols.filter(bad).select(
        line=pl.col("_line"), reason=pl.lit("not an options ticker (O:<root><YYMMDD><C|P><strike x1000, 8 digits>): ")
        + pl.col("ticker"))
    return with_cols.filter(~bad), rejects
