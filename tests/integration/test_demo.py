"""First run (issue item 10): `flask --app run init [--demo]`.

The CLI tests run the real command in a child process against the test database, the way
`make run` does, so ADMIN_PASSWORD is read from the environment as in production.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import TestConfig
from app.demo import DEMO_MANAGER, DEMO_SLUG, ensure_demo_workspace
from app.integrations.panels.demo import SAMPLE_ORDER_IDS, DemoPanel
from app.models import (AdminIdentity, Channel, ChatIdentity, LinkedUser, PanelConnection,
                        Provider, ProviderRoute, Workspace, WorkspaceMember, WorkspaceSettings)
from tests.conftest import BACKENDS

ROOT = Path(__file__).resolve().parents[2]
PASSWORD_LINE = re.compile(r"^\s*password: (\S+)\s*$", re.MULTILINE)


def flask_cli(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`flask --app run ARGS` in a child process, on the test database and Redis."""
    full_env = {
        **os.environ,
        "DATABASE_URL": BACKENDS.database_url,
        "REDIS_URL": BACKENDS.redis_url,
        "SECRET_KEY": TestConfig.SECRET_KEY,
        "ENCRYPTION_KEY": TestConfig.ENCRYPTION_KEY,  # the test app reads what the child wrote
        "RELAYDESK_INSTANCE_DIR": str(tmp_path / "instance"),
        "FAB_UPDATE_PERMS": "false",  # as in production (.env.example)
        "ADMIN_USERNAME": "admin",
        "ADMIN_EMAIL": "admin@test.example",
        "ADMIN_PASSWORD": "",  # set but empty: a developer's .env cannot fill it in
        "LOG_LEVEL": "WARNING",
        **env,
    }
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "run", *args], cwd=ROOT,
                            env=full_env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def passwords_in(output: str) -> list[str]:
    return PASSWORD_LINE.findall(output)


def login_status(client, username: str, password: str) -> bool:
    client.post("/logout/")
    response = client.post("/login/", data={"username": username, "password": password})
    return response.status_code == 302 and "/login" not in response.headers["Location"]


# --- the master admin -------------------------------------------------------------------------

@pytest.fixture
def admin_role_without_permissions(app, db):
    """The Admin role stripped of its permissions, as on a database whose start-up wrote none
    (FAB_UPDATE_PERMS off). Restored afterwards whatever the test did."""
    role = app.appbuilder.sm.find_role("Admin")
    role.permissions = []
    db.session.commit()
    yield
    with app.app_context():
        app.appbuilder.sm.add_role("Admin")
        app.appbuilder.add_permissions(update_perms=True)


def test_init_creates_the_admin_with_admin_password(app, client, tmp_path,
                                                    admin_role_without_permissions):
    result = flask_cli(tmp_path, "init", ADMIN_PASSWORD="Chosen-Pa55word")

    assert "created with ADMIN_PASSWORD" in result.stdout
    assert "Chosen-Pa55word" not in result.stdout + result.stderr
    assert passwords_in(result.stdout) == []
    assert login_status(client, "admin", "Chosen-Pa55word")
    # FAB_UPDATE_PERMS was off, yet the master admin can open the master admin screens.
    assert client.get("/workspaceadminview/list/").status_code == 200
    assert client.get("/adminproviderrouteview/list/").status_code == 200


def test_init_generates_a_password_printed_once(app, client, tmp_path):
    first = flask_cli(tmp_path, "init")
    [password] = passwords_in(first.stdout)
    assert len(password) >= 12
    assert login_status(client, "admin", password)

    second = flask_cli(tmp_path, "init")
    assert "already exists" in second.stdout
    assert passwords_in(second.stdout) == [] and password not in second.stdout + second.stderr
    assert login_status(client, "admin", password)  # the second run changed nothing


def test_generated_passwords_differ_between_installations(app, db, monkeypatch):
    from app.bootstrap import ensure_master_admin

    monkeypatch.setitem(app.config, "ADMIN_PASSWORD", None)
    created, first = ensure_master_admin()
    assert created and first
    db.session.delete(app.appbuilder.sm.find_user(username=app.config["ADMIN_USERNAME"]))
    db.session.commit()
    created, second = ensure_master_admin()
    assert created and second and second != first  # never a fixed default


# --- the demo workspace -----------------------------------------------------------------------

def test_init_demo_twice_is_idempotent(app, client, db, tmp_path):
    first = flask_cli(tmp_path, "init", "--demo")
    admin_password, manager_password = passwords_in(first.stdout)
    assert f"username: {DEMO_MANAGER}" in first.stdout
    counts = _demo_row_counts(db)

    second = flask_cli(tmp_path, "init", "--demo")
    assert "Demo workspace already present." in second.stdout
    assert passwords_in(second.stdout) == []
    db.session.expire_all()
    assert _demo_row_counts(db) == counts
    assert login_status(client, DEMO_MANAGER, manager_password)
    assert login_status(client, "admin", admin_password)


def _demo_row_counts(db) -> dict[str, int]:
    models = (Workspace, WorkspaceMember, WorkspaceSettings, PanelConnection, Channel, Provider,
              ProviderRoute, LinkedUser, ChatIdentity, AdminIdentity)
    return {m.__name__: db.session.query(m).count() for m in models}


def test_demo_workspace_has_everything_to_look_around(app, db):
    result = ensure_demo_workspace()
    assert result.created and result.manager_username == DEMO_MANAGER
    assert result.manager_password and len(result.manager_password) >= 12

    workspace = db.session.query(Workspace).filter_by(slug=DEMO_SLUG).one()
    assert workspace.id == result.workspace_id
    ws = {"workspace_id": workspace.id}
    panel = db.session.query(PanelConnection).filter_by(**ws).one()
    assert panel.panel_type == "demo"
    assert db.session.query(WorkspaceSettings).filter_by(**ws).count() == 1

    channels = {c.kind: c for c in db.session.query(Channel).filter_by(**ws)}
    assert set(channels) == {"webchat", "greenapi"}
    assert channels["webchat"].widget_key
    green = channels["greenapi"]
    assert green.missing_fields() == []
    assert green.api_url.endswith(".example")  # a placeholder that resolves nowhere
    assert green.webhook_token and green.webhook_token != result.manager_password

    provider = db.session.query(Provider).filter_by(**ws).one()
    assert provider.name == "demoprovider" and provider.domain_list == ["demoprovider.example"]
    [route] = provider.routes
    assert route.channel_id == green.id and route.chat_id.endswith("@g.us")
    assert route.action_list == ["refill", "speed", "cancel"]

    customer = db.session.query(LinkedUser).filter_by(**ws).one()
    assert customer.username == "demo_customer"
    [identity] = customer.identities
    assert identity.channel_id == green.id and identity.chat_id.endswith("@c.us")
    admin_identity = db.session.query(AdminIdentity).filter_by(**ws).one()
    assert admin_identity.chat_id != identity.chat_id

    member = db.session.query(WorkspaceMember).filter_by(**ws).one()
    assert member.role == "manager" and member.user.username == DEMO_MANAGER
    assert [r.name for r in member.user.roles] == ["WorkspaceManager"]


def test_demo_panel_orders_fit_the_demo_workspace(app, db):
    """The sample orders name the provider that is routed and mostly the linked customer."""
    ensure_demo_workspace()
    provider = db.session.query(Provider).one()
    customer = db.session.query(LinkedUser).one()
    orders = DemoPanel().get_orders(list(SAMPLE_ORDER_IDS)).values()
    assert {o["provider"] for o in orders} <= set(provider.domain_list)
    owned = [o for o in orders if o["user"] == customer.username]
    assert len(owned) >= len(orders) - 2 and len(owned) < len(orders)


def test_ensure_demo_twice_changes_nothing_and_keeps_edits(app, client, db):
    first = ensure_demo_workspace()
    route = db.session.query(ProviderRoute).one()
    route.template = "{external_id} please {action}"
    db.session.commit()
    counts = _demo_row_counts(db)

    second = ensure_demo_workspace()
    assert not second.created and second.manager_password is None
    assert second.workspace_id == first.workspace_id
    db.session.expire_all()
    assert _demo_row_counts(db) == counts
    assert db.session.query(ProviderRoute).one().template == "{external_id} please {action}"
    assert login_status(client, DEMO_MANAGER, first.manager_password)


def test_demo_manager_sees_the_demo_and_only_the_demo(app, client, factory):
    other, _ = factory.populated_workspace("acme")
    result = ensure_demo_workspace()
    assert login_status(client, DEMO_MANAGER, result.manager_password)

    home = client.get("/").get_data(as_text=True)
    assert "Demo SMM Panel" in home
    routes = client.get("/providerrouteview/list/").get_data(as_text=True)
    assert "120363000000000001@g.us" in routes and "acme-provider" not in routes
    users = client.get("/linkeduserview/list/").get_data(as_text=True)
    assert "demo_customer" in users and "acme-customer" not in users


def test_demo_seeded_again_after_the_workspace_was_deleted(app, client, db):
    first = ensure_demo_workspace()
    db.session.delete(db.session.get(Workspace, first.workspace_id))
    db.session.commit()
    assert db.session.query(WorkspaceMember).count() == 0  # gone with the workspace (cascade)

    again = ensure_demo_workspace()
    assert again.created and again.manager_password not in (None, first.manager_password)
    assert login_status(client, DEMO_MANAGER, again.manager_password)
    assert not login_status(client, DEMO_MANAGER, first.manager_password)
