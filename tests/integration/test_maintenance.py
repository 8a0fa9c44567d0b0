"""The maintenance sweep: stale work is re-enqueued once, and retry delays are respected."""
from datetime import timedelta

from app.jobs import maintenance
from app.jobs.events import claim
from app.models import InboundEvent, OutboundMessage
from app.models.base import utcnow


def event(factory, db, **kw):
    ws = factory.workspace("acme")
    channel = factory.channel(ws)
    values = dict(workspace_id=ws.id, channel_id=channel.id, platform="greenapi", kind="message",
                  type="incomingMessageReceived", dedupe_key=f"k{utcnow().timestamp()}",
                  payload={}, state="pending",
                  received_at=utcnow() - maintenance.PENDING_GRACE - timedelta(seconds=5))
    values.update(kw)
    row = InboundEvent(**values)
    db.session.add(row)
    db.session.commit()
    return row


def test_a_swept_event_is_queued_once_until_its_lease_ends(factory, db, redis_conn):
    row = event(factory, db)
    assert maintenance.sweep()["events"] == 1
    db.session.refresh(row)
    assert row.state == "queued" and row.lease_until > utcnow()
    assert maintenance.sweep()["events"] == 0  # its job is still waiting: not queued again
    row.lease_until = utcnow() - timedelta(seconds=1)  # the job was lost
    db.session.commit()
    assert maintenance.sweep()["events"] == 1


def test_a_duplicate_job_does_not_cut_a_retry_delay_short(factory, db):
    row = event(factory, db, lease_until=utcnow() + timedelta(seconds=60))
    assert claim(row.id) is None
    row.lease_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert claim(row.id) is not None


def test_a_queued_event_is_claimed_whatever_its_lease(factory, db):
    row = event(factory, db, state="queued", lease_until=utcnow() + timedelta(minutes=5))
    assert claim(row.id).state == "processing"


def test_a_retrying_message_without_a_due_time_is_swept(factory, db, redis_conn):
    ws = factory.workspace("acme")
    channel = factory.channel(ws)
    message = OutboundMessage(workspace_id=ws.id, channel_id=channel.id, idempotency_key="k1",
                              chat_id="1@c.us", text="hi", state="retrying",
                              next_attempt_at=None, platform_message_ids=[])
    db.session.add(message)
    db.session.commit()
    assert maintenance.stale_outbound_ids() == [message.id]


def test_a_message_without_text_is_ignored_without_a_command_log(factory, db):
    from app.jobs.events import process_event
    from app.models import CommandLog

    row = event(factory, db, text=None, chat_id="79001234567@c.us",
                received_at=utcnow())
    assert process_event(row.id) == "ignored"
    db.session.refresh(row)
    assert row.state == "ignored" and db.session.query(CommandLog).count() == 0
