"""Maintenance: the fleet's sweep, and each workspace's housekeeping runner.

The database is the source of truth, RQ only a doorbell. `sweep()` runs every SWEEP_SECONDS
(from the worker's cron thread) and re-enqueues
* inbound events still `pending` a grace period after they arrived (Redis was down when the
  webhook answered, or the job was lost), or whose retry delay has passed;
* events stuck in `processing` whose lease expired (the worker died mid-way);
* outbound messages in the same situations (pending, retry due, or `sending` past its lease).
Enqueuing twice is harmless: `process_event` claims the row before doing anything.

`run_workspace(workspace_id)` is the workspace's "maintenance" runner (app/jobs/runners.py,
hourly, also while the workspace is suspended): it deletes expired cooldown claims, deletes
logs older than the plan's `log_retention_days` (none when the plan keeps them forever) and
takes the hourly health snapshots the dashboards read (`HealthSnapshot`, backfilling up to
SNAPSHOT_BACKFILL hours). The audit trail is not pruned: it is the record of who changed what.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import and_, delete, func, or_, select, update

from app.extensions import db
from app.jobs import queues
from app.models import (CommandLog, CooldownClaim, ExternalCall, HealthSnapshot, InboundEvent,
                        OutboundMessage)
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


def requeue_stale_media() -> int:
    """Media still `pending` whose download is due (its retry time passed, or it was never
    queued: Redis was down) are queued again."""
    from app.media.inbound import stale_media_ids

    ids = stale_media_ids(BATCH)
    return sum(1 for media_id in ids if queues.enqueue_media_download(media_id))


def sweep() -> dict:
    return {"events": requeue_stale_events(), "outbound": requeue_stale_outbound(),
            "media": requeue_stale_media()}


# --- the workspace's maintenance runner --------------------------------------------------------

MAINTENANCE_SECONDS = 3600
#: rows deleted per statement when pruning (short transactions beside live traffic)
PRUNE_BATCH = 5000
#: pruning stops after this long in one run (the next run goes on)
PRUNE_BUDGET_SECONDS = 60.0
SNAPSHOT_PERIOD = timedelta(hours=1)
SNAPSHOT_BACKFILL = 24
FINAL_EVENT_STATES = ("done", "failed", "ignored", "skipped")
FINAL_OUTBOUND_STATES = ("sent", "failed", "held")


def enabled_reason(_workspace_id: int) -> str | None:
    return None  # housekeeping runs for every workspace


def interval(_workspace_id: int) -> int:
    return MAINTENANCE_SECONDS


def expire_cooldowns(workspace_id: int, now=None) -> int:
    """Delete the workspace's cooldown claims whose window has ended."""
    result = db.session.execute(
        delete(CooldownClaim).where(CooldownClaim.workspace_id == workspace_id,
                                    CooldownClaim.expires_at < (now or utcnow()))
        .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount or 0


def _prunable(cutoff):
    """(model, condition) of each log the retention applies to, in deletion order."""
    return (
        (ExternalCall, ExternalCall.at < cutoff),
        (OutboundMessage, and_(OutboundMessage.created_at < cutoff,
                               OutboundMessage.state.in_(FINAL_OUTBOUND_STATES))),
        (CommandLog, and_(CommandLog.created_at < cutoff, CommandLog.state != "processing")),
        (InboundEvent, and_(InboundEvent.received_at < cutoff,
                            InboundEvent.state.in_(FINAL_EVENT_STATES))),
        (HealthSnapshot, HealthSnapshot.period_start < cutoff),
    )


def prune_logs(workspace_id: int, retention_days: int | None, now=None,
               budget: float = PRUNE_BUDGET_SECONDS) -> dict:
    """Delete the workspace's log rows older than `retention_days` ({table: rows deleted});
    nothing when the plan keeps logs forever (None). Work in flight is never deleted."""
    import time

    if retention_days is None or retention_days < 1:
        return {}
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    deadline = time.monotonic() + budget
    deleted: dict[str, int] = {}
    for model, condition in _prunable(cutoff):
        while time.monotonic() < deadline:
            ids = select(model.id).where(model.workspace_id == workspace_id, condition) \
                .limit(PRUNE_BATCH).scalar_subquery()
            result = db.session.execute(delete(model).where(model.id.in_(ids))
                                        .execution_options(synchronize_session=False))
            db.session.commit()
            count = result.rowcount or 0
            if count:
                deleted[model.__tablename__] = deleted.get(model.__tablename__, 0) + count
            if count < PRUNE_BATCH:
                break
    return deleted


def _hour(moment):
    return moment.replace(minute=0, second=0, microsecond=0)


def _count(query) -> int:
    return int(db.session.execute(query).scalar() or 0)


def take_snapshot(workspace_id: int, start, end, backlog: int) -> dict:
    """The figures of one period (uses the (workspace, time) indexes of each log)."""
    def events(*where):
        return _count(select(func.count()).select_from(InboundEvent).where(
            InboundEvent.workspace_id == workspace_id, InboundEvent.received_at >= start,
            InboundEvent.received_at < end, *where))

    def commands(*where):
        return _count(select(func.count()).select_from(CommandLog).where(
            CommandLog.workspace_id == workspace_id, CommandLog.created_at >= start,
            CommandLog.created_at < end, *where))

    def messages(state):
        return _count(select(func.count()).select_from(OutboundMessage).where(
            OutboundMessage.workspace_id == workspace_id, OutboundMessage.created_at >= start,
            OutboundMessage.created_at < end, OutboundMessage.state == state))

    def panel(*where):
        return _count(select(func.count()).select_from(ExternalCall).where(
            ExternalCall.workspace_id == workspace_id, ExternalCall.at >= start,
            ExternalCall.at < end, ExternalCall.service.like("panel:%"), *where))

    return {"workspace_id": workspace_id, "period_start": start, "period_end": end,
            "events_received": events(), "events_failed": events(InboundEvent.state == "failed"),
            "commands": commands(),
            "commands_dispatched": commands(CommandLog.outcome == "dispatched"),
            "messages_sent": messages("sent"), "messages_failed": messages("failed"),
            "panel_calls": panel(), "panel_errors": panel(ExternalCall.outcome != "ok"),
            "backlog": backlog, "taken_at": utcnow()}


def backlog_of(workspace_id: int) -> int:
    return _count(select(func.count()).select_from(InboundEvent).where(
        InboundEvent.workspace_id == workspace_id,
        InboundEvent.state.in_(("pending", "queued", "processing")))) + _count(
        select(func.count()).select_from(OutboundMessage).where(
            OutboundMessage.workspace_id == workspace_id,
            OutboundMessage.state.in_(("pending", "retrying", "sending"))))


def take_snapshots(workspace_id: int, now=None) -> int:
    """A snapshot of each ended hour that has none, the last SNAPSHOT_BACKFILL hours at most;
    returns how many were stored (a concurrent run's are kept: ON CONFLICT DO NOTHING)."""
    from app.jobs.bulk import dialect_insert

    current = _hour(now or utcnow())
    first = current - SNAPSHOT_PERIOD * SNAPSHOT_BACKFILL
    have = set(db.session.execute(
        select(HealthSnapshot.period_start).where(HealthSnapshot.workspace_id == workspace_id,
                                                  HealthSnapshot.period_start >= first)
    ).scalars())
    backlog = backlog_of(workspace_id)
    rows = []
    start = first
    while start < current:
        if start not in have:
            rows.append(take_snapshot(workspace_id, start, start + SNAPSHOT_PERIOD, backlog))
        start += SNAPSHOT_PERIOD
    if not rows:
        return 0
    insert = dialect_insert(HealthSnapshot.__table__)
    result = db.session.execute(insert.values(rows).on_conflict_do_nothing(
        index_elements=["workspace_id", "period_start"]))
    db.session.commit()
    return result.rowcount if result.rowcount and result.rowcount > 0 else len(rows)


def run_workspace(workspace_id: int) -> dict:
    """The workspace's maintenance runner (see the module docstring)."""
    from app.plans import limit_of

    retention = limit_of(workspace_id, "log_retention_days")
    return {"cooldowns_expired": expire_cooldowns(workspace_id),
            "pruned": prune_logs(workspace_id, retention), "retention_days": retention,
            "snapshots": take_snapshots(workspace_id)}
