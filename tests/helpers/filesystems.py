"""Real file-system faults for the loader: a full disk and a read-only mount, made with tmpfs mounts in a
private mount namespace (``unshare``), so no root privilege and no loop device is needed. The flatload
command runs inside that namespace; everything it prints and its exit codes come back as files."""
from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest


def require_namespaces() -> None:
    """Skip (with the reason) where mount namespaces cannot be made."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a mount namespace here: {probe.stderr.strip()}")


@dataclass
class Step:
    """One shell line inside the namespace: a mount, a flatload command, a cleanup."""

    line: str
    #: the name to keep this step's output and exit code under (flatload commands only)
    name: str | None = None


def flatload(*args: str) -> str:
    """The shell words that run the flatload CLI of this interpreter."""
    return " ".join(shlex.quote(a) for a in (sys.executable, "-m", "flatload.cli", *args))


def run_in_namespace(steps: list[Step], out: Path, env: dict[str, str]) -> dict[str, tuple[int, str, str]]:
    """Run ``steps`` in a new user + mount namespace; ``{name: (exit code, stdout, stderr)}`` of the named ones."""
    require_namespaces()
    out.mkdir(parents=True, exist_ok=True)
    script = ["set -u"]
    for s in steps:
        if s.name is None:
            script.append(s.line + " || exit 97")
        else:
            base = out / s.name
            script.append(f"{s.line} >{shlex.quote(str(base))}.out 2>{shlex.quote(str(base))}.err; "
                          f"echo $? >{shlex.quote(str(base))}.rc")
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", "\n".join(script)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return {s.name: (int((out / f"{s.name}.rc").read_text()), (out / f"{s.name}.out").read_text(),
                     (out / f"{s.name}.err").read_text()) for s in steps if s.name}


def tmpfs(path: Path, size_bytes: int | None = None, read_only: bool = False) -> Step:
    """Mount a fresh tmpfs at ``path`` (which must exist), of ``size_bytes``, optionally read-only."""
    opts = [f"size={size_bytes}"] if size_bytes else []
    if read_only:
        opts.append("ro")
    return Step(f"mount -t tmpfs {'-o ' + ','.join(opts) if opts else ''} tmpfs {shlex.quote(str(path))}")


def read_only_bind(path: Path) -> list[Step]:
    """Make the existing directory ``path`` read-only (a bind mount remounted ro)."""
    q = shlex.quote(str(path))
    return [Step(f"mount --bind {q} {q}"), Step(f"mount -o remount,ro,bind {q}")]


def used_bytes(paths: list[Path], block: int = 4096) -> int:
    """The space ``paths`` take on a tmpfs: each file rounded up to whole pages."""
    return sum(-(-p.stat().st_size // block) * block for p in paths)
