"""Metrics under several gunicorn workers add up across workers (multiprocess mode)."""
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from conftest import PREFIX, ROOT

from webapp import embedded


def test_request_counts_add_up_across_two_gunicorn_workers(database_url, redis_url, _schema, tmp_path):
    port = embedded.free_port()
    env = dict(os.environ, DATABASE_URL=database_url, REDIS_URL=redis_url, REDIS_PREFIX=PREFIX,
               SECRET_KEY="test", METRICS_TOKEN="tok", LOG_LEVEL="WARNING",
               PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prom"))
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py", "--workers", "2",
         "--bind", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/readyz", timeout=5)
                break
            except (requests.ConnectionError, requests.Timeout):
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)
        def hit(_):  # a new connection each time, several at once: both workers serve some
            return requests.get(f"{base}/healthz", timeout=10, headers={"Connection": "close"}).ok

        def workers_with_samples():
            return {f.name.rsplit("_", 1)[-1] for f in (tmp_path / "prom").glob("*.db")}

        sent = 0
        with ThreadPoolExecutor(8) as pool:
            # until both workers have served (a worker may still be booting at first); at least
            # once: when /readyz was retried, both workers may have samples before any /healthz
            while sent == 0 or (len(workers_with_samples()) < 2 and sent < 400):
                assert all(pool.map(hit, range(20)))
                sent += 20
        assert len(workers_with_samples()) == 2
        text = requests.get(f"{base}/metrics", headers={"Authorization": "Bearer tok"}, timeout=5).text
        m = re.search(r'folio_http_requests_total\{endpoint="ops.healthz",method="GET",status="200"\} (\d+)', text)
        assert m, text[:2000]
        # counted by two processes, reported by one: only multiprocess mode adds them up
        assert int(float(m.group(1))) == sent
    finally:
        proc.terminate()
        proc.wait(20)
