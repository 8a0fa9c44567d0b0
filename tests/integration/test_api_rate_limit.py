"""The per-plan API rate limit (docs/contracts.md "SaaS contracts"; app/api_limits.py).

Every authenticated REST call of a workspace (X-API-Key or JWT) counts against its plan's
`api_requests_per_minute` and `api_requests_per_day`, in Redis, so two web processes share one
count; another workspace is not affected; the refusal is 429 with Retry-After and the REST error
shape; the master admin, workspaces without a plan and browser sessions are not counted; Redis
not answering lets calls through.
"""
from __future__ import annotations

import logging
import time

import pytest
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.extensions import db
from tests.integration import api_process, web_process
from tests.factories import password_for

PATH = "/api/v1/provider/"


class SecondProcess(web_process.SecondProcess):
    """Another web process (tests/integration/api_process.py) on the same database and Redis."""

    def __init__(self):
        super().__init__("api_process")

    def get(self, headers: dict) -> tuple[int, dict | None, dict]:
        answer = self.ask({"path": PATH, "headers": headers})
        return answer["status"], answer["body"], answer["headers"]


class Here:
    """This process' app, answering like SecondProcess.get."""

    def __init__(self, app):
        self.client = app.test_client()

    def get(self, headers: dict) -> tuple[int, dict | None, dict]:
        response = self.client.get(PATH, headers=headers)
        return response.status_code, response.get_json(silent=True), {
            h: response.headers.get(h)
            for h in api_process.HEADERS}


def redis_now(app) -> int:
    return int(app.extensions["relaydesk_redis"].time()[0])


def away_from_the_minute_boundary(app) -> None:
    """The minute window is the calendar minute on Redis' clock: start early in one."""
    second = redis_now(app) % 60
    if second > 40:
        time.sleep(61 - second)


def jwt(app, username: str) -> dict:
    response = app.test_client().post("/api/v1/security/login", json={
        "username": username, "password": password_for(username), "provider": "db"})
    assert response.status_code == 200, response.data
    return {"Authorization": f"Bearer {response.json['access_token']}"}


@pytest.fixture
def tenants(app, factory, redis_conn):
    """Two workspaces on one plan (6 calls a minute, no day limit), a key for each manager."""
    plan = factory.plan(api_requests_per_minute=6)
    plan.api_requests_per_day = None  # on INSERT a None takes the column's default (1000)
    db.session.commit()
    keys = {}
    for slug in ("acme", "globex"):
        workspace = factory.workspace(slug, plan_id=plan.id)
        keys[slug] = {"X-API-Key": factory.api_key(factory.member(workspace, f"{slug}-manager"))}
    return plan, keys


def assert_refused(status, body, headers, *, limit: int, window: int) -> None:
    assert status == 429, (status, body)
    assert body["error"] is True and body["code"] == "RATE_LIMITED"
    assert str(limit) in body["message"]
    assert 1 <= int(headers["Retry-After"]) <= window
    assert headers["X-RateLimit-Limit"] == str(limit)
    assert headers["X-RateLimit-Remaining"] == "0"


@pytest.mark.slow
def test_the_limit_is_shared_by_two_web_processes_and_per_workspace(app, tenants):
    _plan, keys = tenants
    here, there = Here(app), SecondProcess()
    try:
        away_from_the_minute_boundary(app)
        remaining = []
        for turn in range(6):  # 3 calls in each process: 6 in all, the plan's minute
            status, _body, headers = (here if turn % 2 else there).get(keys["acme"])
            assert status == 200, (turn, status)
            assert headers["X-RateLimit-Limit"] == "6"
            remaining.append(int(headers["X-RateLimit-Remaining"]))
        assert remaining == [5, 4, 3, 2, 1, 0]

        assert_refused(*there.get(keys["acme"]), limit=6, window=60)
        assert_refused(*here.get(keys["acme"]), limit=6, window=60)
        # a JWT of the same workspace is the same workspace's call
        assert_refused(*here.get(jwt(app, "acme-manager")), limit=6, window=60)

        # another workspace on the same plan has its own count, in both processes
        assert there.get(keys["globex"])[0] == 200
        assert here.get(jwt(app, "globex-manager"))[0] == 200
        status, _body, headers = here.get(keys["globex"])
        assert status == 200 and headers["X-RateLimit-Remaining"] == "3"
    finally:
        there.close()


def test_the_day_limit_answers_until_midnight_utc(app, factory, tenants):
    plan, keys = tenants
    plan = db.session.merge(plan)
    plan.api_requests_per_minute, plan.api_requests_per_day = None, 3
    db.session.commit()
    here = Here(app)
    for left in (2, 1, 0):
        status, _body, headers = here.get(keys["acme"])
        assert (status, headers["X-RateLimit-Remaining"]) == (200, str(left))
    status, body, headers = here.get(keys["acme"])
    assert_refused(status, body, headers, limit=3, window=86400)
    until_midnight = 86400 - redis_now(app) % 86400
    assert abs(int(headers["Retry-After"]) - until_midnight) <= 2
    assert "a day" in body["message"]
    # the minute has room, the day has not: still refused; a plan change applies at once
    plan.api_requests_per_day = None
    db.session.commit()
    status, _body, headers = here.get(keys["acme"])
    assert status == 200 and headers["X-RateLimit-Limit"] is None


def test_refused_calls_use_up_nothing(app, tenants):
    plan, keys = tenants
    plan = db.session.merge(plan)
    plan.api_requests_per_minute, plan.api_requests_per_day = 2, 4
    db.session.commit()
    away_from_the_minute_boundary(app)
    here = Here(app)
    assert [here.get(keys["acme"])[0] for _ in range(5)] == [200, 200, 429, 429, 429]
    used_today = [int(v) for k, v in _counters(app, "d").items()]
    assert used_today == [2], "refused calls were counted against the day"


def _counters(app, window: str) -> dict:
    redis = app.extensions["relaydesk_redis"]
    return {key: redis.get(key) for key in redis.scan_iter(f"relaydesk:api:*:{window}:*")}


def test_the_master_admin_no_plan_and_browser_sessions_are_not_limited(app, factory, auth,
                                                                       client, tenants):
    plan, keys = tenants
    plan = db.session.merge(plan)
    plan.api_requests_per_minute = 1
    db.session.commit()
    admin_key = {"X-API-Key": factory.api_key(factory.admin())}
    here = Here(app)
    for _ in range(4):
        status, _body, headers = here.get(admin_key)
        assert status == 200 and headers["X-RateLimit-Limit"] is None

    free = factory.workspace("initech")  # no plan: unlimited
    free_key = {"X-API-Key": factory.api_key(factory.member(free, "initech-manager"))}
    assert [here.get(free_key)[0] for _ in range(4)] == [200] * 4

    auth.login("acme-manager")  # the screens' own session calls are not API clients' calls
    for _ in range(3):
        response = client.get(PATH)
        assert response.status_code == 200 and "X-RateLimit-Limit" not in response.headers
    assert here.get(keys["acme"])[0] == 200


def test_redis_down_lets_calls_through_with_a_warning(app, tenants, monkeypatch, caplog):
    api_limits_redis = app.extensions["relaydesk_redis"]
    plan, keys = tenants
    plan = db.session.merge(plan)
    plan.api_requests_per_minute = 1
    db.session.commit()
    dead = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2,
                 retry=Retry(NoBackoff(), 0))
    monkeypatch.setitem(app.extensions, "relaydesk_redis", dead)
    # The suite's Alembic run (logging.config.fileConfig) disabled the loggers that existed then.
    monkeypatch.setattr(logging.getLogger("app.api_limits"), "disabled", False)
    from app import api_limits

    monkeypatch.setattr(api_limits, "_redis_down_until", [0.0])
    asked = []
    real_decide = api_limits.decide
    monkeypatch.setattr(api_limits, "decide", lambda *a: asked.append(1) or real_decide(*a))
    here = Here(app)
    with caplog.at_level(logging.WARNING, logger="app.api_limits"):
        assert [here.get(keys["acme"])[0] for _ in range(3)] == [200] * 3
    warnings = [r for r in caplog.records if r.name == "app.api_limits"]
    assert len(warnings) == 1 and "Redis" in warnings[0].getMessage()
    assert len(asked) == 1, "Redis was asked again at once after it failed"

    monkeypatch.setitem(app.extensions, "relaydesk_redis", api_limits_redis)  # it answers again
    api_limits._redis_down_until[0] = 0.0  # ten seconds later
    assert [here.get(keys["acme"])[0] for _ in range(2)] == [200, 429]


def test_unlimited_windows_are_not_counted(app, tenants):
    plan, keys = tenants
    plan = db.session.merge(plan)
    plan.api_requests_per_minute = None
    db.session.commit()
    here = Here(app)
    assert [here.get(keys["acme"])[0] for _ in range(8)] == [200] * 8
    assert _counters(app, "m") == {} and _counters(app, "d") == {}
