"""The broadcasts runner and the actions that drive a broadcast (issue 14).

Contract
--------
* Actions (the screen and its REST twin): `start(b)`, `pause(b)`, `resume(b)`, `cancel(b)`;
  each checks the status it may move from and raises `BroadcastRefusal` (its `message` is for
  the person; a `PlanRefusal` for what the plan does not allow). They commit. `start` and
  `resume` ask the runner to run at once (`app.jobs.runners.wake`).
* The runner (`RUNNERS["broadcasts"]`, app/jobs/runners.py): `run_workspace(workspace_id)`
  starts the scheduled broadcasts that are due and sends the running ones, for up to
  `RUN_BUDGET` seconds; `enabled_reason(workspace_id)` (the plan's sentence when the plan has
  no `broadcasts` module); `interval(workspace_id)` (a few seconds while one runs).
* Recipients are chosen once, when a broadcast first runs (`prepare`): every linked user of
  the workspace in the audience (languages, tags: any of them; empty lists: everyone) with a
  chat identity on an enabled channel of the audience's kinds that the plan allows, ONE
  identity each (verified first, then the oldest). Opted-out users are recorded `skipped`.
* Sending (`send_batch`): a batch of pending recipients (`FOR UPDATE SKIP LOCKED`, so two
  workers share the work) gets its `OutboundMessage` rows, written claimed with a short lease
  under the key `broadcast:<broadcast id>:<recipient id>` (UNIQUE: never two messages for one
  recipient), and the recipients become `sending` in the same commit. The messages are then
  sent side by side (app/jobs/threads.py "broadcast" pool, `Transmitter`; the next batch is
  claimed while the last quarter of one is still sending), each taking the channel sender's
  own rate-limit slots (app/integrations/ratelimit.py) after a paced moment at `PACE` of the
  channel's rate (`pace_rule`, `reserve`: moments exactly one interval apart, no burst; a call
  woken more than `LATE` after its moment takes another), so a broadcast never bursts past
  the platform's limit and leaves room for chat replies. Each message is marked sent,
  durably, as soon as its answer is here. A worker killed mid-batch leaves rows `sending`
  under a lease (`BATCH_LEASE`): the next run (or the maintenance sweep) sends the ones whose
  call had not begun (`claim_outbound` takes a row whose lease passed), so nobody is lost.
  A call that had begun is marked in Redis first (`STARTED_KEY`, cleared when its outcome
  is a failure or a retry), and the platform's acceptance is written there as soon as it is
  known (the job's own mark follows): a row found after a crash whose call was accepted is
  marked sent (`recover`); one whose call began with no answer may have reached the customer,
  so it is never sent again: it is recorded failed, `interrupted` (at most once: a broadcast
  sent twice is spam).
* A recipient's state follows its message (`settle`): sent, or failed with the reason (a
  message the outbound machinery retries stays `sending` meanwhile).
"""
from __future__ import annotations

import logging
import queue
import time
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, select, text, update

from app.extensions import db
from app.models import (Broadcast, BroadcastRecipient, ChatIdentity, Conversation, LinkedUser,
                        OutboundMessage)
from app.models.base import split_list, utcnow
from app.jobs.outbound import STARTED_KEY, STARTED_TTL

log = logging.getLogger(__name__)

RUN_BUDGET = 240.0  # seconds one run sends before it hands over (job_timeout is 900 s)
BATCH_SECONDS = 3.0  # a batch holds about this much sending at the channels' rates
BATCH_MIN, BATCH_MAX = 10, 1000
BATCH_LEASE = timedelta(seconds=15)  # a killed worker's batch is sent again after this
PACE = 0.97  # a broadcast uses at most this share of a channel's rate
LATE = 0.015  # a paced call this late for its moment waits for another one
PACE_WAIT = 10.0  # a message waits for its slot up to this in the batch, else is retried
THROTTLED_RETRIES = 2  # a call refused for the platform's rate is tried again this often ...
THROTTLED_WAIT = 5.0  # ... after the platform's Retry-After, at most this long
RUNNING_INTERVAL = 5
IDLE_INTERVAL = 60


def _forget_started(outbound_id: int) -> None:
    try:
        current_app.extensions["relaydesk_redis"].delete(STARTED_KEY.format(outbound_id))
    except Exception:  # noqa: BLE001 - the marker expires by itself
        log.warning("could not clear the send marker of message %s", outbound_id)


class BroadcastRefusal(Exception):
    status = 409

    @property
    def message(self) -> str:
        return str(self.args[0])


# --- what the plan allows ----------------------------------------------------------------------

def enabled_reason(workspace_id: int) -> str | None:
    """None when the workspace's plan includes broadcasts, else the plan's sentence."""
    from app.plans import module_refusal, plan_of

    refusal = module_refusal(plan_of(workspace_id), "broadcasts")
    return refusal.message if refusal is not None else None


def interval(workspace_id: int) -> int:
    """Seconds to the next run: a few while a broadcast runs, else until the next scheduled
    one is due (at most a minute)."""
    statuses = dict(db.session.execute(
        select(Broadcast.status, func.min(Broadcast.scheduled_at))
        .where(Broadcast.workspace_id == workspace_id,
               Broadcast.status.in_(("running", "scheduled")))
        .group_by(Broadcast.status)).all())
    if "running" in statuses:
        return RUNNING_INTERVAL
    due = statuses.get("scheduled")
    if due is not None:
        seconds = int((due - utcnow()).total_seconds())
        return max(RUNNING_INTERVAL, min(IDLE_INTERVAL, seconds))
    return IDLE_INTERVAL


def check_audience(broadcast: Broadcast) -> None:
    """:raise PlanExcludes: the audience names a medium the plan does not include."""
    from app.plans import medium_refusal, plan_of

    plan = plan_of(broadcast.workspace_id)
    for kind in split_list(broadcast.channel_kinds):
        refusal = medium_refusal(plan, kind)
        if refusal is not None:
            raise refusal


def check_may_start(broadcast: Broadcast) -> None:
    """The plan includes broadcasts, the audience's mediums, and room this month.
    :raise PlanRefusal:"""
    from app.plans import PlanLimitReached, limit_message, lock_workspace, module_refusal, \
        plan_of

    plan = plan_of(broadcast.workspace_id)
    refusal = module_refusal(plan, "broadcasts")
    if refusal is not None:
        raise refusal
    check_audience(broadcast)
    limit = plan.max_broadcasts_per_month if plan is not None else None
    if limit is None or broadcast.started_at is not None:
        return
    lock_workspace(broadcast.workspace_id)
    now = utcnow()
    month = datetime(now.year, now.month, 1)
    used = db.session.scalar(select(func.count(Broadcast.id)).where(
        Broadcast.workspace_id == broadcast.workspace_id, Broadcast.started_at >= month,
        Broadcast.id != broadcast.id))
    if used + 1 > limit:
        raise PlanLimitReached(limit_message(plan.name, "max_broadcasts_per_month", limit,
                                             used),
                               plan=plan.name, limit_name="max_broadcasts_per_month",
                               limit=limit, used=used)


# --- the manager's actions ---------------------------------------------------------------------

def _refuse(broadcast: Broadcast, action) -> BroadcastRefusal:
    from app.labels import code_label

    return BroadcastRefusal(_l("A broadcast that is %(status)s cannot be %(action)s.",
                               status=code_label("broadcast_status", broadcast.status),
                               action=action))


def _locked(broadcast: Broadcast) -> Broadcast:
    return db.session.get(Broadcast, broadcast.id, with_for_update=True, populate_existing=True)


def _wake(workspace_id: int) -> None:
    from app.jobs.runners import wake

    try:
        wake(workspace_id, "broadcasts")
    except Exception:  # noqa: BLE001 - the scheduler's next tick runs it anyway
        log.warning("could not wake the broadcasts runner of workspace %s", workspace_id,
                    exc_info=True)


def start(broadcast: Broadcast) -> Broadcast:
    """Send now, or at `scheduled_at` when that is later. :raise BroadcastRefusal:
    :raise PlanRefusal:"""
    broadcast = _locked(broadcast)
    if broadcast.status != "draft":
        raise _refuse(broadcast, _l("started"))
    check_may_start(broadcast)
    now = utcnow()
    if broadcast.scheduled_at is not None and broadcast.scheduled_at > now:
        broadcast.status = "scheduled"
    else:
        broadcast.status = "running"
    broadcast.started_at = broadcast.started_at or now
    db.session.commit()
    _wake(broadcast.workspace_id)
    return broadcast


def pause(broadcast: Broadcast) -> Broadcast:
    broadcast = _locked(broadcast)
    if broadcast.status not in ("running", "scheduled"):
        raise _refuse(broadcast, _l("paused"))
    broadcast.status = "paused"
    db.session.commit()
    return broadcast


def resume(broadcast: Broadcast) -> Broadcast:
    broadcast = _locked(broadcast)
    if broadcast.status != "paused":
        raise _refuse(broadcast, _l("resumed"))
    check_may_start(broadcast)
    waiting = broadcast.prepared_at is None and broadcast.scheduled_at is not None \
        and broadcast.scheduled_at > utcnow()
    broadcast.status = "scheduled" if waiting else "running"
    db.session.commit()
    _wake(broadcast.workspace_id)
    return broadcast


def cancel(broadcast: Broadcast) -> Broadcast:
    """Stop for good: the recipients not sent yet are `skipped` (canceled)."""
    broadcast = _locked(broadcast)
    if broadcast.status in ("done", "canceled"):
        raise _refuse(broadcast, _l("canceled"))
    broadcast.status = "canceled"
    broadcast.finished_at = utcnow()
    table = BroadcastRecipient.__table__
    db.session.execute(update(table).where(table.c.broadcast_id == broadcast.id,
                                           table.c.state == "pending")
                       .values(state="skipped", reason="canceled"))
    refresh_counts(broadcast)
    db.session.commit()
    return broadcast


# --- the runner ---------------------------------------------------------------------------------

def run_workspace(workspace_id: int, budget: float | None = None) -> dict:
    """Start the due scheduled broadcasts and send the running ones (see the module
    docstring). Safe to run twice at once and after a crash. Returns a short summary."""
    from app.tenancy import workspace_scope

    reason = enabled_reason(workspace_id)
    if reason is not None:
        return {"state": "skipped", "reason": reason}
    deadline = time.monotonic() + (RUN_BUDGET if budget is None else budget)
    summary = {"started": 0, "sent": 0, "failed": 0, "running": 0}
    with workspace_scope(workspace_id):
        summary["started"] = start_due(workspace_id)
        sender = Transmitter(summary)
        try:
            while time.monotonic() < deadline:
                running = running_ids(workspace_id)
                summary["running"] = len(running)
                if not running:
                    break
                progressed = False
                for broadcast_id in running:
                    prepare(broadcast_id)
                    handled = send_batch(broadcast_id, summary, sender)
                    progressed = progressed or handled > 0
                if not progressed:
                    if not sender.outstanding:
                        break  # only messages waiting for a retry: the next run looks again
                    sender.collect(0)
        finally:
            sender.drain()
        for broadcast_id in running_ids(workspace_id):
            settle(broadcast_id)
            refresh_counts(db.session.get(Broadcast, broadcast_id, populate_existing=True))
        db.session.commit()
    summary["running"] = len(running_ids(workspace_id))
    return summary


def start_due(workspace_id: int) -> int:
    table = Broadcast.__table__
    started = db.session.execute(
        update(table).where(table.c.workspace_id == workspace_id,
                            table.c.status == "scheduled", table.c.scheduled_at <= utcnow())
        .values(status="running")).rowcount
    db.session.commit()
    return started


def running_ids(workspace_id: int) -> list[int]:
    return list(db.session.scalars(
        select(Broadcast.id).where(Broadcast.workspace_id == workspace_id,
                                   Broadcast.status == "running").order_by(Broadcast.id)))


def _channels(workspace_id: int) -> dict:
    from app.jobs.workspace_config import workspace_config

    return workspace_config(workspace_id).channels


def prepare(broadcast_id: int) -> None:
    """Choose the recipients, once (the broadcast's row is locked meanwhile). Commits."""
    from app.plans import allows_medium

    broadcast = db.session.get(Broadcast, broadcast_id, with_for_update=True,
                               populate_existing=True)
    if broadcast is None or broadcast.prepared_at is not None:
        db.session.commit()
        return
    workspace_id = broadcast.workspace_id
    kinds = set(split_list(broadcast.channel_kinds))
    languages = set(split_list(broadcast.languages))
    tags = {t.casefold() for t in split_list(broadcast.tags)}
    channels = {c.id: c for c in _channels(workspace_id).values()
                if c.enabled and (not kinds or c.kind in kinds)
                and allows_medium(workspace_id, c.kind)}
    users = db.session.execute(
        select(LinkedUser.id, LinkedUser.username, LinkedUser.language, LinkedUser.tags,
               LinkedUser.opted_out, LinkedUser.name)
        .where(LinkedUser.workspace_id == workspace_id)
        .order_by(LinkedUser.id)).all()
    chosen: dict[int, tuple[int, str]] = {}
    if channels:
        for user_id, channel_id, chat_id in db.session.execute(
                select(ChatIdentity.linked_user_id, ChatIdentity.channel_id,
                       ChatIdentity.chat_id)
                .where(ChatIdentity.workspace_id == workspace_id,
                       ChatIdentity.channel_id.in_(list(channels)))
                .order_by(ChatIdentity.verified_at.is_(None), ChatIdentity.id)):
            chosen.setdefault(user_id, (channel_id, chat_id))
        # a contact without a chat identity (made by a chat, app/contacts.py) is reached
        # through its conversation: the one it wrote from last
        for user_id, channel_id, chat_id in db.session.execute(
                select(Conversation.linked_user_id, Conversation.channel_id,
                       Conversation.chat_id)
                .where(Conversation.workspace_id == workspace_id,
                       Conversation.kind == "customer",
                       Conversation.linked_user_id.is_not(None),
                       Conversation.channel_id.in_(list(channels)))
                .order_by(Conversation.last_inbound_at.desc().nulls_last(), Conversation.id)):
            chosen.setdefault(user_id, (channel_id, chat_id))
    rows = []
    for user_id, username, language, user_tags, opted_out, name in users:
        if languages and language not in languages:
            continue
        if tags and not tags & {t.casefold() for t in split_list(user_tags)}:
            continue
        if user_id not in chosen:
            continue
        channel_id, chat_id = chosen[user_id]
        rows.append({"workspace_id": workspace_id, "broadcast_id": broadcast_id,
                     # what {{username}} says: the contact's name when it has no username
                     "linked_user_id": user_id, "username": (username or name or "")[:120],
                     "channel_id": channel_id, "chat_id": chat_id,
                     "language": language or "en",
                     "state": "skipped" if opted_out else "pending",
                     "reason": "opted_out" if opted_out else None})
    if rows:
        db.session.execute(BroadcastRecipient.__table__.insert(), rows)
    broadcast.prepared_at = utcnow()
    refresh_counts(broadcast)
    if not rows:
        broadcast.status = "done"
        broadcast.finished_at = utcnow()
    db.session.commit()


def refresh_counts(broadcast: Broadcast) -> None:
    """The broadcast's counts from its recipients; done once nobody waits. Does not commit."""
    counts = dict(db.session.execute(
        select(BroadcastRecipient.state, func.count(BroadcastRecipient.id))
        .where(BroadcastRecipient.broadcast_id == broadcast.id)
        .group_by(BroadcastRecipient.state)).all())
    broadcast.total = sum(counts.values())
    broadcast.sent = counts.get("sent", 0)
    broadcast.failed = counts.get("failed", 0)
    broadcast.skipped = counts.get("skipped", 0)
    waiting = counts.get("pending", 0) + counts.get("sending", 0)
    if broadcast.status == "running" and broadcast.prepared_at is not None and not waiting:
        broadcast.status = "done"
        broadcast.finished_at = utcnow()


def settle(broadcast_id: int) -> None:
    """Recipients whose message has an outcome take it (sent, or failed with the reason)."""
    recipients = BroadcastRecipient.__table__
    messages = OutboundMessage.__table__
    joined = and_(messages.c.id == recipients.c.outbound_id,
                  recipients.c.broadcast_id == broadcast_id, recipients.c.state == "sending")
    db.session.execute(
        update(recipients).where(joined, messages.c.state == "sent")
        .values(state="sent", sent_at=messages.c.sent_at, reason=None))
    db.session.execute(
        update(recipients).where(joined, messages.c.state == "failed")
        .values(state="failed",
                reason=func.substr(func.coalesce(messages.c.error_code, "error") + ": "
                                   + func.coalesce(messages.c.last_error, ""), 1, 300)))


def _abandoned(broadcast_id: int, limit: int) -> list[int]:
    """Messages of this broadcast whose sender died (lease passed) or that wait unsent."""
    recipients = BroadcastRecipient.__table__
    messages = OutboundMessage.__table__
    now = utcnow()
    return list(db.session.scalars(
        select(messages.c.id).join(recipients, recipients.c.outbound_id == messages.c.id)
        .where(recipients.c.broadcast_id == broadcast_id, recipients.c.state == "sending",
               ((messages.c.state == "sending") & (messages.c.lease_until < now))
               | (messages.c.state == "pending"))
        .order_by(messages.c.id).limit(limit)))


def batch_size(channels: dict) -> int:
    rates = []
    for channel in channels.values():
        rule = pace_rule(channel)
        if rule is not None:
            rates.append(1.0 / rule[1].interval)
    size = int(sum(rates) * BATCH_SECONDS) if rates else BATCH_MIN
    return max(BATCH_MIN, min(BATCH_MAX, size))


def pace_rule(channel):
    """The broadcast's pacing key of a channel and its rate: the sender's channel-wide rate at
    `PACE` (moments handed out `reserve`d, exactly one interval apart). None for a channel
    that cannot send."""
    from app.integrations.channels import client_for
    from app.integrations.ratelimit import Rate

    try:
        rules = client_for(channel).rate_rules("")
    except (ValueError, AttributeError):
        return None
    if not rules:
        return None
    key, rate = rules[0]  # each sender lists its channel-wide rule first
    return (f"broadcast:{key}", Rate(rate.limit, rate.period / PACE, burst=1))


def render_text(broadcast: Broadcast, username: str) -> str:
    from app.domain.templates import BROADCAST, TemplateError, clip, compile_template

    try:
        return compile_template(BROADCAST, broadcast.text).render({"username": username})
    except TemplateError:  # saved before a rule changed: sent as written
        return clip(broadcast.text or "", BROADCAST.max_output)


def send_batch(broadcast_id: int, summary: dict | None = None,
               sender: Transmitter | None = None) -> int:
    """Send one batch of the broadcast (see the module docstring); returns how many messages
    were handed on or handled. With a `sender` (the runner's), the batch's calls may still be
    under way when this returns (the sender's `drain` finishes them); without, they are done.
    Commits."""
    from app.jobs.outbound import Deferred
    from app.store import insert_outbound, outbound_row

    own = sender is None
    sender = sender or Transmitter(summary if summary is not None else {})
    broadcast = db.session.get(Broadcast, broadcast_id, populate_existing=True)
    if broadcast is None:
        return 0
    settle(broadcast_id)
    db.session.commit()
    channels = _channels(broadcast.workspace_id)
    size = batch_size(channels)
    handled = 0
    handled += _resume_abandoned(broadcast, channels, size, sender)  # a dead worker's, first
    if broadcast.status != "running":
        return handled
    recipients = BroadcastRecipient.__table__
    pending = db.session.execute(
        select(recipients.c.id, recipients.c.channel_id, recipients.c.chat_id,
               recipients.c.username)
        .where(recipients.c.broadcast_id == broadcast_id, recipients.c.state == "pending")
        .order_by(recipients.c.id).limit(size).with_for_update(skip_locked=True)).all()
    if not pending:
        if own:
            sender.drain()
        settle(broadcast_id)
        refresh_counts(broadcast)
        db.session.commit()
        return handled
    now = utcnow()
    rows, lost, texts = [], [], {}
    for recipient_id, channel_id, chat_id, username in pending:
        channel = channels.get(channel_id)
        if channel is None or not channel.enabled:
            lost.append(recipient_id)
            continue
        texts[recipient_id] = render_text(broadcast, username)
        row = outbound_row(channel, chat_id, texts[recipient_id],
                           f"broadcast:{broadcast_id}:{recipient_id}", "broadcast",
                           claimed=True, now=now)
        row["lease_until"] = now + BATCH_LEASE
        rows.append((recipient_id, channel, chat_id, row))
    written = insert_outbound([row for *_rest, row in rows])
    items = []
    marks = []
    for (recipient_id, channel, chat_id, _row), (outbound_id, new) in zip(rows, written,
                                                                           strict=True):
        marks.append((recipient_id, outbound_id))
        if new:
            items.append(Deferred(outbound_id, True, channel, chat_id, texts[recipient_id],
                                  broadcast.workspace_id, "broadcast"))
    _mark_sending(marks)
    if lost:
        db.session.execute(update(recipients).where(recipients.c.id.in_(lost))
                           .values(state="failed", reason="channel_disabled: the channel is "
                                                          "disabled or deleted"))
    db.session.commit()
    handled += len(lost) + len(items)
    sender.submit(items)
    # the next batch is claimed while the last quarter of this one is still being sent
    sender.collect(leave=0 if own else max(1, len(items) // 4))
    settle(broadcast_id)
    refresh_counts(broadcast)
    db.session.commit()
    return handled


def _resume_abandoned(broadcast: Broadcast, channels: dict, size: int, sender) -> int:
    """Messages of the broadcast whose worker died (lease passed): claimed again and, unless
    their call had begun (`recover`: sent, or `interrupted`), sent through the same pace as
    the rest (never in a burst). Returns how many were handled. Commits."""
    from app.jobs.outbound import Deferred, _continue_loaded, recover
    from app.store import claim_outbound

    items = []
    for outbound_id in _abandoned(broadcast.id, size):
        claimed = claim_outbound(outbound_id, utcnow() + BATCH_LEASE)
        db.session.commit()
        if not claimed:
            continue
        message = db.session.get(OutboundMessage, outbound_id, populate_existing=True)
        if recover(message) is not None:
            continue
        channel = channels.get(message.channel_id)
        if channel is None:
            _continue_loaded(outbound_id)  # the full path says why it cannot be sent
            continue
        items.append(Deferred(outbound_id, True, channel, message.chat_id, message.text,
                              broadcast.workspace_id, "broadcast"))
    sender.submit(items)
    return len(items)


def _mark_sending(marks: list[tuple[int, int]]) -> None:
    """Recipients (id, outbound id) become `sending`, in one statement on PostgreSQL."""
    from app.jobs.bulk import on_postgres

    if not marks:
        return
    if on_postgres():
        db.session.execute(
            text("UPDATE broadcast_recipient AS r SET state = 'sending', outbound_id = v.o "
                 "FROM (SELECT unnest(CAST(:ids AS bigint[])) AS id, "
                 "unnest(CAST(:outbound AS bigint[])) AS o) AS v "
                 "WHERE r.id = v.id AND r.state = 'pending'"),
            {"ids": [m[0] for m in marks], "outbound": [m[1] for m in marks]})
        return
    db.session.execute(
        text("UPDATE broadcast_recipient SET state = 'sending', outbound_id = :o "
             "WHERE id = :id AND state = 'pending'"),
        [{"id": recipient_id, "o": outbound_id} for recipient_id, outbound_id in marks])


# --- sending side by side, paced ---------------------------------------------------------------

class Transmitter:
    """Sends claimed broadcast messages: the HTTP calls side by side in the "broadcast" pool
    (app/jobs/threads.py), each after its rate-limit slots (`_send_paced`); every outcome is
    written in the job's thread (app/jobs/outbound.py `_finish_claimed`), each sent message
    marked durably at once. `collect(leave=n)` writes outcomes until at most n calls are
    under way, so the runner claims the next batch while the last one is still sending and
    the channels' pace never idles; `drain()` waits for all of them."""

    def __init__(self, summary: dict) -> None:
        from app.jobs.outbound import _DispatchMarks

        self.summary = summary
        self.results: queue.SimpleQueue = queue.SimpleQueue()
        self.outstanding = 0
        self.marks = _DispatchMarks()

    def _count(self, result: str) -> None:
        key = "sent" if result == "sent" else "failed" if result == "failed" else "retried"
        self.summary[key] = self.summary.get(key, 0) + 1

    def submit(self, items: list) -> None:
        from app.jobs.outbound import _continue_loaded, _fast_client
        from app.jobs.threads import submit

        for item in items:
            client = _fast_client(item)
            if client is None:  # a long text or a paused channel: the full path, here
                try:
                    self._count(_continue_loaded(item.outbound_id))
                except Exception:  # noqa: BLE001 - the lease lets the next run send it
                    db.session.rollback()
                    log.exception("broadcast message %s could not be sent", item.outbound_id)
                continue
            submit("broadcast", _send_paced, item, client, client.rate_rules(item.chat_id),
                   pace_rule(item.channel), self.results)
            self.outstanding += 1

    def collect(self, leave: int = 0) -> None:
        from app.jobs.outbound import _finish_claimed

        while self.outstanding > leave:
            item, outcome = self.results.get()
            self.outstanding -= 1
            try:
                result = _finish_claimed(item, outcome, None, self.marks)
            except Exception:  # noqa: BLE001 - the lease lets the next run send it
                db.session.rollback()
                log.exception("broadcast message %s: could not record the outcome",
                              item.outbound_id)
                continue
            if result != "sent":  # failed or retried: a retry must not read it as interrupted
                _forget_started(item.outbound_id)
            self._count(result)

    def drain(self) -> None:
        try:
            self.collect(0)
        finally:
            self.marks.close()


# Reserve the next free moment of a pacing key (a leaky bucket: one slot every `interval`
# seconds, handed out in order, at most `horizon` seconds ahead). Returns the seconds until the
# reserved moment, or a negative number: nothing reserved, ask again after that long.
RESERVE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local horizon = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tat < now then tat = now end
if tat - now > horizon then return string.format('%.6f', -(tat - now - horizon)) end
local ttl = math.max(1000, math.ceil((tat + interval - now) * 1000))
redis.call('SET', KEYS[1], string.format('%.6f', tat + interval), 'PX', ttl)
return string.format('%.6f', tat - now)
"""
_reserve_scripts: dict[int, object] = {}


def reserve(connection, key: str, interval: float, horizon: float) -> float:
    """Reserve the pacing key's next moment (`RESERVE_SCRIPT`): seconds to wait for it, or a
    negative number (not reserved). Moments are handed out exactly `interval` apart whatever
    the moment each sender asks, so a late wake-up never costs the channel a slot and never
    lets two calls closer together than `interval`."""
    script = _reserve_scripts.get(id(connection))
    if script is None:
        script = _reserve_scripts[id(connection)] = connection.register_script(RESERVE_SCRIPT)
    return float(script(keys=[f"relaydesk:rl:{key}"], args=[repr(interval), repr(horizon)]))


def redis_down(item) -> None:
    """Redis failed around the call's mark: clear it if it was written (the full path sends
    the message, in the job's thread)."""
    try:
        current_app.extensions["relaydesk_redis"].delete(STARTED_KEY.format(item.outbound_id))
    except Exception:  # noqa: BLE001 - it expires; `recover` may then call it interrupted
        log.warning("could not clear the send mark of message %s", item.outbound_id)


def _take_moment(item, redis, rules, pace) -> None:
    """Wait for the message's paced moment (`reserve`) and the sender's own slots, then mark
    the call as begun (`STARTED_KEY`). Raises RateLimited when no moment came within
    PACE_WAIT."""
    from app.integrations.ratelimit import RateLimited, RateLimiter

    deadline = time.monotonic() + PACE_WAIT
    while True:
        moment = time.monotonic()
        if pace is not None:
            wait = reserve(redis, pace[0], pace[1].interval, PACE_WAIT)
            if wait < 0:  # booked beyond the horizon: ask again later
                if time.monotonic() - wait > deadline:
                    raise RateLimited(-wait)
                time.sleep(-wait)
                continue
            # Redis reserved it between asking and answering: the call never leaves before
            # the moment, and a slow answer counts as lateness
            answered = time.monotonic()
            moment += wait
            time.sleep(max(0.0, answered + wait - time.monotonic()))
        RateLimiter(redis).acquire(rules, max_wait=PACE_WAIT)
        redis.set(STARTED_KEY.format(item.outbound_id), 1, ex=STARTED_TTL)
        # woken late (a busy machine): the moment is gone, never squeezed in later
        if pace is None or time.monotonic() - moment <= LATE:
            return
        redis.delete(STARTED_KEY.format(item.outbound_id))
        if time.monotonic() > deadline:
            raise RateLimited(0.05)


def _send_paced(item, client, rules, pace, results: queue.SimpleQueue) -> None:
    """In a pool thread: its paced moment, the sender's own slots, then the platform call (no
    database here). A call the platform refused for its rate (`throttled`: nothing was
    delivered) is tried again after the platform's wait, at a new paced moment, up to
    THROTTLED_RETRIES times; then the outbound retry takes it."""
    from app.integrations.channels import SendResult
    from app.integrations.ratelimit import RateLimited

    try:
        redis = current_app.extensions["relaydesk_redis"]
        for attempt in range(THROTTLED_RETRIES + 1):
            try:
                _take_moment(item, redis, rules, pace)
            except RateLimited as limited:
                results.put((item, ("limited", limited.wait)))
                return
            except Exception:  # noqa: BLE001 - Redis trouble: the full path decides
                redis_down(item)
                results.put((item, ("full", None)))
                return
            try:
                result = client.send_text(item.chat_id, item.text.strip())
            except Exception:  # noqa: BLE001 - as send_outbound
                log.exception("broadcast message %s: unexpected error", item.outbound_id)
                result = SendResult(ok=False, transient=True, error_code="exception",
                                    error="unexpected error")
            if not result.throttled or attempt == THROTTLED_RETRIES:
                break
            time.sleep(min(result.retry_after or 1.0, THROTTLED_WAIT))
        if result.ok:  # accepted: a worker dying before its mark is written loses nothing
            try:
                redis.set(STARTED_KEY.format(item.outbound_id),
                          f"sent:{result.message_id or ''}", ex=STARTED_TTL)
            except Exception:  # noqa: BLE001 - the job's mark follows at once anyway
                log.debug("could not note message %s accepted", item.outbound_id)
        results.put((item, ("sent", result)))
    except BaseException as exc:  # noqa: BLE001 - never leave the job waiting
        results.put((item, exc))


# --- progress -----------------------------------------------------------------------------------

def progress(broadcast: Broadcast) -> dict:
    """Counts, the rate of the last minute (messages a second) and the seconds left at it."""
    since = utcnow() - timedelta(seconds=60)
    recent = db.session.scalar(select(func.count(BroadcastRecipient.id)).where(
        BroadcastRecipient.broadcast_id == broadcast.id, BroadcastRecipient.state == "sent",
        BroadcastRecipient.sent_at >= since)) or 0
    window = 60.0
    if broadcast.started_at is not None and broadcast.started_at > since:
        window = max(1.0, (utcnow() - broadcast.started_at).total_seconds())
    rate = recent / window
    remaining = broadcast.remaining
    eta = round(remaining / rate) if rate > 0 and remaining else None
    return {"id": broadcast.id, "status": broadcast.status, "total": broadcast.total,
            "sent": broadcast.sent, "failed": broadcast.failed, "skipped": broadcast.skipped,
            "remaining": remaining, "rate": round(rate, 2), "eta_seconds": eta}
