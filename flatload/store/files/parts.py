"""Parquet parts of bounded size for tick partitions, written row group by row group.

Rows arrive in batches of any size; they leave in row groups of :data:`ROW_GROUP_ROWS` rows,
:data:`PART_ROWS` rows a part at most, so memory holds at most one row group beyond the batch.
Each row group carries min/max statistics: rows clustered by ticker let a reader skip every row
group whose ticker range excludes the one it wants (one ticker's day reads about one row group
of each part it appears in). Low-cardinality columns are dictionary-encoded and integer-ns
times and sequence numbers delta-encoded: smaller files, and faster to write than zstd on plain
values.
"""
from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from .fs import storage_error
from .swap import PartitionBuild  # or any build with its interface (.objects.versions.ObjectPartitionBuild)

#: rows per row group: the unit a reader skips; one ticker's day typically lies in one or two
ROW_GROUP_ROWS = 65_536
#: rows per part file at most (64 row groups)
PART_ROWS = 64 * ROW_GROUP_ROWS
COMPRESSION_LEVEL = 1


class PartWriter:
    """Writes tables into the parts of a :class:`PartitionBuild`, in full row groups."""

    def __init__(self, build: PartitionBuild, dictionary: Sequence[str] = (), delta: Sequence[str] = ()) -> None:
        self.build = build
        self.dictionary = list(dictionary)
        self.delta = list(delta)
        self.schema: pa.Schema | None = None
        self._writer: pq.ParquetWriter | None = None
        self._in_part = 0
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        """Queue ``table``'s rows; every full row group is written at once."""
        if table.num_rows == 0:
            return
        self._pending.append(table)
        self._pending_rows += table.num_rows
        if self._pending_rows >= ROW_GROUP_ROWS:
            self._drain(full_only=True)

    def end_run(self) -> None:
        """Write what is queued as a (short) row group and start a new part: the rows written so far are
        one sorted run, and a row group spanning two runs would span both runs' ticker ranges."""
        self._drain(full_only=False)
        self._close_part()

    def close(self) -> int:
        """Write what is queued and close the last part; the rows written in all."""
        self.end_run()
        return self.rows

    def abort(self) -> None:
        """Close the open part without caring for its content (the build is being discarded)."""
        if self._writer is not None:
            try:
                self._writer.close()
            except (OSError, pa.ArrowException):
                pass
            self._writer = None

    def _drain(self, full_only: bool) -> None:
        if not self._pending_rows:
            return
        table = pa.concat_tables(self._pending) if len(self._pending) > 1 else self._pending[0]
        self._pending, self._pending_rows = [], 0
        start = 0
        while table.num_rows - start >= ROW_GROUP_ROWS or (not full_only and start < table.num_rows):
            n = min(ROW_GROUP_ROWS, table.num_rows - start)
            self._write_group(table.slice(start, n))
            start += n
        if start < table.num_rows:
            rest = table.slice(start)
            self._pending, self._pending_rows = [rest], rest.num_rows

    def _write_group(self, group: pa.Table) -> None:
        try:
            if self._writer is None:
                self._open_part(group.schema)
            assert self._writer is not None
            self._writer.write_table(group, row_group_size=group.num_rows)
        except OSError as exc:
            raise (storage_error(exc, self.build.target, "write a partition") or exc) from None
        self._in_part += group.num_rows
        self.rows += group.num_rows
        if self._in_part >= PART_ROWS:
            self._close_part()

    def _open_part(self, schema: pa.Schema) -> None:
        if self.schema is None:
            self.schema = schema
        names = set(schema.names)
        self._path = self.build.part_path()
        self._writer = pq.ParquetWriter(
            self._path, self.schema, compression="zstd", compression_level=COMPRESSION_LEVEL,
            use_dictionary=[c for c in self.dictionary if c in names],
            column_encoding={c: "DELTA_BINARY_PACKED" for c in self.delta if c in names}, write_statistics=True)

    def _close_part(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except OSError as exc:
                raise (storage_error(exc, self.build.target, "write a partition") or exc) from None
            self._writer = None
            self._in_part = 0
            self.build.part_closed(self._path)
