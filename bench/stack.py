"""The real stack for a benchmark run: Redis, the replay server, gunicorn, an RQ worker.

Every process runs in its own session (process group) and is stopped by its id; logs
go to the run's directory. Memory of the worker is read from /proc (Linux).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from webapp import embedded

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@dataclass
class Stack:
    logs: Path
    env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "w")
        proc = subprocess.Popen(args, cwd=ROOT, env=env or self.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs[name] = proc
        return proc

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(5)

    def stop_all(self) -> None:
        for name in reversed(list(self.procs)):
            self.stop(name)

    def check(self, name: str) -> None:
        proc = self.procs[name]
        if proc.poll() is not None:
            tail = (self.logs / f"{name}.log").read_text()[-2000:]
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")

    # ---- the parts ---------------------------------------------------------------------
    def redis(self) -> str:
        port = embedded.free_port()
        self.start("redis", embedded.server_args(port), env=dict(os.environ))
        url = f"redis://127.0.0.1:{port}/0"
        embedded.wait(url, 20)
        return url

    def replay(self, market_file: Path) -> str:
        port = embedded.free_port()
        self.start("replay", [str(BIN / "python"), "-m", "bench.replay_server", str(market_file), str(port)],
                   env=dict(os.environ))
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/_bench/stats", 20, lambda: self.check("replay"))
        return url

    def gunicorn(self, name: str, app: str, workers: int = 2) -> str:
        """`app` under gunicorn with Folio's gunicorn.conf.py: the same settings for every app."""
        port = embedded.free_port()
        self.start(name, [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--workers", str(workers),
                          "--bind", f"127.0.0.1:{port}", app])
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/", 120, lambda: self.check(name), any_status=True)  # a loaded machine boots slowly
        return url

    def worker(self) -> subprocess.Popen:
        return self.start("worker", [str(BIN / "python"), "-m", "flask", "worker"])


def wait_http(url: str, seconds: float, alive=lambda: None, any_status: bool = False) -> None:
    deadline = time.monotonic() + seconds
    while True:
        alive()
        try:
            r = requests.get(url, timeout=1, allow_redirects=False)
            if any_status or r.ok:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {seconds:g}s")
        time.sleep(0.1)


# ---- memory of a process tree -------------------------------------------------------------
def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def _status_kb(pid: int, field_name: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class MemorySampler:
    """Peak memory of a process and its descendants (RQ forks a work horse per job).

    Each process's own high-water mark (VmHWM) is read every few milliseconds, so a peak
    between two samples is not missed while the process lives. Reported: the largest
    single process (the work horse; its RSS includes what it shares with its parent)
    and the largest sum of the tree's current RSS seen.
    """

    def __init__(self, pid: int, interval: float = 0.01):
        self.pid, self.interval = pid, interval
        self.peak_process_kb = 0
        self.peak_tree_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            tree = [self.pid]
            i = 0
            while i < len(tree):
                tree.extend(_children(tree[i]))
                i += 1
            rss = 0
            for pid in tree:
                self.peak_process_kb = max(self.peak_process_kb, _status_kb(pid, "VmHWM"))
                rss += _status_kb(pid, "VmRSS")
            self.peak_tree_kb = max(self.peak_tree_kb, rss)
            self._stop.wait(self.interval)

    @property
    def peak_mb(self) -> float:
        return round(self.peak_process_kb / 1024, 1)

    @property
    def peak_tree_mb(self) -> float:
        return round(self.peak_tree_kb / 1024, 1)
