"""The settings table: the one list the config file, the environment, ``config show``, ``config init``, the
CLI help and the README's table are made from.

Each row names a setting once: its section and key in ``flatload.toml``, its environment variables,
its flag, its type, whether it is a secret, and its default as people read it. Converters turn an
environment string or a TOML value into the setting's value; they raise :class:`Invalid`, which the
callers turn into a :class:`~flatload.errors.ConfigError` naming the variable, or the file and line.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..settings import DEFAULT_BUCKET, DEFAULT_ENDPOINT, DEFAULT_REST_URL, hide_password, sync_url_problem
from ..universe import parse_symbols

#: the file's sections, in the order the template and ``config show`` list them, with what each holds
SECTIONS = {
    "source": "where flat files come from",
    "rest": "the REST API: the fallback for missing days, and corporate actions",
    "store": "the data directory",
    "run": "how loads run, and what they load",
    "sync": "the database load/refresh sync the journal into (as flatload sync --to)",
    "serve": "flatload serve: the dashboard and its job API",
}
#: the name of the file, in the data directory or the current directory
FILE_NAME = "flatload.toml"
CONFIG_ENV = "FLATLOAD_CONFIG"


class Invalid(Exception):
    """A value that does not fit its setting; the message says what was expected."""


@dataclass(frozen=True)
class Setting:
    """One row of the table."""

    name: str
    section: str
    key: str
    kind: str
    help: str
    #: the default as people read it (README, --help, the template)
    default: str
    #: the default as a TOML value for the template; None when it depends on the machine or is "none"
    toml_default: str | None = None
    #: a TOML value the template shows when there is no ``toml_default``
    example: str | None = None
    flag: str | None = None
    env: tuple[str, ...] = ()
    secret: bool = False
    minimum: float | None = None
    #: False: not a Settings field, read by the resolver (symbols_file) or the commands (datasets)
    field: bool = True

    @property
    def dotted(self) -> str:
        """``section.key``: how the file, ``config show`` and error messages name it."""
        return f"{self.section}.{self.key}"

    def is_secret(self, value: Any) -> bool:
        """Whether ``value`` must be kept out of world-readable files and output (a sync URL: only with a
        password in it)."""
        if not self.secret or value is None:
            return False
        return self.name != "sync_to" or hide_password(str(value)) != str(value)

    def shown(self, value: Any) -> str:
        """``value`` as ``config show`` prints it: secrets masked, sets sorted and comma-separated."""
        if value is None:
            return "-"
        if self.name == "sync_to":
            return hide_password(str(value))
        if self.secret:
            return "***"
        if isinstance(value, frozenset):
            return ",".join(sorted(value))
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)


SETTINGS: tuple[Setting, ...] = (
    Setting("endpoint_url", "source", "endpoint_url", "str", "S3 endpoint of the flat files", DEFAULT_ENDPOINT,
            f'"{DEFAULT_ENDPOINT}"', flag="--endpoint-url", env=("FLATLOAD_ENDPOINT_URL",)),
    Setting("bucket", "source", "bucket", "str", "S3 bucket", DEFAULT_BUCKET, f'"{DEFAULT_BUCKET}"',
            flag="--bucket", env=("FLATLOAD_BUCKET",)),
    Setting("profile", "source", "profile", "str", "AWS profile (in ~/.aws/credentials) holding the flat-files keys",
            "boto3's credential chain", example='"massive"', flag="--profile", env=("AWS_PROFILE",)),
    Setting("mirror", "source", "mirror", "path", "a local directory laid out like the bucket, read instead of S3",
            "none: S3", example='"/srv/massive-mirror"', flag="--mirror", env=("FLATLOAD_MIRROR",)),
    Setting("rest_url", "rest", "url", "str", "REST base URL", DEFAULT_REST_URL, f'"{DEFAULT_REST_URL}"',
            flag="--rest-url", env=("FLATLOAD_REST_URL",)),
    Setting("api_key", "rest", "api_key", "str", "REST API key (secret: the file must be mode 0600)",
            "none: no REST fallback", example='"your-rest-api-key"', env=("MASSIVE_API_KEY", "POLYGON_API_KEY"),
            secret=True),
    Setting("rest_rpm", "rest", "rpm", "int", "client-side REST rate limit, requests/minute (free tier: 5)",
            "none", example="5", flag="--rest-rpm", env=("FLATLOAD_REST_RPM",), minimum=1),
    Setting("use_rest", "rest", "enabled", "bool", "fall back to the REST API for missing files", "true", "true",
            flag="--no-rest"),
    Setting("data_dir", "store", "data_dir", "path", "holds flatload.duckdb and parquet/", "./flatload-data",
            '"flatload-data"', flag="--data-dir", env=("FLATLOAD_DATA_DIR",)),
    Setting("lock_timeout", "store", "lock_timeout", "float", "seconds to wait for a DuckDB file another process holds",
            "60", "60.0", flag="--lock-timeout", env=("FLATLOAD_LOCK_TIMEOUT",), minimum=0),
    Setting("store", "store", "url", "str", "keep the Parquet partitions on object storage (any S3-compatible "
            "endpoint); the journal stays in data_dir", "none: <data_dir>/parquet", example='"s3://my-bucket/flatload"',
            flag="--store", env=("FLATLOAD_STORE",)),
    Setting("store_endpoint_url", "store", "endpoint_url", "str", "the object store's S3 endpoint",
            "AWS", example='"https://minio.internal:9000"', env=("FLATLOAD_STORE_ENDPOINT_URL",)),
    Setting("store_region", "store", "region", "str", "the object store's region", "us-east-1", '"us-east-1"',
            env=("FLATLOAD_STORE_REGION",)),
    Setting("store_key_id", "store", "key_id", "str", "the object store's access key id (its own, not the "
            "vendor's)", "boto3's credential chain", example='"store-key-id"', env=("FLATLOAD_STORE_KEY_ID",)),
    Setting("store_secret", "store", "secret", "str", "the object store's secret key (secret: the file must be "
            "mode 0600)", "boto3's credential chain", example='"store-secret"', env=("FLATLOAD_STORE_SECRET",),
            secret=True),
    Setting("workers", "run", "workers", "int", "worker processes", "the cores, capped by memory", example="2",
            flag="--workers", env=("FLATLOAD_WORKERS",), minimum=1),
    Setting("cluster", "run", "cluster", "str", "run the tasks on a Dask cluster: local[:N] starts one for the run, "
            "or a scheduler address", "none: this machine's process pool", example='"local:2"', flag="--cluster",
            env=("FLATLOAD_CLUSTER",)),
    Setting("symbols", "run", "symbols", "symbols", "tickers (case-sensitive): the journal's scope, and the only "
            "rows stocks trades/quotes keep", "all", example='["AAPL", "MSFT", "BRK.B"]', flag="--symbols",
            env=("FLATLOAD_SYMBOLS",)),
    Setting("symbols_file", "run", "symbols_file", "path", "a file of symbols (lines, CSV or JSON), added to "
            "symbols", "none", example='"sp500.json"', flag="--symbols-file", env=("FLATLOAD_SYMBOLS_FILE",),
            field=False),
    Setting("underlyings", "run", "underlyings", "symbols", "options: keep only contracts on these underlyings",
            "all", example='["SPY", "QQQ"]', flag="--underlyings", env=("FLATLOAD_UNDERLYINGS",)),
    Setting("datasets", "run", "datasets", "datasets", "what load, refresh and gaps take when --datasets is not "
            "given", "stocks", '"stocks"', flag="--datasets", env=("FLATLOAD_DATASETS",), field=False),
    Setting("prefetch_mb", "run", "prefetch_mb", "int", "MB downloaded ahead of the workers, at most",
            "a quarter of free memory, half the free disk, at most 2048", example="512", flag="--prefetch",
            env=("FLATLOAD_PREFETCH_MB",), minimum=1),
    Setting("slices", "run", "slices", "int", "a tick file of 128 MiB (gzip) or more is parsed by this many "
            "workers at once, each inflating it whole and parsing its share of the chunks", "on this machine one per "
            "two cores (a file's pipeline keeps about 1.5 cores busy); on a remote cluster, every worker",
            example="4", flag="--slices", env=("FLATLOAD_SLICES",), minimum=1),
    Setting("sync_to", "sync", "to", "url", "after load/refresh, sync the journal into this SQLAlchemy URL (secret "
            "when it holds a password)", "none: no sync", example='"sqlite:///trading_journal.db"',
            flag="--sync-to", env=("FLATLOAD_SYNC_TO",), secret=True),
    Setting("sync_table", "sync", "table", "str", "the table there (schema.table on PostgreSQL)", "backfill_data",
            '"backfill_data"', flag="--sync-table", env=("FLATLOAD_SYNC_TABLE",)),
    Setting("token", "serve", "token", "str", "the bearer token starting and stopping jobs through flatload serve "
            "needs (secret: the file must be mode 0600)", "none: loopback only", example='"a-long-random-string"',
            flag="--token", env=("FLATLOAD_TOKEN",), secret=True, field=False),
)
BY_NAME = {s.name: s for s in SETTINGS}
BY_KEY = {(s.section, s.key): s for s in SETTINGS}
#: symbols and symbols_file make one scope: the highest level setting either decides both
SCOPE = ("symbols", "symbols_file")


def flag_help(name: str, what: str) -> str:
    """``what`` plus where else the setting comes from and its default, for a flag's ``--help``."""
    spec = BY_NAME[name]
    where = [f"env {' or '.join(spec.env)}"] if spec.env else []
    return f"{what} [{', '.join([*where, f'file {spec.dotted}'])}; {spec.default}]"


def from_text(spec: Setting, text: str) -> Any:
    """An environment variable's text as the setting's value."""
    kind = spec.kind
    if kind == "url":
        return _url(text)
    if kind in ("str", "path"):
        return Path(text) if kind == "path" else text
    if kind == "symbols":
        try:
            value = parse_symbols(text)
        except ConfigError as exc:
            raise Invalid(exc.message) from None
        if value is None:
            raise Invalid("names no symbol")
        return value
    if kind == "datasets":
        return _datasets(text)
    if kind == "bool":
        lowered = text.strip().lower()
        if lowered not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            raise Invalid(f"expected true or false, got {text!r}")
        return lowered in ("1", "true", "yes", "on")
    try:
        value = int(text) if kind == "int" else float(text)
    except ValueError:
        raise Invalid(f"expected {'a whole number' if kind == 'int' else 'a number'}, got {text!r}") from None
    return _bounded(spec, value)


def from_toml(spec: Setting, value: Any, base: Path) -> Any:
    """A TOML value as the setting's value; relative paths are taken from ``base`` (the file's directory)."""
    kind = spec.kind
    if kind in ("str", "path", "url"):
        text = _expect_text(spec, value)
        if kind == "url":
            return _sqlite_from(_url(text), base)
        return base / Path(text).expanduser() if kind == "path" else text
    if kind == "bool":
        if not isinstance(value, bool):
            raise Invalid(f"expected true or false, got {_kind_of(value)}{_echo(spec, value)}")
        return value
    if kind in ("symbols", "datasets"):
        if isinstance(value, list):
            bad = next(((i, v) for i, v in enumerate(value, 1) if not isinstance(v, str)), None)
            if bad is not None:
                raise Invalid(f"element {bad[0]} of the list is {_kind_of(bad[1])} ({bad[1]!r}), not a string "
                              f"(quote it: \"{bad[1]}\")")
            value = ",".join(value)
        if not isinstance(value, str):
            raise Invalid(f"expected a list of strings or a comma-separated string, got {_kind_of(value)}")
        return from_text(spec, value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind == "int" and isinstance(value, float)):
        wanted = "a whole number" if kind == "int" else "a number"
        raise Invalid(f"expected {wanted} (like {spec.key} = {spec.toml_default or spec.example}), "
                      f"got {_kind_of(value)}{_echo(spec, value)}")
    return _bounded(spec, value if kind == "int" else float(value))


def _sqlite_from(url: str, base: Path) -> str:
    """A SQLite URL's relative file taken from ``base``, as every relative path in the file is."""
    match = _SQLITE_RELATIVE.match(url)
    if match is None or match.group(2).startswith(":memory:"):
        return url
    return f"{match.group(1)}{(base / Path(match.group(2)).expanduser()).as_posix()}{match.group(3) or ''}"


_SQLITE_RELATIVE = re.compile(r"^(sqlite(?:\+\w+)?:///)(?!/)([^?]+)(\?.*)?$")


def _url(text: str) -> str:
    problem = sync_url_problem(text)
    if problem is not None:
        raise Invalid("{} ({})".format(*problem))
    return text


def _expect_text(spec: Setting, value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid(f"expected a string (like {spec.key} = {spec.toml_default or spec.example}), "
                      f"got {_kind_of(value)}{_echo(spec, value)}")
    if not value.strip():
        raise Invalid("is empty (leave the key out for the default)")
    return value


def _bounded(spec: Setting, value: int | float) -> int | float:
    if isinstance(value, float) and not math.isfinite(value):
        raise Invalid(f"expected a finite number, got {value}")
    if spec.minimum is not None and value < spec.minimum:
        low = int(spec.minimum) if float(spec.minimum).is_integer() else spec.minimum
        raise Invalid(f"must be at least {low}, got {value}")
    return value


def _datasets(text: str) -> str:
    from ..datasets import resolve

    try:
        return ",".join(d.name for d in resolve(text))
    except ConfigError as exc:
        raise Invalid(exc.one_line()) from None


def _kind_of(value: Any) -> str:
    names = {bool: "a boolean", int: "a whole number", float: "a number", str: "a string", list: "a list",
             dict: "a table"}
    return next((n for t, n in names.items() if isinstance(value, t)), f"a {type(value).__name__}")


def _echo(spec: Setting, value: Any) -> str:
    """The offending value, quoted, except for secrets (a misplaced key must not reach a terminal or a log)."""
    if spec.secret or isinstance(value, (dict, list)):
        return ""
    return f" ({value!r})" if not isinstance(value, bool) else f" ({'true' if value else 'false'})"


def markdown_table() -> str:
    """The README's table of settings: flag, environment, file key and default of each."""
    rows = ["| setting | flag | environment | file key | default |", "|---|---|---|---|---|"]
    for s in SETTINGS:
        env = ", ".join(f"`{v}`" for v in s.env) or "—"
        flag = f"`{s.flag}`" if s.flag else "—"
        rows.append(f"| {s.help} | {flag} | {env} | `{s.dotted}` | {s.default} |")
    return "\n".join(rows)
