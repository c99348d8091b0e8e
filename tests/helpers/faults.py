"""Making faults for the fault tests: broken objects, lock holders in second processes, CLI runs."""
from __future__ import annotations

import datetime as dt
import gzip
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
from click.testing import CliRunner

from flatload import calendar, sample
from flatload.cli import cli
from flatload.engine.summary import DayFailure
from flatload.settings import Settings
from tests.helpers.store import query, s3_client
from flatload.store.store import Store


def files_for(days: list[dt.date]) -> dict[str, bytes]:
    """Small, valid sample files (10 tickers) for ``days``."""
    return sample.generate(days, n_tickers=10)


def put(endpoint: str, bucket: str, files: dict[str, bytes]) -> None:
    client = s3_client(endpoint)
    for key, data in files.items():
        client.put_object(Bucket=bucket, Key=key, Body=data)


def csv_gz(lines: list[str]) -> bytes:
    return gzip.compress(("\n".join(lines) + "\n").encode())


def csv_lines(frame: pl.DataFrame) -> list[str]:
    """The frame as the vendor's CSV lines, header first."""
    return frame.select(sample.CSV_COLUMNS).write_csv().rstrip("\n").split("\n")


def by_date(failures: list[DayFailure]) -> dict[dt.date, DayFailure]:
    return {f.date: f for f in failures}


def pre_market(frame: pl.DataFrame, ticker: str, d: dt.date) -> tuple[float, float]:
    """(max high, min low) of ``ticker``'s pre-market bars: what the journal must hold."""
    b = calendar.session_bounds(d)
    ws = pl.col("window_start")
    pre = frame.filter((pl.col("ticker") == ticker) & (ws >= b.pre_start) & (ws < b.open))
    assert pre.height > 0
    return pre["high"].max(), pre["low"].min()


def journal_value(settings: Settings, column: str, symbol: str, d: dt.date):
    rows = query(settings, f"SELECT {column} FROM journal WHERE symbol = ? AND trade_date = ?", [symbol, d])
    assert len(rows) == 1, rows
    return rows[0][0]


def parquet_files(settings: Settings) -> list[str]:
    root = Store.of(settings).parquet_root
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.parquet")) if root.exists() else []


def crc_only_corruption(good: bytes) -> bytes:
    """Change one price deep in the file, keep a valid deflate stream and the ORIGINAL CRC-32/size.

    Only the gzip trailer check can tell: a reader that skips it loads a wrong price.
    """
    text = gzip.decompress(good)
    at = text.rindex(b".", 0, int(len(text) * 0.9)) + 1  # a decimal digit about 90% in
    digit = text[at:at + 1]
    bad_text = text[:at] + (b"1" if digit != b"1" else b"2") + text[at + 1:]
    body = gzip.compress(bad_text)[:-8]
    return body + good[-8:]  # the trailer of the good file: CRC-32 and ISIZE no longer match


def flipped_mid_stream(good: bytes) -> bytes:
    """Flip four bytes in the middle of the deflate stream."""
    data = bytearray(good)
    mid = len(data) // 2
    for i in range(mid, mid + 4):
        data[i] ^= 0x5A
    return bytes(data)


@contextmanager
def holder(code: str, *args: str) -> Iterator[subprocess.Popen]:
    """A second Python process that takes a lock, prints 'ready' and sleeps until killed."""
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if line.strip() != "ready":
            proc.kill()
            raise AssertionError(f"lock holder did not start: {line!r} {proc.stderr.read()}")  # type: ignore[union-attr]
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


HOLD_DUCKDB = ("import duckdb, sys, time\n"
               "con = duckdb.connect(sys.argv[1])\n"
               "print('ready', flush=True)\n"
               "time.sleep(120)\n")
HOLD_RUN_LOCK = ("import sys, time\n"
                 "from pathlib import Path\n"
                 "from flatload.store.files.lock import run_lock\n"
                 "cm = run_lock(Path(sys.argv[1]), 'load')\n"
                 "cm.__enter__()\n"
                 "print('ready', flush=True)\n"
                 "time.sleep(120)\n")


def duckdb_holder_name(pid: int) -> str:
    """How DuckDB names a holder process in its lock error."""
    return f"{os.readlink(f'/proc/{pid}/exe')} (PID {pid})"


def cli_load(start: dt.date, end: dt.date, settings: Settings, *extra: str):
    args = ["load", "--start", start.isoformat(), "--end", end.isoformat(), "--endpoint-url", settings.endpoint_url,
            "--bucket", settings.bucket, "--data-dir", str(settings.data_dir), "--workers", "1", "--no-rest",
            "--quiet", *extra]
    return CliRunner().invoke(cli, args)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JournalTakenOnFirstFetch:
    """An S3FaultProxy hook: at the first object fetch (the run has planned and closed its connection), a
    second process opens the journal, as an analyst would, and holds it until :meth:`release`."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.taken: list[subprocess.Popen] = []
        self._held: list = []
        self._once = threading.Lock()

    def __call__(self, method: str, path: str) -> None:
        with self._once:  # downloads run on several threads
            if method == "GET" and path.endswith(".csv.gz") and not self.taken:
                cm = holder(HOLD_DUCKDB, str(self.db_path))
                self.taken.append(cm.__enter__())
                self._held.append(cm)

    def release(self) -> None:
        """End the holder process."""
        for cm in self._held:
            cm.__exit__(None, None, None)


class FirstDownloadHeld:
    """An S3FaultProxy ``on_request`` hook: the first GET of ``key`` waits (at most a minute) until
    :meth:`release`; :attr:`held` is set once it waits. The worker downloading it can then be killed."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.held, self._release = threading.Event(), threading.Event()

    def __call__(self, method: str, path: str) -> None:
        if method == "GET" and path.endswith("/" + self.key) and not self.held.is_set():
            self.held.set()
            self._release.wait(60)

    def release(self) -> None:
        """Let the held download go on."""
        self._release.set()
