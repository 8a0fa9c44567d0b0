"""The pipeline's rows, built and claimed in one place.

Every row the pipeline writes is built here, and every statement that claims one:

* inbound events: a webhook builds their rows (`event_rows`); a worker claims an event
  (`claim_event`), takes fresh ones with it (`steal_events`) and finishes them
  (`finish_events`); the claim returns an `EventRow`;
* command logs: `open_command_logs(events)` creates each event's log or returns the existing
  one (a retried command continues its log); `update_command_logs` writes their changes;
* per-order verdicts: `order_row` builds one, `save_order_rows` writes them (a retry replaces
  its own verdicts);
* cooldown claims: `claim_cooldowns(requests)` takes them (`peek_cooldowns` only reads);
* outbound messages: `outbound_row` builds one, `insert_outbound(rows)` writes them once per
  (channel, idempotency key) and touches their chats' conversations; `claim_outbound` hands
  one to a sender;
* conversations: `touch_conversations(touches)` creates or updates each chat's row with one
  upsert (its counts, last activity and preview).

Contract: nothing here commits; the caller owns the transaction. Rows of one kind go out as one
statement (app/jobs/bulk.py), a single row as one plain parameterised statement. Texts are cut
to their column's length (`cut`), so no value a platform sends can make an INSERT fail.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import String, bindparam, cast, func, or_, select, tuple_, update

from app import realtime
from app.extensions import db
from app.jobs.bulk import insert_rows, insert_with_template, on_postgres, update_rows
from app.models import (CommandLog, CommandOrder, Conversation, CooldownClaim, InboundEvent,
                        OutboundMessage, Plan, Workspace)
from app.models.conversations import PREVIEW_LENGTH
from app.models.base import utcnow


def cut(value: str | None, column) -> str | None:
    """`value` cut to the length of `column` (a Column of a String type); anything but text
    (None) is kept as it is."""
    return value[:column.type.length] if isinstance(value, str) else value


def seconds_left(expires_at: datetime | None, now: datetime) -> float:
    """Seconds until `expires_at` (0 when passed or unknown)."""
    return max(0.0, (expires_at - now).total_seconds()) if expires_at is not None else 0.0


# --- inbound events -------------------------------------------------------------------------

EVENT_COLUMNS = ("workspace_id", "channel_id", "platform", "kind", "type", "dedupe_key",
                 "chat_id", "sender", "sender_name", "is_group", "from_me", "from_bot", "text",
                 "message_id", "status", "error_code", "error_title", "occurred_at",
                 "received_at", "payload", "state", "attempts")


def event_rows(channel, platform: str, events: Iterable,
               now: datetime | None = None) -> list[dict]:
    """The inbound_event rows (EVENT_COLUMNS) of a channel's notifications (webhooks'
    `NormalisedEvent`s): new rows are `pending` with no attempt; texts are cut to their
    columns; the same notification twice (by `dedupe_key`) is one row."""
    now = now or utcnow()
    c = InboundEvent.__table__.c
    rows, seen = [], set()
    for event in events:
        if event.dedupe_key in seen:
            continue
        seen.add(event.dedupe_key)
        rows.append({
            "workspace_id": channel.workspace_id, "channel_id": channel.id,
            "platform": platform, "kind": event.kind, "type": cut(event.type, c.type),
            "dedupe_key": cut(event.dedupe_key, c.dedupe_key),
            "chat_id": cut(event.chat_id, c.chat_id), "sender": cut(event.sender, c.sender),
            "sender_name": cut(event.sender_name, c.sender_name),
            "is_group": event.is_group, "from_me": event.from_me, "from_bot": event.from_bot,
            "text": event.text, "message_id": cut(event.message_id, c.message_id),
            "status": cut(event.status, c.status),
            "error_code": cut(event.error_code, c.error_code),
            "error_title": cut(event.error_title, c.error_title),
            "occurred_at": event.occurred_at, "received_at": now, "payload": event.payload,
            "state": "pending", "attempts": 0})
    return rows


def unique_event_rows(rows: list[dict]) -> list[dict]:
    """One row per (channel, dedupe key): concurrent deliveries of one notification may be
    stored by one statement."""
    if len(rows) < 2:
        return rows
    seen, unique = set(), []
    for row in rows:
        key = (row["channel_id"], row["dedupe_key"])
        if key not in seen:
            seen.add(key)
            unique.append(row)
    return unique


class EventRow:
    """An inbound event as its claim returned it (no ORM object, no second query). Handlers
    that change the event row itself load their own ORM copy (`orm()`).

    Besides the event's columns the claim reads, as they are at that moment, its workspace's
    configuration version, status (`workspace_status`) and plan's mediums (`plan_mediums`,
    None without a plan): whether the event is skipped is decided on them
    (app/jobs/events.py `skip_reason`)."""

    COLUMNS = ("id", "workspace_id", "channel_id", "platform", "kind", "type", "chat_id",
               "sender", "sender_name", "is_group", "from_me", "from_bot", "text",
               "message_id", "status", "error_code", "error_title", "occurred_at",
               "received_at", "payload", "state", "attempts", "lease_until", "config_version",
               "workspace_status", "plan_mediums")
    _READ_ALONG = ("config_version", "workspace_status", "plan_mediums")
    # `parsed`: (configuration snapshot, parse result) once the text has been read;
    # `paused`: the workspace is suspended — the pipeline's gate of paused replies
    # (app/jobs/pipeline.py `PausedReplies`), else None; `handled_by_person`: a team member
    # took the chat over in the inbox (app/jobs/events.py `handled_by_person`)
    __slots__ = (*COLUMNS, "parsed", "paused", "handled_by_person")

    def __init__(self, row) -> None:
        for name in self.COLUMNS:
            setattr(self, name, getattr(row, name))
        self.parsed = None
        self.paused = None
        self.handled_by_person = False

    def orm(self) -> InboundEvent | None:
        return db.session.get(InboundEvent, self.id)


def _claimed_columns():
    """What a claim returns: the event's columns and its workspace's configuration version,
    status and plan mediums."""
    table = InboundEvent.__table__
    workspace, plan = Workspace.__table__, Plan.__table__

    def of_workspace(column, name: str):
        return (select(column).where(workspace.c.id == table.c.workspace_id)
                .scalar_subquery().label(name))

    # no JOIN: SQLite writes RETURNING's columns unqualified, so every name must resolve to
    # one table of its own subquery (`id` of a join of workspace and plan would be ambiguous)
    plan_id = (select(workspace.c.plan_id).where(workspace.c.id == table.c.workspace_id)
               .correlate(table).scalar_subquery())
    mediums = (select(plan.c.mediums).where(plan.c.id == plan_id)
               .scalar_subquery().label("plan_mediums"))
    return [*[table.c[name] for name in EventRow.COLUMNS if name not in EventRow._READ_ALONG],
            of_workspace(workspace.c.config_version, "config_version"),
            of_workspace(workspace.c.status, "workspace_status"), mediums]


@cache
def _claim_event_statement():
    table = InboundEvent.__table__
    now = bindparam("now")
    return (update(table)
            .where(table.c.id == bindparam("event_id"))
            .where(or_(table.c.state == "queued",
                       # a pending row waiting out its retry delay is not taken early by a
                       # duplicate job; the sweep queues it when the delay has passed
                       (table.c.state == "pending")
                       & (table.c.lease_until.is_(None) | (table.c.lease_until <= now)),
                       (table.c.state == "processing") & (table.c.lease_until < now)))
            .values(state="processing", lease_until=bindparam("lease"),
                    attempts=table.c.attempts + 1)
            .returning(*_claimed_columns()))


def claim_event(event_id: int, lease_until: datetime) -> EventRow | None:
    """Take the event for this worker until `lease_until` (one UPDATE that only one worker can
    win: queued, due for a retry, or abandoned by a worker whose lease passed); None when
    another worker holds it or it is finished."""
    row = db.session.connection().execute(_claim_event_statement(), {
        "event_id": event_id, "now": utcnow(), "lease": lease_until}).first()
    return EventRow(row) if row is not None else None


STEAL_WINDOW = 20  # a batch looks at this many times its size of the oldest fresh events


@cache
def _steal_statement():
    table = InboundEvent.__table__
    candidates = (select(table.c.id, table.c.channel_id, table.c.chat_id)
                  .where(table.c.state == "pending", table.c.lease_until.is_(None),
                         table.c.id != bindparam("event_id"))
                  .order_by(table.c.id).limit(bindparam("window"))
                  .with_for_update(skip_locked=True)).cte("candidates")
    # a chat's n-th waiting event takes its turn after every chat's (n-1)-th: round-robin
    turn = func.row_number().over(
        partition_by=(candidates.c.channel_id,
                      func.coalesce(candidates.c.chat_id, cast(candidates.c.id, String))),
        order_by=candidates.c.id)
    ranked = select(candidates.c.id, turn.label("turn")).subquery("ranked")
    chosen = select(ranked.c.id).order_by(ranked.c.turn, ranked.c.id).limit(bindparam("limit"))
    return (update(table)
            .where(table.c.id.in_(chosen.scalar_subquery()))
            .values(state="processing", lease_until=bindparam("lease"),
                    attempts=table.c.attempts + 1)
            .returning(*_claimed_columns()))


def steal_events(besides: int, limit: int, lease_until: datetime) -> list[EventRow]:
    """Claim up to `limit` fresh events (stored by a webhook, not yet taken: `pending` without
    a lease) besides the event `besides`, skipping rows another worker is claiming (PostgreSQL
    only: SKIP LOCKED). Fair across chats: among the oldest `limit * STEAL_WINDOW` fresh
    events, each chat's oldest first, then each chat's second, and so on (a burst from one
    chat does not fill the batch while another chat waits). Returned in id order."""
    rows = db.session.connection().execute(_steal_statement(), {
        "event_id": besides, "limit": limit, "window": limit * STEAL_WINDOW,
        "lease": lease_until}).all()
    return sorted((EventRow(row) for row in rows), key=lambda e: e.id)


@cache
def _finish_statement():
    table = InboundEvent.__table__
    return (update(table).where(table.c.id.in_(bindparam("event_ids", expanding=True)))
            .values(state=bindparam("state"), processed_at=bindparam("now"),
                    lease_until=None, last_error=None, skip_reason=bindparam("reason")))


def finish_events(outcomes: dict[int, str], skipped: dict[int, str] | None = None) -> None:
    """Mark handled events finished: `skipped` with its reason when `skipped` names the event
    (event id → reason, app/models/events.py SKIP_REASONS), else `ignored` when that was its
    outcome, else `done`."""
    now = utcnow()
    skipped = skipped or {}
    by_state: dict[tuple[str, str | None], list[int]] = {}
    for event_id, outcome in outcomes.items():
        reason = skipped.get(event_id)
        state = "skipped" if reason else "ignored" if outcome == "ignored" else "done"
        by_state.setdefault((state, reason), []).append(event_id)
    for (state, reason), ids in by_state.items():
        db.session.connection().execute(_finish_statement(), {
            "event_ids": ids, "now": now, "state": state, "reason": reason})


# --- command logs -----------------------------------------------------------------------------

LOG_COLUMNS = ("workspace_id", "inbound_event_id", "channel_id", "chat_id", "text", "state",
               "trace", "created_at")


@dataclass
class OpenLog:
    """A command log as `open_command_logs` found or created it."""
    id: int
    state: str
    trace: list


def log_row(event, now: datetime) -> dict:
    """The command log row of a message event, as a run starts it."""
    table = CommandLog.__table__
    return {"workspace_id": event.workspace_id, "inbound_event_id": event.id,
            "channel_id": event.channel_id, "chat_id": cut(event.chat_id or "", table.c.chat_id),
            "text": (event.text or "")[:4000], "state": "processing", "trace": [],
            "created_at": now}


def open_command_logs(events: Iterable) -> dict[int, OpenLog]:
    """The command log of each event (by event id), created or the existing one: one
    statement. An existing log keeps its state and trace (a retry continues it)."""
    now = utcnow()
    found = insert_rows(CommandLog.__table__, LOG_COLUMNS, [log_row(e, now) for e in events],
                        "ON CONFLICT (inbound_event_id) DO UPDATE SET state = command_log.state",
                        ("inbound_event_id", "id", "state", "trace"))
    return {event_id: OpenLog(log_id, state, trace or [])
            for event_id, log_id, state, trace in found}


def update_command_logs(changes: list[tuple[int, dict]]) -> None:
    """Write (log id, {column: value}) changes: one UPDATE per set of changed columns."""
    groups: dict[tuple, list[dict]] = {}
    for log_id, fields in changes:
        groups.setdefault(tuple(sorted(fields)), []).append({"id": log_id, **fields})
    for columns, rows in groups.items():
        if columns:
            update_rows(CommandLog.__table__, columns, rows)


# --- per-order verdicts -----------------------------------------------------------------------

ORDER_COLUMNS = ("workspace_id", "command_log_id", "order_id", "action", "ok", "reason", "detail",
                 "provider_id", "route_id", "external_id", "outbound_message_id", "created_at")
_ORDER_UPDATED = ("ok", "reason", "detail", "provider_id", "route_id", "external_id",
                  "outbound_message_id")
_ORDER_CONFLICT = ("ON CONFLICT (command_log_id, order_id, action) DO UPDATE SET "
                   + ", ".join(f"{c} = excluded.{c}" for c in _ORDER_UPDATED))


def order_row(workspace_id: int, command_log_id: int, order_id: str, action: str, reason: str,
              detail: dict, *, provider_id: int | None = None, route_id: int | None = None,
              external_id: str | None = None) -> dict:
    """One (order, action) verdict of a command. `outbound_message_id` is filled in once the
    dispatch that carries it is written."""
    table = CommandOrder.__table__
    return {"workspace_id": workspace_id, "command_log_id": command_log_id,
            "order_id": cut(order_id, table.c.order_id), "action": action,
            "ok": reason == "ok", "reason": cut(reason, table.c.reason), "detail": detail,
            "provider_id": provider_id, "route_id": route_id,
            "external_id": cut(external_id or None, table.c.external_id),
            "outbound_message_id": None, "created_at": utcnow()}


def save_order_rows(rows: list[dict]) -> None:
    """Write verdicts; a verdict of the same (command, order, action) is replaced."""
    insert_rows(CommandOrder.__table__, ORDER_COLUMNS, rows, _ORDER_CONFLICT)


# --- cooldown claims --------------------------------------------------------------------------

COOLDOWN_COLUMNS = ("workspace_id", "order_id", "action", "claimed_at", "expires_at",
                    "command_log_id", "channel_id", "chat_id", "username")
# Taken unless another command holds it unexpired; the command holding it finds it again.
_COOLDOWN_CONFLICT = ("ON CONFLICT (workspace_id, order_id, action) DO UPDATE SET"
                      " claimed_at = excluded.claimed_at, expires_at = excluded.expires_at,"
                      " command_log_id = excluded.command_log_id,"
                      " channel_id = excluded.channel_id, chat_id = excluded.chat_id,"
                      " username = excluded.username"
                      " WHERE cooldown_claim.expires_at <= excluded.claimed_at"
                      " OR cooldown_claim.command_log_id = excluded.command_log_id")


@dataclass(frozen=True)
class CooldownRequest:
    """A command (`command_log_id`) asking for the cooldown of (order, action) for `seconds`
    from `now`; who asked, when known: the chat (`channel_id`, `chat_id`) and the linked
    user's `username` (shown on the Cooldowns screen)."""
    workspace_id: int
    order_id: str
    action: str
    seconds: int
    now: datetime
    command_log_id: int
    channel_id: int | None = None
    chat_id: str | None = None
    username: str | None = None

    @property
    def key(self) -> tuple[int, str, str]:
        return (self.workspace_id, self.order_id, self.action)


def _claim_order(key: tuple[int, str, str]) -> tuple:
    workspace_id, order_id, action = key
    return (workspace_id, len(order_id), order_id, action)


def claim_cooldowns(requests: list[CooldownRequest]) -> list[tuple[bool, float]]:
    """Take cooldowns atomically: per request, (True, 0) when its command holds the claim
    (newly, after expiry, or already: a retry of the same command), else (False, seconds
    left).

    One statement for all of them, in (workspace, order, action) order like every claimer, so
    concurrent claimers cannot deadlock (claims stay locked until the caller commits). A key
    asked twice goes to the first request; a later one of another command finds it held. Two
    identical requests of two transactions at the same moment: the database lets exactly one
    INSERT … ON CONFLICT DO UPDATE … WHERE expired win; the other waits for the winner's
    commit, then finds the claim taken."""
    first: dict[tuple, CooldownRequest] = {}
    for request in requests:
        first.setdefault(request.key, request)
    keys = sorted(first, key=_claim_order)
    rows = [{"workspace_id": r.workspace_id, "order_id": r.order_id, "action": r.action,
             "claimed_at": r.now, "expires_at": r.now + timedelta(seconds=max(0, r.seconds)),
             "command_log_id": r.command_log_id, "channel_id": r.channel_id,
             "chat_id": r.chat_id, "username": r.username} for r in (first[k] for k in keys)]
    won = {tuple(row) for row in insert_rows(
        CooldownClaim.__table__, COOLDOWN_COLUMNS, rows, _COOLDOWN_CONFLICT,
        ("workspace_id", "order_id", "action"))}

    def holds(request: CooldownRequest) -> bool:
        return (request.key in won
                and first[request.key].command_log_id == request.command_log_id)

    lost = [r for r in requests if not holds(r)]
    expires = _expiries([r.key for r in lost]) if lost else {}
    return [(True, 0.0) if holds(r) else (False, seconds_left(expires.get(r.key), r.now))
            for r in requests]


def peek_cooldowns(requests: list[CooldownRequest]) -> list[tuple[bool, float]]:
    """What `claim_cooldowns` would answer now, without claiming (a preview): (True, 0) when
    nobody holds the cooldown unexpired, else (False, seconds left)."""
    expires = _expiries([r.key for r in requests]) if requests else {}
    answers = []
    for request in requests:
        left = seconds_left(expires.get(request.key), request.now)
        answers.append((True, 0.0) if left <= 0 else (False, left))
    return answers


def _expiries(keys: list[tuple[int, str, str]]) -> dict[tuple, datetime]:
    table = CooldownClaim.__table__
    return {(w, o, a): at for w, o, a, at in db.session.execute(
        select(table.c.workspace_id, table.c.order_id, table.c.action, table.c.expires_at)
        .where(tuple_(table.c.workspace_id, table.c.order_id, table.c.action)
               .in_(list(dict.fromkeys(keys)))))}


# --- outbound messages ------------------------------------------------------------------------

OUTBOUND_COLUMNS = ("workspace_id", "channel_id", "idempotency_key", "purpose", "chat_id", "text",
                    "state", "attempts", "lease_until", "parts_sent", "parts_total",
                    "platform_message_ids", "created_at", "inbound_event_id")
# a message its writer sends itself right after its commit (`claimed`); if that writer dies
# first, the maintenance sweep hands the message to a send job once this has passed
INLINE_LEASE = timedelta(seconds=30)


def outbound_row(channel, chat_id: str, text: str, idempotency_key: str, purpose: str,
                 inbound_event_id: int | None = None, claimed: bool = False,
                 now: datetime | None = None) -> dict:
    """A message to send through `channel`. `claimed`: written in state `sending` with
    INLINE_LEASE, for its writer to send right after the commit; else `pending`, for a send
    job."""
    now = now or utcnow()
    table = OutboundMessage.__table__
    return {"workspace_id": channel.workspace_id, "channel_id": channel.id,
            "idempotency_key": cut(idempotency_key, table.c.idempotency_key),
            "purpose": purpose, "chat_id": cut(chat_id, table.c.chat_id), "text": text,
            "state": "sending" if claimed else "pending", "attempts": 1 if claimed else 0,
            "lease_until": now + INLINE_LEASE if claimed else None, "parts_sent": 0,
            "parts_total": 1, "platform_message_ids": [], "created_at": now,
            "inbound_event_id": inbound_event_id}


def insert_outbound(rows: list[dict]) -> list[tuple[int | None, bool]]:
    """Write messages once per (channel, idempotency key): per row, (its id, whether it is
    new). A key written before (a retried command) gives that row's id, new=False; a row
    repeating a key of an earlier row of `rows` is not new either."""
    if not rows:
        return []
    table = OutboundMessage.__table__
    new = {(channel_id, key): row_id for row_id, channel_id, key in insert_rows(
        table, OUTBOUND_COLUMNS, rows, "ON CONFLICT (channel_id, idempotency_key) DO NOTHING",
        ("id", "channel_id", "idempotency_key"))}
    keys = [(row["channel_id"], row["idempotency_key"]) for row in rows]
    touched, counted = [], set()
    for row, key in zip(rows, keys, strict=True):
        if key in new and key not in counted and row["purpose"] not in UNTOUCHED_PURPOSES:
            counted.add(key)  # a new message counts once, in the transaction that wrote it
            touched.append(Touch(row["workspace_id"], row["channel_id"], row["chat_id"],
                                 row["created_at"], False, row["text"]))
    touch_conversations(touched)
    for row in rows:  # their pages learn of them once committed (app/realtime.py)
        key = (row["channel_id"], row["idempotency_key"])
        if key in counted:
            counted.discard(key)
            realtime.defer_message(db.session, realtime.ChatMessage(
                row["workspace_id"], row["channel_id"], row["chat_id"], "out", new[key],
                row["text"], "outbound"))
    missing = [key for key in keys if key not in new]
    existing = {}
    if missing:
        existing = {(c, k): i for i, c, k in db.session.execute(
            select(table.c.id, table.c.channel_id, table.c.idempotency_key)
            .where(tuple_(table.c.channel_id, table.c.idempotency_key)
                   .in_(list(dict.fromkeys(missing)))))}
    answers, seen = [], set()
    for key in keys:
        is_new = key in new and key not in seen
        seen.add(key)
        answers.append((new[key] if key in new else existing.get(key), is_new))
    return answers


def claim_outbound(outbound_id: int, lease_until: datetime) -> bool:
    """Take a message for sending until `lease_until`: pending or retrying and due, or
    `sending` under a lease that passed (its sender died). False: not ours to send."""
    now = utcnow()
    table = OutboundMessage.__table__
    return db.session.connection().execute(
        update(table)
        .where(table.c.id == outbound_id)
        .where(or_((table.c.state.in_(("pending", "retrying")))
                   & (or_(table.c.next_attempt_at.is_(None), table.c.next_attempt_at <= now)),
                   (table.c.state == "sending") & (table.c.lease_until < now)))
        .values(state="sending", lease_until=lease_until, attempts=table.c.attempts + 1)
    ).rowcount == 1


# --- conversations ----------------------------------------------------------------------------

# Dispatches go to provider groups: they are notes of the customer's thread, not messages of a
# conversation (app/models/conversations.py).
UNTOUCHED_PURPOSES = ("dispatch",)


@dataclass(frozen=True)
class Touch:
    """One message of a chat, for its conversation row: inbound (a message event handled) or
    outbound (a message created)."""

    workspace_id: int
    channel_id: int
    chat_id: str
    at: datetime
    inbound: bool
    text: str | None
    is_group: bool = False
    contact_name: str | None = None
    unread: bool = False  # a customer's message no team member has read yet (not our own)


def preview(text: str | None) -> str | None:
    """A message as the conversation list shows it: one line of plain text, cut short."""
    if not text:
        return None
    line = " ".join(text.split())
    if len(line) > PREVIEW_LENGTH:
        line = line[:PREVIEW_LENGTH - 1] + "…"
    return line or None


def conversation_rows(touches: Iterable[Touch]) -> list[dict]:
    """One row per chat of the touches (its counts, first and last times, the newest message's
    preview and direction), sorted by (workspace, channel, chat): concurrent writers lock the
    rows in the same order."""
    rows: dict[tuple, dict] = {}
    for touch in touches:
        if not touch.chat_id:
            continue
        key = (touch.workspace_id, touch.channel_id, cut(touch.chat_id,
                                                         Conversation.__table__.c.chat_id))
        row = rows.get(key)
        if row is None:
            row = rows[key] = {
                "workspace_id": key[0], "channel_id": key[1], "chat_id": key[2],
                "is_group": False, "contact_name": None, "first_seen_at": touch.at,
                "last_activity_at": touch.at, "last_inbound_at": None,
                "last_direction": "in" if touch.inbound else "out",
                "preview": preview(touch.text), "inbound_count": 0, "outbound_count": 0,
                "unread_count": 0, "opened_at": touch.at}
        elif touch.at >= row["last_activity_at"]:
            row["last_activity_at"] = touch.at
            row["last_direction"] = "in" if touch.inbound else "out"
            row["preview"] = preview(touch.text)
        row["first_seen_at"] = min(row["first_seen_at"], touch.at)
        row["opened_at"] = row["first_seen_at"]
        if touch.inbound:
            row["inbound_count"] += 1
            row["unread_count"] += 1 if touch.unread else 0
            row["is_group"] = row["is_group"] or bool(touch.is_group)
            row["last_inbound_at"] = max(row["last_inbound_at"] or touch.at, touch.at)
            if touch.contact_name and not touch.is_group:
                row["contact_name"] = cut(touch.contact_name,
                                          Conversation.__table__.c.contact_name)
        else:
            row["outbound_count"] += 1
    return [rows[key] for key in sorted(rows, key=lambda k: (k[0], k[1], len(k[2]), k[2]))]


# The inbox's rules (issue 16), kept by the same upsert: a customer's new message (`unread_count`
# > 0 in the batch) adds to the unread count, reopens a resolved conversation (status open,
# opened_at the message's time, the figures of the last round cleared), moves a pending one back
# to open, and ends a takeover whose idle time passed (`_IDLE_OVER`: the workspace's
# inbox_resume_minutes since the last team reply, or since the takeover when nobody replied;
# 0 = only on resolve). The pipeline decides the same way before running a command
# (app/jobs/events.py `handled_by_person`).
_NEW_MESSAGE = "excluded.unread_count > 0"
_REOPEN = f"({_NEW_MESSAGE} AND conversation.status = 'resolved')"
_MINUTES = ("COALESCE((SELECT s.inbox_resume_minutes FROM workspace_settings s"
            " WHERE s.workspace_id = conversation.workspace_id), 30)")
_IDLE_OVER = {
    "postgresql": (f"({_MINUTES} > 0 AND COALESCE(conversation.last_agent_reply_at,"
                   f" conversation.bot_paused_at) + {_MINUTES} * interval '1 minute'"
                   " <= excluded.last_inbound_at)"),
    "sqlite": (f"({_MINUTES} > 0 AND datetime(COALESCE(conversation.last_agent_reply_at,"
               f" conversation.bot_paused_at), '+' || {_MINUTES} || ' minutes')"
               " <= datetime(excluded.last_inbound_at))"),
}


def _conversation_sql(dialect: str) -> str:
    """The upsert's SQL for a dialect (constants only: no value is formatted into it)."""
    resume = (f"({_NEW_MESSAGE} AND conversation.bot_paused_at IS NOT NULL"
              f" AND {_IDLE_OVER[dialect]})")
    return (
        "INSERT INTO conversation"  # noqa: S608 - constants only
        " (workspace_id, channel_id, chat_id, kind, linked_user_id,"
        " contact_name, first_seen_at, last_activity_at, last_inbound_at, last_direction,"
        " preview, inbound_count, outbound_count, unread_count, opened_at, status)"
        " VALUES %s"
        " ON CONFLICT (workspace_id, channel_id, chat_id) DO UPDATE SET"
        # an inbound message knows whether the chat is a group; an outbound one only finds a
        # provider route
        " kind = CASE WHEN excluded.kind = 'provider' OR excluded.inbound_count > 0"
        " THEN excluded.kind ELSE conversation.kind END,"
        # a chat identity names the contact; without one the chat keeps the contact made from
        # it (no username), never a linked user an identity named before (app/contacts.py)
        " linked_user_id = CASE WHEN excluded.linked_user_id IS NOT NULL"
        " THEN excluded.linked_user_id WHEN EXISTS (SELECT 1 FROM linked_user lu"
        " WHERE lu.id = conversation.linked_user_id AND lu.username IS NULL)"
        " THEN conversation.linked_user_id END,"
        " contact_name = COALESCE(excluded.contact_name, conversation.contact_name),"
        " first_seen_at = CASE WHEN excluded.first_seen_at < conversation.first_seen_at"
        " THEN excluded.first_seen_at ELSE conversation.first_seen_at END,"
        " last_activity_at = CASE WHEN excluded.last_activity_at > conversation.last_activity_at"
        " THEN excluded.last_activity_at ELSE conversation.last_activity_at END,"
        " last_inbound_at = CASE WHEN conversation.last_inbound_at IS NULL"
        " OR excluded.last_inbound_at > conversation.last_inbound_at"
        " THEN COALESCE(excluded.last_inbound_at, conversation.last_inbound_at)"
        " ELSE conversation.last_inbound_at END,"
        " last_direction = CASE WHEN excluded.last_activity_at >= conversation.last_activity_at"
        " THEN excluded.last_direction ELSE conversation.last_direction END,"
        " preview = CASE WHEN excluded.last_activity_at >= conversation.last_activity_at"
        " THEN excluded.preview ELSE conversation.preview END,"
        " inbound_count = conversation.inbound_count + excluded.inbound_count,"
        " outbound_count = conversation.outbound_count + excluded.outbound_count,"
        # the inbox
        " unread_count = conversation.unread_count + excluded.unread_count,"
        f" status = CASE WHEN {_NEW_MESSAGE} THEN 'open' ELSE conversation.status END,"
        f" opened_at = CASE WHEN {_REOPEN} OR conversation.opened_at IS NULL"
        " THEN COALESCE(excluded.last_inbound_at, excluded.opened_at)"
        " ELSE conversation.opened_at END,"
        f" first_response_at = CASE WHEN {_REOPEN} THEN NULL"
        " ELSE conversation.first_response_at END,"
        f" resolved_at = CASE WHEN {_REOPEN} THEN NULL ELSE conversation.resolved_at END,"
        f" bot_paused_at = CASE WHEN {resume} THEN NULL ELSE conversation.bot_paused_at END,"
        f" bot_paused_by_id = CASE WHEN {resume} THEN NULL"
        " ELSE conversation.bot_paused_by_id END")


_CONVERSATION_SQL = {dialect: _conversation_sql(dialect) for dialect in _IDLE_OVER}
_CONVERSATION_ROW = (
    "(%(workspace_id)s, %(channel_id)s, %(chat_id)s,"
    " CASE WHEN EXISTS (SELECT 1 FROM provider_route r WHERE r.channel_id = %(channel_id)s"
    " AND r.chat_id = %(chat_id)s) THEN 'provider' WHEN %(is_group)s THEN 'group'"
    " ELSE 'customer' END,"
    " (SELECT ci.linked_user_id FROM chat_identity ci WHERE ci.channel_id = %(channel_id)s"
    " AND ci.chat_id = %(chat_id)s),"
    " %(contact_name)s, %(first_seen_at)s, %(last_activity_at)s, %(last_inbound_at)s,"
    " %(last_direction)s, %(preview)s, %(inbound_count)s, %(outbound_count)s,"
    " %(unread_count)s, %(opened_at)s, 'open')")


def touch_conversations(touches: Iterable[Touch]) -> None:
    """Create or update the conversation of each touched chat: one INSERT … ON CONFLICT DO
    UPDATE for all of them (counts added, the newest activity and preview kept, the kind and
    linked user read from the provider routes and chat identities in the same statement).
    Call it in the transaction that stores what it counts, so a rollback undoes both."""
    touches = list(touches)
    rows = conversation_rows(touches)
    if not rows:
        return
    table = Conversation.__table__
    dialect = "postgresql" if on_postgres() else "sqlite"
    insert_with_template(_CONVERSATION_SQL[dialect], _CONVERSATION_ROW, rows,
                         {name: table.c[name].type for name in (
                             "first_seen_at", "last_activity_at", "last_inbound_at",
                             "opened_at")})
    from app.contacts import record_chat_contacts

    record_chat_contacts(touches)  # each customer chat's contact (app/contacts.py)
