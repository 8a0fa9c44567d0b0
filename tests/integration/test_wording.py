"""What a panel owner reads on the screens: outside services' answers as sentences in the
reader's language, labels instead of codes, examples that fit the field, words for the role."""
from __future__ import annotations

import re

from flask_babel import force_locale
from markupsafe import escape

from app.extensions import db
from app.models import PanelConnection
from app.status_words import Said


def page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def fresh_panel(panel_id: int) -> PanelConnection:
    db.session.expire_all()
    return db.session.get(PanelConnection, panel_id)


# --- point 1: panel connection actions ----------------------------------------------------------

def test_unreachable_panel_is_a_sentence_and_a_labelled_status(client, manager, factory, acme,
                                                               fake_perfectpanel):
    panel = factory.panel(acme, panel_type="perfectpanel_v2", url=fake_perfectpanel.url,
                          api_key=fake_perfectpanel.api_key)
    fake_perfectpanel.fail_next(10, 503)
    html = page(client.post(f"/panelconnectionview/action/test_panel/{panel.id}",
                            follow_redirects=True))
    assert "The panel is having trouble right now (HTTP 503). Try again in a moment." in html
    assert "unreachable:" not in html and "attempts" not in html
    stored = fresh_panel(panel.id)
    said = Said.decode(stored.status_detail)
    assert stored.status == "error" and said.code == "panel_server_error"
    assert "after 3 attempts" in said.detail  # the technical detail is kept, folded
    listing = page(client.get("/panelconnectionview/list/"))
    assert ">Error</bdi>" in listing and ">error</bdi>" not in listing
    client.get("/lang/es")
    show = page(client.get(f"/panelconnectionview/show/{panel.id}"))
    with force_locale("es"):
        sentence = said.words()
    assert sentence.startswith("El panel") and escape(sentence) in show
    assert "<details class='rd-status-detail'>" in show and "after 3 attempts" in show


def test_detect_engine_names_the_engine_by_its_label(client, manager, factory, acme,
                                                     fake_perfectpanel):
    panel = factory.panel(acme, panel_type="demo", url=fake_perfectpanel.url,
                          api_key=fake_perfectpanel.api_key)
    html = page(client.post(f"/panelconnectionview/action/detect_panel/{panel.id}",
                            follow_redirects=True))
    assert "Found Perfect Panel (API v2) at this URL; the panel engine is set to it." in html
    assert "admin API v2 found at" not in html
    assert Said.decode(fresh_panel(panel.id).status_detail).params == {
        "engine": "perfectpanel_v2"}


# --- point 2: codes in the interface -----------------------------------------------------------

def test_panel_form_help_uses_labels_not_codes(client, manager):
    html = page(client.get("/panelconnectionview/add"))
    for code in ("perfectpanel_v2:", "rentalpanel_v1:", "smm_api_v2:", "· demo", "names:",
                 "cached:"):
        assert code not in html, code
    assert "Perfect Panel (API v2)" in html and "Standard SMM panel API (v2)" in html
    assert escape("From the panel's service list") in html


def test_refresh_services_names_the_option_by_its_label(client, manager, factory, acme):
    panel = factory.panel(acme, panel_type="demo", service_rules_mode="names")
    html = page(client.post(f"/panelconnectionview/action/refresh_services/{panel.id}",
                            follow_redirects=True))
    assert escape('set "Service rules from" to "From the panel\'s service list"') in html
    assert "to cached" not in html


def test_playground_names_platform_and_language(factory, auth, client):
    from tests.integration.test_playground import CUSTOMER, demo_manager, try_message

    _workspace, channel = demo_manager(factory)
    auth.login("demo-manager")
    html = page(client.get("/playground/"))
    assert f"{channel.name} (WhatsApp (Green API))" in html and "(greenapi)" not in html
    html = try_message(client, channel, CUSTOMER, "2274209 refill")
    assert "Reply to the chat (English)" in html and "(en)" not in html
    assert "Replies in English." in html and "Replies in en." not in html


# --- point 5: web chat channels -----------------------------------------------------------------

def test_web_chat_show_page_offers_no_platform_actions(client, manager, factory, acme, green):
    widget = factory.channel(acme, kind="webchat", name="Site widget")
    show = page(client.get(f"/channelview/show/{widget.id}"))
    assert "/action/test_connection/" not in show and "/action/configure_webhook/" not in show
    control = page(client.get(f"/channelview/show/{green.id}"))
    assert "/action/test_connection/" in control and "/action/configure_webhook/" in control


# --- point 6: examples and words that fit -------------------------------------------------------

def test_each_platform_form_has_its_own_name_example(client, manager):
    examples = {"greenapi": "Main WhatsApp", "meta": "WhatsApp Business",
                "telegram": "Support bot", "webchat": "Website chat"}
    for kind, example in examples.items():
        html = page(client.get(f"/channelview/add?kind={kind}"))
        assert f"e.g. {example}." in html, kind
        for other in set(examples.values()) - {example}:
            assert f"e.g. {other}." not in html, (kind, other)


def test_green_api_url_error_gives_a_green_api_example(client, manager):
    html = page(client.post("/channelview/add?kind=greenapi", data={
        "kind": "greenapi", "name": "Typo", "api_url": "api.green-api", "id_instance": "x1",
        "api_token": "token"}))
    errors = " ".join(re.findall(r'field-error"><i [^>]*></i>(.*?)</span>', html, re.S))
    assert "https://7103.api.greenapi.com" in errors and "panel.example.com" not in errors
    assert "e.g. 1101000001" in errors and "7103123456" not in errors


def test_403_is_worded_for_a_manager(factory, auth, client):
    _ws, manager = factory.populated_workspace("acme")
    auth.login(manager.username)
    response = client.get("/planview/list/")
    assert response.status_code == 403
    html = response.get_data(as_text=True)
    assert "ask the platform" in html and "administrator" in html
    assert "workspace manager" not in html and "a manager of your workspace" not in html


def test_the_rest_api_reads_a_coded_status_detail_as_text(client, manager, factory, acme,
                                                          fake_perfectpanel):
    """The screens fold the technical part away; the REST API gives the sentence and the detail
    as one text, never the stored `rd:` code."""
    panel = factory.panel(acme, panel_type="perfectpanel_v2", url=fake_perfectpanel.url,
                          api_key=fake_perfectpanel.api_key)
    fake_perfectpanel.fail_next(10, 503)
    client.post(f"/panelconnectionview/action/test_panel/{panel.id}")
    detail = client.get(f"/api/v1/panel_connection/{panel.id}").get_json()["result"][
        "status_detail"]
    assert detail.startswith("The panel is having trouble right now (HTTP 503).")
    assert "after 3 attempts" in detail and not detail.startswith("rd:")
