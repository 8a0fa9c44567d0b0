"""The second web process of tests/integration/test_api_rate_limit.py (tests/integration/
web_process.py): each request {"path", "headers"} is a REST GET through its own app; the answer
is {"status", "body", "headers"} (the rate-limit headers only)."""
from __future__ import annotations

HEADERS = ("Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining")


def handle(client, call: dict) -> dict:
    response = client.get(call["path"], headers=call.get("headers") or {})
    return {"status": response.status_code, "body": response.get_json(silent=True),
            "headers": {h: response.headers.get(h) for h in HEADERS}}


if __name__ == "__main__":
    from tests.integration.web_process import serve

    serve(handle)
