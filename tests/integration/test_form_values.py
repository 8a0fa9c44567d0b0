"""Form values meet columns in one place (RelaydeskInterface): a checkbox left off saves False,
an empty optional text saves NULL (issue 11: "every checkbox is required by the browser", "a
second channel cannot be added through the form")."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.models import Channel, Plan, ServiceRule, WorkspaceSettings
from tests.tenancy_helpers import model_views

CHECKBOX = re.compile(r"<input\b[^>]*\btype=\"checkbox\"[^>]*>", re.I)
REQUIRED = re.compile(r"\srequired(\s|=|>|/)", re.I)


@pytest.fixture
def workspace(factory):
    ws = factory.workspace("forms")
    factory.member(ws, "forms-manager", "manager")
    factory.admin()
    return ws


@pytest.fixture
def manager(workspace, auth):
    auth.login("forms-manager")
    return workspace


def test_settings_save_with_both_boxes_off(client, manager, db):
    settings = db.session.query(WorkspaceSettings).filter_by(workspace_id=manager.id).one()
    settings.allow_partial_refill = True
    settings.fallback_reply_enabled = True
    db.session.commit()
    response = client.post(f"/workspacesettingsview/edit/{settings.id}", data={
        "cooldown_refill_seconds": "86400", "cooldown_speed_seconds": "43200",
        "cooldown_cancel_seconds": "43200", "max_ids_per_message": "100",
        "ticket_poll_seconds": "60", "inbox_resume_minutes": "30"})  # boxes left off
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    db.session.expire_all()
    settings = db.session.get(WorkspaceSettings, settings.id)
    assert settings.allow_partial_refill is False and settings.fallback_reply_enabled is False


def test_a_service_rule_saves_without_manager_override(client, manager, db):
    response = client.post("/serviceruleview/add", data={
        "service_id": "4232", "refill_kind": "window", "refill_days": "30"})
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    rule = db.session.query(ServiceRule).filter_by(workspace_id=manager.id).one()
    assert (rule.is_override, rule.allow_refill, rule.allow_speed, rule.allow_cancel) == (
        False, False, False, False)
    assert rule.service_name is None and rule.notes is None  # empty optional texts: NULL


def test_a_second_and_third_channel_through_the_form(client, manager, db):
    for name, kind, fields in (
            ("Bot one", "telegram", {"bot_token": "700001:AAfirst-bot-token"}),
            ("Bot two", "telegram", {"bot_token": "700002:AAsecond-bot-token"}),
            ("Widget", "webchat", {})):
        data = {"name": name, "kind": kind, "api_url": "", "id_instance": "",
                "phone_number_id": "", "waba_id": "", "api_base": "", "notes": "", **fields}
        response = client.post("/channelview/add", data=data)  # "enabled" left off
        assert response.status_code == 302, (name, response.get_data(as_text=True)[:3000])
    rows = db.session.query(Channel).filter_by(workspace_id=manager.id).order_by(Channel.id).all()
    assert [c.name for c in rows] == ["Bot one", "Bot two", "Widget"]
    for channel in rows:
        assert channel.enabled is False
        assert channel.phone_number_id is None and channel.waba_id is None
        assert channel.id_instance is None and channel.notes is None
    raw = db.session.execute(sa.text("SELECT count(*) FROM channel WHERE notes = ''")).scalar()
    assert raw == 0


def test_a_plan_can_be_made_not_public(client, auth, workspace, db):
    auth.login("root")
    response = client.post("/planview/add", data={
        "code": "hidden", "name": "Hidden", "mediums": "greenapi", "modules": "api",
        "max_channels": "1", "max_linked_users": "10", "sort_order": "0",
        "description": ""})  # is_public left off
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    plan = db.session.query(Plan).filter_by(code="hidden").one()
    assert plan.is_public is False and plan.description is None


def test_no_form_requires_a_checkbox(app, client, auth, workspace):
    """Every add form registered in the app (enumerated at run time), as the master admin: no
    checkbox carries `required`, which made the browser refuse "off"."""
    auth.login("root")
    checked = 0
    with app.app_context():
        for view, kind in model_views(app):
            perms = view.base_permissions
            if kind != "html" or (perms is not None and "can_add" not in perms):
                continue
            response = client.get(f"{view.route_base}/add")
            if response.status_code != 200:
                continue
            html = response.get_data(as_text=True)
            for box in CHECKBOX.findall(html):
                assert not REQUIRED.search(box), (view.route_base, box)
                checked += 1
    assert checked >= 5, checked
