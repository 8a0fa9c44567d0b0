"""The release step `flask fab create-permissions` (Procfile) on a new database, before `flask
init` made any role: the Admin role is created and given every permission, the REST twins'
included, so the master admin can use every screen and twin (the CSV export is a twin's
`can_get`). It used to log a traceback per view and leave the role without them."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask_appbuilder import ModelRestApi

from tests.integration.test_demo import flask_cli


@pytest.fixture
def no_admin_role(app, db):
    """No Admin role at all, as on a new database. Restored afterwards whatever happened."""
    sm = app.appbuilder.sm
    role = sm.find_role("Admin")
    db.session.execute(sa.text("DELETE FROM ab_user_role WHERE role_id = :r"), {"r": role.id})
    db.session.execute(sa.text("DELETE FROM ab_permission_view_role WHERE role_id = :r"),
                       {"r": role.id})
    db.session.execute(sa.text("DELETE FROM ab_role WHERE id = :r"), {"r": role.id})
    db.session.commit()
    db.session.expire_all()
    yield
    with app.app_context():
        db.session.rollback()
        sm.add_role("Admin")
        app.appbuilder.add_permissions(update_perms=True)


def test_create_permissions_gives_a_new_admin_role_everything(app, db, tmp_path, no_admin_role,
                                                              factory, auth, client):
    result = flask_cli(tmp_path, "fab", "create-permissions")
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "Error" not in output, output[-2000:]

    db.session.expire_all()
    sm = app.appbuilder.sm
    admin = sm.find_role("Admin")
    assert admin is not None
    granted = {(pv.permission.name, pv.view_menu.name) for pv in admin.permissions}
    every = {(pv.permission.name, pv.view_menu.name)
             for pv in db.session.query(sm.permissionview_model)}
    assert every and every <= granted, sorted(every - granted)[:10]
    twins = [v for v in app.appbuilder.baseviews if isinstance(v, ModelRestApi)
             and "can_get" in (v.base_permissions or [])]
    assert twins
    assert {("can_get", v.class_permission_name) for v in twins} <= granted

    factory.admin("root")
    auth.login("root")
    response = client.get("/api/v1/command_log/export.csv")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
