-- Views over the journal. The views over the Parquet partitions, one per dataset
-- (stocks_minute, options_day, ...), are made from the dataset registry by
-- flatload/store/views.py once a dataset has files.

-- The journal with derived ranges analysts ask for first.
CREATE OR REPLACE VIEW journal_ranges AS
SELECT *,
       hod - lod                     AS day_range,
       pre_high - pre_low            AS pre_range,
       ah_high - ah_low              AS ah_range,
       (close_price - open_price) / NULLIF(open_price, 0) AS day_return
FROM journal;
