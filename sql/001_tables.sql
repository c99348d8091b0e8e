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
    day_volume  BIGINT,
    source      VARCHAR NOT NULL,  -- 'flatfile' | 'rest'
    loaded_at   TIMESTAMP NOT NULL, -- UTC; unchanged when a reload finds the same values
    PRIMARY KEY (symbol, trade_date)
);

-- Every object the loader has tried, keyed by S3 key; a rerun skips a key whose
-- ETag and scope are already loaded. The vendor regenerates files in place.
CREATE TABLE IF NOT EXISTS ledger (
    key           VARCHAR PRIMARY KEY,
    dataset       VARCHAR NOT NULL,
    trade_date    DATE    NOT NULL,
    etag          VARCHAR,
    size          BIGINT,
    last_modified VARCHAR,
    rows          BIGINT,
    rejected      BIGINT,
    off_date      BIGINT,
    status        VARCHAR NOT NULL,  -- 'loaded' | 'failed' | 'missing'
    error         VARCHAR,
    scope         VARCHAR NOT NULL,  -- '*' or the comma-joined symbols loaded
    run_id        VARCHAR,
    updated_at    TIMESTAMP NOT NULL
);

-- Where each session stands: the source of its rows, or why it failed.
CREATE TABLE IF NOT EXISTS day_status (
    trade_date  DATE PRIMARY KEY,
    status      VARCHAR NOT NULL,  -- 'flatfile' | 'rest' | 'failed'
    detail      VARCHAR,
    symbols     BIGINT,
    scope       VARCHAR NOT NULL,
    run_id      VARCHAR,
    updated_at  TIMESTAMP NOT NULL
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
    outcome      VARCHAR NOT NULL,  -- 'running' | 'ok' | 'partial' | 'failed' | 'interrupted'
    days_planned INTEGER,
    days_done    INTEGER,
    days_failed  INTEGER,
    days_skipped INTEGER,
    rows         BIGINT,
    errors       VARCHAR,           -- JSON list of {date, key, error}
    pid          INTEGER
);
