"""Which database and Redis the suite runs on, decided once per test process.

RELAYDESK_TEST_BACKENDS:
  auto      (default) PostgreSQL and Redis when they answer, else SQLite / in-process Redis
  real      PostgreSQL and Redis, or fail (CI)
  embedded  SQLite and the in-process Redis substitute (fakeredis' TCP server)
Overrides: TEST_POSTGRES_URL (server + maintenance db), TEST_REDIS_URL.
RELAYDESK_TEST_SLOT (0-7) gives concurrent runs on one machine their own database and Redis db.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import sqlalchemy as sa
from redis import Redis

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379"


@dataclass
class Backends:
    database_url: str
    redis_url: str
    database_kind: str
    redis_kind: str

    def describe(self) -> str:
        return f"Relaydesk test backends: database={self.database_kind} redis={self.redis_kind}"


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker[2:]) if worker[2:].isdigit() else 0


def _slot() -> int:
    """RELAYDESK_TEST_SLOT keeps concurrent test runs out of each other's way."""
    value = os.environ.get("RELAYDESK_TEST_SLOT", "0")
    return int(value) if value.isdigit() else 0


def _postgres_url() -> str | None:
    """The URL of this run's own database if a PostgreSQL server answers (not created yet)."""
    base = os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    try:
        engine = sa.create_engine(base, connect_args={"connect_timeout": 2})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception:  # noqa: BLE001 - "no PostgreSQL here"
        return None
    name = f"relaydesk_test_{_slot()}_{_worker_index()}"
    return sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False)


def recreate_database(url: str) -> None:
    """Drop and create this run's PostgreSQL database (SQLite files start empty anyway)."""
    target = sa.engine.make_url(url)
    if target.get_backend_name() != "postgresql":
        return
    base = os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    engine = sa.create_engine(base, isolation_level="AUTOCOMMIT",
                              connect_args={"connect_timeout": 2})
    name = target.database
    with engine.connect() as conn:
        conn.execute(sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def _redis_url() -> str | None:
    base = os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS).rstrip("/")
    if base.count("/") > 2:  # already names a db
        url = base
    else:
        url = f"{base}/{15 - (_slot() * 2 + _worker_index()) % 15}"
    try:
        Redis.from_url(url, socket_connect_timeout=1).ping()
        return url
    except Exception:  # noqa: BLE001
        return None


def _embedded_redis() -> str:
    """The same in-process Redis substitute `make run` uses (see app/devserver.py)."""
    from app.devserver import start_embedded_redis

    url, _server = start_embedded_redis()
    return url


def _sqlite_url() -> str:
    folder = tempfile.mkdtemp(prefix="relaydesk-test-")
    return f"sqlite:///{folder}/test.db"


def select_backends() -> Backends:
    mode = os.environ.get("RELAYDESK_TEST_BACKENDS", "auto")
    db_url = redis_url = None
    if mode != "embedded":
        db_url, redis_url = _postgres_url(), _redis_url()
    if mode == "real" and (db_url is None or redis_url is None):
        missing = [n for n, v in (("PostgreSQL", db_url), ("Redis", redis_url)) if v is None]
        raise SystemExit(f"RELAYDESK_TEST_BACKENDS=real but {' and '.join(missing)} did not answer")
    return Backends(
        database_url=db_url or _sqlite_url(),
        redis_url=redis_url or _embedded_redis(),
        database_kind="postgresql" if db_url else "sqlite (fallback)",
        redis_kind="redis" if redis_url else "in-process substitute (fallback)",
    )
