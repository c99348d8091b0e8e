"""Is a file complete? A day with far fewer rows than it should have is kept but flagged ``suspect``.

Two yardsticks, both cheap: the day file of the same family lists every ticker that
traded, so a minute file must cover most of them; and a day's rows should not fall
far below the median of the trailing sessions (an early close still has more than
half). An empty file (a header and no rows) is always suspect: no market day is empty.
"""
from __future__ import annotations

#: below this share of the trailing sessions' median rows, a file is suspect
MIN_SHARE_OF_TRAILING = 0.25
#: below this share of the day file's tickers, a minute file is suspect
MIN_SHARE_OF_DAY_TICKERS = 0.5
#: the comparison with the day file means nothing for a handful of tickers
MIN_DAY_TICKERS = 20


def suspect_reason(rows: int, tickers: int, day_tickers: int | None = None,
                   trailing_rows: int | None = None) -> str | None:
    """Why a file with ``rows`` rows over ``tickers`` tickers looks incomplete, or None.

    ``day_tickers``: tickers in the same family's day file that day (for a minute file);
    ``trailing_rows``: the median rows of the dataset's trailing sessions (None: no history,
    or a partial day where size says nothing).
    """
    if rows == 0:
        return "the file holds a header and no rows"
    if day_tickers is not None and day_tickers >= MIN_DAY_TICKERS and tickers < day_tickers * MIN_SHARE_OF_DAY_TICKERS:
        return f"only {tickers:,} tickers, but {day_tickers:,} in the day file"
    if trailing_rows and rows < trailing_rows * MIN_SHARE_OF_TRAILING:
        return f"only {rows:,} rows, against a median of {trailing_rows:,} over the trailing sessions"
    return None
