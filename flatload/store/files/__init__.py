"""The files side of a store: Parquet partitions and their atomic swaps, the spool, recovery records, run
files, the run lock, and how file-system errors become domain errors."""
