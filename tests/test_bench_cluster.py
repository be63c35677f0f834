"""`make bench-cluster` at a tiny scale, so that the harness cannot rot: 2 web + 3 worker + 2
scheduler processes behind the bundled proxy, pollers through a cycle, one web killed with
SIGKILL mid-cycle (the worker kill waits out RQ's 60 s heartbeat grace, so it is left to the
full run; tests/test_jobs.py covers its parts), and the table's targets met."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

from conftest import ROOT


def test_the_cluster_run_loses_no_poll_and_enqueues_no_tick_twice(tmp_path):
    env = dict(os.environ)
    env.pop("REDIS_URL", None)  # the harness claims a Redis DB of its own (or starts a Redis)
    out = subprocess.run(
        [sys.executable, "-m", "bench.cluster", "--kill", "web", "--users", "50", "--symbols", "20",
         "--holdings-per-user", "3", "--pollers", "20", "--poll-seconds", "1", "--provider-delay", "0.3",
         "--probe-every", "1", "--results", str(tmp_path), "--database-name", f"folio_cluster_{uuid.uuid4().hex[:8]}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "PASS: every target met" in out.stdout
    (results,) = tmp_path.glob("*/results.json")
    data = json.loads(results.read_text())
    rows = {name: value for name, value, _, _ in data["rows"]}
    assert rows["5xx answers"] == "0" and rows["jobs lost"] == "0" and rows["duplicate cron enqueues"] == "0"
    assert data["killed"]["web"] == "web1"
    assert sum(data["probe_counts"]) == len(data["probe_counts"]) >= 2  # each forced tick ran exactly once
