"""The pipeline's hot SQL, written once as typed textual statements.

SQLAlchemy 2.0 cannot cache the compiled form of the dialects' `INSERT … ON CONFLICT`
constructs, so building them per call compiled every statement of every command anew (a fifth of
a command's time, bench/pipeline.py). These are the same statements as typed `text()` objects:
compiled once per process, the same SQL on PostgreSQL and SQLite (3.35+, which has RETURNING).
Column types are declared so values convert exactly as through the ORM (datetimes, JSON).
"""
from __future__ import annotations

from functools import cache

from sqlalchemy import bindparam, text

from app.models import CommandLog, CooldownClaim, OutboundMessage


def _typed(sql: str, table, names, returning=()):
    stmt = text(sql).bindparams(*[bindparam(n, type_=table.c[n].type) for n in names])
    if returning:
        stmt = stmt.columns(*[table.c[n] for n in returning])
    return stmt


def _insert_sql(table, names) -> str:
    return (f"INSERT INTO {table.name} ({', '.join(names)}) "  # noqa: S608 - constants only
            f"VALUES ({', '.join(':' + n for n in names)})")


LOG_COLUMNS = ("workspace_id", "inbound_event_id", "channel_id", "chat_id", "text", "state",
               "trace", "created_at")


@cache
def command_log_upsert():
    """The command log of an event: created, or the existing one (a retried command continues
    its log) — one statement either way."""
    table = CommandLog.__table__
    return _typed(_insert_sql(table, LOG_COLUMNS)
                  + " ON CONFLICT (inbound_event_id) DO UPDATE SET state = command_log.state"
                  " RETURNING id, state, trace", table, LOG_COLUMNS, ("id", "state", "trace"))


ORDER_COLUMNS = ("workspace_id", "command_log_id", "order_id", "action", "ok", "reason", "detail",
                 "provider_id", "route_id", "external_id", "outbound_message_id", "created_at")
ORDER_UPDATED = ("ok", "reason", "detail", "provider_id", "route_id", "external_id",
                 "outbound_message_id")


ORDER_CONFLICT = ("ON CONFLICT (command_log_id, order_id, action) DO UPDATE SET "
                  + ", ".join(f"{c} = excluded.{c}" for c in ORDER_UPDATED))


COOLDOWN_COLUMNS = ("workspace_id", "order_id", "action", "claimed_at", "expires_at",
                    "command_log_id")


# Take the cooldown unless another command holds it unexpired (see claim_cooldown).
COOLDOWN_CONFLICT = ("ON CONFLICT (workspace_id, order_id, action) DO UPDATE SET"
                     " claimed_at = excluded.claimed_at, expires_at = excluded.expires_at,"
                     " command_log_id = excluded.command_log_id"
                     " WHERE cooldown_claim.expires_at <= excluded.claimed_at"
                     " OR cooldown_claim.command_log_id = excluded.command_log_id")


@cache
def cooldown_claim():
    table = CooldownClaim.__table__
    return _typed(_insert_sql(table, COOLDOWN_COLUMNS) + " " + COOLDOWN_CONFLICT
                  + " RETURNING id", table, COOLDOWN_COLUMNS, ("id",))


OUTBOUND_COLUMNS = ("workspace_id", "channel_id", "idempotency_key", "purpose", "chat_id", "text",
                    "state", "attempts", "lease_until", "parts_sent", "parts_total",
                    "platform_message_ids", "created_at", "inbound_event_id")


@cache
def outbound_insert():
    table = OutboundMessage.__table__
    return _typed(_insert_sql(table, OUTBOUND_COLUMNS)
                  + " ON CONFLICT (channel_id, idempotency_key) DO NOTHING RETURNING id",
                  table, OUTBOUND_COLUMNS, ("id",))
