"""Sending messages: one `OutboundMessage` row per idempotency key, written before any call.

`queue_message()` inserts the row (a duplicate key returns the existing row and sends nothing)
and enqueues `send_outbound` — or, inside `deferred_sends()` (the event job that produced the
message), remembers it so the same job sends it right after its own commit, with no second RQ job
(`send_deferred`). Either way the sender claims the row first, so a message is never sent twice
by two paths. `send_outbound` claims the row, splits the text to the platform's limit and
sends the parts not yet sent, committing after each part — so a retry (after a 429, a timeout, a
crash) resumes with the next part and never sends again what was sent. Transient errors are
retried with exponential back-off (honouring the platform's retry-after); permanent ones fail the
row at once, and errors that mean the channel itself is broken (Meta 190: token expired) mark it.
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import queue
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from app.extensions import db
from app.integrations.channels import SendResult, client_for, split_text
from app.integrations.ratelimit import RateLimited, RateLimiter
from app.jobs import queues
from app.jobs.chats import migrate_chat
from app.models import Channel, OutboundMessage
from app.models.base import utcnow
from app.store import claim_outbound, insert_outbound, outbound_row

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=120)
MAX_ATTEMPTS = 8
BLOCKING_WAIT = 2.0  # wait in-process for a rate-limit slot up to this; beyond, reschedule
BACKOFF_BASE = 2.0
BACKOFF_CAP = 600.0

# Messages the running event job will send itself once its transaction is committed.
_deferred: contextvars.ContextVar[list[Deferred] | None] = contextvars.ContextVar(
    "relaydesk_deferred_sends", default=None)


@dataclass
class Deferred:
    """A message to send after the commit. `claimed`: the row was written in state `sending`
    with this job's lease (so no other sender takes it meanwhile); `channel` is then the
    sending channel (a snapshot, app/jobs/workspace_config.py)."""

    outbound_id: int
    claimed: bool = False
    channel: Channel | None = None
    chat_id: str = ""
    text: str = ""
    workspace_id: int | None = None  # sent as this workspace (a batch mixes workspaces)
    purpose: str = ""
    slot: bool = False  # its rate-limit slot is taken already (`take_slots`)


@contextlib.contextmanager
def deferred_sends() -> Iterator[list[Deferred]]:
    """Collect the messages queued inside the block instead of enqueuing a job for each; the
    caller sends them (`send_deferred`) after its commit, or hands them to RQ on failure."""
    collected: list[Deferred] = []
    token = _deferred.set(collected)
    try:
        yield collected
    finally:
        _deferred.reset(token)


def deferring() -> bool:
    return _deferred.get() is not None


def defer(item: Deferred) -> None:
    """Send after the caller's commit: in this job inside `deferred_sends()`, else by a job
    enqueued now (the caller has committed the row)."""
    collected = _deferred.get()
    if collected is not None:
        collected.append(item)
    else:
        queues.enqueue_send(item.outbound_id)


def send_deferred(items: list[Deferred]) -> None:
    """Send now, in this job, the messages a `deferred_sends()` block queued. One message's
    trouble never holds up the next: a row left unsent is found by the maintenance sweep once
    its lease has passed.

    The rate-limit slots of all of them are asked for at once (`take_slots`). The messages of
    different chats go out side by side (the "send" pool of app/jobs/threads.py: threads that
    only talk HTTP; a chat's own messages stay in order, one after the other, in one thread);
    everything that touches the database happens here, in the job's thread, as each chat's
    sends come back. Messages that need the full path (a long text, a row not claimed by this
    job), and every message when only one chat is involved, are sent here one by one, the
    providers' dispatches first.

    Each dispatch is marked sent, durably, as soon as its answer is here (`_DispatchMarks`: its
    own autocommitted statement on PostgreSQL, else its own commit), so a worker killed
    mid-batch re-sends at most the dispatches in flight (one per chat, and only those whose
    answer came the instant before). The replies of a batch are marked together, in one
    statement and commit after the last one (a killed worker may answer a customer twice; it
    never asks a provider twice). The call log rows go with that last commit."""
    from app.integrations.calls import flush_call_log

    marks: list[dict] = []
    unique: dict[int, Deferred] = {}
    for item in sorted(items, key=lambda item: item.purpose != "dispatch"):
        unique.setdefault(item.outbound_id, item)
    ordered = list(unique.values())
    clients = {id(item): _fast_client(item) for item in ordered if item.claimed}
    take_slots([item for item in ordered if clients.get(id(item))], clients)
    chats: dict[tuple, list[Deferred]] = {}
    for item in ordered:
        chats.setdefault((item.channel.id if item.channel else None, item.chat_id), []).append(item)
    side_by_side = [chat for chat in chats.values()
                    if all(clients.get(id(item)) is not None for item in chat)]
    if len(side_by_side) < 2:
        side_by_side = []
    running = _start_side_by_side(side_by_side, clients)
    threaded = {id(item) for chat in side_by_side for item in chat}
    dispatched = _DispatchMarks()
    try:
        for item in ordered:  # the rest, here, meanwhile: full send paths using the database
            if id(item) not in threaded:
                _send_here(item, _send_one, item, marks, dispatched)
        for item, outcome in _outcomes(running, len(side_by_side)):
            _send_here(item, _finish_claimed, item, outcome, _marks_for(item, marks),
                       dispatched)
    finally:
        dispatched.close()
    try:
        mark_sent(marks)
        flush_call_log()
        db.session.commit()
    except Exception:  # noqa: BLE001 - the rows stay `sending`: the sweep sends them again
        db.session.rollback()
        log.exception("could not mark %d sent message(s)", len(marks))


def _marks_for(item: Deferred, marks: list[dict]) -> list[dict] | None:
    """Replies are marked together at the end (`marks`); a dispatch at once (None)."""
    return marks if item.purpose == "reply" else None


def _send_one(item: Deferred, marks: list[dict], dispatched) -> str:
    if item.claimed:
        return send_claimed(item, _marks_for(item, marks), dispatched)
    return send_outbound(item.outbound_id)  # claims first: sent or taken rows are skipped


def _send_here(item: Deferred, send, *args) -> None:
    """`send(*args)`: one message's database part, in its workspace; trouble is logged, never
    raised."""
    from app.tenancy import workspace_scope

    try:
        with workspace_scope(item.workspace_id) if item.workspace_id else \
                contextlib.nullcontext():
            send(*args)
    except Exception:  # noqa: BLE001 - e.g. Redis or the database down mid-send
        db.session.rollback()
        log.exception("outbound %s: could not send now; the sweep will retry it",
                      item.outbound_id)


def _start_side_by_side(chats: list[list[Deferred]], clients: dict) -> queue.SimpleQueue | None:
    """Start sending each chat's messages in a thread ("send", app/jobs/threads.py), one
    after the other (`_transmit`). Each outcome is put on the returned queue as soon as it is
    known, (item, outcome), and each chat ends with (None, None)."""
    from app.jobs.threads import submit

    if not chats:
        return None
    results: queue.SimpleQueue = queue.SimpleQueue()
    for chat in chats:
        submit("send", _transmit_all, [(item, clients[id(item)]) for item in chat], results)
    return results


def _transmit_all(chat: list[tuple[Deferred, object]], results: queue.SimpleQueue) -> None:
    try:
        for item, client in chat:
            try:
                outcome = _transmit(item, client)
            except Exception as exc:  # noqa: BLE001 - the job's thread logs it
                outcome = exc
            results.put((item, outcome))
    finally:
        results.put((None, None))


def _outcomes(results: queue.SimpleQueue | None, chats: int):
    """(item, outcome) from the side-by-side threads, in the order they finish."""
    while results is not None and chats:
        item, outcome = results.get()
        if item is None:
            chats -= 1
        else:
            yield item, outcome


def _fast_client(item: Deferred):
    """The client for `send_claimed`'s common case, or None when the message takes the full
    path (no usable channel, a text to split or empty)."""
    channel = item.channel
    if channel is None or not channel.enabled or channel.status == "paused":
        return None  # a paused channel: the full path holds the message
    try:
        client = client_for(channel)
    except ValueError:
        return None
    text = item.text.strip()
    return client if text and len(text) <= client.text_limit else None


def take_slots(items: list[Deferred], clients: dict) -> None:
    """Take the rate-limit slots of several messages about to be sent (their `clients`, by
    id) in one round trip to Redis (each would otherwise ask on its own). All or nothing: when
    any limit would make one of them wait, none is taken here and each asks for itself as it
    is sent."""
    if len(items) < 2:
        return
    rules = [rule for item in items for rule in clients[id(item)].rate_rules(item.chat_id)]
    limiter = RateLimiter(current_app.extensions["relaydesk_redis"])
    if limiter.take_together(rules, f"{len(items)} messages"):
        for item in items:
            item.slot = True


def enqueue_deferred(items: list[Deferred]) -> None:
    """The job that deferred these sends failed: let send jobs take the rows that exist."""
    for outbound_id in dict.fromkeys(item.outbound_id for item in items):
        queues.enqueue_send(outbound_id)


MARK_COLUMNS = ("state", "parts_sent", "parts_total", "platform_message_ids",
                "platform_message_id", "sent_at", "lease_until", "last_error", "delivery_status",
                "delivery_status_at")


def mark_sent(marks: list[dict], cursor=None) -> None:
    """Mark messages sent in one statement (rows made by `send_claimed(item, marks)`), in the
    session's transaction or on `cursor` (app/jobs/bulk.py `autocommit_cursor`)."""
    from app.jobs.bulk import update_rows

    update_rows(OutboundMessage.__table__, MARK_COLUMNS, marks, where="t.state = 'sending'",
                merge={"delivery_status": "COALESCE(t.delivery_status, {new})",
                       "delivery_status_at": "COALESCE(t.delivery_status_at, {new})"},
                cursor=cursor)


class _DispatchMarks:
    """Marks a batch's dispatches sent one at a time, each durable at once: on PostgreSQL
    each is its own autocommitted statement on a connection held while the batch sends (one
    round trip per dispatch), elsewhere its own commit."""

    def __init__(self) -> None:
        from app.jobs.bulk import on_postgres

        self._held = contextlib.ExitStack()
        self._cursor = None
        self._autocommit = on_postgres()

    def __call__(self, mark: dict) -> None:
        from app.jobs.bulk import autocommit_cursor

        if not self._autocommit:
            mark_sent([mark])
            db.session.commit()
            return
        if self._cursor is None:
            self._cursor = self._held.enter_context(autocommit_cursor())
        mark_sent([mark], self._cursor)

    def close(self) -> None:
        self._cursor = None
        self._held.close()


def send_claimed(item: Deferred, marks: list[dict] | None = None, mark_now=None) -> str:
    """The common case without the ORM: one part, a free rate-limit slot, a 2xx. Anything else
    (a long text, a wait, an error) continues on the full path (`_send`, `_handle_error`), which
    retries, backs off and marks channels exactly as a send job would. The sent message is
    marked and committed at once (by `mark_now(mark)` when given), or, given `marks`, added
    there for the caller to mark."""
    client = _fast_client(item)
    if client is None:
        return _continue_loaded(item.outbound_id)
    return _finish_claimed(item, _transmit(item, client), marks, mark_now)


def _transmit(item: Deferred, client) -> tuple[str, object]:
    """The part of `send_claimed` without the database (any thread may run it): the
    rate-limit slot, then the platform call. Returns ("limited", seconds to wait),
    ("full", None) when Redis could not tell, or ("sent", SendResult)."""
    if client is None:
        return "full", None
    try:
        if not item.slot:
            RateLimiter(current_app.extensions["relaydesk_redis"]).acquire(
                client.rate_rules(item.chat_id), max_wait=BLOCKING_WAIT)
    except RateLimited as limited:
        return "limited", limited.wait
    except Exception:  # noqa: BLE001 - Redis trouble: the full path decides
        return "full", None
    try:
        result = client.send_text(item.chat_id, item.text.strip())
    except Exception:  # noqa: BLE001 - same handling as send_outbound
        log.exception("outbound %s: unexpected error", item.outbound_id)
        result = SendResult(ok=False, transient=True, error_code="exception",
                            error="unexpected error")
    return "sent", result


def _finish_claimed(item: Deferred, outcome, marks: list[dict] | None, mark_now=None) -> str:
    """The database part of `send_claimed`, in the job's thread, once `_transmit` is done."""
    if isinstance(outcome, BaseException):
        raise outcome
    kind, value = outcome
    if kind == "limited":
        message = db.session.get(OutboundMessage, item.outbound_id, populate_existing=True)
        return _retry(message, None, value, count_attempt=False) if message else "skipped"
    if kind == "full":
        return _continue_loaded(item.outbound_id)
    result = value
    channel = item.channel
    if not result.ok:
        db.session.rollback()
        message = db.session.get(OutboundMessage, item.outbound_id, populate_existing=True)
        if message is None or message.state != "sending":
            return "skipped"
        attached = db.session.get(Channel, channel.id)
        if result.migrate_to_chat_id:  # Telegram supergroup: the full path follows the move
            return _send(message)
        return _handle_error(message, attached, result)
    now = utcnow()
    mark = {"id": item.outbound_id, "state": "sent", "parts_sent": 1, "parts_total": 1,
            "platform_message_ids": [result.message_id],
            "platform_message_id": result.message_id, "sent_at": now, "lease_until": None,
            "last_error": None, "delivery_status": "sent", "delivery_status_at": now}
    if marks is not None:
        marks.append(mark)
    elif mark_now is not None:
        mark_now(mark)
    else:
        mark_sent([mark])
        db.session.commit()
    return "sent"


def _continue_loaded(outbound_id: int) -> str:
    message = db.session.get(OutboundMessage, outbound_id, populate_existing=True)
    if message is None or message.state != "sending":
        return "skipped"
    return _send(message)


def queue_message(channel: Channel, chat_id: str, text: str, idempotency_key: str,
                  purpose: str = "reply", inbound_event_id: int | None = None,
                  enqueue: bool = True) -> int:
    """Record a message to send (once per idempotency key), commit, and queue its sending.

    Returns the row id, which is the existing row's id when the key was already used.
    """
    ((outbound_id, new),) = insert_outbound([outbound_row(
        channel, chat_id, text, idempotency_key, purpose, inbound_event_id)])
    db.session.commit()
    if new and enqueue:
        defer(Deferred(outbound_id))
    return outbound_id


def claim(outbound_id: int) -> OutboundMessage | None:
    """Take the message for this sender (app/store.py `claim_outbound`) and commit; its row,
    or None when it is not ours to send."""
    claimed = claim_outbound(outbound_id, utcnow() + LEASE)
    db.session.commit()
    return db.session.get(OutboundMessage, outbound_id, populate_existing=True) if claimed else None


def send_outbound(outbound_id: int) -> str:
    message = claim(outbound_id)
    if message is None:
        return "skipped"
    if message.attempts > MAX_ATTEMPTS:  # reclaimed again and again after dead workers
        return _fail(message, "too_many_attempts",
                     f"gave up after {MAX_ATTEMPTS} attempts")
    if message.purpose == "broadcast":
        decided = recover(message)  # its sender died mid-call: never twice (at most once)
        if decided is not None:
            return decided
    try:
        return _send(message)
    except Exception as exc:  # noqa: BLE001 - a bug or an outage must not leave the row leased
        db.session.rollback()
        log.exception("outbound %s: unexpected error", outbound_id)
        message = db.session.get(OutboundMessage, outbound_id, populate_existing=True)
        if message is None or message.state != "sending":
            return "skipped"
        result = SendResult(ok=False, transient=True, error_code="exception",
                            error=f"unexpected error: {type(exc).__name__}")
        return _handle_error(message, None, result)


def _send(message: OutboundMessage) -> str:
    channel = db.session.get(Channel, message.channel_id)
    if channel is None or not channel.enabled:
        return _fail(message, "channel_disabled", "the channel is disabled")
    if channel.status == "paused" and _still_paused(channel):
        return hold(message, channel)
    try:
        client = client_for(channel)
    except ValueError:
        return _fail(message, "unsupported_channel",
                     f"{channel.kind} channels cannot send messages")
    from app.media.sending import attached

    media = attached(message.id)
    if media is not None:
        return _send_media(message, channel, client, media)
    parts = split_text(message.text, client.text_limit)
    message.parts_total = len(parts)
    limiter = RateLimiter(current_app.extensions["relaydesk_redis"])
    for index in range(message.parts_sent, len(parts)):
        for _ in range(2):  # a second try only when the chat moved (Telegram supergroup)
            try:
                limiter.acquire(client.rate_rules(message.chat_id), max_wait=BLOCKING_WAIT)
            except RateLimited as limited:
                return _retry(message, None, limited.wait, count_attempt=False)
            result = client.send_text(message.chat_id, parts[index])
            if result.ok or not _follow_migration(message, channel, result):
                break
        if not result.ok:
            return _handle_error(message, channel, result)
        message.parts_sent = index + 1
        message.platform_message_ids = [*(message.platform_message_ids or []), result.message_id]
        message.platform_message_id = result.message_id
        message.lease_until = utcnow() + LEASE
        db.session.commit()  # this part is sent: never again
    message.state = "sent"
    message.sent_at = utcnow()
    message.lease_until = None
    message.last_error = None
    if not message.delivery_status:
        message.delivery_status = "sent"
        message.delivery_status_at = message.sent_at
    db.session.commit()
    return "sent"


def _send_media(message: OutboundMessage, channel: Channel, client, media) -> str:
    """A message that carries a file or a location (app/media/outbound.py): one call to the
    platform's `send_media`, with the text's rate limits, retries and error handling. A file
    missing from the media store fails the message (nothing can be sent)."""
    from app.media.sending import to_send
    from app.media.storage import StorageError

    try:
        payload = to_send(media)
    except StorageError as exc:
        return _fail(message, "media_missing", f"the file could not be read: {exc}")
    try:
        RateLimiter(current_app.extensions["relaydesk_redis"]).acquire(
            client.rate_rules(message.chat_id), max_wait=BLOCKING_WAIT)
    except RateLimited as limited:
        return _retry(message, None, limited.wait, count_attempt=False)
    result = client.send_media(message.chat_id, payload)
    if not result.ok:
        return _handle_error(message, channel, result)
    now = utcnow()
    message.parts_total = message.parts_sent = 1
    message.platform_message_ids = [result.message_id]
    message.platform_message_id = result.message_id
    message.state, message.sent_at, message.lease_until, message.last_error = (
        "sent", now, None, None)
    if not message.delivery_status:
        message.delivery_status, message.delivery_status_at = "sent", now
    db.session.commit()
    return "sent"


def _follow_migration(message: OutboundMessage, channel: Channel, result: SendResult) -> bool:
    """Telegram refused the send because the group became a supergroup: move the chat's links,
    routes and this message to the new chat id (as the migrate_to_chat_id update would)."""
    new_chat = result.migrate_to_chat_id
    if not new_chat or new_chat == message.chat_id:
        return False

    log.info("outbound %s: chat %s moved to %s", message.id, message.chat_id, new_chat)
    migrate_chat(channel.id, message.chat_id, new_chat)
    message.chat_id = new_chat
    db.session.commit()
    return True


def _handle_error(message: OutboundMessage, channel: Channel | None, result: SendResult) -> str:
    if result.channel_status and channel is not None:
        channel.status = result.channel_status
        channel.status_detail = (result.error or "")[:500]
    if result.transient and message.attempts < MAX_ATTEMPTS:
        return _retry(message, result, result.retry_after)
    return _fail(message, result.error_code, result.error)


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """Exponential back-off with jitter, never shorter than what the platform asked for."""
    base = min(BACKOFF_CAP, BACKOFF_BASE ** attempt)
    delay = base * (0.5 + random.random() / 2)
    return max(delay, retry_after or 0.0)


def _retry(message: OutboundMessage, result: SendResult | None, retry_after: float | None,
           count_attempt: bool = True) -> str:
    if not count_attempt:
        message.attempts -= 1  # waiting for a rate-limit slot is not a failed attempt
        delay = max(retry_after or 0.0, 0.05)
    else:
        if result is not None and result.backoff_base:  # the platform's own schedule (4^n s)
            platform_wait = min(BACKOFF_CAP, result.backoff_base ** message.attempts)
            retry_after = max(retry_after or 0.0, platform_wait)
        delay = backoff_seconds(message.attempts, retry_after)
    message.state = "retrying"
    message.next_attempt_at = utcnow() + timedelta(seconds=delay)
    message.lease_until = None
    if result is not None:
        message.error_code = result.error_code
        message.last_error = result.error
    db.session.commit()
    queues.enqueue_send(message.id, delay=delay)
    return "retrying"


def _fail(message: OutboundMessage, code: str | None, error: str | None) -> str:
    message.state = "failed"
    message.error_code = code
    message.last_error = error
    message.lease_until = None
    db.session.commit()
    log.warning("outbound %s failed permanently: %s", message.id, error)
    return "failed"


# --- a broadcast message whose sender died mid-call (app/jobs/broadcasts.py) ----------------------

STARTED_KEY = "relaydesk:broadcast:started:{}"  # a call to the platform began (Redis)
STARTED_TTL = 86400
INTERRUPTED = ("the worker stopped while sending it: it may have been delivered, so it is not "
               "sent again")


def started(outbound_id: int) -> str | None:
    """What the pool thread recorded of this broadcast message's call in Redis: None (no call
    began, or its failure was recorded), "1" (it began, no answer recorded: its worker died
    mid-call) or "sent:<platform message id>" (the platform accepted it; the worker died
    before writing so). Redis unreachable: None (sent again: at least once, not never)."""
    try:
        value = current_app.extensions["relaydesk_redis"].get(STARTED_KEY.format(outbound_id))
    except Exception:  # noqa: BLE001
        return None
    return value.decode() if isinstance(value, bytes) else value


def recover(message) -> str | None:
    """About to (re)send a claimed broadcast message (app/jobs/broadcasts.py): "sent" when the
    platform had accepted it (the row is marked sent, with its id), "failed" when a call
    began and its fate is unknown (`interrupted`: it may have arrived, never sent twice),
    None when it may be sent. Commits when it decides."""
    value = started(message.id)
    if value is None:
        return None
    if value.startswith("sent:"):
        platform_id = value[len("sent:"):] or None
        now = utcnow()
        message.state, message.sent_at, message.lease_until = "sent", now, None
        message.parts_total = message.parts_sent = 1
        message.platform_message_ids = [platform_id]
        message.platform_message_id = platform_id
        message.last_error = None
        if not message.delivery_status:
            message.delivery_status, message.delivery_status_at = "sent", now
        db.session.commit()
        return "sent"
    return _fail(message, "interrupted", INTERRUPTED)


# --- a paused channel (Green API instance not authorised, blocked or asleep) --------------------

def _still_paused(channel: Channel) -> bool:
    """Read the channel's status again under a share lock (PostgreSQL `FOR SHARE`): a release
    (`release_held`, after the status became `ok` in the same transaction) either committed
    before — the message goes out now — or waits for this transaction and then finds the
    message held. Either way no message stays held behind an authorised channel."""
    fresh = db.session.get(Channel, channel.id, with_for_update={"read": True},
                           populate_existing=True)
    return fresh is not None and fresh.status == "paused"


def hold(message: OutboundMessage, channel: Channel) -> str:
    """Keep the message for later: not failed, not retried, not an attempt. The sweep leaves
    `held` rows alone; `release_held` hands them back when the channel works again. The
    parts already sent stay sent (a long text resumes with its next part)."""
    message.state = "held"
    message.attempts = max(0, (message.attempts or 0) - 1)  # waiting is not a failed attempt
    message.lease_until = None
    message.next_attempt_at = None
    message.error_code = "channel_paused"
    message.last_error = channel.status_detail
    db.session.commit()
    log.info("outbound %s held: channel %s is paused", message.id, channel.id)
    return "held"


def release_held(channel: Channel) -> list[int]:
    """The channel works again: its held messages go back to `pending` (oldest first), without
    committing. Returns their ids; the caller sends them after its commit (`defer`). Run after
    the channel's new status is flushed (its row stays locked until the commit, see
    `_still_paused`)."""
    table = OutboundMessage.__table__
    ids = list(db.session.execute(
        select(table.c.id).where(table.c.channel_id == channel.id, table.c.state == "held")
        .order_by(table.c.id)).scalars())
    if ids:
        db.session.execute(
            update(table).where(table.c.id.in_(ids), table.c.state == "held")
            .values(state="pending", next_attempt_at=None, lease_until=None, error_code=None,
                    last_error=None))
        log.info("channel %s works again: %d held message(s) released", channel.id, len(ids))
    return ids
