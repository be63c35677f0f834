"""`python -m bench.ledger` at a tiny size, so that the harness cannot rot: it builds its
ledger and market, measures returns and the report cold and warm, and prints every figure
with its target. Speed is not judged here (bench/RESULTS.md has the full run)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid

from conftest import ROOT


def test_the_ledger_benchmark_prints_its_figures():
    env = dict(os.environ, BENCH_SCHEMA=f"ledger_{uuid.uuid4().hex[:8]}")
    env.pop("REDIS_URL", None)  # the harness starts a Redis of its own
    out = subprocess.run([sys.executable, "-m", "bench.ledger", "--activities", "120", "--years", "2",
                          "--instruments", "6", "--warm-runs", "2"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "120 activities over 2 years, 6 instruments" in out.stdout
    for call in ("returns ALL", "returns 1Y", "report ALL", "report 1Y"):
        assert re.search(rf"{call}, cold \(empty cache\) +[\d.]+ s +target < 2 s +\([\d.]+× the target\) +(PASS|FAIL)",
                         out.stdout), out.stdout
        assert re.search(rf"{call}, warm \(median of 2\) +[\d.]+ ms +target < 200 ms +\([\d.]+× the target\) "
                         r"+(PASS|FAIL)", out.stdout), out.stdout
    assert re.search(r"value [\d.]+ USD, TWR -?[\d.]+, MWR (-?[\d.]+|None), realized -?[\d.]+", out.stdout)
