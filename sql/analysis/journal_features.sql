-- Per (symbol, trade_date): the journal plus what traders derive from it. Every price is in
-- the shares of that session (splits between two sessions are taken out with the split
-- factors), dividends are not adjusted (an ex-dividend drop is a real gap). NULL where the
-- history a value needs is missing, never a number built on a hole:
--
-- prev_close    close_price of the symbol's previous row, provided no session between the two
--               is missing from the store (a session counts as present when its day file is
--               loaded for every symbol, or for a --symbols scope that names this symbol)
-- gap_pct       100 * (open_price - prev_close) / prev_close
-- day_range_pct 100 * (hod - lod) / prev_close
-- pre_range_pct 100 * (pre_high - pre_low) / prev_close      (pre-market trades against it)
-- ah_range_pct  100 * (ah_high - ah_low) / close_price       (after-hours trade against the close)
-- true range    greatest(hod, prev_close) - least(lod, prev_close)
-- atr_14        mean true range of the symbol's last 14 rows (this one included); NULL unless all
--               14 have a true range (so 15 rows of unbroken history)
-- rvol_20       day_volume / mean day_volume of the symbol's 20 previous rows; NULL unless those
--               20 rows and this one form unbroken history and their mean is above zero
CREATE OR REPLACE VIEW journal_features AS
WITH loaded AS (
    SELECT trade_date, scope FROM day_status
    WHERE dataset = 'stocks/day_aggs' AND status IN ('flatfile', 'rest')
), cal AS (
    -- per session: its ordinal and how many sessions up to it are loaded for every symbol
    SELECT s.trade_date,
           row_number() OVER (ORDER BY s.trade_date) AS n,
           sum(CASE WHEN l.scope = '*' THEN 1 ELSE 0 END) OVER (ORDER BY s.trade_date) AS full_upto,
           coalesce(sum(CASE WHEN l.scope = '*' THEN 1 ELSE 0 END)
                    OVER (ORDER BY s.trade_date ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS full_before
    FROM sessions s LEFT JOIN loaded l ON l.trade_date = s.trade_date
), scoped AS (
    -- sessions loaded for a few symbols only (--symbols), numbered per symbol
    SELECT trade_date, symbol, row_number() OVER (PARTITION BY symbol ORDER BY trade_date) AS k
    FROM (SELECT DISTINCT trade_date, unnest(string_split(scope, ',')) AS symbol FROM loaded WHERE scope <> '*')
), rows_ AS (
    SELECT j.*, a.split_factor,
           lag(j.trade_date) OVER w                    AS prev_date,
           lag(j.close_price * a.split_factor) OVER w  AS prev_close_now,  -- in today's shares
           j.day_volume * a.volume_factor              AS volume_now
    -- per company as well as per ticker (journal_by_company): a recycled ticker's new company never takes
    -- the old one's close as its previous close (without a ticker reference, each ticker is its company)
    FROM journal_by_company j
    JOIN adjustment_factors a ON a.symbol = j.symbol AND a.trade_date = j.trade_date
    WINDOW w AS (PARTITION BY j.symbol, j.entity ORDER BY j.trade_date)
), linked AS (
    -- prev_ok: every session between the previous row and this one is in the store for this symbol
    -- (sessions strictly between = those loaded for all + those loaded for a scope naming it)
    SELECT r.*,
           r.prev_date IS NOT NULL AND cd.n IS NOT NULL AND cp.n IS NOT NULL
           AND cd.n - cp.n - 1 = cd.full_before - cp.full_upto + coalesce(sd.k, 0) - coalesce(sp.k, 0) AS prev_ok
    FROM rows_ r
    LEFT JOIN cal cd ON cd.trade_date = r.trade_date
    LEFT JOIN cal cp ON cp.trade_date = r.prev_date
    ASOF LEFT JOIN scoped sd ON sd.symbol = r.symbol AND r.trade_date > sd.trade_date
    ASOF LEFT JOIN scoped sp ON sp.symbol = r.symbol AND r.prev_date >= sp.trade_date
), priced AS (
    SELECT l.*,
           CASE WHEN l.prev_ok THEN l.prev_close_now / l.split_factor END AS prev_close_then
    FROM linked l
), ranged AS (
    SELECT p.*,
           CASE WHEN p.hod IS NOT NULL AND p.lod IS NOT NULL AND p.prev_close_then IS NOT NULL
                THEN (greatest(p.hod, p.prev_close_then) - least(p.lod, p.prev_close_then)) * p.split_factor
           END AS true_range_now
    FROM priced p
)
SELECT symbol, trade_date, pre_high, pre_low, open_price, hod, lod, close_price, ah_high, ah_low, day_volume,
       source, loaded_at,
       prev_close_then                                                  AS prev_close,
       100 * (open_price - prev_close_then) / NULLIF(prev_close_then, 0) AS gap_pct,
       100 * (hod - lod) / NULLIF(prev_close_then, 0)                   AS day_range_pct,
       100 * (pre_high - pre_low) / NULLIF(prev_close_then, 0)          AS pre_range_pct,
       100 * (ah_high - ah_low) / NULLIF(close_price, 0)                AS ah_range_pct,
       CASE WHEN count(true_range_now) OVER w14 = 14
            THEN avg(true_range_now) OVER w14 / split_factor END        AS atr_14,
       CASE WHEN count(volume_now) OVER w20 = 20
             AND sum(CASE WHEN prev_ok THEN 1 ELSE 0 END) OVER w20_links = 20
             AND avg(volume_now) OVER w20 > 0
            THEN volume_now / avg(volume_now) OVER w20 END              AS rvol_20
FROM ranged
WINDOW w14 AS (PARTITION BY symbol, entity ORDER BY trade_date ROWS BETWEEN 13 PRECEDING AND CURRENT ROW),
       w20 AS (PARTITION BY symbol, entity ORDER BY trade_date ROWS BETWEEN 20 PRECEDING AND 1 PRECEDING),
       w20_links AS (PARTITION BY symbol, entity ORDER BY trade_date ROWS BETWEEN 19 PRECEDING AND CURRENT ROW);
