-- Bars at any timeframe from a dataset's minute view, as a table macro (one per dataset with
-- minute partitions: bars = stocks, options_bars, indices_bars, crypto_bars, forex_bars):
--
--   SELECT * FROM bars('AAPL', DATE '2024-03-04', DATE '2024-03-08', INTERVAL 5 MINUTE, 'regular')
--   SELECT * FROM bars('AAPL', DATE '2024-01-02', DATE '2024-06-28', INTERVAL 1 DAY, 'regular', adjust := 'splits')
--
-- every: whole minutes or hours, INTERVAL 1 DAY (one bar per session) or INTERVAL 1 WEEK (sessions
-- grouped by ISO week). session: 'regular' [open, close), 'extended' (pre-market [04:00, open) and
-- after-hours [close, close + 4 h)) or 'all' [04:00, close + 4 h); 'all' only for crypto and forex
-- (UTC days). Intraday bars start on the grid of their window's start and never cross its end.
-- vwap = sum(typical x volume) / sum(volume), typical = (high + low + close) / 3 of each minute.
-- flatload.bars() computes the same bars in Python; the tests hold the two equal.
-- A template, made per dataset by flatload/store/macros.py: {{macro}} {{view}} {{volume}} {{transactions}}
-- {{session_check}} {{adjust_check}} {{segments}} {{factors}}
CREATE OR REPLACE MACRO {macro}(symbol, start_date, end_date, every, session, adjust := 'none') AS TABLE
WITH p AS (
    SELECT CASE WHEN session NOT IN ('regular', 'extended', 'all')
                THEN error('session must be regular, extended or all, not ' || session)
                {session_check}
                ELSE session END AS sess,
           CASE WHEN datepart('month', every) = 0 AND datepart('day', every) = 1 AND epoch(every) = 86400 THEN 'day'
                WHEN datepart('month', every) = 0 AND datepart('day', every) = 7 AND epoch(every) = 604800 THEN 'week'
                WHEN datepart('month', every) = 0 AND datepart('day', every) = 0 AND epoch(every) >= 60
                     AND epoch(every) % 60 = 0 THEN 'minute'
                ELSE error('every must be whole minutes or hours, INTERVAL 1 DAY or INTERVAL 1 WEEK, not '
                           || CAST(every AS VARCHAR)) END AS mode,
           CASE WHEN adjust NOT IN ('none', 'splits', 'all')
                THEN error('adjust must be none, splits or all, not ' || adjust)
                {adjust_check}
                ELSE adjust END AS adj
), segs AS (
{segments}
), labels AS (
    SELECT g.trade_date, g.seg_start, g.seg_end,
           min(g.seg_start) OVER (PARTITION BY g.trade_date) AS day_start,
           min(g.seg_start) OVER (PARTITION BY date_trunc('week', g.trade_date)) AS week_start
    FROM segs g
), m AS (
    SELECT v.trade_date, CAST(v.window_start AS TIMESTAMPTZ) AS ws, v.open AS o, v.high AS h, v.low AS l, v.close AS c,
           {volume} AS vol, {transactions} AS tx
    FROM {view} v
    WHERE v.ticker = symbol AND v.trade_date BETWEEN start_date AND end_date
), f AS (
{factors}
), j AS (
    SELECT m.ws, m.tx, f.pf,
           m.o * f.pf AS o, m.h * f.pf AS h, m.l * f.pf AS l, m.c * f.pf AS c, m.vol * f.vf AS vol,
           CASE p.mode WHEN 'day' THEN lb.day_start WHEN 'week' THEN lb.week_start
                ELSE lb.seg_start + every * CAST(floor(epoch(m.ws - lb.seg_start) / epoch(every)) AS BIGINT)
           END AS bucket
    FROM m
    JOIN labels lb ON lb.trade_date = m.trade_date AND m.ws >= lb.seg_start AND m.ws < lb.seg_end
    JOIN f ON f.trade_date = m.trade_date
    CROSS JOIN p
)
SELECT symbol AS symbol,
       bucket AS window_start,
       CASE WHEN bool_and(pf IS NOT NULL) THEN arg_min(o, ws) END AS open,
       CASE WHEN bool_and(pf IS NOT NULL) THEN max(h) END AS high,
       CASE WHEN bool_and(pf IS NOT NULL) THEN min(l) END AS low,
       CASE WHEN bool_and(pf IS NOT NULL) THEN arg_max(c, ws) END AS close,
       sum(vol) AS volume,
       CASE WHEN bool_and(pf IS NOT NULL) THEN sum((h + l + c) / 3 * vol) / NULLIF(sum(vol), 0) END AS vwap,
       CAST(sum(tx) AS BIGINT) AS transactions
FROM j
GROUP BY bucket
ORDER BY bucket;
