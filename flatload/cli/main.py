"""The ``flatload`` command group; each command lives with its kind (load, reports, ...)."""
from __future__ import annotations

from pathlib import Path

import click

from . import analysis, config, identity, load, reports, serve, sync
from .options import config_option


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@config_option
@click.version_option(package_name="flatload")
def cli(config: Path | None) -> None:
    """Load Polygon.io / Massive S3 flat files into Parquet and a DuckDB journal.

    \b
    Exit codes: 0 all loaded; 1 some days failed; 2 usage/config error;
    3 DuckDB journal locked by another process; 4 another run holds the data dir;
    5 data dir not writable; 6 sync target unreachable or busy (rerun later);
    7 sync target refused the login or privileges; 8 sync target's table does not fit;
    130/143 interrupted (rerun to resume).

    Settings: flags > environment > config file (flatload.toml) > defaults; `flatload config show`.
    """


for command in (load.load, load.refresh, load.demo, reports.status, reports.gaps, reports.datasets, analysis.sql,
                analysis.bars, analysis.corporate_actions, identity.tickers, identity.universe,
                sync.sync, serve.serve, config.config):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="flatload")
