"""Pooled connections: pinged only after sitting idle, and replaced when the ping fails
(app/__init__.py `_ping_idle_connection`), instead of a round trip before every transaction."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.pool import NullPool

import app as app_module


@pytest.fixture
def statements(db):
    seen: list[str] = []

    def record(conn, cursor, statement, *args):  # noqa: ARG001
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    yield seen
    event.remove(db.engine, "before_cursor_execute", record)


def test_a_busy_connection_is_not_pinged(db, statements):
    for _ in range(3):
        db.session.execute(text("SELECT 42"))
        db.session.commit()
    assert statements == ["SELECT 42"] * 3


def test_a_connection_killed_while_idle_is_replaced(db, monkeypatch):
    if db.engine.dialect.name != "postgresql":
        # SQLite files have no server that could drop a connection; the ping still runs there
        monkeypatch.setattr(app_module, "PING_IDLE_SECONDS", 0.0)
        assert db.session.execute(text("SELECT 1")).scalar() == 1
        return
    pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar()
    db.session.commit()
    db.session.remove()  # the connection goes back to the pool, idle
    killer = create_engine(db.engine.url, poolclass=NullPool)  # not the pool under test
    with killer.connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    killer.dispose()
    monkeypatch.setattr(app_module, "PING_IDLE_SECONDS", 0.0)
    # without the ping this statement would fail with "server closed the connection"
    assert db.session.execute(text("SELECT pg_backend_pid()")).scalar() != pid
    db.session.commit()
