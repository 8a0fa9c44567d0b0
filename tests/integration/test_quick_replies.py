"""Quick replies (app/quick_replies.py, Templates › Quick replies): a workspace's canned answers,
typed as /shortcut. The shortcut is one word, refused beside its field otherwise (screen) or
named in a 422 (REST), unique within a workspace only; the answer is a safe template whose
placeholders are filled for the conversation; only the workspace's own enabled ones expand.
(The template checks themselves are in test_templates.py, kind "quick".)"""
from __future__ import annotations

import pytest

from app.extensions import db
from app.models import QuickReply
from app.quick_replies import expand, render, suggestions
from tests.form_errors import api_message, field_error

VALUES = {"name": "Alice", "username": "alice77", "agent": "Maria", "workspace": "Acme SMM"}


@pytest.fixture
def acme(factory, auth):
    workspace, manager = factory.populated_workspace("acme")
    auth.login(manager.username)
    return workspace


def quick(workspace, shortcut, body, *, enabled=True, title="A reply") -> QuickReply:
    row = QuickReply(workspace_id=workspace.id, shortcut=shortcut, title=title, body=body,
                     enabled=enabled)
    db.session.add(row)
    db.session.commit()
    return row


@pytest.mark.parametrize("shortcut", ["/delay", "Delay", "two words", "", "x" * 33, "-dash",
                                      "déjà", "<b>x</b>"])
def test_a_shortcut_that_is_not_one_word_is_refused_beside_its_field(client, acme, shortcut):
    form = {"shortcut": shortcut, "title": "Delays", "body": "Hello {name}", "enabled": "y"}
    page = client.post("/quickreplyview/add", data=form).get_data(as_text=True)
    assert field_error(page, "shortcut"), shortcut
    assert db.session.query(QuickReply).count() == 0
    response = client.post("/api/v1/quick_reply/", json={**form, "enabled": True})
    assert response.status_code == 422 and "shortcut" in response.json["message"], response.json


def test_a_shortcut_is_unique_in_its_workspace_only(client, factory, auth, acme):
    form = {"shortcut": "delay", "title": "Delays", "body": "Hello {name}", "enabled": "y"}
    assert client.post("/quickreplyview/add", data=form).status_code == 302
    page = client.post("/quickreplyview/add", data=form).get_data(as_text=True)
    assert field_error(page, "shortcut")
    response = client.post("/api/v1/quick_reply/", json={**form, "enabled": True})
    assert response.status_code == 422 and "shortcut" in response.json["message"]
    assert "already used" in api_message(response)
    other, manager = factory.populated_workspace("other")
    auth.logout()
    auth.login(manager.username)
    assert client.post("/quickreplyview/add", data=form).status_code == 302
    assert db.session.query(QuickReply).filter_by(shortcut="delay").count() == 2


def test_agents_read_quick_replies_but_do_not_change_them(client, factory, auth, acme):
    quick(acme, "delay", "Hello {name}")
    factory.member(acme, "acme-agent", "agent")
    auth.logout()
    auth.login("acme-agent")
    listed = client.get("/api/v1/quick_reply/")
    assert listed.status_code == 200 and listed.json["count"] == 1
    assert client.post("/api/v1/quick_reply/", json={
        "shortcut": "x", "title": "X", "body": "y", "enabled": True}).status_code == 403
    assert client.get("/quickreplyview/add").status_code in (302, 403)


def test_a_shortcut_expands_with_the_conversations_values(acme, factory):
    quick(acme, "delay", "Hello {name} ({username}), it is on its way. {agent}, {workspace} "
                         "{{team}}")
    expected = "Hello Alice (alice77), it is on its way. Maria, Acme SMM {team}"
    assert expand(acme.id, "/delay", VALUES) == expected
    assert expand(acme.id, "  /DELAY \n", VALUES) == expected
    assert expand(acme.id, "/delay please", VALUES) is None  # a sentence is not a shortcut
    assert expand(acme.id, "delay", VALUES) is None
    assert expand(acme.id, "/nothing", VALUES) is None
    assert expand(acme.id, "/delay", {"name": None}) == \
        "Hello  (), it is on its way. ,  {team}"  # missing values are left empty
    other, _ = factory.populated_workspace("other")
    assert expand(other.id, "/delay", VALUES) is None


def test_a_disabled_or_stored_invalid_reply(acme):
    quick(acme, "off", "Hello {name}", enabled=False)
    assert expand(acme.id, "/off", VALUES) is None
    quick(acme, "old", "Order {order_id:>99} {name}")  # written before the checks
    assert expand(acme.id, "/old", VALUES) == "Order {order_id:>99} {name}"
    assert render("x" * 5000, VALUES) == "x" * 4095 + "…"


def test_suggestions_list_the_shortcuts_starting_with_what_was_typed(acme, factory):
    for shortcut in ("delay", "delivered", "refund", "de_luxe"):
        quick(acme, shortcut, "text")
    quick(acme, "dead", "text", enabled=False)
    assert [r.shortcut for r in suggestions(acme.id, "/de")] == ["de_luxe", "delay",
                                                                "delivered"]
    assert [r.shortcut for r in suggestions(acme.id, "de_")] == ["de_luxe"]  # _ is literal
    assert len(suggestions(acme.id, "")) == 4
    assert suggestions(acme.id, "%") == [] and suggestions(acme.id, "d e") == []
    other, _ = factory.populated_workspace("other")
    assert suggestions(other.id, "de") == []
