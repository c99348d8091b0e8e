"""Tick partitions swapped again and again: the writer side of the atomic-swap tests (also run as a process).

``python -m tests.helpers.swaps ROOT exchange|renames`` publishes version after version of one
partition until it is killed, printing ``ready`` once the first version is in place.
"""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from flatload.store.files.swap import PartitionBuild

FOLDER = "stocks/trades"
DAY = dt.date(2024, 3, 11)
PARTS, ROWS = 3, 1000


def publish_version(root: Path, version: int, use_exchange: bool = True) -> None:
    """Replace the partition with ``PARTS`` parts whose every row holds ``v = version``."""
    with PartitionBuild(root, FOLDER, DAY) as build:
        for _ in range(PARTS):
            pq.write_table(pa.table({"v": pa.array([version] * ROWS, pa.int64())}), build.part_path())
        build.publish(use_exchange=use_exchange)


def partition_glob(root: Path) -> str:
    """What a view reads: every part of every ``date=`` folder."""
    return f"{root}/{FOLDER}/date=*/*.parquet"


def main(root: str, mode: str) -> None:
    version = 0
    publish_version(Path(root), version, mode == "exchange")
    print("ready", flush=True)
    while True:
        version += 1
        publish_version(Path(root), version, mode == "exchange")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
