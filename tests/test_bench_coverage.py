"""`python -m bench.coverage` at a tiny scale and fast clock, so that the harness cannot rot:
the market enforces the free-tier limits, the real stack prices every due instrument each
cycle, the form's holdings are priced, and the coverage the app records matches what the
market served. Speed is not judged here (bench/RESULTS.md has the full run)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

from conftest import ROOT


def test_the_coverage_benchmark_prices_every_due_instrument_within_the_limits(tmp_path):
    env = dict(os.environ, BENCH_SCHEMA=f"cov_{uuid.uuid4().hex[:8]}", BENCH_LOG_LEVEL="WARNING")
    env.pop("REDIS_URL", None)  # the harness starts a Redis of its own
    out = subprocess.run(
        [sys.executable, "-m", "bench.coverage", "--users", "20", "--instruments", "120", "--holdings", "8",
         "--cycles", "3", "--added", "5", "--scale", "300", "--results", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert out.stdout.count("PASS") == 4 and "FAIL" not in out.stdout
    (result,) = tmp_path.glob("*/coverage.json")
    data = json.loads(result.read_text())
    cycles = data["cycles"]
    assert len(cycles) == 3
    assert cycles[0]["held"] == 120 and cycles[0]["due"] == 120  # a cold start: everything is due
    assert all(c["refreshed"] == c["due"] and c["skipped_budget"] == 0 for c in cycles)
    # what the app says it spent is what the market served for the cycles' providers, and never a 429
    market = data["market"]
    assert all(s["refused"] == 0 for s in market.values())
    spent = sum(p["requests"] for c in cycles for p in c["providers"].values())
    assert spent <= sum(s["requests"] for s in market.values())
    assert sorted(data["added"]) == ["WAAA", "WAAB", "WAAC", "WAAD", "WAAE"]
    assert all(v is not None for v in data["added"].values())
