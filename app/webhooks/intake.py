"""What every webhook does after authenticating: persist first, then enqueue (DESIGN "Data flow").

* `read_body(limit)` enforces the size limit before anything is parsed (413).
* `parse_json(body)` accepts strict JSON only (UTF-8, no NaN/Infinity, bounded nesting) and cleans
  the strings PostgreSQL cannot store (NUL, lone surrogates), so no body can reach a 5xx.
* `store_events(event_rows(channel, platform, events))` commits one row per notification with
  INSERT … ON CONFLICT (channel_id, dedupe_key) DO NOTHING and queues a job per new row.
  Duplicates change nothing. On PostgreSQL the rows of concurrent requests of a process share
  one statement and one commit (`PostgresIngest`, group commit); the row is committed before the
  webhook answers, the job may be queued just after (the maintenance sweep covers a crash in
  between). A database failure answers 503 with Retry-After: nothing was acknowledged.
* Hot path (bench/webhook_ingest.py): `channel_cache` keeps what a webhook needs of a channel
  for a few seconds (WEBHOOK_CHANNEL_CACHE_SECONDS, default 5; cleared in this process whenever
  a Channel row is written); `last_webhook_at` is written at most once per
  LAST_WEBHOOK_RESOLUTION per process.
  The cache never decides a refusal or an error alone: a credential that does not match the
  cached one, or an INSERT that hits the channel's foreign key (channel deleted meanwhile),
  raises `StaleChannel` and the webhook looks the channel up again in the database.
* `app.jobs.queues.enqueue_events(ids)` hands the new ids to RQ. If Redis is down the rows stay
  `pending` and the maintenance runner picks them up later: the webhook still answers 200,
  nothing is lost.
"""
from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import re
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, request
from sqlalchemy import bindparam, text, update
from sqlalchemy import exc as sa_exc
from sqlalchemy import event as orm_event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from app.extensions import db
from app.jobs import queues
from app.models import Channel, InboundEvent
from app.models.base import utcnow
from app.webhooks.groupcommit import BatchFailed, GroupCommit

log = logging.getLogger(__name__)

MiB = 1024 * 1024
MAX_DEPTH = 64  # platforms nest about 10 deep; far deeper JSON is hostile (RecursionError)
_SURROGATE = re.compile("[\ud800-\udfff]")
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")  # NUL, surrogate escapes
LAST_WEBHOOK_RESOLUTION = timedelta(seconds=10)
CHANNEL_CACHE_SECONDS = 5.0
RETRY_AFTER_SECONDS = 5


@dataclass
class NormalisedEvent:
    """One notification, platform-neutral. `dedupe_key` is unique per channel."""

    kind: str  # message | status | state | membership | other
    type: str
    dedupe_key: str
    payload: dict[str, Any]
    chat_id: str | None = None
    sender: str | None = None
    sender_name: str | None = None
    is_group: bool = False
    from_me: bool = False
    from_bot: bool = False
    text: str | None = None
    message_id: str | None = None
    status: str | None = None
    error_code: str | None = None
    error_title: str | None = None
    occurred_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class BadPayload(ValueError):
    """The body is not what the platform sends (answers 400)."""


class StaleChannel(Exception):
    """What the cache said about a channel may be out of date (the INSERT hit the channel's
    foreign key, or a credential did not match): the webhook looks the channel up again."""


def cached_then_fresh(accept):
    """`accept(fresh=False)` with the cached channel; on StaleChannel once more from the
    database. Returns its response, or None when the channel is gone (answer 403)."""
    for fresh in (False, True):
        try:
            return accept(fresh)
        except StaleChannel:
            continue
    return None


# --- channels, as a webhook sees them ---------------------------------------------------------

@dataclass(frozen=True)
class ChannelRef:
    """What a webhook needs of a channel; cheap to cache (no ORM object, no session)."""

    id: int
    workspace_id: int
    kind: str
    enabled: bool
    # Secrets stay out of repr(): a ChannelRef in a log line or a traceback shows no secret.
    token: str | None = field(default=None, repr=False)  # Green API / Telegram webhook secret
    app_secret: str | None = field(default=None, repr=False)  # Meta, manual mode
    phone_number_id: str | None = None
    waba_id: str | None = None

    @classmethod
    def of(cls, channel: Channel) -> ChannelRef:
        token = {"greenapi": channel.webhook_token,
                 "telegram": channel.secret_token}.get(channel.kind)
        return cls(id=channel.id, workspace_id=channel.workspace_id, kind=channel.kind,
                   enabled=bool(channel.enabled), token=token,
                   app_secret=channel.app_secret if channel.kind == "meta" else None,
                   phone_number_id=channel.phone_number_id, waba_id=channel.waba_id)


class ChannelCache:
    """Found channels by routing key, per process, for WEBHOOK_CHANNEL_CACHE_SECONDS.

    Unknown keys are never cached (a forged routing key cannot fill the cache, and a channel
    created a moment ago is found at once). A credential that does not match the cached one is
    checked again against the database (see StaleChannel), so a rotated token works at once.
    What may lag by up to the TTL, in other processes only, is `enabled` and a Meta channel's
    verification (only verified Meta channels are found, app/webhooks/meta.py): a channel
    disabled or sent back to verification elsewhere keeps storing events for those seconds
    (its identifiers are its own: no other channel can hold them), and a channel verified
    elsewhere is missing for those seconds from a cached key that also names another channel.
    In this process every Channel write clears the cache at once (the ORM listeners below)."""

    MAX_ENTRIES = 10_000

    def __init__(self) -> None:
        self._entries: dict = {}
        self._lock = threading.Lock()

    def lookup(self, key, load, fresh: bool = False):
        ttl = float(current_app.config.get("WEBHOOK_CHANNEL_CACHE_SECONDS",
                                           CHANNEL_CACHE_SECONDS))
        now = time.monotonic()
        if not fresh and ttl > 0:
            hit = self._entries.get(key)
            if hit is not None and now - hit[0] < ttl:
                return hit[1]
        value = load()
        with self._lock:
            if value and ttl > 0:
                if len(self._entries) >= self.MAX_ENTRIES:
                    self._entries.clear()
                self._entries[key] = (now, value)
            else:
                self._entries.pop(key, None)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            _touched.clear()


channel_cache = ChannelCache()


def _channel_written(_mapper, _connection, _target) -> None:
    channel_cache.clear()


for _event_name in ("after_insert", "after_update", "after_delete"):
    orm_event.listen(Channel, _event_name, _channel_written)



def read_body(limit: int) -> bytes:
    """The raw body, or 413 when it exceeds `limit` bytes (checked before reading it all)."""
    length = request.content_length
    if length is not None and length > limit:
        abort(413)
    stream = request.stream
    chunks: list[bytes] = []
    size = 0
    # With a Content-Length the stream ends there: stop once it is read (no extra read for the
    # end). Without one, read up to one byte past the limit to know whether it is over.
    want = limit + 1 if length is None else length
    while size < want:  # a single read() may return less than asked for: loop to the end
        chunk = stream.read(want - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        abort(413)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _reject_constant(name: str):
    raise BadPayload(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses to inf, which no JSON column accepts
        raise BadPayload("number out of range")
    return value


def parse_json(body: bytes) -> Any:
    """The body as JSON, or BadPayload (400): strict UTF-8, standard JSON only (no NaN or
    Infinity), at most MAX_DEPTH levels of nesting. Strings that PostgreSQL cannot store (NUL,
    lone surrogates from \\u escapes) are replaced by U+FFFD rather than refused."""
    try:
        text = body.decode("utf-8")
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError too
        raise BadPayload("not JSON") from exc
    # Every level of nesting needs a bracket: few brackets, no depth walk needed.
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH and _too_deep(value):
        raise BadPayload("nested too deeply")
    if "\\u" in text and _UNSTORABLE_ESCAPE.search(text):
        value = _storable(value)
    return value


def _too_deep(value: Any) -> bool:
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, (dict, list)))
    return False


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "\ufffd")
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_storable(item) for item in value]
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    return value


_ACK = (b'{"ok":true}\n', 200, {"Content-Type": "application/json"})  # what jsonify(ok=True) sends


def ack(**extra):
    if not extra:
        return _ACK
    return jsonify(ok=True, **extra), 200


def webhook_blueprint(name: str, import_name: str) -> Blueprint:
    """A platform's blueprint: database trouble answers 503 + Retry-After, never a bare 500."""
    blueprint = Blueprint(name, import_name)
    for error in (DatabaseUnavailable, sa_exc.OperationalError, sa_exc.InterfaceError,
                  sa_exc.TimeoutError):
        blueprint.register_error_handler(error, unavailable)
    return blueprint


def unavailable(_exc=None):
    """The database could not store the notification: nothing was acknowledged, the platform
    will deliver it again."""
    response = jsonify(ok=False, error="temporarily unavailable")
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response, 503


def refuse(status: int, message: str):
    """A short, fixed answer: never echo input or internals back to the caller."""
    return jsonify(ok=False, error=message), status


# --- storing: committed before the answer, then queued ------------------------------------------

class DatabaseUnavailable(Exception):
    """The events could not be stored: nothing was acknowledged (answers 503 + Retry-After, the
    platform delivers again and the dedupe key makes that harmless)."""


ROW_COLUMNS = ("workspace_id", "channel_id", "platform", "kind", "type", "dedupe_key", "chat_id",
               "sender", "sender_name", "is_group", "from_me", "from_bot", "text", "message_id",
               "status", "error_code", "error_title", "occurred_at", "received_at", "payload",
               "state", "attempts")


def event_rows(channel: ChannelRef | Channel, platform: str,
               events: list[NormalisedEvent], now: datetime | None = None) -> list[dict]:
    """The inbound_event rows of a channel's events (the same notification twice in one body is
    one row)."""
    now = now or utcnow()
    rows = []
    seen = set()
    for event in events:
        if event.dedupe_key in seen:
            continue
        seen.add(event.dedupe_key)
        rows.append({
            "workspace_id": channel.workspace_id, "channel_id": channel.id,
            "platform": platform, "kind": event.kind, "type": event.type[:60],
            "dedupe_key": event.dedupe_key[:255], "chat_id": _cut(event.chat_id, 120),
            "sender": _cut(event.sender, 120), "sender_name": _cut(event.sender_name, 255),
            "is_group": event.is_group, "from_me": event.from_me, "from_bot": event.from_bot,
            "text": event.text, "message_id": _cut(event.message_id, 255),
            "status": _cut(event.status, 40), "error_code": _cut(event.error_code, 40),
            "error_title": _cut(event.error_title, 500), "occurred_at": event.occurred_at,
            "received_at": now, "payload": event.payload, "state": "pending", "attempts": 0,
        })
    return rows


def store_events(rows: list[dict]) -> None:
    """Commit the rows (duplicates ignored) and queue a job for each new one.

    On PostgreSQL the rows of concurrent requests of this process are written together
    (`PostgresIngest`: one INSERT, one commit); elsewhere, and with WEBHOOK_GROUP_COMMIT off,
    through the request's own session. Either way the rows are committed when this returns.
    Raises StaleChannel (a row's channel no longer exists: nothing of these rows was stored)
    or DatabaseUnavailable."""
    if not rows:
        return
    writer = _ingest_writer()
    if writer is None:
        queues.enqueue_events(_store_inline(rows))
        return
    try:
        writer.group.submit(rows)  # the batch's leader queues the new rows' jobs
    except (BatchFailed, TimeoutError) as exc:
        raise DatabaseUnavailable(str(exc)) from exc


# One writer per app and process: (pid, writer or None). A child of a fork makes its own and
# never touches (or closes) the connection it inherited.
_WRITERS_LOCK = threading.Lock()
_INHERITED: list = []


def _ingest_writer() -> PostgresIngest | None:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    state = app.extensions.get("relaydesk_ingest")
    pid = os.getpid()
    if state is not None and state[0] == pid:
        return state[1]
    with _WRITERS_LOCK:
        state = app.extensions.get("relaydesk_ingest")
        if state is not None and state[0] == pid:
            return state[1]
        if state is not None and state[1] is not None:
            _INHERITED.append(state[1])  # another process's connection: keep, never close
        writer = None
        engine = db.engine
        if engine.dialect.name == "postgresql" and app.config.get("WEBHOOK_GROUP_COMMIT", True):
            writer = PostgresIngest(engine)
            weakref.finalize(app, writer.close)
        app.extensions["relaydesk_ingest"] = (pid, writer)
        return writer


def close_ingest_writer(app) -> None:
    """Close this process's webhook writer of `app` (its connection); the next webhook opens
    a new one."""
    state = app.extensions.pop("relaydesk_ingest", None)
    if state is not None and state[1] is not None and state[0] == os.getpid():
        state[1].close()


class PostgresIngest:
    """Group commit on PostgreSQL: the rows of all the requests waiting in this process become
    ONE prepared `INSERT … SELECT … FROM json_populate_recordset($1) ON CONFLICT (channel_id,
    dedupe_key) DO NOTHING RETURNING id`, run in autocommit on a connection of its own: one
    round trip, one durable commit (synchronous_commit as configured) per batch. The batch's
    leader then queues the jobs of the new rows in one Redis pipeline, after the others have
    their answer (or leaves them to the next batch's leader, see `_enqueue`).

    Failures: a row the database refuses (a channel deleted meanwhile: foreign key) makes the
    batch be stored request by request, so only that request hears StaleChannel; a lost
    connection is replaced and the statement retried once (harmless: ON CONFLICT); any other
    database error answers DatabaseUnavailable to every request of the batch, none of which was
    acknowledged."""

    STATEMENT = "relaydesk_ingest"
    STATEMENT_TIMEOUT_MS = 10_000
    DEFER_IDS = 16  # jobs left to the next batch, at most
    DEFER_SECONDS = 0.002  # and for at most this long

    def __init__(self, engine):
        self.engine = engine
        self.pid = os.getpid()
        self._connection = None
        self._prepared = True  # off for good if the server forgets prepared statements
        self.group = GroupCommit(self._flush, after=self._enqueue)
        self._unqueued: list[int] = []  # new ids left to the next batch's leader
        self._unqueued_since = 0.0
        self._unqueued_lock = threading.Lock()
        columns = ", ".join(ROW_COLUMNS)
        table = InboundEvent.__table__.name
        self._insert_sql = (
            f"INSERT INTO {table} ({columns}) SELECT {columns} "  # noqa: S608 - constants
            f"FROM json_populate_recordset(NULL::{table}, %s) "
            "ON CONFLICT (channel_id, dedupe_key) DO NOTHING RETURNING id")
        self._prepare_sql = (
            f"PREPARE {self.STATEMENT}(json) AS " + self._insert_sql.replace("%s", "$1"))

    # --- the connection
    def _connect(self):
        if self._connection is not None and not self._connection.closed:
            return self._connection
        self._connection = None
        try:
            fairy = self.engine.raw_connection()
            fairy.detach()  # ours alone: autocommit never leaks into the pool
            connection = fairy.dbapi_connection
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f"SET statement_timeout = {int(self.STATEMENT_TIMEOUT_MS)}")
                if self._prepared:
                    cursor.execute(self._prepare_sql)
        except Exception as exc:  # noqa: BLE001 - any failure to connect: 503
            raise DatabaseUnavailable("cannot connect") from exc
        self._connection = connection
        return connection

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and os.getpid() == self.pid:
            with contextlib.suppress(Exception):  # closing a broken connection
                connection.close()

    # --- the jobs
    def _enqueue(self, new_ids: list[int] | None, more_coming: bool) -> None:
        """Queue the batch's jobs, or, when another batch is right behind (more_coming), leave
        them to its leader, up to DEFER_IDS ids or DEFER_SECONDS: one Redis round trip then
        serves several batches. The last batch of a burst always queues what is left."""
        with self._unqueued_lock:
            if new_ids:
                if not self._unqueued:
                    self._unqueued_since = time.monotonic()
                self._unqueued.extend(new_ids)
            if not self._unqueued or (
                    more_coming and len(self._unqueued) < self.DEFER_IDS
                    and time.monotonic() - self._unqueued_since < self.DEFER_SECONDS):
                return
            ids, self._unqueued = self._unqueued, []
        queues.enqueue_events(ids)

    # --- one batch
    def _flush(self, items: list[list[dict]]) -> tuple[list, list[int]]:
        try:
            new_ids = self._insert([row for item in items for row in item])
            outcomes: list = [None] * len(items)
        except _RowRefused:  # one request's row: find it, store the others
            new_ids, outcomes = [], []
            for item in items:
                try:
                    new_ids += self._insert(item)
                    outcomes.append(None)
                except _RowRefused as refused:
                    outcomes.append(refused.answer())
                except DatabaseUnavailable as exc:
                    outcomes.append(exc)
        except DatabaseUnavailable as exc:
            log.warning("webhook batch of %d request(s) not stored: %s", len(items), exc)
            return [DatabaseUnavailable(str(exc)) for _ in items], []
        stored = [item for item, outcome in zip(items, outcomes, strict=True) if outcome is None]
        if stored:
            self._touch({row["channel_id"] for item in stored for row in item})
        return outcomes, new_ids

    def _insert(self, rows: list[dict]) -> list[int]:
        """Insert in one autocommit statement; the ids of the rows that are new."""
        document = json.dumps(_unique(rows), default=_json_default, ensure_ascii=False,
                              separators=(",", ":"))
        psycopg2, errors = _psycopg2()

        for attempt in (1, 2):
            connection = self._connect()
            try:
                with connection.cursor() as cursor:
                    if self._prepared:
                        cursor.execute(f"EXECUTE {self.STATEMENT}(%s)", (document,))
                    else:
                        cursor.execute(self._insert_sql, (document,))
                    return [row[0] for row in cursor.fetchall()]
            except errors.ForeignKeyViolation as exc:
                raise _RowRefused(stale=True) from exc
            except errors.InvalidSqlStatementName:  # e.g. a pooler in front of the server
                self._prepared = False
                continue
            except (psycopg2.IntegrityError, psycopg2.DataError) as exc:
                log.exception("webhook rows refused by the database")
                raise _RowRefused(stale=False) from exc
            except psycopg2.Error as exc:
                if connection.closed and attempt == 1:  # lost: a new connection, once
                    self._connection = None
                    continue
                raise DatabaseUnavailable(type(exc).__name__) from exc
        raise DatabaseUnavailable("no connection")

    def _touch(self, channel_ids: set[int]) -> None:
        """last_webhook_at, at most once per LAST_WEBHOOK_RESOLUTION per channel and process."""
        clock = time.monotonic()
        due = [cid for cid in channel_ids
               if clock - _touched.get(cid, -1e9) >= LAST_WEBHOOK_RESOLUTION.total_seconds()]
        if not due:
            return
        now = utcnow()
        try:
            with self._connect().cursor() as cursor:
                cursor.execute(
                    "UPDATE channel SET last_webhook_at = %s WHERE id = ANY(%s) "
                    "AND (last_webhook_at IS NULL OR last_webhook_at < %s)",
                    (now, due, now - LAST_WEBHOOK_RESOLUTION))
        except Exception:  # noqa: BLE001 - a timestamp for the screens, never worth a 5xx
            log.warning("could not record last_webhook_at", exc_info=True)
            return
        for cid in due:
            _touched[cid] = clock


class _RowRefused(Exception):
    def __init__(self, stale: bool):
        super().__init__("stale channel" if stale else "row refused")
        self.stale = stale

    def answer(self) -> Exception:
        if self.stale:
            channel_cache.clear()
            return StaleChannel(None)
        return DatabaseUnavailable("row refused")


def _unique(rows: list[dict]) -> list[dict]:
    """One row per (channel, dedupe key): concurrent deliveries of one notification can share a
    batch."""
    if len(rows) < 2:
        return rows
    seen = set()
    unique = []
    for row in rows:
        key = (row["channel_id"], row["dedupe_key"])
        if key not in seen:
            seen.add(key)
            unique.append(row)
    return unique


@functools.cache
def _psycopg2():
    import psycopg2
    from psycopg2 import errors

    return psycopg2, errors


def _json_default(value):
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


# --- storing through the session (SQLite, or WEBHOOK_GROUP_COMMIT off) --------------------------

_INSERT_STATEMENTS: dict = {}


def _batch_insert_statement(dialect: str):
    """INSERT … ON CONFLICT DO NOTHING RETURNING id for several rows (executemany, sent by
    SQLAlchemy as multi-row VALUES). The dialect's Insert with ON CONFLICT is not cacheable in
    SQLAlchemy 2.0, so it is compiled per call: fine for a batch, too slow for every webhook."""
    table = InboundEvent.__table__
    if dialect == "postgresql":
        insert = postgresql.insert
    elif dialect == "sqlite":
        insert = sqlite.insert
    else:  # pragma: no cover - only PostgreSQL and SQLite are supported
        raise RuntimeError(f"unsupported database {dialect}")
    return insert(table).on_conflict_do_nothing(
        index_elements=["channel_id", "dedupe_key"]).returning(table.c.id)


def _single_insert_statement():
    """The same INSERT for one row as a typed textual statement, which SQLAlchemy compiles once
    and caches (same SQL on PostgreSQL and SQLite ≥ 3.35)."""
    stmt = _INSERT_STATEMENTS.get("single")
    if stmt is None:
        table = InboundEvent.__table__
        sql = (f"INSERT INTO {table.name} ({', '.join(ROW_COLUMNS)}) "  # noqa: S608 - constants
               f"VALUES ({', '.join(':' + name for name in ROW_COLUMNS)}) "
               "ON CONFLICT (channel_id, dedupe_key) DO NOTHING RETURNING id")
        stmt = text(sql).bindparams(
            *[bindparam(name, type_=table.c[name].type) for name in ROW_COLUMNS]
        ).columns(table.c.id)
        _INSERT_STATEMENTS["single"] = stmt
    return stmt


def _insert(rows: list[dict]) -> list[int]:
    connection = db.session.connection()
    if len(rows) == 1:
        result = connection.execute(_single_insert_statement(), rows[0])
    else:
        result = connection.execute(_batch_insert_statement(connection.dialect.name), rows)
    return list(result.scalars().all())


def _store_inline(rows: list[dict]) -> list[int]:
    """Insert (duplicates ignored) and commit in the request's session; the new ids."""
    try:
        new_ids = _insert(_unique(rows))
        for channel_id in {row["channel_id"] for row in rows}:
            _touch_channel(channel_id, rows[0]["received_at"])
        db.session.commit()
    except IntegrityError as exc:  # the only constraint left is the channel's foreign key
        db.session.rollback()
        channel_cache.clear()
        raise StaleChannel(None) from exc
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.warning("webhook rows not stored: %s", type(exc).__name__)
        raise DatabaseUnavailable(type(exc).__name__) from exc
    return new_ids


_touched: dict[int, float] = {}  # channel id → when this process last wrote last_webhook_at


def _touch_channel(channel_id: int, now: datetime | None = None) -> None:
    """Record the last webhook time, at most once per LAST_WEBHOOK_RESOLUTION (no hot row, and
    no statement at all when this process wrote it within that time)."""
    clock = time.monotonic()
    last = _touched.get(channel_id)
    if last is not None and clock - last < LAST_WEBHOOK_RESOLUTION.total_seconds():
        return
    now = now or utcnow()
    db.session.execute(
        update(Channel)
        .where(Channel.id == channel_id)
        .where((Channel.last_webhook_at.is_(None))
               | (Channel.last_webhook_at < now - LAST_WEBHOOK_RESOLUTION))
        .values(last_webhook_at=now)
        .execution_options(synchronize_session=False)
    )
    _touched[channel_id] = clock


def from_epoch(value) -> datetime | None:
    """A platform's unix timestamp (int or numeric string) as naive UTC, or None if implausible."""
    if isinstance(value, bool):
        return None
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return None
    if 0 < seconds < 10**11:
        return datetime.fromtimestamp(seconds, tz=UTC).replace(tzinfo=None)
    return None


def _cut(value: str | None, length: int) -> str | None:
    return value[:length] if isinstance(value, str) else value

