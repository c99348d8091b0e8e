-- What `flatload sync` last sent to each of the user's own databases. One row per
-- target (URL without password), table and scope (the options that chose rows and
-- columns: --columns, --since, --symbols); the next sync sends journal rows whose
-- loaded_at is newer than synced_to. Written only after the target committed them.
CREATE TABLE IF NOT EXISTS sync_state (
    target      VARCHAR   NOT NULL,  -- e.g. postgresql+psycopg://trader@db:5432/app (never a password)
    table_name  VARCHAR   NOT NULL,  -- as given, e.g. journal.backfill_data
    scope       VARCHAR   NOT NULL,  -- e.g. columns=symbol,trade_date,hod;since=;symbols=
    synced_to   TIMESTAMP NOT NULL,  -- the newest journal loaded_at sent (UTC)
    rows        BIGINT    NOT NULL,  -- rows the last sync sent
    synced_at   TIMESTAMP NOT NULL,  -- when it committed (UTC)
    PRIMARY KEY (target, table_name, scope)
);
