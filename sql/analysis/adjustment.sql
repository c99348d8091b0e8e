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

-- split_factor, volume_factor and dividend_factor of every journal row.
CREATE OR REPLACE VIEW adjustment_factors AS
WITH sf AS (
    SELECT j.symbol, j.trade_date, product(x.split_from / x.split_to) AS f
    FROM journal j
    JOIN (SELECT DISTINCT ticker, execution_date, split_from, split_to FROM splits) x
      ON x.ticker = j.symbol AND x.execution_date > j.trade_date AND x.execution_date <= new_york_today()
    GROUP BY j.symbol, j.trade_date
), df AS (
    SELECT j.symbol, j.trade_date,
           CASE WHEN count(*) = count(v.factor) THEN product(v.factor) END AS f
    FROM journal j
    JOIN dividend_factors v
      ON v.ticker = j.symbol AND v.ex_dividend_date > j.trade_date AND v.ex_dividend_date <= stocks_last_session()
    GROUP BY j.symbol, j.trade_date
)
SELECT j.symbol, j.trade_date,
       coalesce(sf.f, 1.0)                              AS split_factor,
       1.0 / coalesce(sf.f, 1.0)                        AS volume_factor,
       CASE WHEN df.symbol IS NULL THEN 1.0 ELSE df.f END AS dividend_factor
FROM journal j
LEFT JOIN sf ON sf.symbol = j.symbol AND sf.trade_date = j.trade_date
LEFT JOIN df ON df.symbol = j.symbol AND df.trade_date = j.trade_date;

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
