"""URLs a manager stores (a Green API `api_url`, a Telegram `api_base`, the panel `url`): the
outbound URL policy when saving, on the screens (the message beside the field), on their REST
twins (422 naming the field) and in the workspace file (line-precise, nothing written); a
changed URL needs its secret again in the same save; and a stored URL the policy refuses (a row
from before the policy, or an operator who narrowed the allow-list) is refused at connect time by
every action and by the worker, so the stored token is never sent.

The test configuration allows 127.0.0.0/8 for the fakes; tests that play a production server
empty `OUTBOUND_ALLOW_PRIVATE`.
"""
from __future__ import annotations

import socket

import pytest
from markupsafe import escape

from app.domain.replies import DEFAULT_REPLIES
from app.extensions import db
from app.integrations import urlpolicy
from app.jobs.outbound import queue_message, send_outbound
from app.jobs.services import refresh_services
from app.models import Channel, ExternalCall, OutboundMessage, PanelConnection
from app.workspace_file.errors import WorkspaceFileInvalid
from app.workspace_file.importer import import_text
from tests.form_errors import field_error as shown_error
from tests.integration.pipeline_support import build_desk, reply_of, send, steps

LOOPBACK_REFUSED = "This address leads to the server itself (loopback)"
PRIVATE_REFUSED = "This address leads to a private network"
REENTER = "Enter this key again: the address it is sent to has changed."
TOKEN = "green-token-0b8f3e1d7a"
NEW_TOKEN = "green-token-new-77c2a9"
PANEL_KEY = "pp-admin-key"  # FakePerfectPanel's default


@pytest.fixture
def production_allow_list(app, monkeypatch):
    """OUTBOUND_ALLOW_PRIVATE as a production server has it: empty."""
    monkeypatch.setitem(app.config, "OUTBOUND_ALLOW_PRIVATE", "")


@pytest.fixture
def dns(monkeypatch):
    """Simulated answers for a few names; others go to the real resolver."""
    real = urlpolicy.resolve
    answers: dict[str, list[str]] = {}

    def resolve(host, port, family=0, kind=0, *args):
        if host not in answers:
            return real(host, port, family, kind, *args)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in answers[host]]

    monkeypatch.setattr(urlpolicy, "resolve", resolve)
    return answers


@pytest.fixture
def green(factory, acme):
    return factory.channel(acme, kind="greenapi", name="Main WhatsApp",
                           api_url="https://7103.api.greenapi.com", id_instance="1101000042",
                           api_token=TOKEN, webhook_token="hook-token-1234")


def fresh(model, pk):
    db.session.expire_all()
    return db.session.get(model, pk)


def html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def field_error(page: str, field: str) -> str:
    """The error beside a field, or '' if none."""
    return shown_error(page, field) or ""


def channel_form(channel: Channel, **changes) -> dict:
    data = {"name": channel.name, "kind": channel.kind, "enabled": "y",
            "api_url": channel.api_url or "", "id_instance": channel.id_instance or "",
            "api_token": "", "webhook_token": "", "bot_token": "", "secret_token": "",
            "api_base": channel.api_base or "", "phone_number_id": channel.phone_number_id or "",
            "waba_id": channel.waba_id or "", "access_token": "", "app_secret": "",
            "notes": channel.notes or ""}
    data.update(changes)
    return data


def panel_form(panel: PanelConnection, **changes) -> dict:
    data = {"panel_type": panel.panel_type, "url": panel.url, "api_key": "",
            "user_api_key": "", "service_rules_mode": panel.service_rules_mode,
            "requests_per_second": str(panel.requests_per_second),
            "timeout_seconds": str(panel.timeout_seconds)}
    data.update(changes)
    return data


# --- saving: screens ----------------------------------------------------------------------------

@pytest.mark.parametrize("url, message", [
    ("https://10.1.2.3/", PRIVATE_REFUSED),
    ("https://169.254.169.254/latest/", "cloud metadata service"),
    ("https://0x7f.1/", "four numbers separated by dots"),
    ("https://user:pass@7103.api.greenapi.com", "Remove the user name and password"),
    ("http://7103.api.greenapi.com", "must start with https://"),
])
def test_the_add_screen_shows_the_refusal_beside_the_url_field(client, manager, acme, url,
                                                               message):
    page = html(client.post("/channelview/add", data={
        "name": "New", "kind": "greenapi", "enabled": "y", "api_url": url,
        "id_instance": "1101000077", "api_token": TOKEN}))
    assert message in field_error(page, "api_url")
    assert db.session.query(Channel).count() == 0


def test_a_name_resolving_to_a_private_address_is_refused_when_saved(client, manager, dns):
    dns["green.attacker.example"] = ["192.168.0.10"]
    page = html(client.post("/channelview/add", data={
        "name": "New", "kind": "greenapi", "enabled": "y",
        "api_url": "https://green.attacker.example", "id_instance": "1101000077",
        "api_token": TOKEN}))
    assert PRIVATE_REFUSED in field_error(page, "api_url")
    assert "192.168.0.10" not in page
    assert db.session.query(Channel).count() == 0


def test_the_edit_screen_wants_the_token_again_when_the_url_changes(client, manager, green):
    new_url = "https://1103.api.greenapi.com"
    page = html(client.post(f"/channelview/edit/{green.id}",
                            data=channel_form(green, api_url=new_url)))
    assert REENTER in field_error(page, "api_token")
    assert fresh(Channel, green.id).api_url == "https://7103.api.greenapi.com"

    response = client.post(f"/channelview/edit/{green.id}",
                           data=channel_form(green, api_url=new_url, api_token=NEW_TOKEN))
    assert response.status_code == 302
    channel = fresh(Channel, green.id)
    assert (channel.api_url, channel.api_token) == (new_url, NEW_TOKEN)


def test_the_edit_screen_keeps_the_token_when_the_url_stays(client, manager, green):
    response = client.post(f"/channelview/edit/{green.id}",
                           data=channel_form(green, name="Renamed",
                                             api_url=green.api_url + "/"))  # same URL
    assert response.status_code == 302
    channel = fresh(Channel, green.id)
    assert (channel.name, channel.api_token) == ("Renamed", TOKEN)


def test_the_panel_screen_wants_the_key_again_and_drops_the_user_key(client, manager, factory,
                                                                      acme):
    panel = factory.panel(acme, panel_type="perfectpanel_v2", url="https://panel.example",
                          api_key="old-admin-key-1234", user_api_key="old-user-key-5678")
    moved = "https://panel2.example"
    page = html(client.post(f"/panelconnectionview/edit/{panel.id}",
                            data=panel_form(panel, url=moved)))
    assert REENTER in field_error(page, "api_key")
    assert fresh(PanelConnection, panel.id).url == "https://panel.example"

    response = client.post(f"/panelconnectionview/edit/{panel.id}",
                           data=panel_form(panel, url=moved, api_key="new-admin-key-9876"))
    assert response.status_code == 302
    stored = fresh(PanelConnection, panel.id)
    assert (stored.url, stored.api_key, stored.user_api_key) == (
        moved, "new-admin-key-9876", None)  # the user key would go to the new host too


def test_the_panel_user_key_given_again_is_kept(client, manager, factory, acme):
    panel = factory.panel(acme, panel_type="smm_api_v2", url="https://panel.example",
                          api_key="old-admin-key-1234", user_api_key="old-user-key-5678")
    response = client.post(f"/panelconnectionview/edit/{panel.id}", data=panel_form(
        panel, url="https://panel2.example", api_key="new-admin-key-9876",
        user_api_key="new-user-key-4321"))
    assert response.status_code == 302
    assert fresh(PanelConnection, panel.id).user_api_key == "new-user-key-4321"


def test_a_demo_panel_becoming_a_real_one_needs_its_key(client, manager, factory, acme):
    """The demo panel is never called: its URL is free text. Switching the engine makes the
    URL called for the first time, which counts as a new address."""
    panel = factory.panel(acme, panel_type="demo", url="https://panel.example",
                          api_key="typed-while-demo-1234")
    page = html(client.post(f"/panelconnectionview/edit/{panel.id}",
                            data=panel_form(panel, panel_type="perfectpanel_v2")))
    assert REENTER in field_error(page, "api_key")
    assert fresh(PanelConnection, panel.id).panel_type == "demo"
    free_text = client.post(f"/panelconnectionview/edit/{panel.id}",
                            data=panel_form(panel, url="anything at all"))
    assert free_text.status_code == 302  # still demo: not a URL anyone calls


# --- saving: REST -------------------------------------------------------------------------------

def test_rest_refuses_a_bad_url_naming_the_field(client, manager):
    response = client.post("/api/v1/channel/", json={
        "name": "Bot", "kind": "telegram", "bot_token": "700123:AAsecret",
        "api_base": "https://[::ffff:10.0.0.1]"})
    assert response.status_code == 422
    assert list(response.json["message"]) == ["api_base"]
    assert PRIVATE_REFUSED in response.json["message"]["api_base"][0]
    assert db.session.query(Channel).count() == 0


def test_rest_url_change_needs_the_secret(client, manager, factory, acme):
    bot = factory.channel(acme, kind="telegram", name="Bot", bot_token="700123:AAold",
                          api_base="https://api.telegram.org")
    moved = {"api_base": "https://tg-proxy.example"}
    response = client.put(f"/api/v1/channel/{bot.id}", json=moved)
    assert response.status_code == 422
    assert response.json["message"] == {"bot_token": [REENTER]}
    blank = client.put(f"/api/v1/channel/{bot.id}", json={**moved, "bot_token": ""})
    assert blank.status_code == 422  # blank keeps the stored token: not entered again
    assert fresh(Channel, bot.id).api_base == "https://api.telegram.org"

    response = client.put(f"/api/v1/channel/{bot.id}", json={**moved, "bot_token": "700123:AAnew"})
    assert response.status_code == 200, response.json
    channel = fresh(Channel, bot.id)
    assert (channel.api_base, channel.bot_token) == ("https://tg-proxy.example", "700123:AAnew")
    renamed = client.put(f"/api/v1/channel/{bot.id}", json={"name": "Bot 2"})
    assert renamed.status_code == 200  # the URL did not change: nothing to enter again


def test_rest_panel_url_change(client, manager, factory, acme):
    panel = factory.panel(acme, panel_type="rentalpanel_v1", url="https://panel.example",
                          api_key="old-admin-key-1234", user_api_key="old-user-key-5678")
    response = client.put(f"/api/v1/panel_connection/{panel.id}",
                          json={"url": "https://panel2.example"})
    assert (response.status_code, response.json["message"]) == (422, {"api_key": [REENTER]})
    refused = client.put(f"/api/v1/panel_connection/{panel.id}",
                         json={"url": "https://169.254.169.254/", "api_key": "k-123456"})
    assert refused.status_code == 422 and list(refused.json["message"]) == ["url"]
    assert "cloud metadata service" in refused.json["message"]["url"][0]
    response = client.put(f"/api/v1/panel_connection/{panel.id}",
                          json={"url": "https://panel2.example", "api_key": "new-admin-key"})
    assert response.status_code == 200
    stored = fresh(PanelConnection, panel.id)
    assert (stored.url, stored.api_key, stored.user_api_key) == (
        "https://panel2.example", "new-admin-key", None)


def test_switching_a_channel_kind_counts_as_a_new_address(client, manager, factory, acme):
    """A Telegram channel's (unused) Green API URL becomes the called URL when the kind changes:
    the Green API token must come with that save."""
    channel = factory.channel(acme, kind="telegram", name="Switch", bot_token="700999:AAx",
                              api_url="https://green.elsewhere.example", id_instance="1101000099",
                              api_token=TOKEN)
    response = client.put(f"/api/v1/channel/{channel.id}", json={"kind": "greenapi"})
    assert (response.status_code, response.json["message"]) == (422, {"api_token": [REENTER]})


# --- saving: the workspace file -----------------------------------------------------------------

WORKSPACE_FILE = """\
workspace:
  slug: acme
  name: Acme
channels:
  - name: Main WhatsApp
    kind: greenapi
    api_url: {api_url}
    id_instance: '1101000042'
{token}panel:
  type: perfectpanel_v2
  url: {panel_url}
{panel_key}"""


def workspace_file(api_url="https://7103.api.greenapi.com", token=None,
                   panel_url="https://panel.example", panel_key="old-admin-key-1234") -> str:
    return WORKSPACE_FILE.format(
        api_url=api_url, panel_url=panel_url,
        token=f"    api_token: {token}\n" if token else "",
        panel_key=f"  api_key: {panel_key}\n" if panel_key else "")


def problems_of(text: str) -> list[str]:
    with pytest.raises(WorkspaceFileInvalid) as invalid:
        import_text(text, "acme.yaml")
    return [str(p) for p in invalid.value.problems]


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_workspace_file_refuses_bad_urls_on_their_lines(app, db, factory):
    text = workspace_file(api_url="'https://192.168.1.20'", token=TOKEN,
                          panel_url="http://panel.example")
    assert problems_of(text) == [
        f"acme.yaml:{line_of(text, '192.168.1.20')}: channels[0].api_url: {PRIVATE_REFUSED}, "
        f"which Relaydesk does not connect to.",
        f"acme.yaml:{line_of(text, 'http://panel')}: panel.url: The address must start with "
        f"https:// (plain http:// only for addresses the platform operator has approved)."]
    assert db.session.query(Channel).count() == 0


def test_workspace_file_url_change_needs_the_secret(app, db, factory, acme, green):
    factory.panel(acme, panel_type="perfectpanel_v2", url="https://panel.example",
                  api_key="old-admin-key-1234", user_api_key="old-user-key-5678")
    import_text(workspace_file(), "acme.yaml")  # the same URLs: no secret needed

    text = workspace_file(api_url="https://1103.api.greenapi.com",
                          panel_url="https://panel2.example", panel_key=None)
    # the missing key is reported on its section's line
    assert problems_of(text) == [
        f"acme.yaml:{line_of(text, '- name: Main')}: channels[0].api_token: {REENTER}",
        f"acme.yaml:{line_of(text, 'panel:')}: panel.api_key: {REENTER}"]
    assert fresh(Channel, green.id).api_url == "https://7103.api.greenapi.com"  # nothing written

    import_text(workspace_file(api_url="https://1103.api.greenapi.com", token=NEW_TOKEN,
                               panel_url="https://panel2.example", panel_key="new-admin-key"),
                "acme.yaml")
    channel = fresh(Channel, green.id)
    assert (channel.api_url, channel.api_token) == ("https://1103.api.greenapi.com", NEW_TOKEN)
    panel = db.session.query(PanelConnection).one()
    assert (panel.url, panel.api_key, panel.user_api_key) == (
        "https://panel2.example", "new-admin-key", None)


# --- connect time: stored URLs the policy refuses -----------------------------------------------

def assert_refused_and_logged(secret: str) -> None:
    rows = db.session.query(ExternalCall).all()
    assert rows and all(r.error == "refused_url" and r.outcome == "permanent" for r in rows)
    for row in rows:
        assert secret not in "".join(filter(None, (row.url, row.request_body, row.error)))


@pytest.mark.parametrize("action", ["test_connection", "configure_webhook"])
def test_green_actions_on_a_refused_url_never_send_the_token(app, client, manager, factory,
                                                              acme, fake_greenapi,
                                                              production_allow_list, action):
    channel = factory.channel(acme, kind="greenapi", name="Legacy", api_url=fake_greenapi.url,
                              id_instance=fake_greenapi.id_instance,
                              api_token=fake_greenapi.api_token)
    page = html(client.post(f"/channelview/action/{action}/{channel.id}",
                            follow_redirects=True))
    assert f"Legacy: Relaydesk did not call Green API: {escape(LOOPBACK_REFUSED)}" in page
    assert fake_greenapi.request_count == 0
    stored = fresh(Channel, channel.id)
    assert stored.status == "error" and LOOPBACK_REFUSED in stored.status_detail
    assert_refused_and_logged(fake_greenapi.api_token)


def test_telegram_test_connection_on_a_refused_url(client, manager, factory, acme, fake_telegram,
                                                   production_allow_list):
    channel = factory.channel(acme, kind="telegram", name="Bot", bot_token=fake_telegram.token,
                              api_base=fake_telegram.url)
    page = html(client.post(f"/channelview/action/test_connection/{channel.id}",
                            follow_redirects=True))
    assert f"Bot: Relaydesk did not call Telegram: {escape(LOOPBACK_REFUSED)}" in page
    assert fake_telegram.request_count == 0
    assert_refused_and_logged(fake_telegram.token)


@pytest.mark.parametrize("action", ["test_panel", "detect_panel"])
def test_panel_actions_on_a_refused_url_never_send_the_key(client, manager, factory, acme,
                                                           fake_perfectpanel,
                                                           production_allow_list, action):
    panel = factory.panel(acme, panel_type="perfectpanel_v2", url=fake_perfectpanel.url,
                          api_key=fake_perfectpanel.api_key)
    page = html(client.post(f"/panelconnectionview/action/{action}/{panel.id}",
                            follow_redirects=True))
    assert f"Relaydesk did not call the panel: {escape(LOOPBACK_REFUSED)}" in page
    assert fake_perfectpanel.request_count == 0
    stored = fresh(PanelConnection, panel.id)
    assert stored.status == "error" and LOOPBACK_REFUSED in stored.status_detail
    assert len(db.session.query(ExternalCall).all()) == 1  # refused once, not retried
    assert_refused_and_logged(fake_perfectpanel.api_key)


def test_the_same_actions_reach_an_allowed_fake(client, manager, factory, acme, fake_greenapi,
                                                fake_perfectpanel):
    """The control: with the tests' allow-list (127.0.0.0/8) the same rows are called."""
    channel = factory.channel(acme, kind="greenapi", name="Legacy", api_url=fake_greenapi.url,
                              id_instance=fake_greenapi.id_instance,
                              api_token=fake_greenapi.api_token)
    panel = factory.panel(acme, panel_type="perfectpanel_v2", url=fake_perfectpanel.url,
                          api_key=fake_perfectpanel.api_key)
    client.post(f"/channelview/action/test_connection/{channel.id}")
    client.post(f"/panelconnectionview/action/test_panel/{panel.id}")
    assert fake_greenapi.request_count == 1 and fake_perfectpanel.request_count >= 1


def test_the_worker_never_sends_to_a_refused_url(app, factory, acme, fake_greenapi,
                                                 production_allow_list):
    channel = factory.channel(acme, kind="greenapi", name="Legacy", api_url=fake_greenapi.url,
                              id_instance=fake_greenapi.id_instance,
                              api_token=fake_greenapi.api_token, status="ok")
    message_id = queue_message(channel, "79001234567@c.us", "hello", "k-1", enqueue=False)
    assert send_outbound(message_id) == "failed"  # permanent: no retry can help
    message = fresh(OutboundMessage, message_id)
    assert message.state == "failed" and message.attempts == 1
    assert fake_greenapi.request_count == 0
    assert fresh(Channel, channel.id).status == "error"
    assert_refused_and_logged(fake_greenapi.api_token)


def test_the_services_refresh_job_never_calls_a_refused_url(app, factory, acme, fake_smmapi,
                                                            production_allow_list):
    factory.panel(acme, panel_type="smm_api_v2", url=fake_smmapi.url,
                  api_key=fake_smmapi.api_key, service_rules_mode="cached")
    summary = refresh_services(acme.id)
    assert (summary["state"], summary["error"]) == ("failed", "refused")
    assert LOOPBACK_REFUSED in summary["detail"]
    assert fake_smmapi.request_count == 0


def test_a_customer_command_never_reaches_a_refused_panel(client, factory, fake_perfectpanel,
                                                          redis_conn, production_allow_list):
    """The worker's panel fetch on every customer message: refused once (not retried), the
    customer gets the usual "panel unavailable" answer, the trace says why."""
    fake_perfectpanel.add_order(2274209, user="alice", status="completed")
    desk = build_desk(factory, fake_perfectpanel.url)
    log = send(client, desk.channel, "2274209 refill")
    assert log.outcome == "panel_unavailable"
    assert reply_of(log) == DEFAULT_REPLIES["panel_unavailable"]
    assert fake_perfectpanel.request_count == 0
    (fetch,) = steps(log, "panel_fetch")
    assert fetch["error"] == "refused" and LOOPBACK_REFUSED in fetch["detail"]
    panel_calls = db.session.query(ExternalCall).filter(ExternalCall.service.like("panel:%"))
    assert [c.error for c in panel_calls] == ["refused_url"]
