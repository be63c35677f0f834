"""gunicorn settings for `web` (Procfile) and `make run`."""
import multiprocessing
import os
import shutil
from pathlib import Path

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", min(4, multiprocessing.cpu_count() * 2)))
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = None  # the app logs one JSON line per request, with its request id
errorlog = "-"
# gunicorn 27 opens a control socket in ~/.gunicorn by default; two instances would collide
control_socket_disable = True

# Prometheus under several workers: every worker writes its samples to this directory
# and /metrics adds them up (prometheus-client's multiprocess mode).
os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", str(Path(__file__).resolve().parent / "instance" / f"prometheus-{os.getpid()}")
)


def on_starting(server):
    path = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    shutil.rmtree(path, ignore_errors=True)  # counters start from zero with the master
    path.mkdir(parents=True, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
