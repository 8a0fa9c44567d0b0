"""Every workspace has its settings row, however it was created (app/models/settings.py): a
workspace the master admin adds on the screen gets one, and its manager can open and change it.
Before, only the demo workspace had one, and a new workspace's Settings screen was empty with no
way to add the row."""
from __future__ import annotations

import re

from app.extensions import db
from app.models import Workspace, WorkspaceSettings


def test_a_workspace_added_on_the_screen_has_settings_its_manager_can_change(
        app, client, auth, factory):
    factory.admin("root")
    auth.login("root")
    response = client.post("/workspaceadminview/add", data={
        "slug": "fresh-panel", "name": "Fresh Panel", "status": "active", "language": "en",
        "timezone": "UTC"})
    assert response.status_code == 302
    workspace = db.session.query(Workspace).filter_by(slug="fresh-panel").one()
    settings = db.session.query(WorkspaceSettings).filter_by(workspace_id=workspace.id).one()
    assert settings.cooldown_refill_seconds == 24 * 3600 and settings.max_ids_per_message == 100

    auth.logout()
    factory.member(workspace, "fresh-manager")
    auth.login("fresh-manager")
    listing = client.get("/workspacesettingsview/list/").get_data(as_text=True)
    edit = re.search(r'href="(/workspacesettingsview/edit/\d+)[^"]*"', listing)
    assert edit, "the manager's Settings screen offers no row to edit"
    form = client.get(edit[1]).get_data(as_text=True)
    assert 'name="cooldown_refill_seconds"' in form
    saved = client.post(edit[1], data={
        "cooldown_refill_seconds": "3600", "cooldown_speed_seconds": "3600",
        "cooldown_cancel_seconds": "3600", "max_ids_per_message": "20",
        "ticket_poll_seconds": "60", "inbox_resume_minutes": "30"})  # what the form shows
    assert saved.status_code == 302
    db.session.expire_all()
    assert db.session.get(WorkspaceSettings, settings.id).cooldown_refill_seconds == 3600


def test_a_workspace_made_in_code_has_exactly_one_settings_row(app, factory):
    workspace = factory.workspace("coded")
    rows = db.session.query(WorkspaceSettings).filter_by(workspace_id=workspace.id).count()
    assert rows == 1
