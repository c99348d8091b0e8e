-- Who a ticker is (`flatload tickers`): the vendor's ticker reference and its ticker changes.
--
-- A ticker string is not a company: FB became META, a delisted company's ticker is reused by another.
-- `entity` names one share class: its share class FIGI, else its composite FIGI, else (a delisted
-- listing the vendor gives no FIGI) 'ticker:<ticker>:<delisted date>'.

-- /v3/reference/tickers, active and delisted, as the vendor states them now.
CREATE TABLE IF NOT EXISTS tickers (
    entity            VARCHAR NOT NULL,
    ticker            VARCHAR NOT NULL,
    name              VARCHAR,
    market            VARCHAR NOT NULL,
    locale            VARCHAR,
    type              VARCHAR,              -- CS common stock, ETF, ADRC, PFD, WARRANT, ...
    primary_exchange  VARCHAR,              -- MIC, e.g. XNAS
    active            BOOLEAN NOT NULL,
    currency_name     VARCHAR,
    cik               VARCHAR,
    composite_figi    VARCHAR,
    share_class_figi  VARCHAR,
    delisted_date     DATE,                 -- the UTC date of delisted_utc (stamped at midnight)
    last_updated_utc  TIMESTAMP,
    loaded_at         TIMESTAMP NOT NULL,   -- UTC
    PRIMARY KEY (entity, ticker)
);

-- /vX/reference/tickers/{composite_figi}/events: each ticker an entity took, from its date on.
CREATE TABLE IF NOT EXISTS ticker_events (
    entity      VARCHAR NOT NULL,
    event_date  DATE    NOT NULL,
    type        VARCHAR NOT NULL,           -- ticker_change (the only type the vendor has)
    ticker      VARCHAR NOT NULL,
    loaded_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (entity, event_date, type, ticker)
);

-- Which entities' events were read, and as of which reference update: `refresh` reads again only
-- those whose reference row changed, and the new ones.
CREATE TABLE IF NOT EXISTS ticker_event_checks (
    entity            VARCHAR PRIMARY KEY,
    last_updated_utc  TIMESTAMP,
    found             BOOLEAN NOT NULL,     -- false: the vendor knows no events of it (HTTP 404)
    checked_at        TIMESTAMP NOT NULL
);

-- For each share class, the ticker it traded under from first_date to last_date (both inclusive;
-- NULL: before the reference knows / still current). From the ticker changes where there are any;
-- otherwise one span ending at the delisting, starting after the last span of another entity that
-- held the same ticker before it (a recycled ticker is never two companies on one date).
CREATE OR REPLACE VIEW symbol_history AS
WITH entities AS (
    SELECT entity, bool_or(active) AS active, max(delisted_date) AS delisted_date,
           arg_max(name, coalesce(last_updated_utc, TIMESTAMP '1970-01-01')) AS name,
           arg_max(type, coalesce(last_updated_utc, TIMESTAMP '1970-01-01')) AS type,
           arg_max(primary_exchange, coalesce(last_updated_utc, TIMESTAMP '1970-01-01')) AS primary_exchange,
           max(composite_figi) AS composite_figi, max(share_class_figi) AS share_class_figi
    FROM tickers GROUP BY entity
), changes AS (
    SELECT entity, ticker, event_date AS first_date,
           lead(event_date) OVER (PARTITION BY entity ORDER BY event_date) - 1 AS until
    FROM ticker_events WHERE type = 'ticker_change'
), spans AS (
    SELECT c.entity, c.ticker, c.first_date,
           coalesce(c.until, CASE WHEN NOT e.active THEN e.delisted_date END) AS last_date
    FROM changes c JOIN entities e USING (entity)
    UNION ALL
    SELECT t.entity, t.ticker, CAST(NULL AS DATE), CASE WHEN NOT t.active THEN t.delisted_date END
    FROM tickers t WHERE NOT EXISTS (SELECT 1 FROM changes c WHERE c.entity = t.entity)
), bounded AS (
    SELECT s.entity, s.ticker,
           coalesce(s.first_date, (SELECT max(o.last_date) + 1 FROM spans o
                                   WHERE o.ticker = s.ticker AND o.entity <> s.entity
                                     AND o.last_date < coalesce(s.last_date, DATE '9999-12-31'))) AS first_date,
           s.last_date
    FROM spans s
)
SELECT b.entity, b.ticker, b.first_date, b.last_date,
       arg_max(b.ticker, coalesce(b.first_date, DATE '0001-01-01')) OVER (PARTITION BY b.entity) AS current_ticker,
       e.name, e.type, e.primary_exchange, e.active, e.delisted_date, e.composite_figi, e.share_class_figi
FROM bounded b JOIN entities e USING (entity);

-- The journal with the company of each row: its entity and the ticker it trades under now (or last
-- did), so one query follows a company across its renames and keeps recycled tickers apart. Rows of a
-- ticker the reference does not know keep their symbol as their company.
CREATE OR REPLACE VIEW journal_by_company AS
SELECT coalesce(h.entity, 'ticker:' || j.symbol) AS entity, coalesce(h.current_ticker, j.symbol) AS company_ticker,
       j.*
FROM journal j
LEFT JOIN symbol_history h ON h.ticker = j.symbol
    AND j.trade_date BETWEEN coalesce(h.first_date, DATE '0001-01-01') AND coalesce(h.last_date, DATE '9999-12-31');
