"""Processing of inbound events (the job behind every webhook).

`process_event(event_id)` claims the row with a lease (an UPDATE that only one worker can win),
on PostgreSQL together with other fresh events waiting in the queue (a batch, `claim_batch`),
handles them by kind and marks them done. A worker that dies mid-way leaves the lease to expire; the
maintenance runner then re-enqueues the row (app/jobs/maintenance.py). Handlers are idempotent, so
processing an event twice is harmless.

Plans and suspension (docs/contracts.md "SaaS contracts"): a message for a medium the
workspace's plan excludes, or of a suspended workspace, is not processed: it is finished as
`skipped` with its reason (`skip_reason`, decided on the workspace's status and plan read by
the claim itself), never retried. A suspended workspace's customers may get the paused reply
(app/jobs/pipeline.py `CommandRun._while_paused`, gated by `told_recently`). Delivery
statuses, channel states and membership changes are applied as always.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, tuple_

from app import realtime
from app.extensions import db
from app.integrations.calls import buffered_call_log, flush_call_log
from app.jobs import pipeline, queues
from app.jobs.chats import migrate_chat
from app.jobs.drivers import BatchDriver
from app.jobs.edits import is_edit
from app.jobs.outbound import (Deferred, defer, deferred_sends, enqueue_deferred, release_held,
                               send_deferred)
from app.jobs.pipeline import EVENT_MAX_ATTEMPTS as MAX_ATTEMPTS
from app.jobs.pipeline import PAUSED_KEY_PREFIX, PausedReplies
from app.media import inbound as media_inbound
from app.models import (AdminIdentity, Channel, ChatIdentity, DetectedChat,
                        InboundEvent, LinkedUser, OutboundMessage)
from app.models.base import split_list, utcnow
from app.models.channels import PAUSING_STATES
from app.models.outbound import DELIVERY_RANK
from app.status_words import Said
from app.store import (EventRow, Touch, claim_event, finish_events, open_command_logs,
                       steal_events, touch_conversations, update_command_logs)
from app.team import assign_round_robin
from app.tenancy import workspace_scope

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
BATCH_LEASE_PER_EVENT = timedelta(seconds=10)  # a batch's lease grows with its size
RETRY_BACKOFF = (5, 30, 120, 600)  # seconds before the maintenance runner retries
PAUSED_REPLY_EVERY = timedelta(hours=1)  # a suspended workspace's chat is told at most this often

# outgoingMessageStatus values that mean the message was not delivered
GREEN_FAILED_STATUSES = {
    "noAccount": "the number has no WhatsApp account",
    "notInGroup": "the instance is not a member of this group",
    "yellowCard": "yellow card: WhatsApp limited sending from this number",
}

# The channel status for the Green API instance states that do not pause the channel (those are
# app/models/channels.py PAUSING_STATES; `authorized` resumes it); the detail says the state.
GREEN_STATUSES = {"authorized": "ok", "starting": "unknown", "yellowCard": "error"}


def claim(event_id: int, lease: timedelta = LEASE, commit: bool = True) -> EventRow | None:
    """Take the event for this worker; None when another worker holds it or it is finished."""
    event = claim_event(event_id, utcnow() + lease)
    if commit:
        db.session.commit()
    return event


def batch_size() -> int:
    """Events one job may take (PIPELINE_BATCH_SIZE, default 10); 1 where the database cannot
    skip locked rows (SQLite: the embedded set-up handles one event per job)."""
    from app.jobs.bulk import on_postgres

    size = int(current_app.config.get("PIPELINE_BATCH_SIZE", 10) or 1)
    return max(1, size) if on_postgres() else 1


def batch_max() -> int:
    """Events one job may take when the queue has a backlog (PIPELINE_BATCH_MAX, default 50,
    never below `batch_size()`)."""
    return max(batch_size(), int(current_app.config.get("PIPELINE_BATCH_MAX", 50) or 1))


def claim_batch(event_id: int) -> list[EventRow]:
    """The job's own event and, when it could be taken, up to `batch_size() - 1` other fresh
    events waiting in the queue; when that many were waiting (a backlog), up to `batch_max()`
    in all: a bigger batch merges more order fetches into each panel call (app/jobs/drivers.py
    `fetch_all`), which is what keeps a surge within a slow panel's rate. One commit. Their
    leases cover the whole batch."""
    size = batch_size()
    lease = LEASE + BATCH_LEASE_PER_EVENT * (size - 1)
    event = claim(event_id, lease, commit=size == 1)
    if event is None or size == 1:
        return [event] if event is not None else []
    stolen = steal_events(event_id, size - 1, utcnow() + lease)
    most = batch_max()
    if len(stolen) == size - 1 and most > size:
        stolen += steal_events(event_id, most - size,
                               utcnow() + LEASE + BATCH_LEASE_PER_EVENT * (most - 1))
        stolen.sort(key=lambda e: e.id)
    db.session.commit()
    if stolen:  # their own jobs are still queued: no worker should spend one on them
        queues.drop_event_jobs([e.id for e in stolen])
    return [event, *stolen]


def process_event(event_id: int) -> str:
    """Handle the job's event, and with it up to PIPELINE_BATCH_SIZE - 1 other events waiting
    in the queue (`claim_batch`): under load one job serves several webhooks, and their rows
    are written with one statement per kind (app/jobs/pipeline.py, `run_commands`). Messages
    (the providers' dispatches, the customers' replies) are sent by this same job right after
    the commit: no second job, no queueing delay. If a batch fails, its events are handled
    again one by one; an event that fails alone is recorded and retried later (its messages go
    to send jobs). Calls to outside services are logged within the job's own commits. The
    chats' conversations (app/models/conversations.py) are updated in the commit that finishes
    their messages, so each message is counted once."""
    with buffered_call_log():
        events = claim_batch(event_id)
        if not events:
            return "skipped"
        outcomes: dict[int, object] = {}
        for wave in waves(events):
            outcomes.update(_run_wave(wave))
    outcome = outcomes[event_id]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def waves(events: list[EventRow]) -> list[list[EventRow]]:
    """Split a batch into waves handled one after the other, so that a chat's events are
    handled in order, each seeing what the one before it did.

    Two commands of one chat share a wave (they run in lockstep, app/jobs/pipeline.py
    `run_commands`, in the batch's order: a cooldown asked for twice goes to the first, their
    replies go out in order), unless the earlier one is `link` or `verify`: what it changes
    (who the chat is) must be committed before the next is read, so the next waits for the
    following wave. Any other event of a chat (a status, a membership change) takes a wave
    after the chat's previous event."""
    result: list[list[EventRow]] = []
    last: dict[tuple, tuple[int, EventRow]] = {}
    for event in events:
        key = (event.channel_id, event.chat_id) if event.chat_id else ("event", event.id)
        before = last.get(key)
        index = 0
        if before is not None:
            index = before[0] + (0 if _may_share_wave(before[1], event) else 1)
        last[key] = (index, event)
        while len(result) <= index:
            result.append([])
        result[index].append(event)
    return result


def _may_share_wave(earlier: EventRow, later: EventRow) -> bool:

    if not (earlier.kind == later.kind == "message" and is_command_candidate(earlier)
            and is_command_candidate(later)):
        return False
    if is_edit(later):  # an edit reads how its original was handled: committed first
        return False
    try:
        return not pipeline.changes_identity(earlier)
    except Exception:  # noqa: BLE001 - e.g. the configuration could not be read: one per wave
        log.warning("event %s: could not read its command; its chat's next event waits",
                    earlier.id, exc_info=True)
        return False


def _run_wave(wave: list[EventRow]) -> dict[int, object]:
    """Handle a wave's events together; if that fails, each on its own (`_run_alone`)."""
    if len(wave) == 1:
        return _run_alone(wave[0])
    outcomes = _run(wave)
    if outcomes is not None:
        return outcomes
    log.warning("a batch of %d events failed; handling them one by one", len(wave))
    outcomes = {}
    for event in wave:
        outcomes.update(_run_alone(event))
    return outcomes


def _run_alone(event: EventRow) -> dict[int, object]:
    """Handle one event; a failure is recorded (in its command log and on the event, which is
    retried later) and returned as the event's outcome, for the job to raise."""
    failures: list[Exception] = []
    outcomes = _run([event], failures)
    return outcomes if outcomes is not None else {event.id: failures[0]}


def _run(events: list[EventRow], failures: list | None = None) -> dict[int, object] | None:
    """Handle the events and commit, then send the messages they produced (in this job);
    None when anything raised: then everything was rolled back, the messages queued before the
    failure are handed to send jobs, and with `failures` given the failure is recorded (the
    exception appended there)."""
    driver = BatchDriver(in_job=True)  # this job sends the messages after its commit
    with deferred_sends() as sends:
        try:
            outcomes, items = _handle(events, driver)
        except Exception as exc:  # noqa: BLE001 - recorded, or retried one by one
            db.session.rollback()
            if failures is not None:
                driver.fail(exc)
                for event in events:
                    _record_failure(event.id, exc)
                failures.append(exc)
            else:
                log.debug("batch failed", exc_info=True)
            enqueue_deferred(sends)
            return None
        sends.extend(items)
    send_deferred(sends)
    return outcomes


def _handle(events: list[EventRow], driver: BatchDriver) -> tuple[dict[int, str], list]:
    """Handle the events, mark them finished and commit; returns (outcome per event, the
    messages to send now)."""
    outcomes: dict[int, str] = {}
    skipped: dict[int, str] = {}
    commands = []
    paused: PausedReplies | None = None
    for event in events:
        reason = skip_reason(event)
        if reason is not None:
            skipped[event.id] = reason
        if reason == "suspended" and is_command_candidate(event):
            # not processed; the run only tells the chat, at most once an hour
            if paused is None:
                paused = PausedReplies(told_recently(
                    [e for e in events if skip_reason(e) == "suspended"]))
            event.paused = paused
            commands.append(event)
        elif reason is not None:
            outcomes[event.id] = "skipped"
        elif event.kind == "message" and is_command_candidate(event):
            commands.append(event)
        else:
            with workspace_scope(event.workspace_id):
                outcomes[event.id] = HANDLERS.get(event.kind, handle_other)(event)
    items: list = []
    for event in handled_by_person([e for e in commands if e.id not in skipped]):
        event.handled_by_person = True  # the run stores it and does nothing (pipeline.py)
    if commands:
        found, items = pipeline.run_commands(commands, driver)
        outcomes.update(found)
    messages = [e for e in events if e.kind == "message" and e.chat_id]
    touch_conversations([
        Touch(e.workspace_id, e.channel_id, e.chat_id, e.received_at, True, e.text,
              bool(e.is_group), None if e.from_me else e.sender_name,
              unread=not (e.from_me or e.from_bot))
        for e in messages])
    for e in messages:  # the open pages learn of them once committed (app/realtime.py)
        realtime.defer_message(db.session, realtime.ChatMessage(
            e.workspace_id, e.channel_id, e.chat_id, "out" if e.from_me else "in", e.id,
            e.text))
    # the messages' attachments (app/media/inbound.py), downloaded by jobs after the commit
    downloads = media_inbound.record([e for e in events if e.id not in skipped])
    finish_events(outcomes, skipped)
    flush_call_log()
    db.session.commit()
    media_inbound.queue_downloads(downloads)
    # the round-robin (a workspace setting) gives the new or reopened unassigned customer
    # conversations to online members, in a short transaction of its own (app/team.py)
    assign_round_robin({(e.workspace_id, e.channel_id, e.chat_id)
                        for e in messages if not (e.from_me or e.is_group)})
    return outcomes, items


def handled_by_person(events) -> list:
    """The events whose chat a team member has taken over in the inbox (human takeover,
    docs/contracts.md "Inbox contracts"): the conversation's `bot_paused_at` is set and its
    idle time has not passed at the message's time (the workspace's `inbox_resume_minutes`
    since the last team reply, or since the takeover when nobody replied yet; 0: until
    resolved). One query for the batch; the conversation upsert ends the expired takeovers by
    the same rule (app/store.py)."""
    pairs = list({(e.channel_id, e.chat_id) for e in events if e.chat_id})
    if not pairs:
        return []
    from app.models import Conversation, WorkspaceSettings

    table, settings = Conversation.__table__, WorkspaceSettings.__table__
    rows = db.session.execute(
        select(table.c.channel_id, table.c.chat_id, table.c.bot_paused_at,
               table.c.last_agent_reply_at, settings.c.inbox_resume_minutes)
        .select_from(table.outerjoin(settings, settings.c.workspace_id == table.c.workspace_id))
        .where(table.c.workspace_id.in_(sorted({e.workspace_id for e in events})),
               tuple_(table.c.channel_id, table.c.chat_id).in_(pairs),
               table.c.bot_paused_at.isnot(None))).all()
    if not rows:
        return []
    paused = {(r.channel_id, r.chat_id): r for r in rows}
    found = []
    for event in events:
        row = paused.get((event.channel_id, event.chat_id))
        if row is not None and takeover_holds(row.bot_paused_at, row.last_agent_reply_at,
                                              row.inbox_resume_minutes, event.received_at):
            found.append(event)
    return found


def takeover_holds(paused_at, last_reply_at, minutes, at) -> bool:
    """Whether a takeover (paused at `paused_at`, the last team reply at `last_reply_at`) still
    silences the bot at `at`: `minutes` (None: the default 30) of idle time end it; 0 never."""
    if paused_at is None:
        return False
    minutes = 30 if minutes is None else int(minutes)
    if minutes <= 0 or at is None:
        return True
    return (last_reply_at or paused_at) + timedelta(minutes=minutes) > at


def _record_failure(event_id: int, exc: Exception) -> None:
    event = db.session.get(InboundEvent, event_id, populate_existing=True)
    if event is None:
        return
    event.last_error = f"{type(exc).__name__}: {exc}"[:2000]
    if event.attempts >= MAX_ATTEMPTS:
        event.state = "failed"
        event.lease_until = None
    else:
        delay = RETRY_BACKOFF[min(event.attempts - 1, len(RETRY_BACKOFF) - 1)]
        event.state = "pending"
        event.lease_until = utcnow() + timedelta(seconds=delay)
    db.session.commit()
    log.exception("event %s failed (attempt %s)", event_id, event.attempts)


# --- plans and suspension -------------------------------------------------------------------

def skip_reason(event) -> str | None:
    """Why a claimed event is skipped (stored, never processed, never retried), or None:
    `suspended` (its workspace is suspended) or `pending` (it waits for its first payment)
    before `plan` (the workspace's plan does not
    include the medium the event came through), as the claim read them.

    Only messages are skipped. Delivery statuses, channel states (a Green API instance's
    authorisation), membership changes (a group moved, a number changed) and other
    notifications record what happened to things that exist already — messages we sent, the
    channel, links — and are applied as always, so the workspace is accurate when it
    resumes."""
    if event.kind != "message":
        return None
    status = getattr(event, "workspace_status", None)
    if status in ("suspended", "pending"):
        return status
    mediums = getattr(event, "plan_mediums", None)
    if mediums is not None and getattr(event, "platform", None) not in split_list(mediums):
        return "plan"
    return None


def told_recently(events) -> set[tuple[int, str]]:
    """(channel id, chat id) of the events' chats that got the paused reply within the last
    PAUSED_REPLY_EVERY (one query)."""
    pairs = list({(e.channel_id, e.chat_id) for e in events if e.chat_id})
    if not pairs:
        return set()
    table = OutboundMessage.__table__
    rows = db.session.execute(
        select(table.c.channel_id, table.c.chat_id).distinct()
        .where(table.c.workspace_id.in_(sorted({e.workspace_id for e in events})),
               table.c.created_at >= utcnow() - PAUSED_REPLY_EVERY,
               table.c.idempotency_key.startswith(PAUSED_KEY_PREFIX, autoescape=True),
               tuple_(table.c.channel_id, table.c.chat_id).in_(pairs)))
    return {(channel_id, chat_id) for channel_id, chat_id in rows}


# --- handlers ---------------------------------------------------------------------------------

def is_command_candidate(event) -> bool:
    # our own sends, the phone's, and other bots never count as commands; media without a
    # caption and Telegram service messages carry none
    return not (event.from_me or event.from_bot) and bool((event.text or "").strip())


def handle_status(event: InboundEvent) -> str:
    """Record a delivery status on the outbound message, never moving it backwards."""
    candidates = (db.session.query(OutboundMessage)
                  .filter_by(channel_id=event.channel_id, platform_message_id=event.message_id)
                  .all()) if event.message_id else []
    if len(candidates) > 1 and event.chat_id:  # Green: idMessage is unique only within a chat
        candidates = [m for m in candidates if m.chat_id == event.chat_id]
    if len(candidates) != 1:
        return "ignored"
    message = candidates[0]
    status, error_title = event.status or "", event.error_title
    if status in GREEN_FAILED_STATUSES:  # Green API's own words for "not delivered"
        status, error_title = "failed", error_title or GREEN_FAILED_STATUSES[status]
    new_rank = DELIVERY_RANK.get(status, 0)
    if new_rank > DELIVERY_RANK.get(message.delivery_status or "", 0):
        message.delivery_status = status
        message.delivery_status_at = event.occurred_at or utcnow()
        if status == "failed":
            message.error_code = event.error_code or "failed"
            message.last_error = error_title
        realtime.defer(db.session, message.workspace_id, "message.status", {
            "message_id": message.id, "channel_id": message.channel_id,
            "chat_id": message.chat_id, "status": status})
    return "status"


def handle_state(event: InboundEvent) -> str:
    """A Green API instance changed state: the channel status follows, unless a newer state
    was already applied (Green API resends notifications, so they may arrive out of order)."""
    channel = db.session.get(Channel, event.channel_id)
    if channel is None:
        return "ignored"
    if event.occurred_at is not None:
        newer = (db.session.query(InboundEvent.id)
                 .filter(InboundEvent.channel_id == event.channel_id,
                         InboundEvent.kind == "state", InboundEvent.state == "done",
                         InboundEvent.id != event.id,
                         InboundEvent.occurred_at > event.occurred_at)
                 .first())
        if newer is not None:
            return "ignored"
    for outbound_id in apply_green_state(channel, event.status or ""):
        defer(Deferred(outbound_id, workspace_id=channel.workspace_id))  # after the commit
    return "state"


def apply_green_state(channel: Channel, state: str) -> list[int]:
    """The channel's status after its Green API instance reported `state` (a webhook, or
    "Test connection"). notAuthorized, blocked and sleepMode pause it: its messages are held
    (app/jobs/outbound.py `hold`) and its status detail says why. `authorized` resumes it and
    releases the held messages: their ids are returned, for the caller to send once committed.
    Any other state (starting, yellowCard, …) leaves a paused channel paused."""
    if state in PAUSING_STATES:
        if channel.status != "paused":
            log.warning("channel %s paused: Green API instance state %s", channel.id, state)
        channel.status, channel.status_detail = "paused", PAUSING_STATES[state]
        return []
    if state == "authorized":
        channel.status, channel.status_detail = "ok", None
        db.session.flush()  # the channel row is locked from here to the commit
        return release_held(channel)
    if channel.status == "paused":
        log.info("channel %s stays paused (instance state %s)", channel.id, state)
        return []
    channel.status = GREEN_STATUSES.get(state, "unknown")
    channel.status_detail = Said("green_state", {"state": str(state)[:40]}).encode()
    return []


def handle_membership(event) -> str:
    if event.type == "migrate_to_chat_id":
        message = event.payload.get("message") if isinstance(event.payload, dict) else None
        new_chat = (message or {}).get("migrate_to_chat_id")
        if new_chat is None or not event.chat_id:
            return "ignored"
        return migrate_chat(event.channel_id, event.chat_id, str(new_chat))
    if event.type == "user_changed_number":
        return change_number(event)
    chat_payload = {}
    member = event.payload.get("my_chat_member") or {}
    if isinstance(member.get("chat"), dict):
        chat_payload = member["chat"]
    detected = (db.session.query(DetectedChat)
                .filter_by(channel_id=event.channel_id, chat_id=event.chat_id).one_or_none())
    now = utcnow()
    if detected is None:
        detected = DetectedChat(workspace_id=event.workspace_id, channel_id=event.channel_id,
                                chat_id=event.chat_id, detected_at=now)
        db.session.add(detected)
    detected.title = chat_payload.get("title") or detected.title
    detected.chat_type = chat_payload.get("type") or detected.chat_type
    detected.member_status = event.status
    detected.last_seen_at = now
    return "membership"


def change_number(event) -> str:
    """A WhatsApp user changed their number (Meta `system` message `user_changed_number`,
    `system.wa_id` — `new_wa_id` in older documents — is the new one): the chat's links follow
    it (`migrate_chat`), so the customer stays linked, and a command log row records the
    change with a `number_changed` step (the Command log screen shows it)."""
    message = event.payload.get("message") if isinstance(event.payload, dict) else None
    system = (message or {}).get("system") if isinstance(message, dict) else None
    system = system if isinstance(system, dict) else {}
    new_chat = system.get("wa_id") or system.get("new_wa_id")
    new_chat = str(new_chat).strip() if isinstance(new_chat, (str, int)) else ""
    old_chat = event.chat_id
    if not old_chat or not new_chat or new_chat == old_chat:
        return "ignored"
    identity = (db.session.query(ChatIdentity)
                .filter_by(channel_id=event.channel_id, chat_id=old_chat).one_or_none())
    kept = (db.session.query(ChatIdentity)
            .filter_by(channel_id=event.channel_id, chat_id=new_chat).one_or_none())
    user_id = (kept or identity).linked_user_id if (kept or identity) else None
    user = db.session.get(LinkedUser, user_id) if user_id else None
    admin = (db.session.query(AdminIdentity.id)
             .filter_by(channel_id=event.channel_id, chat_id=old_chat).first())
    migrate_chat(event.channel_id, old_chat, new_chat, chat_type=None)
    log.info("channel %s: chat %s changed its number to %s (linked user %s)",
             event.channel_id, old_chat, new_chat, user_id)
    opened = open_command_logs([event])[event.id]
    if opened.state != "done":  # handled once, however often the event is run
        update_command_logs([(opened.id, {
            "chat_id": new_chat, "linked_user_id": user_id, "state": "done",
            "outcome": "number_changed", "finished_at": utcnow(), "duration_ms": 0.0,
            "trace": [{"step": "number_changed", "ms": 0.0, "old": old_chat, "new": new_chat,
                       "linked_user": user.username if user else None,
                       "admin": admin is not None,
                       "kept_existing": kept is not None and identity is not None}]})])
    return "number_changed"


def handle_other(event: InboundEvent) -> str:
    return "ignored"


HANDLERS = {
    "message": handle_other,  # commands go to the pipeline (`_handle`); the rest carry none
    "status": handle_status,
    "state": handle_state,
    "membership": handle_membership,
    "other": handle_other,
}
