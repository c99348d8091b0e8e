"""Podman for the container image's tests (tests/test_image.py): configuration, the images, containers, compose.

The tests build the image the way the README says, from the Debian base of ``scripts/image/build-base``
(mmdebstrap + ``podman import``: no container registry is needed), and run it with ``--network host`` so
that the containers reach the test fakes on loopback (moto's S3 server).

Podman is configured here, never on the machine: every podman call (and podman-compose's, and build-base's)
gets ``CONTAINERS_CONF`` pointing at a file written below, with runc and cgroupfs (crun fails on the cgroups
of the kernel the tests run on), file-based events and logs (no journald), and ulimits no higher than this
process's own (podman's defaults raise nofile and nproc, which a root without CAP_SYS_RESOURCE cannot).
Storage is overlay, podman's usual one; where overlay does not work (a file system it cannot stack on) the
tests use vfs in a store of their own (``CONTAINERS_STORAGE_CONF``); ``FLATLOAD_PODMAN_STORAGE=vfs`` forces it.

Without podman or mmdebstrap (``apt-get install -y podman runc mmdebstrap uidmap``) the tests skip saying
what to install, unless ``FLATLOAD_REQUIRE_PODMAN=1`` (CI), where they fail.

The image is cached across runs: it carries a label with a hash of its inputs (the Dockerfile, what the
build context holds, the constraints, the base image), and is built again only when that hash changes.
Containers are named ``flatload-test-<pid>-...`` and removed by name when their test ends.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REQUIRE_VAR = "FLATLOAD_REQUIRE_PODMAN"
ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "localhost/flatload-base:bookworm"
IMAGE = "localhost/flatload:test"
#: the label holding the hash of the image's inputs
INPUTS_LABEL = "flatload.test.inputs"
#: the packages whose versions a host-side Dask client and the image's workers must share, at least
DASK_CRITICAL = ("dask", "distributed", "cloudpickle", "msgpack", "tornado", "polars", "pyarrow", "duckdb")
INSTALL_HINT = "apt-get install -y podman runc mmdebstrap uidmap; scripts/test does it on Debian/Ubuntu"

_names = itertools.count()


def unavailable(reason: str) -> None:
    """Skip, or fail where podman is required."""
    if os.environ.get(REQUIRE_VAR) == "1":
        pytest.fail(f"{REQUIRE_VAR}=1 but {reason}")
    pytest.skip(reason)


def _containers_conf() -> str:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    nofile = hard if hard != resource.RLIM_INFINITY else soft
    _, nproc = resource.getrlimit(resource.RLIMIT_NPROC)
    try:  # podman caps its own nproc at the machine's pid_max (conmon ran with 32768 here): no more than that
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        pid_max = 32768
    nproc = pid_max if nproc == resource.RLIM_INFINITY else min(nproc, pid_max)
    return (f'[containers]\ndefault_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
            'log_driver = "k8s-file"\n'
            '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')


def _vfs_storage_conf() -> str:
    if os.getuid() == 0:
        graph, run = "/var/lib/containers/flatload-vfs", "/run/containers/flatload-vfs"
    else:
        data = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local/share")
        graph, run = str(data / "containers/flatload-vfs"), f"/tmp/flatload-vfs-{os.getuid()}"
    return f'[storage]\ndriver = "vfs"\ngraphroot = "{graph}"\nrunroot = "{run}"\n'


@dataclass
class Podman:
    """podman with this suite's configuration; containers it starts are removed by :meth:`cleanup`."""

    env: dict[str, str]
    started: list[str] = field(default_factory=list)

    def __call__(self, *args: str, timeout: float = 120, check: bool = True,
                 env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
        """``podman ARGS``; raises with podman's stderr when it fails and ``check``."""
        out = subprocess.run(["podman", *args], check=False, env={**self.env, **(env or {})}, capture_output=True,
                             text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and out.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} exited with {out.returncode}:\n{out.stderr[-4000:]}")
        return out

    def name(self, what: str) -> str:
        """A container name of this session, remembered for :meth:`cleanup`."""
        name = f"flatload-test-{os.getpid()}-{what}-{next(_names)}"
        self.started.append(name)
        return name

    def run(self, image: str, *command: str, volumes: Sequence[str] = (), env: Mapping[str, str] | None = None,
            options: Sequence[str] = (), timeout: float = 300) -> subprocess.CompletedProcess:
        """``podman run --rm --network host`` of ``command``, waiting for it; its exit code is the result's."""
        args = ["run", "--rm", "--name", self.name("run"), "--network", "host", *options]
        for v in volumes:
            args += ["-v", v]
        for k, v in (env or {}).items():
            args += ["-e", f"{k}={v}"]
        return self(*args, image, *command, timeout=timeout, check=False)

    def start(self, image: str, *command: str, volumes: Sequence[str] = (), env: Mapping[str, str] | None = None,
              what: str = "svc") -> str:
        """``podman run -d --network host``: a long-running container; its name."""
        name = self.name(what)
        args = ["run", "-d", "--name", name, "--network", "host"]
        for v in volumes:
            args += ["-v", v]
        for k, v in (env or {}).items():
            args += ["-e", f"{k}={v}"]
        self(*args, image, *command)
        return name

    def running(self, name: str) -> bool:
        out = self("inspect", "--format", "{{.State.Running}}", name, check=False)
        return out.returncode == 0 and out.stdout.strip() == "true"

    def logs(self, name: str) -> str:
        out = self("logs", name, check=False)
        return out.stdout + out.stderr

    def remove(self, *names: str) -> None:
        if names:
            self("rm", "--force", "--time", "2", "--ignore", *names, check=False, timeout=120)

    def cleanup(self) -> None:
        """Remove every container this session named (the cached images stay)."""
        self.remove(*self.started)
        self.started.clear()

    def image_label(self, image: str, label: str) -> str | None:
        out = self("image", "inspect", "--format", f'{{{{index .Labels "{label}"}}}}', image, check=False)
        return out.stdout.strip() if out.returncode == 0 else None

    def image_id(self, image: str) -> str | None:
        out = self("image", "inspect", "--format", "{{.Id}}", image, check=False)
        return out.stdout.strip() if out.returncode == 0 else None


def podman(conf_dir: Path) -> Podman:
    """podman configured for these tests (files under ``conf_dir``); skips or fails when there is none."""
    missing = [tool for tool in ("podman", "mmdebstrap") if shutil.which(tool) is None]
    if missing:
        unavailable(f"{' and '.join(missing)} not installed: {INSTALL_HINT}")
    conf_dir.mkdir(parents=True, exist_ok=True)
    (conf_dir / "containers.conf").write_text(_containers_conf())
    env = {**os.environ, "CONTAINERS_CONF": str(conf_dir / "containers.conf")}
    env.pop("CONTAINERS_STORAGE_CONF", None)
    wanted = os.environ.get("FLATLOAD_PODMAN_STORAGE", "overlay")
    if wanted not in ("overlay", "vfs"):
        pytest.fail(f"FLATLOAD_PODMAN_STORAGE={wanted!r}: overlay or vfs")
    p = Podman(env)
    info = p("info", "--format", "{{.Store.GraphDriverName}}", check=False) if wanted == "overlay" else None
    if info is None or info.returncode != 0 or info.stdout.strip() != "overlay":
        (conf_dir / "storage.conf").write_text(_vfs_storage_conf())
        p.env["CONTAINERS_STORAGE_CONF"] = str(conf_dir / "storage.conf")
        info = p("info", "--format", "{{.Store.GraphDriverName}}", check=False)
        if info.returncode != 0:
            unavailable(f"podman does not work here: {(info.stderr.strip().splitlines() or ['?'])[-1]}")
    return p


def ensure_base(p: Podman) -> None:
    """``scripts/image/build-base``: quick when the base exists with the same recipe."""
    out = subprocess.run([str(ROOT / "scripts/image/build-base")], check=False,
                         env={**p.env, "FLATLOAD_BASE_IMAGE": BASE_IMAGE}, capture_output=True, text=True,
                         timeout=900, stdin=subprocess.DEVNULL)
    if out.returncode != 0:
        raise AssertionError(f"scripts/image/build-base exited with {out.returncode}:\n{out.stderr[-4000:]}")
    check = p("run", "--rm", "--network", "host", BASE_IMAGE, "python3", "-c", "print('ok')", check=False)
    if check.returncode != 0 or check.stdout.strip() != "ok":
        unavailable(f"podman cannot run a container here: {(check.stderr.strip().splitlines() or ['?'])[-1]}")


def host_constraints(root: str = "flatload") -> list[str]:
    """``name==version`` of every installed distribution ``root`` depends on (its whole closure, extras
    followed): the image installs exactly the host's versions, so a host-side Dask client and the image's
    workers agree."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins: dict[str, str] = {}
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    done: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in done:
            continue
        done.add((name, extras))
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if name != root:
            pins[canonicalize_name(name)] = dist.version
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in (extras or {""})):
                continue
            todo.append((canonicalize_name(req.name), frozenset(req.extras)))
    missing = [n for n in DASK_CRITICAL if n not in pins]
    assert not missing, f"not in flatload's dependency closure on this host: {missing}"
    return [f"{n}=={v}" for n, v in sorted(pins.items())]


def _context_files() -> list[Path]:
    """What the Dockerfile builds from (the allowlist of .containerignore), and the recipe files."""
    files = [ROOT / "Dockerfile", ROOT / ".containerignore", ROOT / "pyproject.toml", ROOT / "README.md"]
    for folder in ("sql", "flatload"):
        files += sorted(p for p in (ROOT / folder).rglob("*")
                        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    return files


def inputs_hash(constraints: Sequence[str], base_id: str) -> str:
    digest = hashlib.sha256()
    for path in _context_files():
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update("\n".join(constraints).encode() + b"\0" + base_id.encode())
    return digest.hexdigest()[:20]


def _ca_bundle() -> str | None:
    """The CA bundle this machine's pip trusts (a TLS-intercepting proxy's CA among them), for the build."""
    for candidate in (os.environ.get("PIP_CERT"), os.environ.get("SSL_CERT_FILE"),
                      "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def ensure_image(p: Podman, constraints: Sequence[str]) -> str:
    """The image of this checkout, built FROM the Debian base with the host's versions; reused when its inputs'
    hash is the one on its label. Returns its tag."""
    base_id = p.image_id(BASE_IMAGE) or ""
    want = inputs_hash(constraints, base_id)
    if p.image_label(IMAGE, INPUTS_LABEL) == want:
        return IMAGE
    old = p.image_id(IMAGE)
    args = ["build", "--network", "host", "--build-arg", f"BASE={BASE_IMAGE}",
            "--build-arg", "CONSTRAINTS=" + "\n".join(constraints), "--label", f"{INPUTS_LABEL}={want}",
            "--tag", IMAGE, "--file", str(ROOT / "Dockerfile")]
    ca = _ca_bundle()
    if ca:
        args += ["--secret", f"id=ca-certificates,src={ca}"]
    p(*args, str(ROOT), timeout=1200)
    new = p.image_id(IMAGE)
    if old and old != new:  # the previous test image, now untagged: nothing else uses it
        p("rmi", old, check=False)
    return IMAGE


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def writable_by_anyone(path: Path) -> Path:
    """A directory the image's user (uid 10001) can write, for a bind mount."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o777)
    return path


def hand_to_image_user(p: Podman, image: str, path: Path) -> None:
    """Give a host directory (a copied store) to the image's user, through a container (works rootless too)."""
    out = p.run(image, "chown", "-R", "flatload:flatload", "/data", volumes=[f"{path}:/data"], options=["--user", "0"])
    assert out.returncode == 0, out.stderr


def http(url: str, method: str = "GET", body: dict | None = None, token: str | None = None,
         timeout: float = 10) -> tuple[int, str, str]:
    """``(status, content type, text)`` of one request (an HTTP error status is an answer too)."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers.get("content-type", ""), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("content-type", ""), exc.read().decode()


def wait_http(url: str, alive, logs, timeout: float = 90) -> None:
    """Wait until ``url`` answers 200; ``alive()`` says whether the server is still there (its ``logs()`` then)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if http(url, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        if not alive():
            raise AssertionError(f"the server behind {url} stopped:\n{logs()[-4000:]}")
        time.sleep(0.25)
    raise AssertionError(f"{url} did not answer in {timeout} s:\n{logs()[-4000:]}")


def flatload_cli(*args: str, env: Mapping[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    """The host's ``flatload ARGS`` in a process of its own."""
    return subprocess.run([sys.executable, "-m", "flatload.cli", *args], check=False, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


# --- compose

def compose_command() -> list[str]:
    """podman-compose (the test extra's), as a module of this interpreter."""
    try:
        import podman_compose  # noqa: F401
    except ImportError:
        unavailable("the Python package podman-compose is not installed (pip install -e '.[test]')")
    return [sys.executable, "-m", "podman_compose"]


#: every service of compose.yaml on the host's network (the test fakes are on loopback)
HOST_NETWORK_OVERRIDE = """\
services:
  scheduler: {network_mode: host}
  worker-1: {network_mode: host}
  worker-2: {network_mode: host}
  serve: {network_mode: host}
"""


@dataclass
class Compose:
    """A podman-compose project of compose.yaml (plus the host-network override), with its environment."""

    p: Podman
    project: str
    files: list[Path]
    env: dict[str, str]

    def __call__(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [*compose_command(), "--project-name", self.project]
        for f in self.files:
            cmd += ["--file", str(f)]
        out = subprocess.run([*cmd, *args], check=False, env={**self.p.env, **self.env}, capture_output=True, text=True,
                             timeout=timeout, stdin=subprocess.DEVNULL, cwd=ROOT)
        if check and out.returncode != 0:
            raise AssertionError(f"podman-compose {' '.join(args)} exited with {out.returncode}:\n"
                                 f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
        return out

    def container(self, service: str) -> str:
        """The container podman-compose named for a service (``<project>_<service>_1``)."""
        return f"{self.project}_{service}_1"

    def logs(self, service: str) -> str:
        return self.p.logs(self.container(service))


@contextmanager
def compose_up(p: Podman, tmp: Path, env: Mapping[str, str]) -> Iterator[Compose]:
    """``podman-compose up -d`` of compose.yaml on the host's network, ``down`` (volumes too) on exit."""
    override = tmp / "compose.host-network.yaml"
    override.write_text(HOST_NETWORK_OVERRIDE)
    c = Compose(p, f"flatload-test-{os.getpid()}", [ROOT / "compose.yaml", override], dict(env))
    try:
        c("up", "-d", "--no-build")
        yield c
    finally:
        c("down", "--volumes", "--timeout", "2", check=False)
        p("pod", "rm", "--force", "--ignore", f"pod_{c.project}", check=False)
