-- Views over the Parquet store. {parquet_root} is replaced with the absolute
-- path of the data directory's parquet/ folder when the schema is applied, so
-- the views work from any working directory. {asset} is the dataset family.

-- Every minute bar, with the bar's start also in New York time.
CREATE OR REPLACE VIEW minute_bars AS
SELECT
    ticker,
    CAST(date AS DATE)                                AS trade_date,
    window_start,
    timezone('America/New_York', window_start)        AS window_start_et,
    open, high, low, close, volume, transactions
FROM read_parquet('{parquet_root}/{asset}/minute_aggs/*/*.parquet', hive_partitioning = true, union_by_name = true);

-- Daily aggregates as loaded.
CREATE OR REPLACE VIEW day_bars AS
SELECT ticker, CAST(date AS DATE) AS trade_date, open, high, low, close, volume, transactions
FROM read_parquet('{parquet_root}/{asset}/day_aggs/*/*.parquet', hive_partitioning = true, union_by_name = true);

-- The journal with derived ranges analysts ask for first.
CREATE OR REPLACE VIEW journal_ranges AS
SELECT *,
       hod - lod                     AS day_range,
       pre_high - pre_low            AS pre_range,
       ah_high - ah_low              AS ah_range,
       (close_price - open_price) / NULLIF(open_price, 0) AS day_return
FROM journal;
