"""Rows clustered by ticker on their way into Parquet parts, in bounded memory, sorted input or not.

The vendor's tick files are ordered by ticker: rows then go straight to the parts, and each row
group covers a narrow ticker range that a reader can skip by its statistics. When a batch breaks
the order (a file that is not sorted), this batch and every later row are spilled instead into
hash buckets on disk (Arrow IPC, lz4), about :data:`BUCKET_GZ_BYTES` of the gzip file each; at the
end each bucket is read back in runs of at most :data:`RUN_ROWS` rows, each run sorted by ticker
(stable: a ticker's rows keep the file's order) and written as its own part. A ticker then lies in
one bucket: its rows are contiguous in each run, and the parts already written before the break
hold it in one contiguous range too.
"""
from __future__ import annotations

import math
import queue
import threading
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from ..store.files.parts import PartWriter

#: gzip bytes of the input per spill bucket (about 0.9 M trades): a bucket's runs are sorted in memory
BUCKET_GZ_BYTES = 16 * 1024 * 1024
MAX_BUCKETS = 512
#: rows sorted at once when a bucket is read back (a ticker with more rows spans several runs)
RUN_ROWS = 1_000_000
_SEED = 0x5EED


def bucket_count(gz_bytes: int) -> int:
    """Spill buckets for an input of ``gz_bytes`` (gzip): enough that each one's runs stay small."""
    return max(1, min(MAX_BUCKETS, math.ceil(gz_bytes / BUCKET_GZ_BYTES)))


class ClusteredWriter:
    """Takes validated frames (any order) and writes them, clustered by ``ticker``, through a PartWriter."""

    def __init__(self, writer: PartWriter, scratch: Path, buckets: int) -> None:
        self.writer = writer
        self.scratch = scratch
        self.buckets = buckets
        self.last: str | None = None
        #: False once a batch broke the ticker order: from then on rows go to the buckets
        self.in_order = True
        self._spill: dict[int, ipc.RecordBatchStreamWriter] = {}
        self._schema: pa.Schema | None = None

    def add(self, frame: pl.DataFrame) -> None:
        """Write or spill ``frame`` (a frame of the final schema)."""
        if frame.height == 0:
            return
        if self.in_order and self._ordered(frame):
            self.last = frame["ticker"][-1]
            self.writer.write(frame.to_arrow())
            return
        if self.in_order:
            self.in_order = False
            self.writer.end_run()  # what was written in order stays; its last row group ends here
        self._to_buckets(frame)

    def _ordered(self, frame: pl.DataFrame) -> bool:
        t = pl.col("ticker")
        inside = frame.select((t >= t.shift()).all()).item()
        return bool(inside) and (self.last is None or frame["ticker"][0] >= self.last)

    def _to_buckets(self, frame: pl.DataFrame) -> None:
        ids = frame.select(pl.col("ticker").hash(_SEED) % self.buckets).to_series()
        for (bucket,), part in frame.with_columns(_bucket=ids).partition_by("_bucket", as_dict=True,
                                                                          include_key=False).items():
            table = part.to_arrow()
            writer = self._spill.get(int(bucket))
            if writer is None:
                self._schema = self._schema or table.schema
                options = ipc.IpcWriteOptions(compression="lz4")
                writer = ipc.new_stream(str(self._path(int(bucket))), self._schema, options=options)
                self._spill[int(bucket)] = writer
            writer.write_table(table.cast(self._schema))

    def _path(self, bucket: int) -> Path:
        return self.scratch / f"bucket-{bucket:04d}.arrows"

    def finish(self) -> int:
        """Sort and write the spilled buckets, close the last part; the rows written in all."""
        for writer in self._spill.values():
            writer.close()
        for bucket in sorted(self._spill):
            self._write_bucket(self._path(bucket))
        self._spill.clear()
        return self.writer.close()

    def _write_bucket(self, path: Path) -> None:
        run: list[pa.RecordBatch] = []
        rows = 0
        with pa.OSFile(str(path), "rb") as fh:
            for batch in ipc.open_stream(fh):
                run.append(batch)
                rows += batch.num_rows
                if rows >= RUN_ROWS:
                    self._write_run(run)
                    run, rows = [], 0
        if run:
            self._write_run(run)
        path.unlink(missing_ok=True)

    def _write_run(self, batches: list[pa.RecordBatch]) -> None:
        table = pa.Table.from_batches(batches)
        # Arrow's sort is stable: a ticker's rows keep the file's order; one copy of the run, not three
        order = pc.sort_indices(table, sort_keys=[("ticker", "ascending")])
        self.writer.write(table.take(order))
        self.writer.end_run()

    def abort(self) -> None:
        """Close the spill files and the open part (the build is being discarded)."""
        for writer in self._spill.values():
            try:
                writer.close()
            except (OSError, pa.ArrowException):
                pass
        self._spill.clear()
        self.writer.abort()


class BackgroundWriter:
    """Runs a ClusteredWriter in its own thread, at most ``ahead`` frames behind: Parquet encoding (which
    releases the GIL) overlaps the parsing of the next chunks. An error in the thread is raised by the next
    :meth:`add` or by :meth:`finish`."""

    def __init__(self, out: ClusteredWriter, ahead: int = 2) -> None:
        self.out = out
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, ahead))
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="flatload-parquet", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            frame = self._queue.get()
            if frame is None:
                return
            if self._error is None:
                try:
                    self.out.add(frame)
                except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
                    self._error = exc

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def add(self, frame: pl.DataFrame) -> None:
        """Queue ``frame`` for writing (waits while ``ahead`` frames are queued)."""
        self._check()
        self._queue.put(frame)

    def _join(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def finish(self) -> int:
        """Write everything queued and what was spilled; the rows written in all."""
        self._join()
        self._check()
        return self.out.finish()

    def abort(self) -> None:
        """Stop the thread (dropping what is queued) and close the files."""
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._join()
        self.out.abort()

    @property
    def in_order(self) -> bool:
        return self.out.in_order
