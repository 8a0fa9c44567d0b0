"""The second web process of tests/integration/test_login_limits.py (tests/integration/
web_process.py): its own app, its own memory and Flask-Limiter. Each request {"path":
"api"|"html", "username", "password"} is a sign-in attempt; the answer is {"status",
"retry_after"}."""
from __future__ import annotations


def handle(client, attempt: dict) -> dict:
    credentials = {"username": attempt["username"], "password": attempt["password"]}
    if attempt["path"] == "api":
        response = client.post("/api/v1/security/login", json={**credentials, "provider": "db"})
    else:
        response = client.post("/login/", data=credentials)
    return {"status": response.status_code, "retry_after": response.headers.get("Retry-After")}


if __name__ == "__main__":
    from tests.integration.web_process import serve

    serve(handle)
