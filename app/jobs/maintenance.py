"""Maintenance runner: the database is the source of truth, RQ only a doorbell.

`sweep()` runs every SWEEP_SECONDS (from the worker's cron thread) and re-enqueues
* inbound events still `pending` a grace period after they arrived (Redis was down when the
  webhook answered, or the job was lost), or whose retry delay has passed;
* events stuck in `processing` whose lease expired (the worker died mid-way);
* outbound messages in the same situations (pending, retry due, or `sending` past its lease).
Enqueuing twice is harmless: `process_event` claims the row before doing anything.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import and_, or_, select, update

from app.extensions import db
from app.jobs import queues
from app.models import InboundEvent, OutboundMessage
from app.models.base import utcnow

log = logging.getLogger(__name__)

SWEEP_SECONDS = 15
PENDING_GRACE = timedelta(seconds=30)
QUEUED_LEASE = timedelta(minutes=5)  # a re-enqueued event is swept again only after this
BATCH = 1000


def ping() -> str:
    """The no-op job benchmarks compare against."""
    return "pong"


def stale_event_ids(limit: int = BATCH) -> list[int]:
    now = utcnow()
    query = (
        select(InboundEvent.id)
        .where(or_(
            and_(InboundEvent.state.in_(("pending", "queued")),
                 or_(and_(InboundEvent.lease_until.is_(None),
                          InboundEvent.received_at < now - PENDING_GRACE),
                     InboundEvent.lease_until < now)),
            and_(InboundEvent.state == "processing", InboundEvent.lease_until < now),
        ))
        .order_by(InboundEvent.id)
        .limit(limit)
    )
    return list(db.session.execute(query).scalars())


def requeue_stale_events() -> int:
    """Re-enqueue stale events and mark them `queued` with a lease, so the next sweeps leave
    them alone while their job waits in a backlogged queue (and pick them up again if the job
    is lost: the lease expires)."""
    ids = stale_event_ids()
    queued = queues.enqueue_events(ids)
    if ids and queued:
        db.session.execute(
            update(InboundEvent).where(InboundEvent.id.in_(ids))
            .where(InboundEvent.state.in_(("pending", "queued")))
            .values(state="queued", lease_until=utcnow() + QUEUED_LEASE)
            .execution_options(synchronize_session=False))
        db.session.commit()
    if ids:
        log.info("maintenance re-enqueued %d of %d stale event(s)", queued, len(ids))
    return queued


def stale_outbound_ids(limit: int = BATCH) -> list[int]:
    now = utcnow()
    query = (
        select(OutboundMessage.id)
        .where(or_(
            and_(OutboundMessage.state == "pending",
                 OutboundMessage.created_at < now - PENDING_GRACE),
            and_(OutboundMessage.state == "retrying",
                 or_(OutboundMessage.next_attempt_at.is_(None),
                     OutboundMessage.next_attempt_at < now - PENDING_GRACE)),
            and_(OutboundMessage.state == "sending", OutboundMessage.lease_until < now),
        ))
        .order_by(OutboundMessage.id)
        .limit(limit)
    )
    return list(db.session.execute(query).scalars())


def requeue_stale_outbound() -> int:
    ids = stale_outbound_ids()
    queued = sum(1 for outbound_id in ids if queues.enqueue_send(outbound_id))
    if ids:
        log.info("maintenance re-enqueued %d of %d stale outbound message(s)", queued, len(ids))
    return queued


def sweep() -> dict:
    return {"events": requeue_stale_events(), "outbound": requeue_stale_outbound()}
