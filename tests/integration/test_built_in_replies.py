"""The built-in replies catalogue (app/views/replies_catalogue.py): every key with its
placeholders and its text in every shipped language; the master admin overrides one (an
override row) and reverts to built-in; workspace members read it beside their own overrides."""
from __future__ import annotations

import re

from app.domain.replies import DEFAULT_REPLIES
from app.models import GlobalReplyTemplate

URL = "/replies/built-in/"


def csrf(client, url=URL) -> str:
    html = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html)[1]


def row_html(html: str, key: str, language: str) -> str:
    match = re.search(rf'<tr data-key="{key}" data-language="{language}".*?</tr>', html, re.S)
    assert match, (key, language)
    return match[0]


def test_catalogue_lists_every_key_placeholders_and_languages(app, factory, auth, client):
    auth.login(factory.admin("root").username)
    response = client.get(URL)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for key in DEFAULT_REPLIES:
        for language in app.config["LANGUAGES"]:
            assert f'data-key="{key}" data-language="{language}"' in html
    refill = html[html.index('id="reply-refill_ok"'):]
    assert "<code dir=\"ltr\">{order_ids}</code>" in refill[:2000]
    assert "Refill requested for {count} orders: {order_ids}" in row_html(html, "refill_ok", "en")
    assert "Refill requested: {order_ids}" in row_html(html, "refill_ok_one", "en")
    spanish = row_html(html, "refill_ok", "es")
    assert "{order_ids}" in spanish and "Refill requested" not in spanish  # translated
    assert 'class="btn btn-default btn-xs override"' in spanish


def test_language_filter(factory, auth, client):
    auth.login(factory.admin("root").username)
    html = client.get(URL + "?language=ru").get_data(as_text=True)
    assert 'data-language="ru"' in html and 'data-language="en"' not in html


def test_master_admin_overrides_and_reverts(app, db, factory, auth, client):
    auth.login(factory.admin("root").username)
    token = csrf(client)
    response = client.post(URL + "override", data={"csrf_token": token, "key": "help",
                                                   "language": "es"})
    row = db.session.query(GlobalReplyTemplate).filter_by(key="help", language="es").one()
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/globalreplytemplateview/edit/{row.id}")
    assert "{" not in row.body and row.body != DEFAULT_REPLIES["help"]  # the Spanish text
    html = client.get(URL).get_data(as_text=True)
    assert "Overridden" in row_html(html, "help", "es")
    assert "revert" in row_html(html, "help", "es")
    # overriding again opens the same row, no duplicate
    client.post(URL + "override", data={"csrf_token": token, "key": "help", "language": "es"})
    assert db.session.query(GlobalReplyTemplate).filter_by(key="help").count() == 1

    response = client.post(URL + "revert", data={"csrf_token": token, "key": "help",
                                                 "language": "es"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.query(GlobalReplyTemplate).count() == 0


def test_unknown_key_or_language_is_a_400(factory, auth, client, db):
    auth.login(factory.admin("root").username)
    token = csrf(client)
    for data in ({"key": "nope", "language": "es"}, {"key": "help", "language": "klingon"}):
        response = client.post(URL + "override", data={"csrf_token": token, **data})
        assert response.status_code == 400
    assert db.session.query(GlobalReplyTemplate).count() == 0


def test_manager_reads_beside_own_overrides_and_cannot_override(factory, auth, client, db):
    ws, manager = factory.populated_workspace("acme")  # its reply template: help / en
    auth.login(manager.username)
    html = client.get(URL).get_data(as_text=True)
    assert "Help text" in row_html(html, "help", "en")  # the workspace's own text beside
    assert 'class="btn btn-default btn-xs override"' not in html
    response = client.post(URL + "override", data={"csrf_token": csrf(client), "key": "help",
                                                   "language": "es"})
    assert response.status_code == 403
    assert db.session.query(GlobalReplyTemplate).count() == 0
    assert "/replies/built-in/" in client.get("/").get_data(as_text=True)  # in the menu


def test_agent_reads_the_catalogue(factory, auth, client):
    ws = factory.workspace("acme")
    agent = factory.member(ws, "acme-agent", "agent")
    auth.login(agent.username)
    assert client.get(URL).status_code == 200


def test_master_admin_menu_links_the_catalogue(factory, auth, client):
    auth.login(factory.admin("root").username)
    html = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert 'href="/replies/built-in/"' in html
