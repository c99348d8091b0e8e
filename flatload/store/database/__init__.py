"""The DuckDB side of a store: connections, schema and migrations, the analysts' views and macros, and the
records a load commits (journal rows, ledger, day status, runs)."""
