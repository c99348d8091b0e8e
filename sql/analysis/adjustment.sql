-- Split and dividend adjustment: the factors, per journal row and per dividend, that
-- journal_adjusted, journal_features and the bars macros (adjust := 'splits' | 'all') use.
-- flatload.analysis.adjust computes the same numbers in Python (the tests hold them equal).
--
-- split_factor of session d  = product of split_from / split_to over the symbol's splits with
--                               d < execution_date <= today (New York): prices x split_factor
--                               are in today's shares; volumes are multiplied by 1 / split_factor.
-- dividend_factor of d       = product of (1 - cash_amount / close of the session before the
--                               ex-date) over cash dividends with d < ex_dividend_date <= the last
--                               stocks session in the store (total-return convention). NULL when
--                               one of those closes is not in the journal (or the dividend is not
--                               in USD): a price that cannot be adjusted is NULL, never wrong.

-- The last stocks session this store holds: dividends after it do not touch its prices yet.
CREATE OR REPLACE MACRO stocks_last_session() AS (
    SELECT max(trade_date) FROM day_status
    WHERE dataset IN ('stocks/minute_aggs', 'stocks/day_aggs') AND status IN ('flatfile', 'rest', 'suspect')
);

-- Today in New York: splits executing later are announced, not done.
CREATE OR REPLACE MACRO new_york_today() AS (CAST(timezone('America/New_York', now()) AS DATE));

-- One row per cash dividend (duplicates collapsed): the close of the session before its
-- ex-date, from the journal, and the factor earlier prices are multiplied by.
CREATE OR REPLACE VIEW dividend_factors AS
SELECT v.ticker, v.ex_dividend_date, v.cash_amount, v.currency,
       s.trade_date  AS prev_date,
       j.close_price AS prev_close,
       CASE WHEN coalesce(v.currency, 'USD') = 'USD' AND j.close_price > v.cash_amount
            THEN 1 - v.cash_amount / j.close_price END AS factor
FROM (SELECT DISTINCT ticker, ex_dividend_date, cash_amount, currency FROM dividends WHERE cash_amount > 0) v
ASOF LEFT JOIN sessions s ON v.ex_dividend_date > s.trade_date
LEFT JOIN journal j ON j.symbol = v.ticker AND j.trade_date = s.trade_date;

-- The split factor as a step function of the date: every session before execution_date (and on
-- or after the previous step's) has this split_factor. Splits on one day multiply.
CREATE OR REPLACE VIEW split_factor_steps AS
SELECT ticker, execution_date,
       product(ratio) OVER (PARTITION BY ticker ORDER BY execution_date DESC
                            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS split_factor
FROM (
    SELECT ticker, execution_date, product(split_from / split_to) AS ratio
    FROM (SELECT DISTINCT ticker, execution_date, split_from, split_to FROM splits)
    WHERE execution_date <= new_york_today()
    GROUP BY ticker, execution_date
);

-- The same for dividends: sessions before ex_dividend_date have this dividend_factor (NULL when
-- it or a later one has no factor).
CREATE OR REPLACE VIEW dividend_factor_steps AS
SELECT ticker, ex_dividend_date,
       CASE WHEN sum(missing) OVER w = 0 THEN product(ratio) OVER w END AS dividend_factor
FROM (
    SELECT ticker, ex_dividend_date, product(factor) AS ratio, count(*) - count(factor) AS missing
    FROM dividend_factors
    WHERE ex_dividend_date <= stocks_last_session()
    GROUP BY ticker, ex_dividend_date
)
WINDOW w AS (PARTITION BY ticker ORDER BY ex_dividend_date DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW);

-- split_factor, volume_factor and dividend_factor of every journal row: the first step after it.
CREATE OR REPLACE VIEW adjustment_factors AS
SELECT j.symbol, j.trade_date,
       coalesce(s.split_factor, 1.0)                             AS split_factor,
       1.0 / coalesce(s.split_factor, 1.0)                       AS volume_factor,
       CASE WHEN v.ticker IS NULL THEN 1.0 ELSE v.dividend_factor END AS dividend_factor
FROM journal j
ASOF LEFT JOIN split_factor_steps s ON s.ticker = j.symbol AND j.trade_date < s.execution_date
ASOF LEFT JOIN dividend_factor_steps v ON v.ticker = j.symbol AND j.trade_date < v.ex_dividend_date;

-- The journal in today's shares: prices x split_factor, day_volume x volume_factor. Multiply a
-- price by dividend_factor as well for the total-return convention (what --adjust all does).
CREATE OR REPLACE VIEW journal_adjusted AS
SELECT j.symbol, j.trade_date,
       j.pre_high * a.split_factor    AS pre_high,
       j.pre_low * a.split_factor     AS pre_low,
       j.open_price * a.split_factor  AS open_price,
       j.hod * a.split_factor         AS hod,
       j.lod * a.split_factor         AS lod,
       j.close_price * a.split_factor AS close_price,
       j.ah_high * a.split_factor     AS ah_high,
       j.ah_low * a.split_factor      AS ah_low,
       j.day_volume * a.volume_factor AS day_volume,
       j.source, j.loaded_at,
       a.split_factor, a.volume_factor, a.dividend_factor
FROM journal j
JOIN adjustment_factors a ON a.symbol = j.symbol AND a.trade_date = j.trade_date;
