"""Runners (app/jobs/runners.py): state per workspace and runner, the tick that queues due runs
once, failures that keep saying so, disabled runners that say why, the maintenance runner's
housekeeping and the services runner's change report, the screen and its REST twin."""
from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from rq import Queue

from app.extensions import db as _db
from app.jobs import maintenance, runners
from app.jobs.runners import RUNNERS, Runner, claim_due, run_due, tick, wake
from app.models import (CommandLog, CooldownClaim, ExternalCall, HealthSnapshot, InboundEvent,
                        OutboundMessage, RunnerState, ServiceRule)
from app.models.base import utcnow
from app.redaction import remember
from tests.fakes.smmapi import FakeSmmApi
from tests.integration.team_support import deliver_templated_mail

KEY = "smm-user-key-0123456789"
SECRET = "panel-secret-9f8e7d6c5b4a"


def low_jobs(redis_conn) -> list[str]:
    return Queue("low", connection=redis_conn).job_ids


def state(workspace_id: int, name: str) -> RunnerState:
    _db.session.expire_all()
    return _db.session.query(RunnerState).filter_by(workspace_id=workspace_id,
                                                    runner=name).one()


@pytest.fixture
def two(factory):
    return factory.workspace("acme"), factory.workspace("bravo")


@pytest.fixture
def flaky(monkeypatch):
    """A runner whose function fails while `flaky["fail"]` holds; its summary otherwise."""
    control = {"fail": True, "calls": 0}

    def run(workspace_id):
        control["calls"] += 1
        if control["fail"]:
            raise RuntimeError(f"panel said no with key {SECRET}")
        return {"handled": 3}

    import sys
    import types
    module = types.ModuleType("tests_flaky_runner")
    module.run = run
    module.enabled = lambda workspace_id: None
    module.interval = lambda workspace_id: 120
    monkeypatch.setitem(sys.modules, "tests_flaky_runner", module)
    monkeypatch.setitem(RUNNERS, "tickets", Runner("tickets", "tests_flaky_runner.run",
                                                   "tests_flaky_runner.enabled",
                                                   "tests_flaky_runner.interval"))
    return control


# --- the tick ----------------------------------------------------------------------------------

def test_the_tick_gives_every_workspace_its_runners_and_queues_each_due_run_once(two, redis_conn):
    acme, bravo = two
    assert tick() == 2 * len(RUNNERS)
    names = set(RUNNERS)
    for ws in two:
        assert {s.runner for s in _db.session.query(RunnerState).filter_by(
            workspace_id=ws.id)} == names
    assert sorted(low_jobs(redis_conn)) == sorted(
        f"runner-{name}-{ws.id}" for ws in two for name in names)
    assert tick() == 0  # queued and not run yet: the lease holds them
    assert claim_due() == []


def test_a_lost_run_is_queued_again_after_its_lease(two, redis_conn):
    acme, _bravo = two
    tick()
    row = state(acme.id, "maintenance")
    row.queued_until = utcnow() - timedelta(seconds=1)
    _db.session.commit()
    assert claim_due() == [(acme.id, "maintenance")]


def test_a_run_sets_the_next_one_and_the_tick_waits_for_it(two, redis_conn):
    acme, _bravo = two
    tick()
    assert run_due("maintenance", acme.id) == "ok"
    row = state(acme.id, "maintenance")
    assert row.enabled and row.outcome == "ok" and row.queued_until is None
    assert row.runs == 1 and row.duration_ms is not None and row.last_error is None
    assert abs((row.next_run_at - row.last_run_at).total_seconds()
               - maintenance.MAINTENANCE_SECONDS) < 5
    assert (acme.id, "maintenance") not in claim_due()


def test_wake_runs_it_now_whatever_its_next_run(two, redis_conn):
    acme, _bravo = two
    tick()
    run_due("maintenance", acme.id)
    Queue("low", connection=redis_conn).empty()
    assert wake(acme.id, "maintenance") is True
    assert low_jobs(redis_conn) == [f"runner-maintenance-{acme.id}"]
    assert state(acme.id, "maintenance").queued_until is not None
    assert wake(acme.id, "no-such-runner") is False


def test_a_real_worker_runs_what_the_cron_thread_queued(app, two, redis_conn):
    from app.jobs.worker import RelaydeskWorker, cron_pass

    acme, bravo = two
    redis_conn.delete("relaydesk:cron:runners", "relaydesk:cron:sweep")
    cron_pass(app)
    assert len([j for j in low_jobs(redis_conn) if j.startswith("runner-")]) == 2 * len(RUNNERS)
    with app.app_context():
        queue = app.extensions["relaydesk_queues"]["low"]
        RelaydeskWorker([queue], connection=queue.connection).work(burst=True)
    for ws in two:
        assert state(ws.id, "maintenance").outcome == "ok"
        services = state(ws.id, "services")
        assert services.enabled is False and services.disabled_reason == "No panel is connected."
        assert services.outcome == "skipped"


# --- failures and disabled runners --------------------------------------------------------------

def test_a_failing_runner_keeps_saying_so_until_a_run_succeeds(two, flaky, caplog):
    acme, _bravo = two
    remember(SECRET)  # a secret the job had in play (a decrypted panel key)
    with caplog.at_level(logging.ERROR, logger="app.jobs.runners"):
        assert run_due("tickets", acme.id) == "failed"
    row = state(acme.id, "tickets")
    assert row.outcome == "failed" and row.failures == 1
    assert row.last_error.startswith("RuntimeError: panel said no")
    assert SECRET not in row.last_error  # redacted (the worker's log has the traceback)
    logged = [r for r in caplog.records if r.name == "app.jobs.runners"]
    assert logged and "runner tickets" in logged[0].getMessage(), [r.__dict__ for r in logged]
    assert logged[0].exc_info or logged[0].exc_text  # with its traceback
    since = row.failing_since
    assert since is not None

    assert run_due("tickets", acme.id) == "failed"
    row = state(acme.id, "tickets")
    assert row.failing_since == since and row.failures == 2  # still failing, since the first

    flaky["fail"] = False
    assert run_due("tickets", acme.id) == "ok"
    row = state(acme.id, "tickets")
    assert (row.outcome, row.last_error, row.failing_since) == ("ok", None, None)
    assert row.summary == {"handled": 3} and row.runs == 3 and row.failures == 2


def test_a_failing_gate_is_recorded_as_a_failure(two, flaky, monkeypatch):
    import sys

    acme, _bravo = two

    def broken(workspace_id):
        raise RuntimeError("settings unreadable")

    monkeypatch.setattr(sys.modules["tests_flaky_runner"], "enabled", broken)
    assert run_due("tickets", acme.id) == "failed"
    row = state(acme.id, "tickets")
    assert row.outcome == "failed" and "settings unreadable" in row.last_error
    assert row.queued_until is None and flaky["calls"] == 0


def test_a_runner_answering_failed_is_recorded_as_failed(factory, two):
    acme, _bravo = two
    with FakeSmmApi(api_key=KEY, services=[]) as smm:
        factory.panel(acme, panel_type="smm_api_v2", url=smm.url, service_rules_mode="cached",
                      api_key="wrong-key-000000000")
        assert run_due("services", acme.id) == "failed"
    row = state(acme.id, "services")
    assert row.outcome == "failed" and row.last_error and row.failing_since


def test_a_suspended_workspace_runs_only_housekeeping(two, flaky):
    acme, _bravo = two
    acme.status = "suspended"
    _db.session.commit()
    assert run_due("tickets", acme.id) == "skipped"
    row = state(acme.id, "tickets")
    assert (row.enabled, row.disabled_reason) == (False, "The workspace is suspended.")
    assert flaky["calls"] == 0
    assert run_due("maintenance", acme.id) == "ok"


def test_the_services_runner_says_why_it_does_not_run(factory, two):
    acme, bravo = two
    assert run_due("services", acme.id) == "skipped"
    assert state(acme.id, "services").disabled_reason == "No panel is connected."
    factory.panel(acme, panel_type="smm_api_v2", url="https://panel.example",
                  service_rules_mode="names")
    run_due("services", acme.id)
    assert "read from service names" in state(acme.id, "services").disabled_reason
    plan = factory.plan(modules="api")
    factory.panel(bravo, panel_type="smm_api_v2", url="https://panel.example",
                  service_rules_mode="cached")
    bravo.plan_id = plan.id
    _db.session.commit()
    run_due("services", bravo.id)
    row = state(bravo.id, "services")
    assert row.enabled is False and plan.name in row.disabled_reason


# --- the maintenance runner ---------------------------------------------------------------------

def _event(ws, channel, key, received_at, state="done"):
    return InboundEvent(workspace_id=ws.id, channel_id=channel.id, platform="greenapi",
                        kind="message", type="incomingMessageReceived", dedupe_key=key,
                        payload={}, state=state, received_at=received_at)


def test_maintenance_prunes_by_the_plans_retention_and_keeps_work_in_flight(factory, two):
    acme, bravo = two
    plan = factory.plan(log_retention_days=7)
    acme.plan_id = bravo.plan_id = plan.id
    channel, other = factory.channel(acme), factory.channel(bravo)
    old, recent = utcnow() - timedelta(days=8), utcnow() - timedelta(days=6)
    rows = [_event(acme, channel, "old", old), _event(acme, channel, "new", recent),
            _event(acme, channel, "stuck", old, state="pending"),
            _event(bravo, other, "b-old", old)]
    _db.session.add_all(rows)
    _db.session.flush()
    _db.session.add_all([
        CommandLog(workspace_id=acme.id, inbound_event_id=rows[1].id, channel_id=channel.id,
                   chat_id="1@c.us", state="done", created_at=old, trace=[]),
        OutboundMessage(workspace_id=acme.id, channel_id=channel.id, idempotency_key="o1",
                        chat_id="1@c.us", text="x", state="sent", created_at=old,
                        platform_message_ids=[]),
        OutboundMessage(workspace_id=acme.id, channel_id=channel.id, idempotency_key="o2",
                        chat_id="1@c.us", text="x", state="retrying", created_at=old,
                        platform_message_ids=[]),
        ExternalCall(workspace_id=acme.id, at=old, service="panel:smm_api_v2", operation="x",
                     method="GET", url="https://p.example", outcome="ok"),
        CooldownClaim(workspace_id=acme.id, order_id="1", action="refill",
                      expires_at=utcnow() - timedelta(minutes=1)),
        CooldownClaim(workspace_id=acme.id, order_id="2", action="refill",
                      expires_at=utcnow() + timedelta(hours=1)),
    ])
    _db.session.commit()

    assert run_due("maintenance", acme.id) == "ok"

    summary = state(acme.id, "maintenance").summary
    assert summary["cooldowns_expired"] == 1 and summary["retention_days"] == 7
    assert summary["pruned"] == {"external_call": 1, "outbound_message": 1, "command_log": 1,
                                 "inbound_event": 1}
    assert {e.dedupe_key for e in _db.session.query(InboundEvent)} == {"new", "stuck", "b-old"}
    assert [m.idempotency_key for m in _db.session.query(OutboundMessage)] == ["o2"]
    assert [c.order_id for c in _db.session.query(CooldownClaim)] == ["2"]


def test_a_plan_keeping_logs_forever_prunes_nothing(factory, two):
    acme, _bravo = two
    acme.plan_id = factory.plan(log_retention_days=None).id
    channel = factory.channel(acme)
    _db.session.add(_event(acme, channel, "ancient", utcnow() - timedelta(days=900)))
    _db.session.commit()
    run_due("maintenance", acme.id)
    assert state(acme.id, "maintenance").summary["pruned"] == {}
    assert _db.session.query(InboundEvent).count() == 1


def test_maintenance_takes_hourly_health_snapshots_once(factory, two):
    acme, bravo = two
    channel = factory.channel(acme)
    hour = utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    _db.session.add_all([_event(acme, channel, f"e{i}", hour + timedelta(minutes=5 + i),
                                state="failed" if i == 0 else "done") for i in range(3)])
    _db.session.add(_event(acme, channel, "waiting", utcnow(), state="pending"))
    _db.session.add(ExternalCall(workspace_id=acme.id, at=hour + timedelta(minutes=1),
                                 service="panel:perfectpanel", operation="order",
                                 method="GET", url="https://p.example", outcome="timeout"))
    _db.session.commit()

    assert maintenance.take_snapshots(acme.id) == maintenance.SNAPSHOT_BACKFILL
    assert maintenance.take_snapshots(acme.id) == 0  # every ended hour has its snapshot
    snap = _db.session.query(HealthSnapshot).filter_by(workspace_id=acme.id,
                                                       period_start=hour).one()
    assert (snap.events_received, snap.events_failed, snap.panel_calls, snap.panel_errors,
            snap.backlog) == (3, 1, 1, 1, 1)
    assert _db.session.query(HealthSnapshot).filter_by(workspace_id=bravo.id).count() == 0


# --- the services runner ------------------------------------------------------------------------

SERVICES = [
    {"service": 1, "name": "Followers [30 Days Refill]", "rate": "0.9", "refill": True},
    {"service": 2, "name": "Likes [No Refill]", "rate": "0.1", "refill": False},
    {"service": 3, "name": "Views", "rate": "0.01"},
]


def test_the_services_runner_reports_new_removed_and_renamed_services(app, factory, two,
                                                                      redis_conn):
    acme, _bravo = two
    factory.member(acme, "ana-manager")
    with FakeSmmApi(api_key=KEY, services=[dict(s) for s in SERVICES]) as smm:
        factory.panel(acme, panel_type="smm_api_v2", url=smm.url, api_key=KEY,
                      service_rules_mode="cached")
        assert run_due("services", acme.id) == "ok"
        first = state(acme.id, "services").summary
        assert first["first_fill"] is True and first["new_count"] == 3
        assert deliver_templated_mail(app) == []  # the first fill is no news

        smm.services = [
            {"service": 1, "name": "Followers [60 Days Refill]", "rate": "0.9"},  # rules change
            {"service": 2, "name": "Likes [No Refill] new name", "rate": "0.1"},  # same rules
            {"service": 4, "name": "Comments [Lifetime]", "rate": "2"},
        ]
        assert run_due("services", acme.id) == "ok"

    summary = state(acme.id, "services").summary
    assert summary["new"] == [{"id": "4", "name": "Comments [Lifetime]"}]
    assert summary["removed"] == [{"id": "3", "name": "Views"}]
    assert summary["rules_changed"] == [{"id": "1", "was": "Followers [30 Days Refill]",
                                         "now": "Followers [60 Days Refill]"}]
    assert _db.session.query(ServiceRule).filter_by(workspace_id=acme.id).count() == 4
    mails = deliver_templated_mail(app)
    assert [m.to for m in mails] == ["ana-manager@test.example"]
    assert "No longer listed: 3 Views" in mails[0].body
    assert "Followers [60 Days Refill]" in mails[0].body and "Comments" in mails[0].body


# --- the screen and the REST twin ----------------------------------------------------------------

def test_managers_read_their_runners_and_run_one_now(client, auth, factory, two, redis_conn):
    acme, bravo = two
    factory.member(acme, "ana-manager")
    tick()
    run_due("maintenance", acme.id)
    run_due("maintenance", bravo.id)
    Queue("low", connection=redis_conn).empty()
    auth.login("ana-manager")

    answer = client.get("/api/v1/runner_state/")
    assert answer.status_code == 200
    result = answer.json["result"]
    assert {r["runner"] for r in result} == set(RUNNERS)
    assert len(result) == len(RUNNERS)  # nothing of bravo's
    row = next(r for r in result if r["runner"] == "maintenance")
    assert {"enabled", "last_run_at", "outcome", "last_error", "next_run_at"} <= set(row)
    assert row["outcome"] == "ok" and row["enabled"] is True
    assert client.post("/api/v1/runner_state/", json={"runner": "tickets"}).status_code in (
        403, 405)

    page = client.get("/runnerstateview/list/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Maintenance" in html and "Services refresh" in html and "Succeeded" in html
    mine = state(acme.id, "maintenance")
    shown = client.get(f"/runnerstateview/show/{mine.id}").get_data(as_text=True)
    assert "Expired cooldowns removed" in shown
    assert client.get(f"/runnerstateview/show/{state(bravo.id, 'maintenance').id}"
                      ).status_code == 404

    answer = client.post("/runnerstateview/action_post",
                         data={"action": "run_now", "rowid": [str(mine.id)]})
    assert answer.status_code == 302
    assert low_jobs(redis_conn) == [f"runner-maintenance-{acme.id}"]
    client.post("/runnerstateview/action_post",
                data={"action": "run_now", "rowid": [str(state(bravo.id, "maintenance").id)]})
    assert low_jobs(redis_conn) == [f"runner-maintenance-{acme.id}"]  # not bravo's


def test_agents_read_but_do_not_run(client, auth, factory, two, redis_conn):
    acme, _bravo = two
    factory.member(acme, "al-agent", role="agent")
    tick()
    Queue("low", connection=redis_conn).empty()
    auth.login("al-agent")
    assert client.get("/runnerstateview/list/").status_code == 200
    row = state(acme.id, "maintenance")
    client.post("/runnerstateview/action_post", data={"action": "run_now", "rowid": [row.id]})
    assert low_jobs(redis_conn) == []


def test_the_master_admin_sees_every_workspaces_runners(client, auth, factory, two):
    factory.admin("root")
    tick()
    auth.login("root")
    answer = client.get("/api/v1/runner_state/?q=(page_size:100)")
    assert answer.status_code == 200
    assert len(answer.json["result"]) == 2 * len(RUNNERS)


def test_runners_module_names_only_runners_the_state_knows():
    from app.models.runners import RUNNER_NAMES

    assert set(RUNNERS) <= set(RUNNER_NAMES)
    for runner in RUNNERS.values():
        for path in (runner.run, runner.enabled, runner.interval):
            assert callable(runners._resolve(path)), path
