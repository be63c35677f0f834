"""`python -m bench.alerts` at a tiny size, so that the harness cannot rot: it writes its
population and rules, values everybody, moves 1% of the instruments three times and prints the
recompute and alert-evaluation times, their ratio, the holders' rules, those judged and fired, and PASS or
FAIL. Speed is not judged here (bench/RESULTS.md has the full run)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid

from conftest import ROOT


def test_the_alert_benchmark_prints_its_figures():
    env = dict(os.environ, BENCH_SCHEMA=f"alerts_{uuid.uuid4().hex[:8]}")
    env.pop("REDIS_URL", None)  # the harness starts a Redis of its own
    out = subprocess.run([sys.executable, "-m", "bench.alerts", "--users", "200", "--symbols", "300",
                          "--holdings-per-user", "10", "--rules-per-user", "3", "--tick-percent", "1"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout
    assert "200 users × 3 rules (600 rules), 300 instruments, 10 holdings per user" in text, text
    assert re.search(r"warm-up: every user valued once \(201 users\)", text), text
    ticks = re.findall(r"tick \d: 3 instruments moved, (\d+) holders: recompute [\d.]+ s, alert evaluation [\d.]+ s "
                       r"\([\d.]+%\); ([\d,]+) rules of the holders, ([\d,]+) judged after the SQL narrowing, "
                       r"([\d,]+) fired", text)
    assert len(ticks) == 3, text
    for holders, in_scope, judged, fired in ticks:
        assert int(in_scope.replace(",", "")) == 3 * int(holders)  # every holder has 3 rules
        assert int(fired.replace(",", "")) <= int(judged.replace(",", "")) <= int(in_scope.replace(",", ""))
    assert re.search(r"recompute of the tick, without alert evaluation \(median of 3\) +[\d.]+ s", text), text
    assert re.search(r"alert evaluation of the same users \(median of 3\) +[\d.]+ s", text), text
    assert re.search(r"rules of the holders: [\d,]+ in 3 ticks \([\d,]+ per tick\), "
                     r"judged in Python: [\d,]+, fired: [\d,]+", text), text
    assert re.search(r"overhead: alert evaluation / recompute = [\d.]+% +target < 10% +(PASS|FAIL)$", text, re.M), text
    assert sum(int(f.replace(",", "")) for *_, f in ticks) > 0  # the thresholds sit where a tick crosses them
