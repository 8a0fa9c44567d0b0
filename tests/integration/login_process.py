"""A second web process for tests/integration/test_login_limits.py.

Its own app (its own memory, its own Flask-Limiter, its own everything) on the test session's
database and Redis, given by the parent in RELAYDESK_PROBE_DATABASE_URL / _REDIS_URL. It reads
sign-in attempts from stdin, one JSON object per line ({"path": "api"|"html", "username",
"password"}), and answers each with one JSON line: {"status", "retry_after"}.
"""
from __future__ import annotations

import json
import os
import sys


def main() -> None:
    from app import create_app
    from app.config import TestConfig

    config = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    config.update(SQLALCHEMY_DATABASE_URI=os.environ["RELAYDESK_PROBE_DATABASE_URL"],
                  REDIS_URL=os.environ["RELAYDESK_PROBE_REDIS_URL"], FAB_UPDATE_PERMS=False,
                  LOG_LEVEL="WARNING")
    app = create_app(config)
    client = app.test_client()
    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        attempt = json.loads(line)
        credentials = {"username": attempt["username"], "password": attempt["password"]}
        if attempt["path"] == "api":
            response = client.post("/api/v1/security/login", json={**credentials,
                                                                   "provider": "db"})
        else:
            response = client.post("/login/", data=credentials)
        print(json.dumps({"status": response.status_code,
                          "retry_after": response.headers.get("Retry-After")}), flush=True)


if __name__ == "__main__":
    main()
