"""A real, throw-away PostgreSQL server for the sync tests, from the system's PostgreSQL binaries.

``initdb`` + ``pg_ctl`` in a temp dir, listening on a free loopback port only, password
(SCRAM) authentication over TCP. initdb refuses to run as root: as root the server runs
as the ``postgres`` user (made by Debian's package) or ``nobody``. Where the binaries
cannot be found the tests skip with the reason, unless ``FLATLOAD_REQUIRE_POSTGRES=1``
(CI), which turns the skip into a failure.
"""
from __future__ import annotations

import atexit
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from flatload.store.files import lock

ADMIN = "flatload_admin"
ADMIN_PASSWORD = "admin-secret"
INSTALL_HINT = "apt-get install -y postgresql (Debian), or put initdb/pg_ctl on PATH"
_PREFIX = "flatload-pg-"
_databases = itertools.count()


class PostgresUnavailable(RuntimeError):
    """No server can be started here; the message says why."""


def find_bindir() -> Path | None:
    """The directory holding initdb and pg_ctl: PATH, ``pg_config --bindir``, then /usr/lib/postgresql/*/bin."""
    candidates: list[Path] = []
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            candidates.append(Path(out.stdout.strip()))
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for path in candidates:
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            return path
    return None


def _server_user() -> str | None:
    """None when not root; else an unprivileged account the server can run as."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise PostgresUnavailable("running as root and no 'postgres' or 'nobody' user to run initdb as")


def free_port() -> int:
    """A TCP port nobody listens on right now (for the server, or for a 'server that is down')."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    """A running server; :meth:`stop` ends it and removes its files."""

    bindir: Path
    root: Path
    port: int
    user: str | None
    host: str = "127.0.0.1"
    roles: list[str] = field(default_factory=list)

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), capture_output=True, text=True, check=False, user=self.user,
                              cwd=self.root, timeout=120)

    def admin(self, dbname: str = "postgres") -> psycopg.Connection:
        """An autocommit superuser connection."""
        return psycopg.connect(host=self.host, port=self.port, user=ADMIN, password=ADMIN_PASSWORD,
                               dbname=dbname, autocommit=True)

    def url(self, user: str, password: str | None, dbname: str) -> str:
        """A SQLAlchemy URL in the form users write (``postgresql://``, no driver)."""
        auth = f"{user}:{password}" if password is not None else user
        return f"postgresql://{auth}@{self.host}:{self.port}/{dbname}"

    def create_role(self, name: str, password: str) -> None:
        """A login role (idempotent per server)."""
        if name in self.roles:
            return
        with self.admin() as con:
            con.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
        self.roles.append(name)

    def create_database(self, owner: str) -> str:
        """A fresh database owned by ``owner``; its name."""
        name = f"journal_{next(_databases)}"
        with self.admin() as con:
            con.execute(f"CREATE DATABASE {name} OWNER {owner}")
        return name

    def stop(self) -> None:
        """Stop the server (immediately: it holds nothing worth keeping) and delete its directory."""
        if not (self.root / "data").exists():
            return
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def stop_stale(bindir: Path, user: str | None) -> None:
    """Stop and remove the servers of test sessions that were killed before their teardown."""
    for root in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*"):
        try:
            owner = int((root / "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        if not lock.process_alive(owner):
            PostgresServer(bindir, root, 0, user).stop()


def start_server() -> PostgresServer:
    """initdb a cluster in a new temp dir and start it on a free loopback port; stopped at exit at the latest."""
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailable(f"no PostgreSQL server binaries (initdb, pg_ctl) found: {INSTALL_HINT}")
    user = _server_user()
    stop_stale(bindir, user)
    root = Path(tempfile.mkdtemp(prefix=_PREFIX))
    (root / "owner.pid").write_text(str(os.getpid()))
    (root / "pwfile").write_text(ADMIN_PASSWORD + "\n")
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (root, root / "pwfile"):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    server = PostgresServer(bindir, root, free_port(), user)
    init = server._run(str(bindir / "initdb"), "-D", str(root / "data"), "-U", ADMIN, f"--pwfile={root / 'pwfile'}",
                       "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "-E", "UTF8", "--no-sync")
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise PostgresUnavailable(f"initdb failed: {init.stderr.strip() or init.stdout.strip()}")
    options = (f"-c listen_addresses={server.host} -c port={server.port} -c unix_socket_directories={root} "
               "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
    start = server._run(str(bindir / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "log"), "-o", options,
                        "-w", "-t", "60", "start")
    if start.returncode != 0:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        server.stop()
        raise PostgresUnavailable(f"pg_ctl start failed: {start.stderr.strip()} {log[-500:]}")
    atexit.register(server.stop)  # a session that dies before its teardown leaves no server behind
    return server


@dataclass
class PgDatabase:
    """A fresh database on the test server, owned by a password-login role."""

    server: PostgresServer
    name: str
    user: str
    password: str

    def url(self, password: str | None = "", user: str | None = None) -> str:
        """The URL users write; ``password`` "" means the role's own, None means none in the URL."""
        return self.server.url(user or self.user, self.password if password == "" else password, self.name)

    def execute(self, sql: str, params: tuple | list | None = None, *, as_admin: bool = False) -> list[tuple]:
        """Run ``sql`` (as the owner, or the superuser) and return its rows, if any."""
        if as_admin:
            con = self.server.admin(self.name)
        else:
            con = psycopg.connect(host=self.server.host, port=self.server.port, user=self.user,
                                  password=self.password, dbname=self.name, autocommit=True)
        with con:
            cur = con.execute(sql, params)
            return cur.fetchall() if cur.description else []
