"""Storing a webhook's rows through the request's session: SQLite (`make run`), or PostgreSQL
with WEBHOOK_GROUP_COMMIT off. The PostgreSQL default is app/webhooks/persist_group.py; both give
the same answers.

`store_inline(rows)` inserts the rows with INSERT … ON CONFLICT (channel_id, dedupe_key) DO
NOTHING RETURNING id (duplicates change nothing), records the channels' `last_webhook_at` (at
most once per LAST_WEBHOOK_RESOLUTION per process), commits, and only then queues one job per
new row (app.jobs.queues.enqueue_events; with Redis down the rows stay pending for the sweep).
A row whose channel no longer exists (the foreign key) raises StaleChannel and stores nothing
of the rows; any other database error raises DatabaseUnavailable (nothing stored).
"""
from __future__ import annotations

import logging
import time
from datetime import datetime

from sqlalchemy import bindparam, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from app.extensions import db
from app.jobs import queues
from app.models import Channel, InboundEvent
from app.models.base import utcnow
from app.webhooks.channels import LAST_WEBHOOK_RESOLUTION, StaleChannel, channel_cache, touched
from app.store import EVENT_COLUMNS, unique_event_rows
from app.webhooks.intake import DatabaseUnavailable

log = logging.getLogger(__name__)

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
        sql = (f"INSERT INTO {table.name} ({', '.join(EVENT_COLUMNS)}) "  # noqa: S608 - constants
               f"VALUES ({', '.join(':' + name for name in EVENT_COLUMNS)}) "
               "ON CONFLICT (channel_id, dedupe_key) DO NOTHING RETURNING id")
        stmt = text(sql).bindparams(
            *[bindparam(name, type_=table.c[name].type) for name in EVENT_COLUMNS]
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



def store_inline(rows: list[dict]) -> None:
    """Insert (duplicates ignored) and commit in the request's session, then queue the jobs of
    the new rows."""
    try:
        new_ids = _insert(unique_event_rows(rows))
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
    queues.enqueue_events(new_ids)


def _touch_channel(channel_id: int, now: datetime | None = None) -> None:
    """Record the last webhook time, at most once per LAST_WEBHOOK_RESOLUTION (no hot row, and
    no statement at all when this process wrote it within that time)."""
    clock = time.monotonic()
    last = touched.get(channel_id)
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
    touched[channel_id] = clock

