-- The analyst layer's tables. Its views and macros (bars, journal_features, journal_adjusted,
-- ...) read the dataset views and day_status, so flatload/store/database/macros.py makes them from
-- sql/analysis/ after the migrations and the dataset views (see flatload/store/database/db.py).

-- Stock splits as the vendor's /stocks/v1/splits states them (`flatload corporate-actions`).
-- A split executes overnight: every session before execution_date is pre-split, the
-- execution date itself (pre-market included) is post-split. 4-for-1: split_from 1, split_to 4.
CREATE TABLE IF NOT EXISTS splits (
    id                           VARCHAR PRIMARY KEY,  -- the vendor's id
    ticker                       VARCHAR NOT NULL,
    execution_date               DATE    NOT NULL,
    split_from                   DOUBLE  NOT NULL,
    split_to                     DOUBLE  NOT NULL,
    adjustment_type              VARCHAR,              -- forward_split | reverse_split | stock_dividend
    historical_adjustment_factor DOUBLE,               -- the vendor's own; flatload computes its factors
    loaded_at                    TIMESTAMP NOT NULL    -- UTC
);

-- Cash dividends as the vendor's /stocks/v1/dividends states them. Amounts are per share
-- on the day they were paid: not split-adjusted.
CREATE TABLE IF NOT EXISTS dividends (
    id                           VARCHAR PRIMARY KEY,
    ticker                       VARCHAR NOT NULL,
    ex_dividend_date             DATE    NOT NULL,
    cash_amount                  DOUBLE,
    currency                     VARCHAR,
    declaration_date             DATE,
    record_date                  DATE,
    pay_date                     DATE,
    frequency                    INTEGER,              -- per year; 0 = one-off
    distribution_type            VARCHAR,              -- recurring | special | supplemental | irregular | unknown
    split_adjusted_cash_amount   DOUBLE,
    historical_adjustment_factor DOUBLE,
    loaded_at                    TIMESTAMP NOT NULL
);

-- NYSE sessions from exchange_calendars (XNYS), filled by flatload at every start: holidays
-- and early closes are never typed in by hand. Windows are half-open [start, end).
CREATE TABLE IF NOT EXISTS sessions (
    trade_date  DATE PRIMARY KEY,
    pre_start   TIMESTAMPTZ NOT NULL,  -- 04:00 New York
    open        TIMESTAMPTZ NOT NULL,  -- 09:30
    close       TIMESTAMPTZ NOT NULL,  -- 16:00, 13:00 on early closes
    post_end    TIMESTAMPTZ NOT NULL,  -- close + 4 h
    early_close BOOLEAN     NOT NULL
);
