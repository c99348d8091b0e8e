"""A gzip CSV file read as line-aligned chunks of bounded size, decompressed in a background thread.

The decompression (ISA-L's igzip when the ``isal`` package is installed, about three times
zlib's speed; the standard library's gzip otherwise) runs ahead of the parser by at most
``ahead`` chunks: memory holds a few chunks whatever the file's size, and the parser never
waits for inflate while a chunk is ready. Each chunk is whole lines, numbered from the file's
first line (the header is line 1).
"""
from __future__ import annotations

import gzip
import queue
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import CorruptFile
from .parse import CORRUPT_HINT, header_fields

try:  # ISA-L: the same gzip format, inflated about 3x faster
    from isal import igzip as _gzip
    from isal.isal_zlib import error as _IsalError
except ImportError:  # pragma: no cover - isal is a dependency; the standard library still reads every file
    _gzip = gzip  # type: ignore[no-redef]
    _IsalError = zlib.error  # type: ignore[misc,assignment]

#: decompressed bytes per chunk: about 200,000 trades
CHUNK_BYTES = 16 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_DONE = object()


@dataclass(frozen=True)
class Chunk:
    """Whole CSV lines of a file (no header), the file line number of the first one, and how many there are."""

    data: bytes
    first_line: int
    lines: int


def _problem(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "truncated gzip (the file ends before the gzip stream does)"
    text = str(exc)
    if "CRC" in text:
        return "corrupt gzip (CRC-32 mismatch)"
    return f"corrupt gzip ({text.split(': ', 1)[-1] or type(exc).__name__})"


class CsvStream:
    """Iterate over the chunks of one gzip CSV file; :attr:`header` is its first line's fields.

    Use as a context manager: leaving early stops the background thread.
    """

    def __init__(self, path: Path | str, key: str, chunk_bytes: int = CHUNK_BYTES, ahead: int = 2) -> None:
        self.path, self.key, self.chunk_bytes = Path(path), key, chunk_bytes
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, ahead))
        self._stop = threading.Event()
        self._fh = self._open()
        self.header = self._read_header()
        self._thread = threading.Thread(target=self._produce, name="flatload-inflate", daemon=True)

    def _open(self):
        try:
            with open(self.path, "rb") as raw:
                magic = raw.read(2)
        except OSError as exc:
            raise CorruptFile(f"cannot read: {exc.strerror}", key=self.key) from None
        if not magic:
            raise CorruptFile("empty object (0 bytes)", key=self.key, hint="the vendor may still be writing it; "
                              "rerun later")
        if magic != _GZIP_MAGIC:
            raise CorruptFile(f"not a gzip file (it starts with {magic!r})", key=self.key, hint=CORRUPT_HINT)
        return _gzip.open(self.path, "rb")

    def _read_header(self) -> list[str]:
        try:
            line = self._fh.readline(64 * 1024)
        except (OSError, EOFError, zlib.error, _IsalError) as exc:
            self._fh.close()
            raise CorruptFile(_problem(exc), key=self.key, hint=CORRUPT_HINT) from None
        try:
            return header_fields(line, self.key)
        except Exception:
            self._fh.close()
            raise

    def __enter__(self) -> "CsvStream":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        while self._thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._fh.close()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        line, rest = 2, b""
        try:
            while not self._stop.is_set():
                block = self._fh.read(self.chunk_bytes)
                if not block:
                    break
                buf = rest + block if rest else block
                cut = buf.rfind(b"\n") + 1
                if cut == 0:  # one line longer than a chunk: keep reading
                    rest = buf
                    continue
                data, rest = buf[:cut], buf[cut:]
                lines = data.count(b"\n")
                if not self._put(Chunk(data, line, lines)):
                    return
                line += lines
            if rest and not self._stop.is_set():
                self._put(Chunk(rest, line, rest.count(b"\n") + 1))
            self._put(_DONE)
        except (OSError, EOFError, zlib.error, _IsalError) as exc:
            self._put(CorruptFile(_problem(exc), key=self.key, hint=CORRUPT_HINT))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            self._put(exc)

    def __iter__(self) -> Iterator[Chunk]:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
