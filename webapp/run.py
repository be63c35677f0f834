"""`make run`: the whole product on one machine, from embedded defaults.

Picks Redis (REDIS_URL if it answers, else the embedded redis-server on a free
port, run in the foreground by honcho so it stops with the rest), applies the
migrations, seeds the demo user into an empty database, then runs web, worker
and scheduler under honcho. With MAIL_SERVER unset it also runs a local catch-all
SMTP server (webapp/devmail.py, on DEVMAIL_PORT or a free port) and points the app
at it; /admin/mail shows what it received.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from webapp import embedded
from webapp.config import INSTANCE_DIR, load_dotenv

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    load_dotenv()
    env = dict(os.environ)
    env.setdefault("FLASK_APP", "wsgi:app")
    env.setdefault("FOLIO_DEMO", "1")
    env.setdefault("PORT", "5000")
    py = shlex.quote(sys.executable)
    bindir = Path(sys.executable).parent
    procs: list[tuple[str, str]] = []

    if embedded.answers(env.get("REDIS_URL")):
        print(f"* Redis: {env['REDIS_URL']}")
    else:
        if env.get("REDIS_URL"):
            print(f"* REDIS_URL={env['REDIS_URL']} does not answer; starting the embedded Redis instead")
        port = embedded.free_port()
        env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        procs.append(("redis", shlex.join(embedded.server_args(port))))
        print(f"* Redis: embedded redis-server on 127.0.0.1:{port}")

    env.setdefault("PUBLIC_URL", f"http://127.0.0.1:{int(env['PORT'])}")
    mail_port = None
    if env.get("MAIL_SERVER"):
        print(f"* Mail: SMTP server {env['MAIL_SERVER']}")
    else:  # a local catch-all server: mail "works" without configuring anything
        mail_port = int(env.get("DEVMAIL_PORT") or embedded.free_port())
        env.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=str(mail_port), MAIL_USE_TLS="0", MAIL_USE_SSL="0")
        env.pop("MAIL_USERNAME", None)
        env.pop("MAIL_PASSWORD", None)
        print(f"* Mail: local catch-all SMTP server on 127.0.0.1:{mail_port}; read it at /admin/mail")

    INSTANCE_DIR.mkdir(exist_ok=True)
    flask = [sys.executable, "-m", "flask"]
    subprocess.run(flask + ["db", "upgrade"], env=env, cwd=ROOT, check=True)
    if env["FOLIO_DEMO"] not in ("0", "false", "no"):
        subprocess.run(flask + ["demo", "seed"], env=env, cwd=ROOT, check=True)

    wait = f"{py} -m webapp.embedded wait &&"
    demo = env["FOLIO_DEMO"] not in ("0", "false", "no")
    demo_history = f"{py} -m flask demo history; " if demo else ""  # needs Redis: after the wait
    # honcho gives every process its own PORT; the web line binds the one asked for
    procs += [
        ("web", f"{wait} {shlex.quote(str(bindir / 'gunicorn'))} -c gunicorn.conf.py"
                f" --bind 127.0.0.1:{int(env['PORT'])} wsgi:app"),
        ("worker", f"{wait} {py} -m flask worker"),
        ("scheduler", f"{wait} {demo_history}{py} -m flask scheduler"),
    ]
    if mail_port is not None:
        procs.append(("mail", f"{wait} {py} -m webapp.devmail {mail_port}"))
    procfile = INSTANCE_DIR / "Procfile.run"
    procfile.write_text("".join(f"{name}: {cmd}\n" for name, cmd in procs))
    print(f"* Folio: http://127.0.0.1:{env['PORT']}/")
    if env["FOLIO_DEMO"] not in ("0", "false", "no"):
        print("* Demo login: demo@folio.local / demo-portfolio (prices from the simulated market)")
    os.execve(str(bindir / "honcho"), ["honcho", "-f", str(procfile), "-d", str(ROOT), "start"], env)


if __name__ == "__main__":
    main()
