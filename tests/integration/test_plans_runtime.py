"""Plans and suspension at run time (docs/contracts.md "SaaS contracts"; issue 13).

* A message for a medium the workspace's plan excludes, or of a suspended workspace, is stored
  by the webhook (200, as any event) and finished by the worker as `skipped` with its reason
  (`plan`, `suspended`): never processed (no panel call, no dispatch), never retried, not
  replayed when the workspace resumes (the manager may "Process again").
* A suspended workspace's customer is told the service is paused (`service_paused`, the
  workspace's reply template when it has one), at most once a chat an hour, or nothing when
  the workspace turned the paused reply off.
* Delivery statuses and channel states of a suspended workspace are still applied.
"""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from app.domain.replies import PLAIN_REPLIES
from app.extensions import db
from app.jobs import workspace_config
from app.jobs.events import process_event
from app.jobs.maintenance import stale_event_ids
from app.jobs.pipeline import paused_reply_key
from app.models import (Channel, CommandLog, InboundEvent, OutboundMessage, Workspace,
                        WorkspaceSettings)
from app.models.base import utcnow
from tests.conftest import BACKENDS
from tests.fakes import greenapi as green_hooks
from tests.integration.pipeline_support import (CUSTOMER_CHAT, GROUP_CHAT, REFILL_30,
                                                build_desk, days_ago, dispatches, post_green,
                                                steps)

ORDER = "2274209"
PAUSED = PLAIN_REPLIES["service_paused"]
UNLINKED_GROUP = "120363099999999999@g.us"


@pytest.fixture
def pp(fake_perfectpanel):
    fake_perfectpanel.add_order(int(ORDER), user="alice", service_name=REFILL_30,
                                status="completed", external_id="EXT-88231", created=days_ago(5))
    return fake_perfectpanel


@pytest.fixture
def desk(factory, pp, redis_conn):
    desk = build_desk(factory, pp.url)
    workspace_config.forget()
    return desk


def suspend(desk, reason: str | None = None) -> None:
    workspace = db.session.get(Workspace, desk.workspace.id)
    workspace.status, workspace.suspended_reason = "suspended", reason
    db.session.commit()


def resume(desk) -> None:
    workspace = db.session.get(Workspace, desk.workspace.id)
    workspace.status = "active"
    db.session.commit()


def event(event_id: int) -> InboundEvent:
    db.session.expire_all()
    return db.session.get(InboundEvent, event_id)


def deliver(client, desk, text: str, chat: str = CUSTOMER_CHAT, **kw) -> int:
    """The message through the real webhook (200) and the worker; returns its event id."""
    (event_id,) = post_green(client, desk.channel, text, chat, **kw)
    process_event(event_id)
    return event_id


def paused_replies() -> list[OutboundMessage]:
    db.session.expire_all()
    return (db.session.query(OutboundMessage)
            .filter(OutboundMessage.idempotency_key.like("paused:%"))
            .order_by(OutboundMessage.id).all())


def log_of(event_id: int) -> CommandLog | None:
    return db.session.query(CommandLog).filter_by(inbound_event_id=event_id).one_or_none()


def nothing_processed(pp) -> None:
    assert pp.request_count == 0, "the panel was asked"
    assert dispatches() == [], "a provider got a request"


# --- a medium the plan excludes ---------------------------------------------------------------

def test_a_message_for_a_medium_the_plan_excludes_is_skipped_with_reason_plan(client, factory,
                                                                              desk, pp):
    plan = factory.plan(mediums="telegram,meta")
    db.session.get(Workspace, desk.workspace.id).plan_id = plan.id
    db.session.commit()

    event_id = deliver(client, desk, f"{ORDER} refill")

    row = event(event_id)
    assert (row.state, row.skip_reason) == ("skipped", "plan")
    assert row.processed_at is not None and row.lease_until is None
    nothing_processed(pp)
    assert log_of(event_id) is None  # not handled at all: no command, no reply
    assert db.session.query(OutboundMessage).count() == 0
    # never retried: the sweep leaves it, a duplicate job finds nothing to claim
    assert event_id not in stale_event_ids()
    assert process_event(event_id) == "skipped"
    assert event(event_id).state == "skipped"

    # the plan is read when the event is claimed: a plan that allows the medium again applies
    # to the next message at once
    db.session.get(type(plan), plan.id).mediums = "greenapi,telegram"
    db.session.commit()
    event_id = deliver(client, desk, f"{ORDER} refill")
    assert (event(event_id).state, event(event_id).skip_reason) == ("done", None)
    assert len(dispatches()) == 1


def test_no_plan_excludes_nothing_and_statuses_of_an_excluded_medium_still_apply(
        client, factory, desk, pp):
    event_id = deliver(client, desk, f"{ORDER} refill")  # no plan: every medium
    assert event(event_id).state == "done"
    reply = db.session.query(OutboundMessage).filter_by(purpose="reply").one()
    reply.platform_message_id, reply.state = "BAE5F4886EE6B4B2", "sent"
    plan = factory.plan(mediums="meta")
    db.session.get(Workspace, desk.workspace.id).plan_id = plan.id
    db.session.commit()

    status_id = _post(client, desk.channel, green_hooks.outgoing_message_status(
        CUSTOMER_CHAT, "BAE5F4886EE6B4B2", "read", id_instance=desk.channel.id_instance))
    process_event(status_id)
    assert (event(status_id).state, event(status_id).skip_reason) == ("done", None)
    assert db.session.get(OutboundMessage, reply.id).delivery_status == "read"


def _post(client, channel: Channel, payload: dict) -> int:
    before = {i for (i,) in db.session.query(InboundEvent.id)}
    response = client.post("/webhooks/greenapi", data=json.dumps(payload),
                           headers=green_hooks.webhook_headers(channel.webhook_token))
    assert response.status_code == 200, response.data
    db.session.expire_all()
    (new,) = {i for (i,) in db.session.query(InboundEvent.id)} - before
    return new


# --- a suspended workspace --------------------------------------------------------------------

def test_a_suspended_workspaces_message_is_skipped_and_the_chat_told_once_an_hour(
        client, desk, pp):
    suspend(desk, "Invoice INV-7 is unpaid")

    first = deliver(client, desk, f"{ORDER} refill")
    assert (event(first).state, event(first).skip_reason) == ("skipped", "suspended")
    nothing_processed(pp)
    (reply,) = paused_replies()
    assert (reply.chat_id, reply.text, reply.purpose) == (CUSTOMER_CHAT, PAUSED, "reply")
    log = log_of(first)
    assert log.outcome == "paused" and log.reply_text == PAUSED
    assert [s["reply"] for s in steps(log, "paused")] == ["told"]

    second = deliver(client, desk, f"{ORDER} speed")
    assert (event(second).state, event(second).skip_reason) == ("skipped", "suspended")
    assert len(paused_replies()) == 1, "told twice within the hour"
    assert [s["reply"] for s in steps(log_of(second), "paused")] == ["told_recently"]
    nothing_processed(pp)
    assert event(first).attempts == 1 and first not in stale_event_ids()

    # an hour later the chat is told again
    reply.created_at = an_hour_ago = utcnow() - timedelta(minutes=61)
    reply.idempotency_key = paused_reply_key(CUSTOMER_CHAT, an_hour_ago)
    db.session.commit()
    deliver(client, desk, f"{ORDER} cancel")
    assert len(paused_replies()) == 2
    nothing_processed(pp)


def test_the_paused_reply_is_the_workspaces_template_and_can_be_turned_off(client, factory,
                                                                            desk, pp):
    factory.reply_template(desk.workspace, key="service_paused",
                           body="We are on a break, back soon.")
    suspend(desk)
    deliver(client, desk, f"{ORDER} refill")
    assert [r.text for r in paused_replies()] == ["We are on a break, back soon."]

    other_chat = "79001112233@c.us"
    settings = db.session.query(WorkspaceSettings).filter_by(
        workspace_id=desk.workspace.id).one()
    settings.paused_reply_enabled = False
    db.session.commit()
    skipped = deliver(client, desk, f"{ORDER} refill", chat=other_chat)
    assert (event(skipped).state, event(skipped).skip_reason) == ("skipped", "suspended")
    assert len(paused_replies()) == 1, "silence was asked for"
    assert [s["reply"] for s in steps(log_of(skipped), "paused")] == ["off"]
    nothing_processed(pp)


def test_only_messages_that_would_have_been_answered_are_told(client, factory, desk, pp):
    suspend(desk)
    chatter = deliver(client, desk, "thanks, have a nice day")
    in_provider_group = deliver(client, desk, f"{ORDER} refill", chat=GROUP_CHAT)
    in_unlinked_group = deliver(client, desk, f"{ORDER} refill", chat=UNLINKED_GROUP)
    for event_id in (chatter, in_provider_group, in_unlinked_group):
        assert (event(event_id).state, event(event_id).skip_reason) == ("skipped", "suspended")
    assert paused_replies() == []
    own = _post(client, desk.channel, green_hooks.outgoing_message(
        CUSTOMER_CHAT, "our own words", id_instance=desk.channel.id_instance))
    process_event(own)
    assert (event(own).state, event(own).skip_reason) == ("skipped", "suspended")
    assert log_of(own) is None and paused_replies() == []
    nothing_processed(pp)


def test_statuses_and_channel_states_of_a_suspended_workspace_still_apply(client, desk, pp):
    deliver(client, desk, f"{ORDER} refill")
    reply = db.session.query(OutboundMessage).filter_by(purpose="reply").one()
    reply.platform_message_id, reply.state = "BAE5F4886EE6B4B1", "sent"
    db.session.commit()
    suspend(desk)

    status_id = _post(client, desk.channel, green_hooks.outgoing_message_status(
        CUSTOMER_CHAT, "BAE5F4886EE6B4B1", "delivered", id_instance=desk.channel.id_instance))
    state_id = _post(client, desk.channel, green_hooks.state_instance_changed(
        "notAuthorized", id_instance=desk.channel.id_instance))
    process_event(status_id)
    process_event(state_id)
    assert [(event(i).state, event(i).skip_reason) for i in (status_id, state_id)] == [
        ("done", None), ("done", None)]
    db.session.expire_all()
    assert db.session.get(OutboundMessage, reply.id).delivery_status == "delivered"
    assert db.session.get(Channel, desk.channel.id).status == "paused"


def test_resuming_replays_nothing_but_a_manager_may_process_a_skipped_message_again(
        client, factory, auth, desk, pp):
    suspend(desk)
    skipped = deliver(client, desk, f"{ORDER} refill")
    resume(desk)
    assert event(skipped).state == "skipped" and skipped not in stale_event_ids()
    nothing_processed(pp)

    factory.member(desk.workspace, "acme-manager")
    auth.login("acme-manager")
    response = client.post("/inboundeventview/action_post",
                           data={"action": "reprocess", "rowid": [str(skipped)]})
    assert response.status_code == 302
    process_event(skipped)
    row = event(skipped)
    assert (row.state, row.skip_reason) == ("done", None)
    assert len(dispatches()) == 1
    log = log_of(skipped)
    assert log.outcome == "dispatched"
    assert [s["step"] for s in log.trace].count("unpaused") == 1


@pytest.mark.skipif(not BACKENDS.database_url.startswith("postgresql"),
                    reason="batches need SKIP LOCKED (PostgreSQL)")
def test_a_batch_tells_a_chat_once(client, desk, pp):
    suspend(desk)
    ids = [post_green(client, desk.channel, text)[0]
           for text in (f"{ORDER} refill", f"{ORDER} speed", "help")]
    process_event(ids[0])  # takes the other two with it
    assert [(event(i).state, event(i).skip_reason) for i in ids] == [("skipped", "suspended")] * 3
    assert len(paused_replies()) == 1
    nothing_processed(pp)


def test_the_inbound_events_screen_says_why_in_words(client, factory, auth, desk, pp):
    suspend(desk)
    deliver(client, desk, f"{ORDER} refill")
    factory.member(desk.workspace, "acme-manager")
    auth.login("acme-manager")
    page = client.get("/inboundeventview/list/").get_data(as_text=True)
    assert "Skipped" in page and "The workspace is suspended" in page
    client.get("/lang/es")
    page = client.get("/inboundeventview/list/").get_data(as_text=True)
    assert "The workspace is suspended" not in page and "Skipped" not in page
