"""`make run`: web + worker (with scheduler) on http://127.0.0.1:5000, on embedded defaults.

When no Redis answers at REDIS_URL, an in-process Redis substitute (fakeredis' TCP server) is
started on a free loopback port and handed to both processes; the UI then shows an "Embedded
queue, not for production" banner. Ctrl-C stops everything.
"""
from __future__ import annotations

import os
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_embedded_redis() -> tuple[str, object]:
    """Start fakeredis' TCP server in a background thread; returns (url, server)."""
    import threading

    from fakeredis import TcpFakeServer

    port = _free_port()
    server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    threading.Thread(target=server.serve_forever, daemon=True, name="embedded-redis").start()
    return f"redis://127.0.0.1:{port}/0", server


def main() -> int:
    env = dict(os.environ)
    redis_url = env.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if not _redis_answers(redis_url):
        redis_url, _server = start_embedded_redis()
        env["REDIS_URL"] = redis_url
        env["RELAYDESK_EMBEDDED_QUEUE"] = "1"
        print(f"No Redis answered: using the embedded queue at {redis_url} (not for production).")
    host, port = env.get("HOST", "127.0.0.1"), env.get("PORT", "5000")
    flask = [sys.executable, "-m", "flask", "--app", "run"]
    processes = [
        subprocess.Popen([*flask, "worker"], env=env),
        subprocess.Popen([*flask, "run", "--host", host, "--port", port, "--no-reload"], env=env),
    ]
    print(f"Relaydesk is starting on http://{host}:{port}  (Ctrl-C to stop)")

    def stop(*_args):
        for proc in processes:
            if proc.poll() is None:
                proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(proc.poll() is None for proc in processes):
            time.sleep(0.5)
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
