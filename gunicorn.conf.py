"""gunicorn settings for `web` (Procfile) and `make run`."""
import multiprocessing
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", min(4, multiprocessing.cpu_count() * 2)))
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = "-"
# gunicorn 27 opens a control socket in ~/.gunicorn by default; two instances would collide
control_socket_disable = True
