"""Channel set-up that guides: the platform first, then only its fields with help texts; the
show page's webhook URL and live state (`/channelview/state/<pk>`), against the local fakes.
"""
from __future__ import annotations

import base64
import re
from html import unescape

import pytest

from app.extensions import db
from app.integrations import channels as channel_clients
from app.models import Channel
from app.views.workspace import ChannelView
from tests.integration.conftest import PUBLIC

PLATFORM_FIELDS = {
    "greenapi": {"api_url", "id_instance", "api_token"},
    "meta": {"phone_number_id", "waba_id", "access_token", "app_secret"},
    "telegram": {"bot_token", "api_base"},
    "webchat": set(),
}
ALL_FIELDS = set().union(*PLATFORM_FIELDS.values()) | {"webhook_token", "secret_token"}
KEEP_CURRENT = "Leave blank to keep the current value"


@pytest.fixture(autouse=True)
def phone_not_linked_yet(request):
    """Every Green API instance here starts unlinked: the set-up screens show its QR code."""
    if "fake_greenapi" in request.fixturenames:
        request.getfixturevalue("fake_greenapi").state = "notAuthorized"


@pytest.fixture
def agent(acme, factory, auth):
    factory.member(acme, "acme-agent", "agent")
    auth.login("acme-agent")


def form_fields(page: str) -> set[str]:
    """Names of the visible inputs inside #model_form (hidden inputs and CSRF left out)."""
    form = page[page.index('id="model_form"'):page.index("</form>", page.index('id="model_form"'))]
    names = set()
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", form):
        if 'type="hidden"' in tag:
            continue
        name = re.search(r'name="([^"]+)"', tag)
        if name:
            names.add(name.group(1))
    return names


def state(client, channel, view="channelview"):
    response = client.get(f"/{view}/state/{channel.id}")
    return response


# --- the chooser and the forms ------------------------------------------------------------------

def test_add_without_a_platform_shows_the_chooser(client, manager):
    response = client.get("/channelview/add")
    assert response.status_code == 200
    page = unescape(response.get_data(as_text=True))
    assert 'id="model_form"' not in page
    links = re.findall(r'href="/channelview/add\?kind=(\w+)"', page)
    assert links == ["greenapi", "meta", "telegram", "webchat"]
    for words in ("WhatsApp through Green API", "WhatsApp Cloud API (Meta)", "Telegram bot",
                  "Web chat widget", "scanning a QR code", "@BotFather"):
        assert words in page
    # an unknown platform is no platform: the chooser again, nothing else
    page = client.get("/channelview/add?kind=signal").get_data(as_text=True)
    assert 'id="model_form"' not in page and "kind=greenapi" in page


def test_the_chooser_speaks_the_members_language(client, manager):
    client.get("/lang/es")
    page = unescape(client.get("/channelview/add").get_data(as_text=True))
    assert "Bot de Telegram" in page and "Telegram bot" not in page


def test_add_variants_name_every_platform():
    assert ChannelView.add_variants == [{"kind": k} for k in
                                        ("greenapi", "meta", "telegram", "webchat")]


@pytest.mark.parametrize("kind", sorted(PLATFORM_FIELDS))
def test_each_platform_form_has_only_its_own_fields(client, manager, kind):
    response = client.get(f"/channelview/add?kind={kind}")
    assert response.status_code == 200
    page = unescape(response.get_data(as_text=True))
    fields = form_fields(page)
    assert fields & ALL_FIELDS == PLATFORM_FIELDS[kind]
    assert {"name", "enabled", "notes"} <= fields
    assert "kind" not in fields  # chosen already: it rides along hidden
    assert re.search(rf'<input[^>]*name="kind"[^>]*value="{kind}"|<input[^>]*value="{kind}"'
                     rf'[^>]*name="kind"', page)
    assert KEEP_CURRENT not in page  # nothing is stored yet
    assert "Choose another platform" in page


@pytest.mark.parametrize("kind, help_text", [
    ("greenapi", "apiTokenInstance"), ("greenapi", "idInstance"), ("greenapi", "apiUrl"),
    ("telegram", "@BotFather"), ("meta", "Phone number ID"),
    ("meta", "WhatsApp Business Account ID"), ("meta", "System users"),
])
def test_fields_say_where_to_find_the_value(client, manager, kind, help_text):
    page = unescape(client.get(f"/channelview/add?kind={kind}").get_data(as_text=True))
    assert help_text in page


def test_adding_through_the_chooser_saves_that_platform(client, manager, db):
    response = client.post("/channelview/add?kind=telegram", data={
        "name": "Support bot", "kind": "telegram", "bot_token": "700123:AAsupport-bot"})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    channel = db.session.query(Channel).filter_by(name="Support bot").one()
    assert (channel.kind, channel.bot_id, channel.api_base) == (
        "telegram", "700123", "https://api.telegram.org")
    # the new channel opens on its own page: the webhook URL and the live state come next
    assert response.headers["Location"].endswith(f"/channelview/show/{channel.id}")


def test_a_form_of_one_platform_cannot_save_another(client, manager, db):
    response = client.post("/channelview/add?kind=telegram", data={
        "name": "Sneaky", "kind": "meta", "bot_token": "700124:AAsneaky"})
    assert response.status_code == 200  # the form comes back refused
    assert db.session.query(Channel).filter_by(name="Sneaky").count() == 0


def test_edit_shows_only_the_channels_platform_and_keeps_it(client, manager, green, db):
    page = unescape(client.get(f"/channelview/edit/{green.id}").get_data(as_text=True))
    fields = form_fields(page)
    assert fields & ALL_FIELDS == PLATFORM_FIELDS["greenapi"] | {"webhook_token"}
    assert "kind" not in fields
    assert KEEP_CURRENT in page  # stored secrets: blank keeps them
    assert "WhatsApp through Green API" in page
    response = client.post(f"/channelview/edit/{green.id}", data={
        "name": "Renamed", "kind": "telegram", "api_url": green.api_url,
        "id_instance": green.id_instance, "enabled": "y"})
    assert response.status_code == 302
    db.session.expire_all()
    channel = db.session.get(Channel, green.id)
    assert (channel.name, channel.kind) == ("Renamed", "greenapi")


def test_edit_of_another_workspaces_channel_is_not_found(client, manager, factory):
    other = factory.channel(factory.workspace("other"), kind="telegram")
    assert client.get(f"/channelview/edit/{other.id}").status_code == 404
    assert client.get(f"/channelview/show/{other.id}").status_code == 404


def test_the_rest_api_still_takes_the_kind_in_the_body(client, manager, db):
    response = client.post("/api/v1/channel/", json={
        "name": "API bot", "kind": "telegram", "bot_token": "700125:AAapi-bot"})
    assert response.status_code == 201, response.get_json()
    assert db.session.query(Channel).filter_by(name="API bot").one().kind == "telegram"


# --- the show page ------------------------------------------------------------------------------

def test_show_page_gives_the_webhook_url_and_the_state_panel(client, manager, green, telegram,
                                                              meta):
    for channel, url in ((green, f"{PUBLIC}/webhooks/greenapi"),
                         (telegram, f"{PUBLIC}/webhooks/telegram/{telegram.bot_id}"),
                         (meta, f"{PUBLIC}/webhooks/meta")):
        page = unescape(client.get(f"/channelview/show/{channel.id}").get_data(as_text=True))
        assert f'id="webhook-url" value="{url}"' in page
        assert 'id="copy-webhook-url"' in page
        assert f'data-url="/channelview/state/{channel.id}"' in page
        assert "onclick" not in page
        # the script arrives with the page's nonce; no secret of the channel on the page
        assert re.search(r'<script nonce="[^"]+">\s*\(function \(\) {', page)
    page = unescape(client.get(f"/channelview/show/{meta.id}").get_data(as_text=True))
    assert "meta-verify-token-123" in page and "Callback URL" in page


def test_show_page_lists_only_the_channels_platform(client, manager, green, telegram):
    page = unescape(client.get(f"/channelview/show/{green.id}").get_data(as_text=True))
    assert "Instance id" in page and "WhatsApp through Green API" in page
    for other in ("Bot token", "Bot API base URL", "Phone number id", "Access token",
                  "Widget key", "Verification"):
        assert other not in page, other
    page = unescape(client.get(f"/channelview/show/{telegram.id}").get_data(as_text=True))
    assert "Bot token" in page and "Instance id" not in page


def test_show_page_reads_as_words(client, manager, green):
    """The set-up show page goes through the same readable values and titles as every screen:
    no raw True/None/unknown, no FAB title, no microseconds."""
    page = unescape(client.get(f"/channelview/show/{green.id}").get_data(as_text=True))
    cells = re.findall(r"<td[^>]*>(.*?)</td>", page, re.S)
    shown = [re.sub(r"<[^>]+>", "", cell).strip() for cell in cells]
    for raw in ("True", "False", "None", "unknown"):
        assert raw not in shown, (raw, shown)
    assert "Show Channel" not in page and "Channels › Details" in page
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d{6}", page)  # no microseconds


def test_agents_see_the_url_but_not_the_live_state(client, agent, green):
    page = unescape(client.get(f"/channelview/show/{green.id}").get_data(as_text=True))
    assert 'id="webhook-url"' in page
    assert 'id="channel-state"' not in page
    assert state(client, green).status_code == 403


# --- the state endpoint -------------------------------------------------------------------------

def test_green_api_state_shows_the_qr_until_the_phone_links(client, manager, green,
                                                           fake_greenapi):
    answer = state(client, green)
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    data = answer.get_json()
    assert data["ok"] is True and data["state"] == "notAuthorized"
    assert data["authorized"] is False and "Not authorized" in data["state_label"]
    assert data["qr"].startswith("data:image/png;base64,")
    png = base64.b64decode(data["qr"].split(",", 1)[1], validate=True)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert fake_greenapi.api_token not in answer.get_data(as_text=True)

    fake_greenapi.authorize()
    data = state(client, green).get_json()
    assert data["state"] == "authorized" and data["authorized"] is True
    assert data["qr"] is None and data["state_label"].startswith("Authorized")
    assert fake_greenapi.qr_served == 1  # no QR asked for once authorized


def test_green_api_without_a_qr_code_says_so(client, manager, green, fake_greenapi):
    fake_greenapi.state = "starting"
    data = state(client, green).get_json()
    assert data["ok"] is True and data["qr"] is None
    assert "Starting" in data["state_label"] and "no QR code" in data["qr_note"]


def test_a_qr_that_is_not_a_png_never_reaches_the_page(client, manager, green, fake_greenapi):
    fake_greenapi.override("GET", "*/qr/*", body={
        "type": "qrCode", "message": base64.b64encode(b"<svg onload=alert(1)>").decode()})
    data = state(client, green).get_json()
    assert data["qr"] is None and data["qr_note"]


@pytest.mark.parametrize("fault, words", [
    ("html502", "is having trouble right now (HTTP 502)"),
    ("html200", "answered something Relaydesk does not understand"),
    ("token", "refused the credentials"),
    ("closed", "could not be reached"),
    ("slow", "did not answer in time"),
])
def test_green_api_errors_are_clear_and_never_a_500(client, manager, green, fake_greenapi,
                                                    factory, monkeypatch, fault, words):
    channel = green
    if fault == "html502":
        fake_greenapi.garbage_next(1, "html", status=502)
    elif fault == "html200":
        fake_greenapi.garbage_next(1, "html", status=200)
    elif fault == "token":
        channel = factory.channel(green.workspace, kind="greenapi", api_url=fake_greenapi.url,
                                  id_instance="1101999999", api_token="wrong")
    elif fault == "closed":
        channel = factory.channel(green.workspace, kind="greenapi",
                                  api_url="http://127.0.0.1:9")
    else:
        monkeypatch.setattr(channel_clients.base, "LIVE_TIMEOUT", 0.3)
        fake_greenapi.delay_next(1, seconds=1.5)
    answer = state(client, channel)
    assert answer.status_code == 200
    data = answer.get_json()
    assert data["ok"] is False and words in data["error"], data
    assert "Green API" in data["error"]
    text = answer.get_data(as_text=True)
    assert "<html" not in text and fake_greenapi.api_token not in text and "wrong" not in text


def test_a_refused_url_is_explained(client, manager, factory, acme, app, monkeypatch):
    channel = factory.channel(acme, kind="greenapi", api_url="https://7103.api.greenapi.com")
    db.session.execute(db.update(Channel).where(Channel.id == channel.id)
                       .values(api_url="http://169.254.169.254"))
    db.session.commit()
    data = state(client, channel).get_json()
    assert data["ok"] is False, data
    assert data["error"].startswith("Relaydesk did not call Green API:"), data


def test_telegram_state_names_the_bot_and_the_privacy_mode(client, manager, telegram,
                                                           fake_telegram):
    data = state(client, telegram).get_json()
    assert data == {"ok": True, "kind": "telegram", "bot_name": "Relaydesk",
                    "username": "@relaydesk_test_bot", "privacy_on": True,
                    "privacy_hint": data["privacy_hint"]}
    assert "/setprivacy" in data["privacy_hint"] and "admin" in data["privacy_hint"]
    fake_telegram.privacy_mode = False
    data = state(client, telegram).get_json()
    assert data["privacy_on"] is False and "/setprivacy" not in data["privacy_hint"]


def test_telegram_bad_token_and_outage(client, manager, telegram, fake_telegram, factory):
    fake_telegram.fail_next(1, status=502)
    data = state(client, telegram).get_json()
    assert data["ok"] is False and "Telegram is having trouble" in data["error"]
    wrong = factory.channel(telegram.workspace, kind="telegram", bot_token="700999:AAwrong",
                            api_base=fake_telegram.url)
    answer = state(client, wrong)
    data = answer.get_json()
    assert data["ok"] is False and data["error"] == (
        "Telegram refused the bot token: copy it again from @BotFather (/token), then try "
        "again.")  # a token, not an id and a URL: the Telegram form has neither
    assert "AAwrong" not in answer.get_data(as_text=True)


def test_meta_state_gives_number_name_and_quality(client, manager, meta, fake_meta):
    data = state(client, meta).get_json()
    assert data == {"ok": True, "kind": "meta", "display_phone_number": "15550001234",
                    "verified_name": "Relaydesk Test", "quality_rating": "High",
                    "code_verification_status": "Verified"}
    asked = fake_meta.requests.last
    assert asked.query["fields"] == ("display_phone_number,verified_name,quality_rating,"
                                     "code_verification_status")


def test_meta_expired_token_and_foreign_number(client, manager, meta, fake_meta, factory):
    fake_meta.error_next(190)
    data = state(client, meta).get_json()
    assert data["ok"] is False and "expired or revoked" in data["error"]
    other = factory.channel(meta.workspace, kind="meta", phone_number_id="999000111",
                            access_token=fake_meta.access_token)
    data = state(client, other).get_json()
    assert data["ok"] is False and "cannot read this phone number id" in data["error"]


def test_webchat_has_nothing_to_ask(client, manager, factory, acme):
    widget = factory.channel(acme, kind="webchat")
    assert state(client, widget).get_json() == {"ok": True, "kind": "webchat"}


def test_another_workspaces_channel_is_not_found(client, manager, factory, fake_greenapi):
    other = factory.channel(factory.workspace("other"), kind="greenapi",
                            api_url=fake_greenapi.url)
    assert state(client, other).status_code == 404
    assert fake_greenapi.request_count == 0
    assert client.get("/channelview/state/999999").status_code == 404


def test_the_master_admin_asks_through_the_all_workspaces_screen(client, auth, factory, green):
    factory.admin("root")
    auth.login("root")
    data = state(client, green, view="adminchannelview").get_json()
    assert data["ok"] is True and data["kind"] == "greenapi"
