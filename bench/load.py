"""Load generators: `wrk` (Debian's package) when installed, else a bounded Python one.

Both send a fixed rotation of requests (path + headers) for a fixed time with a fixed
number of concurrent connections, and report requests/s and latency percentiles. The
Python generator runs a few processes of a few threads each over raw sockets: it costs
more CPU per request than wrk, so with it every figure is lower, the ratios less so.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    tool: str

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("requests", "seconds", "rps", "p50_ms", "p99_ms", "errors", "tool")}


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run(base_url: str, requests_: list[tuple[str, dict[str, str]]], seconds: float, connections: int = 8,
        tool: str | None = None) -> LoadResult:
    tool = tool or ("wrk" if have_wrk() else "python")
    if tool == "wrk":
        return _wrk(base_url, requests_, seconds, connections)
    return _python(base_url, requests_, seconds, connections)


# ---- wrk ------------------------------------------------------------------------------------
_LUA = """
local reqs = {}
local threads_seen = 0
function setup(thread)
  thread:set("tid", threads_seen)
  threads_seen = threads_seen + 1
end
function init(args)
  local f = io.open(os.getenv("BENCH_REQUESTS"), "r")
  for line in f:lines() do
    local path, headers = line:match("^([^\\t]*)\\t(.*)$")
    local h = {}
    for k, v in headers:gmatch("([^\\1]+)\\1([^\\2]*)\\2") do h[k] = v end
    reqs[#reqs + 1] = wrk.format("GET", path, h)
  end
  f:close()
  n = tonumber(tid) or 0
  step = tonumber(os.getenv("BENCH_THREADS"))
end
function request()
  local r = reqs[(n % #reqs) + 1]
  n = n + step
  return r
end
"""


def _write_requests(requests_: list[tuple[str, dict[str, str]]]) -> str:
    fd, path = tempfile.mkstemp(prefix="bench-requests-", suffix=".tsv")
    with os.fdopen(fd, "w") as f:
        for p, headers in requests_:
            f.write(p + "\t" + "".join(f"{k}\x01{v}\x02" for k, v in headers.items()) + "\n")
    return path


def _wrk(base_url: str, requests_, seconds: float, connections: int) -> LoadResult:
    threads = 2
    req_file = _write_requests(requests_)
    fd, lua = tempfile.mkstemp(prefix="bench-", suffix=".lua")
    with os.fdopen(fd, "w") as f:
        f.write(_LUA)
    try:
        env = dict(os.environ, BENCH_REQUESTS=req_file, BENCH_THREADS=str(threads))
        out = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", lua, base_url],
            capture_output=True, text=True, env=env, timeout=seconds + 60,
        )
    finally:
        os.unlink(req_file)
        os.unlink(lua)
    text = out.stdout
    if out.returncode != 0 or "Requests/sec" not in text:
        raise RuntimeError(f"wrk failed: {out.stderr or text}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    total = int(re.search(r"(\d+) requests in ([\d.]+)(\w+)", text).group(1))
    dist = {int(p): _ms(v, u) for p, v, u in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)}
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        errors += int(m.group(1)) + int(m.group(3)) + int(m.group(4))  # a read error is the server closing
    return LoadResult(total, seconds, round(rps, 1), dist.get(50, 0.0), dist.get(99, 0.0), errors, "wrk")


def _ms(value: str, unit: str) -> float:
    v = float(value)
    return round(v / 1000 if unit == "us" else v * 1000 if unit == "s" else v, 3)


# ---- Python -------------------------------------------------------------------------------
def _encode(host: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _one(addr, payload: bytes) -> int:
    with socket.create_connection(addr, timeout=10) as s:
        s.sendall(payload)
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    head = b"".join(chunks[:1])[:12]
    return int(head[9:12]) if head.startswith(b"HTTP/") else 0


def _worker(addr, payloads: list[bytes], start: int, step: int, deadline: float, threads: int, conn) -> None:
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def loop(offset: int) -> None:
        n = offset
        mine: list[float] = []
        bad = 0
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            try:
                status = _one(addr, payloads[n % len(payloads)])
            except OSError:
                status = 0
            mine.append(time.perf_counter() - t0)
            if not 200 <= status < 400:
                bad += 1
            n += step * threads
        with lock:
            lat.extend(mine)
            errors[0] += bad

    ts = [threading.Thread(target=loop, args=(start + k * step,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    conn.send((lat, errors[0]))


def _python(base_url: str, requests_, seconds: float, connections: int) -> LoadResult:
    u = urlsplit(base_url)
    addr = (u.hostname, u.port or 80)
    payloads = [_encode(u.netloc, p, h) for p, h in requests_]
    procs_n = 2
    threads = max(1, connections // procs_n)
    ctx = multiprocessing.get_context("fork")
    deadline = time.monotonic() + seconds
    pipes, procs = [], []
    for i in range(procs_n):
        parent, child = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_worker, args=(addr, payloads, i, procs_n, deadline, threads, child))
        p.start()
        pipes.append(parent)
        procs.append(p)
    lat: list[float] = []
    errors = 0
    for parent, p in zip(pipes, procs):
        part, bad = parent.recv()
        lat += part
        errors += bad
        p.join()
    lat.sort()
    if not lat:
        raise RuntimeError("the Python load generator completed no request")
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [lat[0]] * 99
    return LoadResult(len(lat), seconds, round(len(lat) / seconds, 1), round(q[49] * 1000, 3),
                      round(q[98] * 1000, 3), errors, "python")


def sequential(base_url: str, path: str, headers: dict[str, str], n: int, warmup: int = 20) -> dict:
    """One client, one request at a time: latency of a page as a single user sees it."""
    u = urlsplit(base_url)
    addr = (u.hostname, u.port or 80)
    payload = _encode(u.netloc, path, headers)
    statuses = set()
    for _ in range(warmup):
        _one(addr, payload)
    lat = []
    for _ in range(n):
        t0 = time.perf_counter()
        statuses.add(_one(addr, payload))
        lat.append(time.perf_counter() - t0)
    q = statistics.quantiles(lat, n=100)
    return {"requests": n, "p50_ms": round(q[49] * 1000, 3), "p99_ms": round(q[98] * 1000, 3),
            "max_ms": round(max(lat) * 1000, 3), "statuses": sorted(statuses)}


if __name__ == "__main__":  # a quick manual check: python -m bench.load URL [seconds]
    import sys

    print(json.dumps(run(sys.argv[1], [("/", {})], float(sys.argv[2]) if len(sys.argv) > 2 else 3).as_dict()))
