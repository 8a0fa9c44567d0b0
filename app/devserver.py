"""`make run`: web + worker (with scheduler) on http://127.0.0.1:5000, on embedded defaults.

Quiet: the migrations and `flask init --demo` run first with their output kept back (shown only
when they fail), the processes log warnings and errors only (LOG_LEVEL=WARNING unless set), and
the start ends with a box: the URL, the master admin's and the demo manager's sign-in (the
passwords are shown on the first run only: they are stored hashed).

When no Redis answers at REDIS_URL, an in-process Redis substitute (fakeredis' TCP server) is
started on a free loopback port and handed to both processes; the UI then shows an "Embedded
queue, not for production" banner. Ctrl-C stops everything.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

from redis import Redis


def _redis_answers(url: str) -> bool:
    try:
        return bool(Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except Exception:  # noqa: BLE001 - any failure means "no Redis here"
        return False


def _answers(url: str) -> bool:
    from urllib.request import urlopen

    try:
        with urlopen(url, timeout=1) as response:  # noqa: S310 - our own loopback URL
            return response.status == 200
    except Exception:  # noqa: BLE001 - not up yet
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _error_replies_keep_connection(handler_class: type) -> type:
    """fakeredis' TCP handler (2.40) closes the connection after any error reply.

    Redis keeps it open, and clients rely on that: RQ's scheduler lock is a Lua script that
    redis-py first tries as EVALSHA, gets NOSCRIPT, then loads on the same connection, which
    fakeredis has closed by then, so the worker dies. Here an error becomes an ordinary reply.
    """
    from redis.exceptions import ResponseError

    class KeepConnectionHandler(handler_class):
        def setup(self) -> None:
            super().setup()
            read_response = self.current_client.read_response

            def read_reply(*args, **kwargs):
                try:
                    return read_response(*args, **kwargs)
                except ResponseError as exc:  # an error reply, not a broken connection
                    return exc

            self.current_client.read_response = read_reply

    return KeepConnectionHandler


def start_embedded_redis() -> tuple[str, object]:
    """Start fakeredis' TCP server in a background thread; returns (url, server).

    Lua scripts (RQ's scheduler locks, unique jobs) need `lupa`, pinned in requirements.txt.
    """
    import threading

    from fakeredis import TcpFakeServer

    port = _free_port()
    server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    server.RequestHandlerClass = _error_replies_keep_connection(server.RequestHandlerClass)
    server.daemon_threads = True  # open client connections must not keep Ctrl-C from exiting
    threading.Thread(target=server.serve_forever, daemon=True, name="embedded-redis").start()
    return f"redis://127.0.0.1:{port}/0", server


def dev_environment(environ: dict) -> dict:
    """The environment of the web and worker processes: the local fakes and the demo panel live
    on loopback, so the outbound URL policy allows it unless the environment says otherwise."""
    env = dict(environ)
    env.setdefault("OUTBOUND_ALLOW_PRIVATE", "127.0.0.0/8")
    return env


# `flask init` prints each new login as "  username: NAME" then "  password: SECRET".
LOGIN_LINES = re.compile(r"^\s*username: (\S+)\s*\n\s*password: (\S+)\s*$", re.MULTILINE)


def prepare(flask: list[str], env: dict) -> list[tuple[str, str]] | None:
    """Migrate and `init --demo`, their output kept back; the logins created (username,
    password), or None after printing the output of the step that failed."""
    logins: list[tuple[str, str]] = []
    for step in (["db", "upgrade"], ["init", "--demo"]):
        result = subprocess.run([*flask, *step], env=env, capture_output=True, text=True)
        if result.returncode != 0:
            print(f"`flask {' '.join(step)}` failed:", file=sys.stderr)
            print(result.stdout + result.stderr, file=sys.stderr, flush=True)
            return None
        if step[0] == "init":
            logins = LOGIN_LINES.findall(result.stdout)
    return logins


def box(url: str, env: dict, logins: list[tuple[str, str]]) -> str:
    """The last thing `make run` prints: where to go and how to sign in."""
    from app.demo import DEMO_MANAGER

    admin = env.get("ADMIN_USERNAME") or "admin"
    shown = dict(logins)
    rows = [f"Relaydesk is up: {url}", ""]
    for role, username in (("master admin", admin), ("demo manager", DEMO_MANAGER)):
        password = shown.get(username)
        rows.append(f"{role}: {username} / {password}" if password else
                    f"{role}: {username} (password shown on the first run)")
    if not logins:
        rows.append("Forgot one? flask --app run fab reset-password --username NAME")
    width = max(len(row) for row in rows)
    line = "+" + "-" * (width + 2) + "+"
    return "\n".join([line, *(f"| {row.ljust(width)} |" for row in rows), line])


def main() -> int:
    env = dev_environment(os.environ)
    env.setdefault("LOG_LEVEL", "WARNING")  # set LOG_LEVEL=INFO to see every start-up step
    redis_url = env.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if not _redis_answers(redis_url):
        redis_url, _server = start_embedded_redis()
        env["REDIS_URL"] = redis_url
        env["RELAYDESK_EMBEDDED_QUEUE"] = "1"
        print(f"No Redis answered: using the embedded queue at {redis_url} (not for production).")
    host, port = env.get("HOST", "127.0.0.1"), env.get("PORT", "5000")
    # the webhook URLs the channel pages show point at this server unless told otherwise
    env.setdefault("PUBLIC_BASE_URL", f"http://{host}:{port}")
    flask = [sys.executable, "-m", "flask", "--app", "run"]
    print("Preparing the database (migrations, roles, demo workspace)…", flush=True)
    logins = prepare(flask, env)
    if logins is None:
        return 1
    # `init` (run just before by `make run`) has synced the permissions; two processes doing it
    # again at once only contend for the SQLite file. The web process keeps the setting so that
    # a view changed since `init` still gets its permissions.
    worker_env = {**env, "FAB_UPDATE_PERMS": "false"}
    processes = [
        subprocess.Popen([*flask, "worker"], env=worker_env),
        # stdout carries only Flask's "Serving Flask app" banner; errors go to stderr
        subprocess.Popen([*flask, "run", "--host", host, "--port", port, "--no-reload"], env=env,
                         stdout=subprocess.DEVNULL),
    ]
    print(f"Relaydesk is starting on http://{host}:{port}  (Ctrl-C to stop)", flush=True)

    stopping = []

    def stop(*_args):
        stopping.append(True)
        for proc in processes:
            if proc.poll() is None:
                proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    announced = False
    try:
        while all(proc.poll() is None for proc in processes):
            if not announced and _answers(f"http://{host}:{port}/healthz"):
                announced = True
                print(box(f"http://{host}:{port}/", env, logins), flush=True)
            time.sleep(0.5)
        for name, proc in zip(("worker", "web"), processes, strict=True):
            if proc.poll() is not None and not stopping:
                print(f"The {name} process stopped (exit code {proc.returncode}): stopping.",
                      file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        for proc in processes:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return max((proc.returncode or 0) for proc in processes)


if __name__ == "__main__":
    sys.exit(main())
