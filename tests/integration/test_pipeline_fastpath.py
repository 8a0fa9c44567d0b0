"""The pipeline's hot path: one job per command, configuration snapshots, buffered call logs.

* The event job itself sends the provider's dispatch and the customer's reply after its commit
  (no send jobs), and a job that dies between that commit and the sends leaves the messages to
  the maintenance sweep, sent exactly once.
* A worker keeps each workspace's configuration and reloads it as soon as a manager changes it
  (`workspace.config_version`, bumped in the changing transaction).
* Calls to outside services are logged inside the job's own commits, and still logged when the
  job fails.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from app.extensions import db
from app.jobs import drivers, maintenance, outbound, pipeline, workspace_config
from app.jobs.drivers import run_event
from app.jobs.events import process_event
from app.jobs.outbound import send_outbound
from app.models import (ExternalCall, GlobalReplyTemplate, OutboundMessage, ProviderRoute,
                        Workspace)
from app.models.base import utcnow
from tests.integration.pipeline_support import (CUSTOMER_CHAT, GROUP_CHAT, REFILL_30, build_desk,
                                                days_ago, dispatches, post_green, send)

ORDER = "2274209"
EXTERNAL = "EXT-88231"


@pytest.fixture
def pp(fake_perfectpanel):
    for offset in range(5):
        fake_perfectpanel.add_order(int(ORDER) + offset, user="alice", service_name=REFILL_30,
                                    status="completed", external_id=f"EXT-{88231 + offset}",
                                    created=days_ago(5))
    return fake_perfectpanel


@pytest.fixture
def desk(factory, pp, fake_greenapi, redis_conn):
    desk = build_desk(factory, pp.url)
    desk.channel.api_url = fake_greenapi.url
    desk.channel.id_instance = fake_greenapi.id_instance
    desk.channel.api_token = fake_greenapi.api_token
    db.session.commit()
    workspace_config.forget()
    return desk


def send_jobs(app) -> list[str]:
    return app.extensions["relaydesk_queues"]["default"].job_ids


def test_the_event_job_sends_dispatch_and_reply_itself(app, client, desk, fake_greenapi):
    log = send(client, desk.channel, f"{ORDER} refill")

    assert fake_greenapi.messages_to(GROUP_CHAT) == [f"{EXTERNAL} refill"]
    assert len(fake_greenapi.messages_to(CUSTOMER_CHAT)) == 1
    rows = db.session.query(OutboundMessage).order_by(OutboundMessage.id).all()
    assert [(r.purpose, r.state, r.attempts, r.parts_sent) for r in rows] == [
        ("dispatch", "sent", 1, 1), ("reply", "sent", 1, 1)]
    assert all(r.platform_message_id and r.delivery_status == "sent" for r in rows)
    assert send_jobs(app) == []  # no second job for either message
    services = sorted(c.service for c in db.session.query(ExternalCall))
    assert services == ["greenapi", "greenapi", "panel:perfectpanel_v2"]
    assert log.outcome == "dispatched" and log.state == "done"


def test_a_job_killed_between_its_commit_and_the_sends_loses_nothing(app, client, desk,
                                                                      fake_greenapi, monkeypatch):
    class Killed(BaseException):  # like SIGKILL: nothing of the job runs after it
        pass

    def die(_items):
        raise Killed

    monkeypatch.setattr("app.jobs.events.send_deferred", die)
    (event_id,) = post_green(client, desk.channel, f"{ORDER} refill")
    with pytest.raises(Killed):
        process_event(event_id)
    db.session.rollback()
    rows = db.session.query(OutboundMessage).all()
    assert {r.state for r in rows} == {"sending"} and fake_greenapi.messages_to(GROUP_CHAT) == []
    # nothing is swept while the dead job's short lease lasts
    assert maintenance.stale_outbound_ids() == []
    db.session.execute(update(OutboundMessage).values(
        lease_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert sorted(maintenance.stale_outbound_ids()) == sorted(r.id for r in rows)
    for row in rows:
        assert send_outbound(row.id) == "sent"
        assert send_outbound(row.id) == "skipped"  # once only
    assert fake_greenapi.messages_to(GROUP_CHAT) == [f"{EXTERNAL} refill"]
    assert len(fake_greenapi.messages_to(CUSTOMER_CHAT)) == 1


def test_a_failed_send_continues_on_the_send_jobs_path(app, client, desk, fake_greenapi):
    # the dispatch and the reply go out side by side: whichever reaches the platform first
    # gets the 500
    fake_greenapi.fail_next(1, status=500, path="*/sendMessage/*")
    send(client, desk.channel, f"{ORDER} refill")
    messages = db.session.query(OutboundMessage).order_by(OutboundMessage.id).all()
    assert sorted(m.purpose for m in messages) == ["dispatch", "reply"]
    (failed,) = [m for m in messages if m.state == "retrying"]
    (other,) = [m for m in messages if m is not failed]
    assert failed.next_attempt_at is not None  # backs off
    assert failed.last_error and failed.attempts == 1
    assert other.state == "sent"  # the other message is not held up by the failure
    assert send_outbound(failed.id) == "skipped"  # not before its retry time ...
    db.session.execute(update(OutboundMessage).values(next_attempt_at=utcnow()))
    db.session.commit()
    assert send_outbound(failed.id) == "sent"  # ... then once
    assert fake_greenapi.messages_to(GROUP_CHAT) == [f"{EXTERNAL} refill"]
    assert len(fake_greenapi.messages_to(CUSTOMER_CHAT)) == 1


def test_a_configuration_change_reaches_the_very_next_command(app, client, desk, fake_greenapi):
    send(client, desk.channel, f"{ORDER} refill")
    version = db.session.get(Workspace, desk.workspace.id).config_version
    route = db.session.get(ProviderRoute, desk.route.id)
    route.chat_id = "120363000000000002@g.us"  # the manager moves the route to another group
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Workspace, desk.workspace.id).config_version > version

    send(client, desk.channel, f"{int(ORDER) + 1} refill")
    assert fake_greenapi.messages_to("120363000000000002@g.us") == ["EXT-88232 refill"]
    assert fake_greenapi.messages_to(GROUP_CHAT) == [f"{EXTERNAL} refill"]


def test_the_snapshot_is_reused_until_something_changes(app, client, desk, monkeypatch):
    loads = []
    real = workspace_config._load
    monkeypatch.setattr(workspace_config, "_load",
                        lambda *a: loads.append(a) or real(*a))
    for offset in range(3):
        send(client, desk.channel, f"{int(ORDER) + offset} refill")
    assert len(loads) == 1
    desk_settings = desk.workspace
    workspace = db.session.get(Workspace, desk_settings.id)
    workspace.language = "es"
    db.session.commit()
    send(client, desk.channel, f"{int(ORDER) + 3} refill")
    assert len(loads) == 2
    # a change elsewhere (last webhook time, status) is not a configuration change
    version = db.session.get(Workspace, desk_settings.id).config_version
    send(client, desk.channel, f"{int(ORDER) + 4} refill")
    db.session.expire_all()
    assert db.session.get(Workspace, desk_settings.id).config_version == version
    assert len(loads) == 2


def test_platform_reply_templates_bump_every_workspace(app, factory):
    one, two = factory.workspace("one"), factory.workspace("two")
    before = {w.id: w.config_version for w in db.session.query(Workspace)}
    db.session.add(GlobalReplyTemplate(key="help", language="en", body="Ask us anything"))
    db.session.commit()
    db.session.expire_all()
    after = {w.id: w.config_version for w in db.session.query(Workspace)}
    assert after[one.id] > before[one.id] and after[two.id] > before[two.id]


def test_writes_outside_the_orm_are_seen_after_max_age(app, client, desk, fake_greenapi,
                                                       monkeypatch):
    send(client, desk.channel, f"{ORDER} refill")
    db.session.execute(update(ProviderRoute).values(chat_id="120363000000000003@g.us"))
    db.session.commit()  # raw SQL: no version bump
    monkeypatch.setattr(workspace_config, "MAX_AGE", 0.0)
    send(client, desk.channel, f"{int(ORDER) + 1} refill")
    assert fake_greenapi.messages_to("120363000000000003@g.us") == ["EXT-88232 refill"]


def test_a_failing_job_still_logs_its_calls(app, client, desk, pp, monkeypatch):
    def broken(self, accepted, routes):
        raise RuntimeError("bug after the panel answered")

    monkeypatch.setattr(pipeline.CommandRun, "_dispatch", broken)
    (event_id,) = post_green(client, desk.channel, f"{ORDER} refill")
    with pytest.raises(RuntimeError):
        process_event(event_id)
    db.session.rollback()
    calls = db.session.query(ExternalCall).all()
    assert [c.service for c in calls] == ["panel:perfectpanel_v2"]
    assert calls[0].outcome == "ok" and ORDER in calls[0].url
    assert dispatches() == []


def test_deferred_sends_outside_a_job_use_send_jobs(app, client, desk):
    """A run outside a job (tests, tools): rows are written unclaimed and handed to RQ."""
    from app.models import InboundEvent

    (event_id,) = post_green(client, desk.channel, f"{ORDER} refill")
    run_event(db.session.get(InboundEvent, event_id))
    rows = db.session.query(OutboundMessage).order_by(OutboundMessage.id).all()
    assert [r.state for r in rows] == ["pending", "pending"]
    assert sorted(send_jobs(app)) == sorted(f"send-{r.id}" for r in rows)
    assert outbound.deferring() is False


def test_a_workspace_reusing_a_deleted_ones_id_gets_its_own_snapshot(app, factory):
    old = factory.workspace("old", language="en")
    old_id = old.id
    first = workspace_config.workspace_config(old_id)
    assert first.language == "en"
    db.session.delete(old)
    db.session.commit()
    db.session.add(Workspace(id=old_id, slug="new", name="New", language="tr"))
    db.session.commit()
    assert workspace_config.workspace_config(old_id).language == "tr"


def test_overlapping_messages_in_opposite_order_do_not_deadlock(app, client, desk,
                                                                 fake_greenapi, monkeypatch):
    """Claims are held until a command's final commit: both commands take them in order-id
    order, so "A B refill" and "B A refill" at the same moment cannot lock each other out."""
    import threading

    first, second = ORDER, str(int(ORDER) + 1)
    (one,) = post_green(client, desk.channel, f"{first} {second} refill")
    (two,) = post_green(client, desk.channel, f"{second} {first} refill",
                        id_message="SECOND00000001")
    barrier = threading.Barrier(2)
    real = drivers.claim_cooldowns
    local = threading.local()

    def claim_then_meet(*args, **kwargs):
        result = real(*args, **kwargs)
        if not getattr(local, "met", False):
            local.met = True
            try:  # both hold their claims here, unless one waits for the other's lock
                barrier.wait(timeout=1.5)
            except threading.BrokenBarrierError:
                pass
        return result

    monkeypatch.setattr(drivers, "claim_cooldowns", claim_then_meet)
    outcomes, errors = {}, []

    def work(event_id):
        with app.app_context():
            try:
                outcomes[event_id] = process_event(event_id)
            except Exception as exc:  # noqa: BLE001 - the assertion below shows it
                errors.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work, args=(e,)) for e in (one, two)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and len(outcomes) == 2
    # each order was dispatched once, by one of the two commands
    lines = [ln for m in fake_greenapi.messages_to(GROUP_CHAT) for ln in m.splitlines()]
    assert sorted(lines) == ["EXT-88231 refill", "EXT-88232 refill"]


def test_trouble_with_one_deferred_send_does_not_hold_up_the_next(app, client, desk,
                                                                  fake_greenapi, monkeypatch):
    calls = []
    real = outbound._transmit

    def flaky(item, client):  # the dispatch's send thread meets Redis going away
        calls.append(item.purpose)
        if item.purpose == "dispatch":
            raise ConnectionError("Redis went away")
        return real(item, client)

    monkeypatch.setattr(outbound, "_transmit", flaky)
    send(client, desk.channel, f"{ORDER} refill")  # no exception reaches the job
    assert sorted(calls) == ["dispatch", "reply"]
    dispatch, reply = db.session.query(OutboundMessage).order_by(OutboundMessage.id).all()
    assert dispatch.state == "sending"  # left to the sweep once its lease has passed
    assert reply.state == "sent" and len(fake_greenapi.messages_to(CUSTOMER_CHAT)) == 1
