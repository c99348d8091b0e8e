"""A real pseudo-terminal of a chosen size for a flatload process: what a person at a terminal would see."""
from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios


def run_on_terminal(argv: list[str], columns: int, env: dict[str, str], timeout: float = 120) -> tuple[int, str]:
    """Run ``argv`` with stdin/stdout/stderr on a new pty that reports ``columns`` columns; (exit code, output)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the last writer closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout), b"".join(chunks).decode("utf-8", "replace")
