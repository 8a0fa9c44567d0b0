"""Storing a webhook's rows on PostgreSQL by group commit (the default there): the rows of the
requests waiting in this process at one moment become one statement and one commit
(app/webhooks/groupcommit.py; WEBHOOK_GROUP_COMMIT off, or SQLite, use
app/webhooks/persist_inline.py instead, with the same answers).

* `ingest_writer()` is this process's `PostgresIngest` for the current app (made on first use,
  one per app and process: a child of a fork makes its own and never touches the connection it
  inherited), or None where group commit does not apply. `close_ingest_writer(app)` closes it.
* `PostgresIngest.store(rows)` returns once the request's rows are committed (duplicates
  ignored); the jobs of the new rows are queued by the batch's leader after every request of
  the batch has its answer (a crash in between leaves the rows pending for the maintenance
  sweep). It raises StaleChannel when a row's channel no longer exists (only that request:
  nothing of its rows was stored) and DatabaseUnavailable when the rows could not be stored
  (nothing acknowledged).
"""
from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import threading
import time
import weakref
from datetime import datetime

from flask import current_app

from app.extensions import db
from app.jobs import queues
from app.models import InboundEvent
from app.models.base import utcnow
from app.webhooks.channels import LAST_WEBHOOK_RESOLUTION, StaleChannel, channel_cache, touched
from app.webhooks.groupcommit import BatchFailed, GroupCommit
from app.store import EVENT_COLUMNS, unique_event_rows
from app.webhooks.intake import DatabaseUnavailable

log = logging.getLogger(__name__)


# One writer per app and process: (pid, writer or None). A child of a fork makes its own and
# never touches (or closes) the connection it inherited.
_WRITERS_LOCK = threading.Lock()
_INHERITED: list = []


def ingest_writer() -> PostgresIngest | None:
    """This process's writer for the current app, made on first use; None where group commit
    does not apply (not PostgreSQL, or WEBHOOK_GROUP_COMMIT off)."""
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
        columns = ", ".join(EVENT_COLUMNS)
        table = InboundEvent.__table__.name
        self._insert_sql = (
            f"INSERT INTO {table} ({columns}) SELECT {columns} "  # noqa: S608 - constants
            f"FROM json_populate_recordset(NULL::{table}, %s) "
            "ON CONFLICT (channel_id, dedupe_key) DO NOTHING RETURNING id")
        self._prepare_sql = (
            f"PREPARE {self.STATEMENT}(json) AS " + self._insert_sql.replace("%s", "$1"))

    def store(self, rows: list[dict]) -> None:
        """Commit the rows with the batch they join (see the class); the batch's leader queues
        the new rows' jobs."""
        try:
            self.group.submit(rows)
        except (BatchFailed, TimeoutError) as exc:
            raise DatabaseUnavailable(str(exc)) from exc

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
        document = json.dumps(unique_event_rows(rows), default=_json_default, ensure_ascii=False,
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
               if clock - touched.get(cid, -1e9) >= LAST_WEBHOOK_RESOLUTION.total_seconds()]
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
            touched[cid] = clock


class _RowRefused(Exception):
    def __init__(self, stale: bool):
        super().__init__("stale channel" if stale else "row refused")
        self.stale = stale

    def answer(self) -> Exception:
        if self.stale:
            channel_cache.clear()
            return StaleChannel(None)
        return DatabaseUnavailable("row refused")


@functools.cache
def _psycopg2():
    import psycopg2
    from psycopg2 import errors

    return psycopg2, errors


def _json_default(value):
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")
