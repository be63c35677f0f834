"""The browser tests' fixtures: the real app under gunicorn, a real RQ worker, Chromium.

- `live_server` (package): gunicorn (2 sync workers) on a free port and `flask worker`,
  both as subprocesses with the test run's database, Redis and REDIS_PREFIX, polling
  every second (the dashboard and the notification bell) and pricing from the simulated
  market. Stopped after the last browser test, so that its worker takes no job of the
  other tests; their logs are attached to the report of a failing test.
- `search_replay` (package): a ReplayServer the live server's symbol search asks
  (`PROVIDER_YAHOO_URL`, `_AMFI_URL`, `_COINGECKO_URL`); a test routes its answers and
  `reset()`s it. Prices still come from the simulated market.
- `server` (per test): checks both processes are alive; after the test, waits until the
  worker is idle so that no job writes into the next test after the conftest's cleanup
  (the `app` fixture deletes every row and every key of the run).
- `chromium` (package): Debian's Chromium through playwright.sync_api. Playwright never
  downloads a browser here: the executable is always /usr/bin/chromium.
- `browse` (per test): opens browser contexts on the live server and records the console
  errors (CSP violations included) and uncaught page errors of every page.

Knobs: FOLIO_BROWSER_LOG_LEVEL=INFO makes the server and worker log every request and job
(the logs are in the session's tmp dir, live-server*/); FOLIO_UPDATE_SCREENSHOT=1 rewrites
docs/screenshot-dashboard.png (otherwise it is only written when missing); FOLIO_BROWSER_START_TIMEOUT
(seconds, 30) is how long gunicorn and the worker may take to start.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from conftest import PREFIX
from replay import ReplayServer

from webapp import embedded

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
POLL_SECONDS = 1
START_TIMEOUT = float(os.environ.get("FOLIO_BROWSER_START_TIMEOUT", "30"))  # more on a loaded machine
QUEUES = ("high", "default", "low")


def _bin(name: str) -> str:
    """An executable of the virtualenv that runs the tests (else the project's .venv)."""
    for d in (Path(sys.executable).parent, ROOT / ".venv" / "bin"):
        if (d / name).is_file():
            return str(d / name)
    raise RuntimeError(f"no {name} in the virtualenv")


SEARCH_PROVIDERS = ("yahoo", "amfi", "coingecko")


def server_env(database_url: str, redis_url: str, search_url: str = "http://127.0.0.1:9") -> dict[str, str]:
    unset = {"PORT", "HOST", "WEB_CONCURRENCY", "GUNICORN_CMD_ARGS"}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOLIO_", "PROVIDER_")) and k not in unset}
    env.update({
        "FLASK_APP": "wsgi:app",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": PREFIX,
        "SECRET_KEY": "browser-test-secret",
        "FOLIO_DEMO": "0",
        "PRICE_PROVIDERS": "simulated",
        "FX_PROVIDERS": "ecb",
        "PROVIDER_ECB_URL": "http://127.0.0.1:9",
        "SIMULATED_STEP_SECONDS": "60",
        # the simulated market trades at every hour: a cycle run while the real exchange is closed
        # (CI at night) must still fetch, as the tests that run a cycle expect
        "PRICE_SKIP_CLOSED_MARKETS": "0",
        "POLL_SECONDS": str(POLL_SECONDS),
        "BELL_SECONDS": str(POLL_SECONDS),  # the notification bell too (60 s by default)
        "LOGIN_RATE_LIMIT": "1000 per minute",
        "LOGIN_ACCOUNT_RATE_LIMIT": "1000 per minute",
        "PROVIDER_TIMEOUT": "2",
        # symbol search asks only the tests' replay server (a closed port unless given one)
        "SYMBOL_SEARCH_PROVIDERS": ",".join(SEARCH_PROVIDERS),
        **{f"PROVIDER_{name.upper()}_URL": search_url for name in SEARCH_PROVIDERS},
        "SESSION_COOKIE_SECURE": "0",
        "LOG_LEVEL": os.environ.get("FOLIO_BROWSER_LOG_LEVEL", "WARNING"),  # INFO logs every job
        "PYTHONUNBUFFERED": "1",
    })
    return env


@dataclass
class LiveServer:
    url: str
    redis_url: str
    web: subprocess.Popen
    worker: subprocess.Popen
    logs: dict[str, Path] = field(default_factory=dict)

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url, socket_timeout=5)

    def check_alive(self) -> None:
        for name, proc in (("gunicorn", self.web), ("worker", self.worker)):
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}\n{self.log_tail(name)}")

    def log_tail(self, name: str, lines: int = 60) -> str:
        path = self.logs.get(name)
        if not path or not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def wait_idle(self, timeout: float = 15.0) -> None:
        """Until the RQ queues are empty and no job runs (its follow-up jobs included)."""
        from rq import Queue
        from rq.registry import StartedJobRegistry

        r = self.redis()
        deadline = time.monotonic() + timeout
        quiet_since = None
        while time.monotonic() < deadline:
            busy = any(Queue(q, connection=r).count or StartedJobRegistry(q, connection=r).count for q in QUEUES)
            if busy:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= 0.2:  # quiet for a while, not between two jobs
                return
            time.sleep(0.05)
        raise AssertionError(f"the RQ worker did not become idle in {timeout}s\n{self.log_tail('worker')}")


def _wait_http(url: str, server: LiveServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        server.check_alive()
        try:
            with urllib.request.urlopen(url + "/auth/login", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer on {url} in {START_TIMEOUT}s\n{server.log_tail('gunicorn')}")


def _wait_worker(server: LiveServer) -> None:
    """Until the RQ worker has run a job: a recompute of nobody, on the lowest queue."""
    from rq import Queue

    job = Queue("low", connection=server.redis()).enqueue(
        "workers.portfolios.recompute_portfolios", user_ids=[], result_ttl=60, job_timeout=30)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        server.check_alive()
        status = job.get_status(refresh=True)
        if status == "finished":
            job.delete()
            return
        if status == "failed":
            raise RuntimeError(f"the worker's first job failed\n{server.log_tail('worker')}")
        time.sleep(0.1)
    raise RuntimeError(f"the RQ worker ran no job in {START_TIMEOUT}s\n{server.log_tail('worker')}")


def _group_members(pgid: int) -> list[int]:
    """Live processes of a process group (read from /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()  # after "pid (comm) "
        if fields and fields[0] != "Z" and int(fields[2]) == pgid:
            pids.append(int(entry.name))
    return pids


def _stop(*procs: subprocess.Popen, timeout: float = 20.0) -> list[int]:
    """SIGTERM (a graceful stop) to all, then SIGKILL. Returns stray pids of their groups that had to be killed."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    strays = []
    for proc in procs:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the leader is alive: the group is ours
            proc.wait(10)
        # The leader is gone; a group lives on while any member does, so these are its children.
        for pid in _group_members(proc.pid):
            strays.append(pid)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return strays


def _forget_worker(server: LiveServer) -> None:
    """Delete the record RQ keeps of our stopped worker (it would expire in a minute)."""
    r = server.redis()
    for key in r.scan_iter(match="rq:worker:*", count=1000):
        if r.type(key) == b"hash" and r.hget(key, "pid") == str(server.worker.pid).encode():
            r.delete(key)


@pytest.fixture(scope="package")
def search_replay():
    """The provider answers the live server's symbol search gets (started before it)."""
    with ReplayServer() as replay:
        yield replay


@pytest.fixture(scope="package")
def live_server(_schema, database_url, redis_url, tmp_path_factory, search_replay):
    """gunicorn + an RQ worker for the browser tests (the schema exists: `_schema`)."""
    port = embedded.free_port()
    url = f"http://127.0.0.1:{port}"
    env = server_env(database_url, redis_url, search_replay.url)
    logdir = tmp_path_factory.mktemp("live-server")
    logs = {"gunicorn": logdir / "gunicorn.log", "worker": logdir / "worker.log"}
    handles = {name: open(path, "wb") for name, path in logs.items()}
    popen = dict(cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    procs: list[subprocess.Popen] = []
    try:
        procs.append(subprocess.Popen(
            [_bin("gunicorn"), "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "--workers", "2", "wsgi:app"],
            stdout=handles["gunicorn"], **popen,
        ))
        procs.append(subprocess.Popen([_bin("python"), "-m", "flask", "worker"], stdout=handles["worker"], **popen))
        server = LiveServer(url=url, redis_url=redis_url, web=procs[0], worker=procs[1], logs=logs)
        _wait_http(url, server)
        _wait_worker(server)
        yield server
    finally:
        strays = _stop(*reversed(procs))  # the worker first: it may still be finishing a job
        if len(procs) == 2:
            _forget_worker(server)
        for h in handles.values():
            h.close()
        if strays:
            print(f"\nbrowser tests: killed stray processes {strays}")


@pytest.fixture
def app(make_app):
    """The tests' own app, set like the server where the server shows what it writes: a summary
    fragment a test's recompute pre-renders carries the poll interval of the app rendering it."""
    return make_app(POLL_SECONDS=POLL_SECONDS, BELL_SECONDS=POLL_SECONDS)


@pytest.fixture
def server(live_server, app):
    """The live server, for one test; afterwards waits for the worker to finish its jobs.

    Depends on `app` so that it is torn down before the conftest's cleanup of rows and keys.
    """
    live_server.check_alive()
    yield live_server
    live_server.wait_idle()
    live_server.check_alive()


@pytest.fixture(scope="session")
def browser_type_launch_args():
    """Should a test use pytest-playwright's own fixtures: the same Chromium, never a download."""
    return {"executable_path": CHROMIUM, "headless": True, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="package")
def chromium():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Browsing:
    """Browser contexts on the live server, with every page's console errors recorded."""

    def __init__(self, browser, base_url: str):
        self.browser, self.base_url = browser, base_url
        self.contexts = []
        self.errors: list[str] = []

    def context(self, **kw):
        ctx = self.browser.new_context(base_url=self.base_url, viewport={"width": 1200, "height": 900},
                                       locale="en-US", **kw)
        ctx.set_default_timeout(10_000)
        ctx.set_default_navigation_timeout(15_000)
        ctx.on("console", self._console)
        ctx.on("weberror", lambda e: self.errors.append(f"uncaught: {e.error}"))
        self.contexts.append(ctx)
        return ctx

    def _console(self, msg) -> None:
        if msg.type == "error":
            page = msg.page.url if msg.page else "?"
            source = (msg.location or {}).get("url") or ""
            self.errors.append(f"{page}: {msg.text}" + (f" [{source}]" if source and source != page else ""))

    def assert_no_console_errors(self) -> None:
        assert not self.errors, "console errors:\n" + "\n".join(self.errors)

    def close(self) -> None:
        for ctx in self.contexts:
            ctx.close()


@pytest.fixture
def browse(chromium, server):
    b = Browsing(chromium, server.url)
    yield b
    b.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and "live_server" in item.fixturenames:
        live = item.funcargs.get("live_server") or item.funcargs.get("server")
        if isinstance(live, LiveServer):
            for name in live.logs:
                report.sections.append((f"{name} log (tail)", live.log_tail(name)))
