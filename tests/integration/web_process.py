"""Another web process for the tests that need two (limits shared through Redis, not memory).

In the child (`python -m tests.integration.<script>`): `serve(handle)` starts its own app on the
test session's database and Redis (RELAYDESK_PROBE_DATABASE_URL / _REDIS_URL), says it is ready,
then reads one JSON request per line from stdin and writes `handle(client, request)` back as
one JSON line. In the test: `SecondProcess(script)` starts it, `ask(request)` asks it,
`close()` ends it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def serve(handle: Callable[[object, dict], dict]) -> None:
    from app import create_app
    from app.config import TestConfig

    config = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    config.update(SQLALCHEMY_DATABASE_URI=os.environ["RELAYDESK_PROBE_DATABASE_URL"],
                  REDIS_URL=os.environ["RELAYDESK_PROBE_REDIS_URL"], FAB_UPDATE_PERMS=False,
                  LOG_LEVEL="WARNING")
    client = create_app(config).test_client()
    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        print(json.dumps(handle(client, json.loads(line))), flush=True)


class SecondProcess:
    """The child `tests.integration.<script>` on the same database and Redis as this test."""

    def __init__(self, script: str):
        from tests.conftest import BACKENDS

        env = {**os.environ, "RELAYDESK_PROBE_DATABASE_URL": BACKENDS.database_url,
               "RELAYDESK_PROBE_REDIS_URL": BACKENDS.redis_url, "LOG_LEVEL": "WARNING"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"tests.integration.{script}"], cwd=ROOT, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        ready = json.loads(self.process.stdout.readline() or "{}")
        assert ready.get("ready") and ready["ready"] != os.getpid(), "second process did not start"

    def ask(self, request: dict) -> dict:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
