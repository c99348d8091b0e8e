"""Typed settings. Secrets never print.

Where values come from (flags > environment > config file > defaults) is :mod:`flatload.config`'s job;
:func:`flatload.config.from_env` is its environment-only form.
"""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError
from .universe import parse_symbols

__all__ = ["Settings", "parse_symbols", "parse_cluster", "hide_password", "cores", "default_workers"]

DEFAULT_ENDPOINT = "https://files.massive.com"
DEFAULT_BUCKET = "flatfiles"
DEFAULT_REST_URL = "https://api.massive.com"
#: peak memory of one worker on a real-size day, with headroom: scripts/bench.py measured
#: ~380 MiB (vendor-sorted file) and ~670 MiB (a file that needs sorting) for 2 M rows
WORKER_MEMORY_BYTES = 1024 * 1024 * 1024


#: the cores one tick file's load keeps busy, rounded up (its gzip, parser and Parquet threads)
PIPELINE_CORES = 2


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_workers() -> int:
    """The cores, capped by what memory allows."""
    n = cores()
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return n
    return max(1, min(n, available // WORKER_MEMORY_BYTES))


_URL_PASSWORD = re.compile(r"(://[^:/?#@\s]*:)\S*@")  # greedy: a raw @ in a password is masked too


#: the databases ``sync`` writes to, by URL scheme (SQLAlchemy's, with any driver after a ``+``)
SYNC_SCHEMES = ("sqlite", "postgresql", "postgres")
_SCHEME = re.compile(r"^([A-Za-z][\w.-]*?)(?:\+[\w.-]+)?://")


def sync_url_problem(url: str) -> tuple[str, str] | None:
    """Why ``url`` cannot be a sync target, and what to write instead (checked before any work, without
    importing the drivers); None when its scheme is one sync writes to."""
    m = _SCHEME.match(url.strip())
    example = "sqlite:///trading_journal.db or postgresql://user@host/db"
    if m is None:
        return f"{hide_password(url)!r} is not a database URL", f"write it like {example}"
    if m.group(1).lower() not in SYNC_SCHEMES:
        return f"{hide_password(url)!r}: flatload syncs to SQLite or PostgreSQL", f"write the URL like {example}"
    return None


_LOCAL_CLUSTER = re.compile(r"^local(?::(\d+))?$")
_SCHEDULER = re.compile(r"^(?:(?:tcp|tls|inproc|ws|wss)://)?[\w.\-\[\]:]+:\d+$")


def parse_cluster(spec: str) -> tuple[str, int | None]:
    """``"local"`` → ``("local", None)``, ``"local:4"`` → ``("local", 4)``, an address → ``(address, None)``."""
    spec = spec.strip()
    m = _LOCAL_CLUSTER.match(spec)
    if m:
        n = int(m.group(1)) if m.group(1) else None
        if n is not None and n < 1:
            raise ConfigError(f"--cluster {spec}: a local cluster needs at least one worker", hint="use local:2")
        return "local", n
    if not _SCHEDULER.match(spec):
        raise ConfigError(f"--cluster {spec!r} is neither local[:N] nor a scheduler address",
                          hint="write --cluster local:2 or --cluster tcp://scheduler-host:8786")
    return spec, None


def hide_password(url: str) -> str:
    """``postgresql://user:secret@host/db`` → ``postgresql://user:***@host/db`` (any text: no parsing needed)."""
    return _URL_PASSWORD.sub(r"\1***@", url)


@dataclass(frozen=True)
class Settings:
    """Everything a run needs. Build with :func:`flatload.config.from_env` to apply the environment."""

    data_dir: Path = Path("flatload-data")
    endpoint_url: str = DEFAULT_ENDPOINT
    bucket: str = DEFAULT_BUCKET
    profile: str | None = None
    #: a local directory laid out like the bucket; when set, S3 is not used
    mirror: Path | None = None
    workers: int = field(default_factory=default_workers)
    #: run the tasks on a Dask cluster: ``local[:N]`` (a LocalCluster started for the run) or a scheduler address
    cluster: str | None = None
    #: the journal's (and REST's) symbols; None: all
    symbols: frozenset[str] | None = None
    #: options rows kept at parse time, by underlying; None: all
    underlyings: frozenset[str] | None = None
    force: bool = False
    dry_run: bool = False
    rest_url: str = DEFAULT_REST_URL
    api_key: str | None = field(default=None, repr=False)
    use_rest: bool = True
    rest_rpm: int | None = None
    #: attempts after the first, and the exponential backoff base (s), for REST retries
    rest_max_retries: int = 6
    rest_backoff: float = 0.5
    lock_timeout: float = 60.0
    #: bytes downloaded ahead of the workers, at most (MB); None: from free memory and disk
    prefetch_mb: int | None = None
    #: botocore standard-mode attempts per request (first try included); also the tries of a byte range
    s3_max_attempts: int = 5
    #: objects larger than this are downloaded as concurrent byte ranges of this size (a stocks minute
    #: file in two: measured faster than four on loopback, and still several connections on a WAN)
    s3_part_size: int = 16 * 1024 * 1024
    #: objects larger than this wait for their worker in the spool on disk, smaller ones in memory
    spool_above: int = 16 * 1024 * 1024
    s3_connect_timeout: float = 10.0
    #: a tick file of at least two of these (gzip bytes) is parsed by several workers at once, one slice each
    slice_bytes: int = 64 * 1024 * 1024
    #: the workers a large tick file is split among; None: :meth:`slice_slots` decides
    slices: int | None = None
    #: ``s3://bucket/prefix``: the Parquet partitions on object storage (the journal stays in data_dir)
    store: str | None = None
    store_endpoint_url: str | None = None
    store_region: str = "us-east-1"
    store_key_id: str | None = None
    store_secret: str | None = field(default=None, repr=False)
    #: the user's own database (a SQLAlchemy URL) that load/refresh sync the journal into; None: no sync
    sync_to: str | None = field(default=None, repr=False)
    #: the table there (``schema.table`` on PostgreSQL)
    sync_table: str = "backfill_data"

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {self.workers}")
        if self.lock_timeout < 0:
            raise ConfigError("--lock-timeout must not be negative")
        if self.rest_rpm is not None and self.rest_rpm < 1:
            raise ConfigError("--rest-rpm must be at least 1")
        if self.prefetch_mb is not None and self.prefetch_mb < 1:
            raise ConfigError("--prefetch must be at least 1 (MB)")
        if self.slices is not None and self.slices < 1:
            raise ConfigError("--slices must be at least 1")
        if self.cluster is not None:
            parse_cluster(self.cluster)
        if self.store is not None and not re.match(r"^s3://[^/]+", self.store):
            raise ConfigError(f"--store {self.store!r} is not an s3:// address", hint="write --store s3://bucket/prefix")

    def advice(self) -> list[str]:
        """Settings that work but probably not as meant, each as one line saying why."""
        out = []
        if self.workers > cores():
            out.append(f"--workers {self.workers} is more than the {cores()} core(s) here: each worker parses on a "
                       f"core of its own, so extra workers only compete for them and the load runs slower; "
                       f"use --workers {cores()}")
        return out

    def __repr__(self) -> str:
        shown = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "api_key"}
        shown["api_key"] = "***" if self.api_key else None
        shown["sync_to"] = hide_password(self.sync_to) if self.sync_to else None
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"

    def replace(self, **changes: object) -> "Settings":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def slice_slots(self, slots: int) -> int:
        """How many workers a large tick file is split among when ``slots`` jobs run at once: ``slices`` when
        set; on this machine (the pool, a LocalCluster) one per :data:`PIPELINE_CORES` cores, because one
        file's pipeline (inflate, parse and encode threads) already keeps about 1.5 cores busy and every slice
        inflates the whole file (measured: scripts/bench_slices.py); on a remote cluster, its slots."""
        if self.slices is not None:
            return max(1, min(slots, self.slices))
        if self.cluster is None or parse_cluster(self.cluster)[0] == "local":
            return max(1, min(slots, cores() // PIPELINE_CORES))
        return slots

    def prefetch_budget(self) -> int:
        """Bytes the fetch stage may hold: ``prefetch_mb``, else a quarter of the free memory and half the
        free disk under the data directory, between 64 MB and 2 GB (one day larger than that goes alone)."""
        if self.prefetch_mb is not None:
            return self.prefetch_mb * 1024 * 1024
        free = 2 << 30
        try:
            free = min(free, os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4)
        except (ValueError, OSError, AttributeError):
            pass
        try:
            free = min(free, shutil.disk_usage(self.data_dir).free // 2)
        except OSError:
            pass
        return max(64 << 20, free)
