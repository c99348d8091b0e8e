-- Views over the Parquet store. {root} becomes coalesce(getvariable('flatload_root'), '.'):
-- the store's directory, which flatload sets on each connection; for another client, the
-- directory it runs in (or SET VARIABLE flatload_root = '/path/to/store' first). No view
-- holds an absolute path, so a copied or moved store reads its own files.

-- Every minute bar, with the bar's start also in New York time.
CREATE OR REPLACE VIEW minute_bars AS
SELECT
    ticker,
    CAST(date AS DATE)                                AS trade_date,
    window_start,
    timezone('America/New_York', window_start)        AS window_start_et,
    open, high, low, close, volume, transactions
FROM read_parquet({root} || '/parquet/{asset}/minute_aggs/*/*.parquet', hive_partitioning = true, union_by_name = true);

-- Daily aggregates as loaded.
CREATE OR REPLACE VIEW day_bars AS
SELECT ticker, CAST(date AS DATE) AS trade_date, open, high, low, close, volume, transactions
FROM read_parquet({root} || '/parquet/{asset}/day_aggs/*/*.parquet', hive_partitioning = true, union_by_name = true);

-- The journal with derived ranges analysts ask for first.
CREATE OR REPLACE VIEW journal_ranges AS
SELECT *,
       hod - lod                     AS day_range,
       pre_high - pre_low            AS pre_range,
       ah_high - ah_low              AS ah_range,
       (close_price - open_price) / NULLIF(open_price, 0) AS day_return
FROM journal;
