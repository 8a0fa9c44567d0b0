"""Shared fixtures: one migrated database and one app per test process, clean data per test.

`app` is session-scoped (FAB permission sync is the slow part of start-up); every test starts
with empty workspace tables and no users, while FAB's permission and role tables persist.
"""
from __future__ import annotations

import pytest

from tests.backends import recreate_database, select_backends
from tests.factories import AuthActions, Factory

pytest_plugins = ["tests.fakes.fixtures"]

BACKENDS = select_backends()

# FAB's security catalogue (roles, permissions) survives between tests; everything else is wiped.
KEEP_TABLES = {"ab_permission", "ab_view_menu", "ab_permission_view", "ab_role",
               "ab_permission_view_role", "alembic_version"}


def pytest_report_header(config):
    return BACKENDS.describe()


def base_config(**overrides):
    from app.config import TestConfig

    config = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    config.update(SQLALCHEMY_DATABASE_URI=BACKENDS.database_url, REDIS_URL=BACKENDS.redis_url)
    config.update(overrides)
    return config


def _migrate() -> None:
    from flask_migrate import upgrade

    recreate_database(BACKENDS.database_url)
    from app import create_app

    bare = create_app(base_config(FAB_UPDATE_PERMS=False))
    with bare.app_context():
        upgrade()
        from app.extensions import db

        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def app():
    _migrate()
    from app import create_app
    from app.bootstrap import ensure_roles

    application = create_app(base_config())
    with application.app_context():
        ensure_roles()
    return application


@pytest.fixture(autouse=True)
def _no_outside_dns(monkeypatch):
    """Names outside this machine never reach the system resolver, as on a machine without DNS
    (this one): "not found" at once. Saving a channel checks its URL's host (app/integrations/
    urlpolicy.py); a resolver that timed out instead made one race test wait past its limit on
    CI. Tests that simulate DNS replace `urlpolicy.resolve` themselves, on top of this."""
    import ipaddress
    import socket

    from app.integrations import urlpolicy

    real = urlpolicy.resolve

    def resolve(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        try:
            ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            if name != "localhost":
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        return real(host, *args, **kwargs)

    monkeypatch.setattr(urlpolicy, "resolve", resolve)


@pytest.fixture(autouse=True)
def _clean_database(request):
    yield
    if "app" not in request.fixturenames:
        return
    application = request.getfixturevalue("app")
    from flask_appbuilder import Model

    from app.extensions import db

    with application.app_context():
        db.session.remove()
        tables = [t for t in reversed(Model.metadata.sorted_tables) if t.name not in KEEP_TABLES]
        # DELETE, children first: on tables holding a handful of rows it is far cheaper than
        # TRUNCATE, which makes PostgreSQL create new files for every table on every test.
        with db.engine.begin() as conn:
            for table in tables:
                conn.execute(table.delete())
    _forget_sign_in_limits(application)


def _forget_sign_in_limits(application) -> None:
    """Failed sign-ins of one test must not lock the next test's logins (all come from
    127.0.0.1): the sign-in limits' Redis keys go with the test's rows."""
    from redis.exceptions import RedisError

    from app.auth.limits import PREFIX

    redis = application.extensions["relaydesk_redis"]
    try:
        keys = list(redis.scan_iter(match=f"{PREFIX}:*", count=1000))
        if keys:
            redis.delete(*keys)
    except RedisError:  # a test that stopped Redis: nothing of ours can be in it
        pass
    application.extensions.pop("relaydesk_login_limits", None)  # rules re-read from config


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(app):
    from app.extensions import db as database

    with app.app_context():
        yield database
        database.session.remove()


@pytest.fixture
def factory(app):
    with app.app_context():
        yield Factory(app)


@pytest.fixture
def auth(client):
    return AuthActions(client)


@pytest.fixture
def redis_conn(app):
    connection = app.extensions["relaydesk_redis"]
    connection.flushdb()
    yield connection
    connection.flushdb()


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(BACKENDS.describe())
    _fuzz_summary(terminalreporter)


def _fuzz_summary(terminalreporter) -> None:
    """The API fuzzer's figures (tests/integration/test_api_fuzz.py), summed over its tests
    and workers: each test reports them as user properties of its teardown."""
    totals: dict[str, float] = {}
    runs = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            props = dict(getattr(report, "user_properties", ()) or ())
            if getattr(report, "when", "") != "teardown" or "fuzz_requests" not in props:
                continue
            runs.append((report.nodeid, props))
            for key, value in props.items():
                totals[key] = totals.get(key, 0) + value
    if not runs:
        return
    for nodeid, props in sorted(runs):
        terminalreporter.write_line(
            f"API fuzz {nodeid.rsplit('::', 1)[-1]}: {props['fuzz_requests']} requests, "
            f"{props['fuzz_server_errors']} server errors, {props['fuzz_seconds']} s")
    terminalreporter.write_line(
        f"API fuzz total: {totals['fuzz_requests']} generated requests, "
        f"{totals['fuzz_server_errors']} server errors")
