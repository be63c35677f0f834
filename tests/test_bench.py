"""`make bench` at a tiny scale, so that the harness cannot rot: the whole stack starts, both
cycles run through the worker and are checked against Σ quantity × price recomputed
independently, and every figure is printed. Speed is not judged here (see bench/RESULTS.md)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

from conftest import ROOT


def test_the_benchmark_runs_end_to_end_and_checks_the_cycle(tmp_path):
    env = dict(os.environ, BENCH_SCHEMA=f"bench_{uuid.uuid4().hex[:8]}", BENCH_LOG_LEVEL="WARNING")
    env.pop("REDIS_URL", None)  # the harness starts a Redis of its own
    out = subprocess.run(
        [sys.executable, "-m", "bench", "--users", "300", "--symbols", "60", "--holdings-per-user", "10",
         "--seconds", "1", "--connections", "4", "--tool", "python", "--results", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout
    for figure in ("full cycle wall time", "recompute / raw SQL aggregate", "worker peak memory",
                   "jobs run by the cycle", "incremental recompute / full recompute",
                   "unchanged poll req/s / hello world", "unchanged poll p99 / hello world p99",
                   "changed fragment, first poll after a tick / hello world", "dashboard p99 (50 holdings)"):
        assert figure in text, figure
    assert text.count("correctness:") == 2  # both cycles' cached totals were verified
    assert "fragments pre-rendered" in text and "ERROR" not in text  # every active user's fragment was current
    (results,) = tmp_path.glob("*/results.json")
    data = json.loads(results.read_text())
    checks = {c["name"]: c for c in data["checks"]}
    assert checks["jobs run by the cycle"]["value"] == 2  # one refresh, one recompute: never per symbol or user
    assert all(isinstance(c["pass"], bool) for c in data["checks"])
