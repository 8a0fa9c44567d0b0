"""Pessimistic disconnect handling for pooled database connections, tuned per process kind.

Web processes ping every connection they check out (like `pool_pre_ping`); workers
(app/jobs/worker.py) set `PING_IDLE_SECONDS = WORKER_PING_IDLE_SECONDS` and ping only the ones
that sat idle that long. `app.create_app` installs the two pool listeners.
"""
from __future__ import annotations

import time

from sqlalchemy.exc import DisconnectionError

# Ping a pooled connection before use when it sat idle at least this long. 0 (web processes):
# always, like pool_pre_ping. Workers set WORKER_PING_IDLE_SECONDS (app/jobs/worker.py): a job
# makes five transactions, and one that meets a connection dropped a moment ago fails and is
# retried like any failed event.
PING_IDLE_SECONDS = 0.0
WORKER_PING_IDLE_SECONDS = 10.0


def remember_checkin(dbapi_connection, connection_record) -> None:  # noqa: ARG001
    connection_record.info["relaydesk_idle_since"] = time.monotonic()


def ping_idle_connection(dbapi_connection, connection_record, connection_proxy) -> None:
    """Pessimistic disconnect handling for a connection that sat idle in the pool for
    PING_IDLE_SECONDS: a failed ping makes the pool discard it and check out a fresh one
    (DisconnectionError)."""
    idle_since = connection_record.info.get("relaydesk_idle_since")
    if PING_IDLE_SECONDS > 0 and (
            idle_since is None or time.monotonic() - idle_since < PING_IDLE_SECONDS):
        return
    try:
        _ping(dbapi_connection)
    except Exception as exc:  # noqa: BLE001 - any failure: the connection is unusable
        raise DisconnectionError() from exc


def _ping(dbapi_connection) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT 1")
    finally:
        cursor.close()
    if not type(dbapi_connection).__module__.startswith("sqlite3"):
        dbapi_connection.rollback()  # the ping's implicit transaction
