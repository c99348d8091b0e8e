-- flatload's DuckDB schema. Applied in file-name order at every start; every
-- statement must be idempotent (IF NOT EXISTS / OR REPLACE).

-- One row per (symbol, trade_date): what a trading journal needs of a session.
-- Prices are unadjusted, as the vendor ships them. NULL means "no bar in that window".
CREATE TABLE IF NOT EXISTS journal (
    symbol      VARCHAR NOT NULL,
    trade_date  DATE    NOT NULL,
    pre_high    DOUBLE,            -- max(high), bars starting 04:00 <= t < 09:30 ET
    pre_low     DOUBLE,
    open_price  DOUBLE,            -- from day_aggs_v1 (authoritative)
    hod         DOUBLE,
    lod         DOUBLE,
    close_price DOUBLE,
    ah_high     DOUBLE,            -- max(high), bars starting close <= t < close + 4h
    ah_low      DOUBLE,
    day_volume  DOUBLE,            -- exact: fractional shares trade since 2026-02-23
    source      VARCHAR NOT NULL,  -- 'flatfile' | 'rest'
    loaded_at   TIMESTAMP NOT NULL, -- UTC; unchanged when a reload finds the same values
    PRIMARY KEY (symbol, trade_date)
);

-- Every object the loader has tried, keyed by S3 key; a rerun skips a key whose
-- ETag and scope are already loaded. The vendor regenerates files in place.
CREATE TABLE IF NOT EXISTS ledger (
    key           VARCHAR PRIMARY KEY,
    dataset       VARCHAR NOT NULL,  -- the registry name, e.g. 'stocks/minute_aggs'
    trade_date    DATE    NOT NULL,
    etag          VARCHAR,
    size          BIGINT,
    last_modified VARCHAR,
    rows          BIGINT,
    rejected      BIGINT,
    off_date      BIGINT,
    status        VARCHAR NOT NULL,  -- 'loaded' | 'failed' | 'missing'
    error         VARCHAR,
    scope         VARCHAR NOT NULL,  -- '*', or the comma-joined symbols (or option underlyings) loaded
    run_id        VARCHAR,
    updated_at    TIMESTAMP NOT NULL
);

-- Where each day of each dataset stands: the source of its rows, or why it failed or looks incomplete.
CREATE TABLE IF NOT EXISTS day_status (
    dataset     VARCHAR NOT NULL,  -- the registry name, e.g. 'stocks/minute_aggs'
    trade_date  DATE    NOT NULL,
    status      VARCHAR NOT NULL,  -- 'flatfile' | 'rest' | 'suspect' (loaded, looks incomplete) | 'failed'
    detail      VARCHAR,           -- why it failed or is suspect
    symbols     BIGINT,            -- stocks: journal rows written that day
    scope       VARCHAR NOT NULL,
    run_id      VARCHAR,
    updated_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (dataset, trade_date)
);

-- Rows refused by validation, with the reason; replaced with each reload of the key.
CREATE TABLE IF NOT EXISTS rejects (
    key         VARCHAR NOT NULL,
    trade_date  DATE    NOT NULL,
    line        BIGINT,
    reason      VARCHAR NOT NULL,
    run_id      VARCHAR
);

CREATE TABLE IF NOT EXISTS runs (
    run_id       VARCHAR PRIMARY KEY,
    command      VARCHAR NOT NULL,
    arguments    VARCHAR,           -- JSON
    started_at   TIMESTAMP NOT NULL,
    finished_at  TIMESTAMP,
    outcome      VARCHAR NOT NULL,  -- 'running' | 'ok' | 'partial' | 'failed' | 'interrupted' | 'killed'
    days_planned INTEGER,
    days_done    INTEGER,
    days_failed  INTEGER,
    days_skipped INTEGER,
    rows         BIGINT,
    errors       VARCHAR,           -- JSON list of {date, key, error}
    pid          INTEGER
);

-- The store's own bookkeeping: schema_version (migrations run once, in order).
CREATE TABLE IF NOT EXISTS flatload_meta (
    key   VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);

-- A store on object storage (--store s3://...): each (dataset, date) partition's current version, committed
-- in the same transaction as the day's rows. The views read only these versions.
CREATE TABLE IF NOT EXISTS partition_versions (
    dataset      VARCHAR NOT NULL,  -- the registry name (or a derived table's), e.g. 'stocks/minute_aggs'
    trade_date   DATE    NOT NULL,
    version      VARCHAR NOT NULL,  -- the folder version=<v> under <folder>/date=<d>/
    run_id       VARCHAR,
    committed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (dataset, trade_date)
);
