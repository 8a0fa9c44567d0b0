"""Pooled connections (app/__init__.py `_ping_idle_connection`): web processes ping before every
use, workers only after a connection sat idle; a failed ping replaces the connection."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from app import dbpool


@pytest.fixture
def pings(db, monkeypatch):
    seen: list[object] = []
    real = dbpool._ping

    def counting(dbapi_connection):
        seen.append(dbapi_connection)
        real(dbapi_connection)

    monkeypatch.setattr(dbpool, "_ping", counting)
    db.session.remove()
    return seen


def five_transactions(db) -> None:
    for _ in range(5):
        assert db.session.execute(text("SELECT 42")).scalar() == 42
        db.session.commit()


def test_web_processes_ping_before_every_use(db, pings):
    five_transactions(db)
    assert len(pings) == 5


def test_workers_ping_only_connections_that_sat_idle(db, pings, monkeypatch):
    monkeypatch.setattr(dbpool, "PING_IDLE_SECONDS", dbpool.WORKER_PING_IDLE_SECONDS)
    five_transactions(db)
    assert pings == []  # back in the pool a moment ago: alive
    monkeypatch.setattr(dbpool, "PING_IDLE_SECONDS", 0.001)
    time.sleep(0.01)
    five_transactions(db)
    assert len(pings) >= 1  # the checkout after the pause


def test_a_connection_killed_while_idle_is_replaced(db, monkeypatch):
    if db.engine.dialect.name != "postgresql":
        # SQLite files have no server that could drop a connection; the ping still runs there
        assert db.session.execute(text("SELECT 1")).scalar() == 1
        return
    pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar()
    db.session.commit()
    db.session.remove()  # the connection goes back to the pool, idle
    killer = create_engine(db.engine.url, poolclass=NullPool)  # not the pool under test
    with killer.connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    killer.dispose()
    monkeypatch.setattr(dbpool, "PING_IDLE_SECONDS", 0.0)  # web processes: always
    # without the ping this statement would fail with "server closed the connection"
    assert db.session.execute(text("SELECT pg_backend_pid()")).scalar() != pid
    db.session.commit()

