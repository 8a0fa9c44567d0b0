"""A second web process for tests/integration/test_api_rate_limit.py.

Its own app (its own memory, its own everything) on the test session's database and Redis,
given by the parent in RELAYDESK_PROBE_DATABASE_URL / _REDIS_URL. It reads REST calls from
stdin, one JSON object per line ({"path", "headers"}), makes each with its test client and
answers with one JSON line: {"status", "body", "headers"} (the rate-limit headers only).
"""
from __future__ import annotations

import json
import os
import sys

HEADERS = ("Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining")


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
        call = json.loads(line)
        response = client.get(call["path"], headers=call.get("headers") or {})
        print(json.dumps({"status": response.status_code,
                          "body": response.get_json(silent=True),
                          "headers": {h: response.headers.get(h) for h in HEADERS}}),
              flush=True)


if __name__ == "__main__":
    main()
