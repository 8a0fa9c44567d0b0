"""Health (`GET /api/v1/health`, Setup › Health, the `health` runner) over the real database.

Each problem code appears from real rows and clears itself once its cause is gone; a manager
sees only their workspace, the master admin every one (`?workspace=` narrows it, a bad one is
answered 400/404 in words); a problem that starts is told to the managers once (in-app notice
and e-mail) and once more when it clears, never while it lasts.
"""
from __future__ import annotations

from datetime import timedelta
from itertools import count

import pytest

from app import health_checks
from app.extensions import db
from app.jobs import runners
from app.models import (Channel, DetectedChat, ExternalCall, HealthProblem, InboundEvent,
                        OutboundMessage, PanelConnection, RunnerState, Subscription)
from app.models.base import utcnow
from app.models.billing import PLAN_MODULES
from app.models.channels import PAUSING_STATES
from tests.integration.team_support import deliver_templated_mail

_n = count(1)
KEYS = {"status", "problems", "channels", "panel", "queue", "plan", "runners"}
PROBLEM_KEYS = {"code", "severity", "subject", "message", "fix", "link", "since"}


@pytest.fixture
def acme(factory, redis_conn, public_url):
    return factory.workspace("acme", name="Acme")


@pytest.fixture
def manager(acme, factory, auth):
    factory.member(acme, "acme-manager")
    auth.login("acme-manager")


def health(client, query=""):
    response = client.get(f"/api/v1/health{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def codes(report) -> set[str]:
    return {p["code"] for p in report["problems"]}


def event(channel, *, ago=timedelta(0), state="done", is_group=False, text="hello",
          kind="message"):
    return InboundEvent(workspace_id=channel.workspace_id, channel_id=channel.id,
                        platform=channel.kind, kind=kind, type="message",
                        dedupe_key=f"e-{next(_n)}", chat_id="-100123" if is_group else "42",
                        is_group=is_group, text=text, payload={}, state=state,
                        received_at=utcnow() - ago)


def panel_call(workspace, *, ago=timedelta(0), outcome="ok", status=200):
    return ExternalCall(workspace_id=workspace.id, service="panel:perfectpanel_v2",
                        operation="get_orders", method="GET", url="https://panel.example/x",
                        status_code=status, outcome=outcome, at=utcnow() - ago)


# --- the shape and the credentials --------------------------------------------------------------

def test_health_needs_credentials(client, acme):
    response = client.get("/api/v1/health")
    assert response.status_code == 401


def test_health_shape_of_a_healthy_workspace(client, factory, acme, manager):
    channel = factory.channel(acme, name="Main WhatsApp", status="ok",
                              last_webhook_at=utcnow())
    report = health(client)
    assert set(report) == KEYS
    assert report["status"] == "ok" and report["problems"] == []
    assert report["channels"] == [{"id": channel.id, "name": "Main WhatsApp",
                                   "kind": "greenapi", "state": "ok",
                                   "last_webhook_at": report["channels"][0]["last_webhook_at"],
                                   "sent_last_hour": 0, "failed_last_hour": 0,
                                   "error_rate": None, "quality_rating": None}]
    assert report["channels"][0]["last_webhook_at"].endswith("Z")
    assert set(report["panel"]) == {"state", "last_ok_at", "error_rate"}
    assert report["queue"] == {"depth": 0, "oldest_seconds": 0}


def test_health_with_an_api_key(client, factory, acme):
    user = factory.member(acme, "keyed")
    key = factory.api_key(user)
    factory.channel(acme, status="paused", status_detail=PAUSING_STATES["blocked"])
    response = client.get("/api/v1/health", headers={"X-API-Key": key})
    assert response.status_code == 200
    problem = response.get_json()["problems"][0]
    assert set(problem) == PROBLEM_KEYS
    assert problem["code"] == "channel_not_authorized"
    assert "blocked" in problem["message"].lower()


def test_health_with_a_jwt(app, factory, acme):
    from tests.factories import password_for

    factory.member(acme, "jwt-manager")
    factory.channel(acme, kind="meta", status="needs_reauth")
    login = app.test_client().post("/api/v1/security/login", json={
        "username": "jwt-manager", "password": password_for("jwt-manager"), "provider": "db"})
    token = login.get_json()["access_token"]
    response = app.test_client().get("/api/v1/health",
                                     headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert codes(response.get_json()) == {"meta_token_expiring"}


# --- each problem appears and clears itself ---------------------------------------------------

@pytest.mark.parametrize("state", ["notAuthorized", "blocked", "sleepMode"])
def test_channel_not_authorized_appears_and_clears(client, factory, acme, manager, state):
    channel = factory.channel(acme, name="Shop phone", status="paused",
                              status_detail=PAUSING_STATES[state])
    report = health(client)
    assert report["status"] == "problem"
    problem = report["problems"][0]
    assert problem["code"] == "channel_not_authorized" and problem["severity"] == "problem"
    assert problem["subject"] == "Shop phone"
    assert problem["link"] == f"/channelview/show/{channel.id}"
    assert "QR" in problem["fix"]
    channel.status, channel.status_detail = "ok", None
    factory.commit(channel)
    assert health(client)["problems"] == []


def test_channel_quiet_appears_and_clears(client, factory, acme, manager):
    quiet_since = utcnow() - timedelta(hours=30)
    channel = factory.channel(acme, name="Busy line", status="ok", last_webhook_at=quiet_since)
    factory.commit(*[event(channel, ago=timedelta(hours=31 + i)) for i in range(20)])
    report = health(client)
    assert codes(report) == {"channel_quiet"}
    assert report["status"] == "warning"
    assert "30" in report["problems"][0]["message"]
    channel.last_webhook_at = utcnow()
    factory.commit(channel)
    assert health(client)["problems"] == []


def test_a_channel_that_never_was_busy_is_not_quiet(client, factory, acme, manager):
    channel = factory.channel(acme, status="ok", last_webhook_at=utcnow() - timedelta(days=3))
    factory.commit(*[event(channel, ago=timedelta(days=3)) for _ in range(3)])
    assert health(client)["problems"] == []


def test_telegram_privacy_mode_appears_and_clears(client, factory, acme, manager):
    bot = factory.channel(acme, kind="telegram", name="Support bot", status="ok")
    factory.commit(DetectedChat(workspace_id=acme.id, channel_id=bot.id, chat_id="-100123",
                                title="Providers", chat_type="supergroup",
                                member_status="member",
                                detected_at=utcnow() - timedelta(hours=3)))
    factory.commit(event(bot, ago=timedelta(hours=1), is_group=True, text="/status 123"))
    report = health(client)
    assert codes(report) == {"telegram_privacy_mode"}
    assert "BotFather" in report["problems"][0]["fix"]
    factory.commit(event(bot, is_group=True, text="order 123 is late"))
    assert health(client)["problems"] == []


def test_meta_token_expiring_appears_and_clears(client, factory, acme, manager):
    number = factory.channel(acme, kind="meta", name="Cloud number", status="needs_reauth")
    report = health(client)
    assert codes(report) == {"meta_token_expiring"}
    assert report["problems"][0]["link"] == f"/channelview/show/{number.id}"
    number = db.session.get(Channel, number.id)
    number.status = "ok"
    factory.commit(number)
    assert health(client)["problems"] == []


def test_panel_auth_failed_appears_and_clears(client, factory, acme, manager):
    factory.panel(acme, panel_type="perfectpanel_v2", url="https://panel.example",
                  api_key="k" * 20)
    factory.commit(panel_call(acme, ago=timedelta(minutes=2)),
                   panel_call(acme, ago=timedelta(minutes=1), outcome="permanent", status=401))
    report = health(client)
    assert codes(report) == {"panel_auth_failed"}
    assert report["panel"]["state"] == "auth_failed"
    assert report["panel"]["error_rate"] == 0.5
    assert report["problems"][0]["link"] == "/panelconnectionview/list/"
    factory.commit(panel_call(acme))
    report = health(client)
    assert report["problems"] == [] and report["panel"]["last_ok_at"]


def test_panel_unreachable_appears_and_clears(client, factory, acme, manager):
    factory.panel(acme, panel_type="perfectpanel_v2", url="https://panel.example",
                  api_key="k" * 20)
    factory.commit(*[panel_call(acme, ago=timedelta(minutes=i), outcome="timeout", status=None)
                     for i in (1, 2, 3)])
    report = health(client)
    assert codes(report) == {"panel_unreachable"}
    assert report["panel"]["error_rate"] == 1.0
    factory.commit(panel_call(acme))
    assert health(client)["problems"] == []


def test_plan_expired_appears_and_clears(client, factory, acme, manager):
    plan = factory.plan()
    subscription = factory.commit(Subscription(workspace_id=acme.id, plan_id=plan.id,
                                               status="expired"))
    report = health(client)
    assert codes(report) == {"plan_expired"}
    assert report["problems"][0]["link"] == "/billing/"
    subscription.status = "active"
    factory.commit(subscription)
    assert health(client)["problems"] == []


def test_queue_backlog_appears_and_clears(client, factory, acme, manager):
    channel = factory.channel(acme, status="ok", last_webhook_at=utcnow())
    waiting = factory.commit(event(channel, ago=timedelta(minutes=10), state="queued"))
    report = health(client)
    assert codes(report) == {"queue_backlog"}
    assert report["queue"]["depth"] == 1 and report["queue"]["oldest_seconds"] >= 600
    waiting.state = "done"
    factory.commit(waiting)
    report = health(client)
    assert report["problems"] == [] and report["queue"] == {"depth": 0, "oldest_seconds": 0}


def test_runner_failing_and_plan_access(client, factory, acme, manager):
    plan = factory.plan(mediums="telegram")
    acme.plan_id = plan.id
    factory.commit(acme)
    factory.channel(acme, name="Shop phone", status="ok", last_webhook_at=utcnow())
    factory.commit(RunnerState(workspace_id=acme.id, runner="services", enabled=True,
                               outcome="failed", last_error="PanelError: unreachable",
                               failing_since=utcnow()))
    report = health(client)
    assert codes(report) == {"channel_not_in_plan", "runner_failing"}
    assert report["plan"]["name"] == plan.name
    assert report["plan"]["mediums"] == {"greenapi": False, "meta": False, "telegram": True,
                                         "webchat": False}
    assert report["plan"]["modules"] == {m: m in plan.module_list for m in PLAN_MODULES}
    assert report["plan"]["modules"]["api"] is True
    [runner] = report["runners"]
    assert runner["runner"] == "services" and runner["outcome"] == "failed"
    assert runner["failing_since"].endswith("Z")
    page = client.get("/health/").get_data(as_text=True)
    assert 'data-medium="telegram" data-included="yes"' in page
    assert 'data-medium="greenapi" data-included="no"' in page
    assert 'data-runner="services" class="danger"' in page


def test_each_channels_sends_and_failures_of_the_last_hour(client, factory, acme, manager):
    busy = factory.channel(acme, name="Busy", status="ok", last_webhook_at=utcnow())
    calm = factory.channel(acme, name="Calm", status="ok", last_webhook_at=utcnow())
    other = factory.channel(factory.workspace("other-sends"), name="Other", status="ok")
    states = ["sent", "sent", "sent", "failed", "pending"]
    for n, state in enumerate(states):
        factory.commit(OutboundMessage(workspace_id=acme.id, channel_id=busy.id,
                                       idempotency_key=f"sends-{n}", purpose="reply",
                                       chat_id="42", text="hi", state=state))
    for n, (channel, ago) in enumerate(((busy, timedelta(hours=2)), (other, timedelta(0)))):
        factory.commit(OutboundMessage(workspace_id=channel.workspace_id, channel_id=channel.id,
                                       idempotency_key=f"old-{n}", purpose="reply",
                                       chat_id="42", text="hi", state="failed",
                                       created_at=utcnow() - ago))
    rows = {row["name"]: row for row in health(client)["channels"]}
    assert (rows["Busy"]["sent_last_hour"], rows["Busy"]["failed_last_hour"],
            rows["Busy"]["error_rate"]) == (4, 1, 0.25)
    assert (rows["Calm"]["sent_last_hour"], rows["Calm"]["error_rate"]) == (0, None)
    assert "Other" not in rows
    page = client.get("/health/").get_data(as_text=True)
    assert "1 (25.0 %)" in page and calm.name in page


# --- who sees what ------------------------------------------------------------------------------

@pytest.fixture
def two_workspaces(factory, acme):
    beta = factory.workspace("beta", name="Beta")
    factory.channel(acme, name="Acme phone", status="paused",
                    status_detail=PAUSING_STATES["notAuthorized"])
    factory.channel(beta, name="Beta bot", kind="meta", status="needs_reauth")
    for workspace in (acme, beta):
        health_checks.refresh(workspace.id)
    return acme, beta


def test_a_manager_never_sees_another_workspace(client, factory, auth, two_workspaces):
    factory.member(two_workspaces[0], "acme-manager")
    auth.login("acme-manager")
    report = health(client)
    assert codes(report) == {"channel_not_authorized"}
    assert [c["name"] for c in report["channels"]] == ["Acme phone"]
    assert client.get("/api/v1/health?workspace=beta").status_code == 404
    assert codes(health(client, "?workspace=acme")) == {"channel_not_authorized"}
    page = client.get("/health/").get_data(as_text=True)
    assert "Acme phone" in page and "Beta bot" not in page
    assert client.get("/health/?workspace=beta").status_code == 404


def test_the_master_admin_sees_every_workspace_and_narrows(client, factory, auth,
                                                            two_workspaces):
    factory.admin("root")
    auth.login("root")
    report = health(client)
    assert codes(report) == {"channel_not_authorized", "meta_token_expiring"}
    assert {p["subject"] for p in report["problems"]} == {"Acme · Acme phone",
                                                          "Beta · Beta bot"}
    assert {c["name"] for c in report["channels"]} == {"Acme phone", "Beta bot"}
    assert codes(health(client, "?workspace=beta")) == {"meta_token_expiring"}
    page = client.get("/health/").get_data(as_text=True)
    assert "Acme" in page and "Beta" in page and "/health/?workspace=beta" in page


@pytest.mark.parametrize("slug, status", [("nope", 404), ("../etc", 400), ("x" * 300, 400),
                                          ("", 400)])
def test_a_bad_workspace_is_answered_in_words(client, factory, auth, acme, slug, status):
    factory.admin("root")
    auth.login("root")
    response = client.get(f"/api/v1/health?workspace={slug}")
    assert response.status_code == status
    assert response.get_json()["message"]
    assert client.get(f"/health/?workspace={slug}").status_code == status


def test_agents_may_not_read_health(client, factory, auth, acme):
    factory.member(acme, "agent", role="agent")
    auth.login("agent")
    assert client.get("/api/v1/health").status_code == 403


# --- told once when it starts, once when it clears ----------------------------------------------

def test_a_problem_is_told_once_and_once_when_it_clears(app, client, factory, acme, manager):
    factory.member(acme, "second-manager")
    channel = factory.channel(acme, name="Shop phone", status="paused",
                              status_detail=PAUSING_STATES["sleepMode"])
    assert health_checks.refresh(acme.id)["opened"] == 1
    assert health_checks.refresh(acme.id)["opened"] == 0  # it lasts: nothing more
    mails = deliver_templated_mail(app)
    assert sorted(m.to for m in mails) == sorted(["acme-manager@test.example",
                                                  "second-manager@test.example"])
    assert "Shop phone" in mails[0].subject and "/health/" in mails[0].body
    assert "QR" in mails[0].body
    rows = db.session.query(HealthProblem).all()
    assert len(rows) == 1 and rows[0].cleared_at is None and rows[0].opened_mailed == 2
    page = client.get("/health/").get_data(as_text=True)
    assert 'data-open="yes"' in page

    channel = db.session.get(Channel, channel.id)
    channel.status, channel.status_detail = "ok", None
    factory.commit(channel)
    assert health_checks.refresh(acme.id)["cleared"] == 1
    assert health_checks.refresh(acme.id)["cleared"] == 0
    cleared = deliver_templated_mail(app)
    assert len(cleared) == 2 and all("Shop phone" in m.body for m in cleared)
    assert deliver_templated_mail(app) == []
    page = client.get("/health/").get_data(as_text=True)
    assert 'data-open="no"' in page

    # it starts again: a new notice and one more e-mail each
    channel.status, channel.status_detail = "paused", PAUSING_STATES["blocked"]
    factory.commit(channel)
    assert health_checks.refresh(acme.id)["opened"] == 1
    assert len(deliver_templated_mail(app)) == 2
    assert db.session.query(HealthProblem).count() == 2


def test_the_health_runner_runs_for_every_workspace(app, factory, acme):
    factory.channel(acme, status="paused", status_detail=PAUSING_STATES["notAuthorized"])
    assert "health" in runners.RUNNERS
    assert runners.run_due("health", acme.id) == "ok"
    state = db.session.query(RunnerState).filter_by(workspace_id=acme.id,
                                                    runner="health").one()
    assert state.summary == {"open": 1, "opened": 1, "cleared": 0}
    assert (state.next_run_at - state.last_run_at).total_seconds() >= 290
    assert db.session.query(HealthProblem).filter_by(workspace_id=acme.id).count() == 1


def test_a_panel_connection_test_that_was_refused_is_a_problem(client, factory, acme, manager):
    from app.status_words import Said

    connection = factory.panel(acme, panel_type="perfectpanel_v2", url="https://panel.example",
                               api_key="k" * 20, status="error",
                               status_detail=Said("panel_auth").encode(),
                               last_checked_at=utcnow())
    assert codes(health(client)) == {"panel_auth_failed"}
    connection = db.session.get(PanelConnection, connection.id)
    connection.status, connection.status_detail = "ok", Said("panel_ok", {"engine": "x"}).encode()
    factory.commit(connection)
    assert health(client)["problems"] == []


def test_webhook_not_registered_appears_and_clears(client, factory, acme, manager):
    from app.status_words import Said

    bot = factory.channel(acme, kind="telegram", name="Support bot", status="error",
                          status_detail=Said("telegram_bot_ok", {"username": "shopbot"},
                                             [Said("telegram_no_webhook")]).encode())
    report = health(client)
    assert codes(report) == {"webhook_not_registered"}
    assert "Configure webhook" in report["problems"][0]["fix"]
    bot = db.session.get(Channel, bot.id)
    bot.status = "ok"
    bot.status_detail = Said("webhook_set", {"url": "https://relaydesk.example/x"}).encode()
    factory.commit(bot)
    assert health(client)["problems"] == []


def test_problems_read_in_the_readers_language(client, factory, acme, manager):
    factory.channel(acme, name="Shop phone", status="paused",
                    status_detail=PAUSING_STATES["notAuthorized"])
    client.get("/lang/es")  # the reader's language switch (the browser session)
    problem = health(client)["problems"][0]
    assert "Probar conexión" in problem["fix"], problem


def test_a_panel_connection_test_that_could_not_reach_it_is_a_problem(client, factory, acme,
                                                                      manager):
    from app.status_words import Said

    checked = utcnow() - timedelta(minutes=1)
    factory.panel(acme, panel_type="perfectpanel_v2", url="https://panel.example",
                  api_key="k" * 20, status="error",
                  status_detail=Said("panel_timeout").encode(), last_checked_at=checked)
    assert codes(health(client)) == {"panel_unreachable"}
    factory.commit(panel_call(acme))  # a call got through since the test
    assert health(client)["problems"] == []
