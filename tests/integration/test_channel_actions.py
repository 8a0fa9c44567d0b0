"""Channel actions for managers: "Test connection" and "Configure webhook", run through FAB's
own action URLs by a signed-in manager, against the fakes.

    POST /channelview/action/test_connection/<pk>                  (single row)
    POST /channelview/action_post  action=configure_webhook rowid=<pk>…  (list selection)
"""
from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa
from flask_babel import force_locale
from markupsafe import escape

from app.crypto import keyring
from app.extensions import db
from app.models import Channel, ExternalCall
from app.status_words import Said
from app.status_words import GREEN_STATE_WORDS as GREEN_STATES
from tests.fakes import greenapi as green_hooks
from tests.fakes import telegram as tg
from tests.integration.conftest import PUBLIC, VERIFY_TOKEN

def check_connection(client, channel):
    return client.post(f"/channelview/action/test_connection/{channel.id}",
                       follow_redirects=True)


def configure(client, *channels):
    return client.post("/channelview/action_post", follow_redirects=True,
                       data={"action": "configure_webhook",
                             "rowid": [str(c.id) for c in channels]})


def fresh(channel) -> Channel:
    db.session.expire_all()
    return db.session.get(Channel, channel.id)


def stored(channel, column: str) -> str | None:
    """What the database really holds in a secret column."""
    table = Channel.__table__
    raw = sa.type_coerce(table.c[column], sa.Text)  # skip EncryptedText's decryption
    return db.session.execute(sa.select(raw).where(table.c.id == channel.id)).scalar()


def assert_encrypted(channel, column: str, plaintext: str) -> None:
    raw = stored(channel, column)
    assert raw and plaintext not in raw
    assert keyring.decrypt(raw) == plaintext


def page_text(response) -> str:
    assert response.status_code == 200
    return response.get_data(as_text=True)


def assert_no_secret_logged(*secrets: str) -> None:
    calls = db.session.query(ExternalCall).all()
    assert calls
    for call in calls:
        for text in (call.url, call.request_body, call.response_body, call.error):
            for secret in secrets:
                assert secret not in (text or ""), (call.service, call.operation)


# --- Test connection -------------------------------------------------------------------------

def test_green_connection_ok(client, manager, green, fake_greenapi):
    html = page_text(check_connection(client, green))
    assert "Main WhatsApp: Authorized: the phone is linked" in html
    assert fake_greenapi.count("GET", "*/getStateInstance/*") == 1
    channel = fresh(green)
    assert channel.status == "ok" and channel.status_detail is None


@pytest.mark.parametrize("state", ["notAuthorized", "blocked", "sleepMode"])
def test_green_connection_reports_the_instance_state(client, manager, green, fake_greenapi,
                                                     state):
    fake_greenapi.state = state
    html = page_text(check_connection(client, green))
    assert f"Instance state: {state}" not in html  # the state's own sentence instead
    assert escape(str(GREEN_STATES[state])) in html
    channel = fresh(green)
    # the instance cannot send: the channel pauses (its messages are held) and says why
    assert channel.status == "paused" and channel.status_detail.startswith("Sending paused")


def test_green_connection_unreachable(client, manager, green, fake_greenapi):
    fake_greenapi.fail_next(1, 502)
    html = page_text(check_connection(client, green))
    assert ("Main WhatsApp: Green API is having trouble right now (HTTP 502). Try again in a "
            "moment.") in html
    assert "did not answer (502)" not in html and "getStateInstance" not in html
    channel = fresh(green)
    assert channel.status == "error"
    said = Said.decode(channel.status_detail)
    assert said.code == "unavailable" and said.detail == "getStateInstance: 502"


def test_green_connection_failure_reads_in_the_readers_language(client, manager, green,
                                                                fake_greenapi):
    """The flash and the stored status detail are sentences in the reader's language; the
    technical detail is folded on the show page."""
    client.get("/lang/es")
    fake_greenapi.fail_next(1, 503)
    html = page_text(check_connection(client, green))
    said = Said.decode(fresh(green).status_detail)
    with force_locale("es"):
        sentence = said.words()
    assert sentence.startswith("Green API") and "503" in sentence
    with force_locale("en"):
        assert sentence != said.words()  # a Spanish sentence, not the English one
    assert escape(f"Main WhatsApp: {sentence}") in html
    assert "did not answer" not in html and "getStateInstance" not in html
    show = page_text(client.get(f"/channelview/show/{green.id}"))
    assert escape(sentence) in show
    assert "<details class='rd-status-detail'>" in show and "getStateInstance: 503" in show


def test_telegram_connection_reports_webhook_and_privacy_mode(client, manager, telegram,
                                                              fake_telegram):
    html = page_text(check_connection(client, telegram))
    assert "@relaydesk_test_bot" in html
    assert "No webhook is set: use Configure webhook." in html
    assert "Privacy mode is on" in html and escape("/setprivacy") in html
    channel = fresh(telegram)
    said = Said.decode(channel.status_detail)
    assert channel.status == "error" and said.code == "telegram_no_webhook"
    assert [part.code for part in said.more] == ["telegram_privacy"]
    assert fake_telegram.count(path="*/getMe") == 1
    assert fake_telegram.count(path="*/getWebhookInfo") == 1


def test_telegram_privacy_mode_alone_is_a_warning(client, manager, telegram, fake_telegram):
    """The bot works (webhook set, no error): privacy mode is reported, the channel stays ok."""
    fake_telegram.webhook = {"url": f"{PUBLIC}/webhooks/telegram/{telegram.bot_id}",
                             "secret_token": "x", "allowed_updates": None,
                             "drop_pending_updates": False, "max_connections": 40}
    html = page_text(check_connection(client, telegram))
    assert "Privacy mode is on" in html and "alert-warning" in html
    channel = fresh(telegram)
    assert channel.status == "ok"
    assert Said.decode(channel.status_detail).code == "telegram_privacy"
    fake_telegram.privacy_mode = False
    html = page_text(check_connection(client, telegram))
    assert "The bot @relaydesk_test_bot answers." in html
    channel = fresh(telegram)
    assert channel.status == "ok" and channel.status_detail is None


def test_telegram_connection_reports_the_last_webhook_error(client, manager, telegram,
                                                            fake_telegram):
    configure(client, telegram)
    fake_telegram.privacy_mode = False
    fake_telegram.set_webhook_error("Wrong response from the webhook: 502 Bad Gateway")
    html = page_text(check_connection(client, telegram))
    assert "Telegram could not deliver the last update to the webhook" in html
    assert "Wrong response from the webhook" not in html  # upstream text: folded, not flashed
    channel = fresh(telegram)
    assert channel.status == "error"
    said = Said.decode(channel.status_detail)
    assert said.code == "telegram_webhook_error" and "502 Bad Gateway" in said.detail


def test_telegram_connection_with_a_revoked_token(client, manager, telegram, fake_telegram):
    fake_telegram.token = "123456789:AArevokedrevokedrevoked"
    html = page_text(check_connection(client, telegram))
    assert ("Support bot: Telegram refused the bot token: copy it again from @BotFather "
            "(/token), then try again.") in html
    assert "getMe failed" not in html
    assert fresh(telegram).status == "error"


def test_meta_connection_verifies_the_number_and_the_account(client, manager, meta, fake_meta):
    html = page_text(check_connection(client, meta))
    assert ("Cloud number: Verified: number 15550001234, name Relaydesk Test, quality GREEN"
            in html)
    assert fake_meta.count("GET", f"*/{fake_meta.phone_number_id}") == 1
    assert fake_meta.count("GET", f"*/{fake_meta.waba_id}/phone_numbers") == 1
    assert all(r.headers["Authorization"] == f"Bearer {fake_meta.access_token}"
               for r in fake_meta.requests)
    channel = fresh(meta)
    assert channel.status == "ok" and channel.verified_at is not None


def test_meta_connection_with_an_expired_token_needs_reauthorisation(client, manager, meta,
                                                                     fake_meta):
    fake_meta.error_next(190)
    html = page_text(check_connection(client, meta))
    assert "Verification failed: Meta refused the access token (Graph error 190)" in html
    channel = fresh(meta)
    assert channel.status == "needs_reauth" and "190" in channel.status_detail
    assert channel.verified_at is None


def test_webchat_has_nothing_to_test(client, manager, factory, acme):
    widget = factory.channel(acme, kind="webchat", name="Site widget")
    html = page_text(check_connection(client, widget))
    assert escape("Site widget is a web chat channel: it has no connection to test and no "
                  "webhook to configure.") in html


# --- Configure webhook --------------------------------------------------------------------------

def test_green_configure_webhook_generates_and_stores_the_token(client, manager, factory, acme,
                                                                fake_greenapi):
    channel = factory.channel(acme, kind="greenapi", name="New instance",
                              api_url=fake_greenapi.url, id_instance=fake_greenapi.id_instance,
                              api_token=fake_greenapi.api_token, webhook_token=None)
    assert channel.webhook_token is None
    html = page_text(configure(client, channel))
    assert escape(f"Webhook set to {PUBLIC}/webhooks/greenapi") in html
    token = fresh(channel).webhook_token
    assert token and len(token) >= 24
    settings = fake_greenapi.settings
    assert settings["webhookUrl"] == f"{PUBLIC}/webhooks/greenapi"
    assert settings["webhookUrlToken"] == token
    assert settings["incomingWebhook"] == "yes" and settings["stateWebhook"] == "yes"
    assert settings["outgoingAPIMessageWebhook"] == "yes"
    assert_encrypted(channel, "webhook_token", token)
    assert_no_secret_logged(token, fake_greenapi.api_token)
    # Green API now signs webhooks with it, and Relaydesk accepts them
    payload = green_hooks.incoming_message("79001234567@c.us", "hello",
                                           id_instance=fake_greenapi.id_instance)
    response = client.post("/webhooks/greenapi", data=json.dumps(payload),
                           headers=green_hooks.webhook_headers(token))
    assert response.status_code == 200


def test_green_configure_webhook_keeps_an_existing_token(client, manager, green, fake_greenapi):
    """Green API applies settings within minutes: rotating the token would refuse the webhooks
    it still sends with the old one meanwhile."""
    before = green.webhook_token
    page_text(configure(client, green))
    assert fresh(green).webhook_token == before
    assert fake_greenapi.settings["webhookUrlToken"] == before


def test_green_configure_webhook_failure_changes_nothing(client, manager, factory, acme,
                                                         fake_greenapi):
    channel = factory.channel(acme, kind="greenapi", name="Broken", api_url=fake_greenapi.url,
                              id_instance=fake_greenapi.id_instance,
                              api_token=fake_greenapi.api_token, webhook_token=None)
    fake_greenapi.fail_next(1, 500)
    html = page_text(configure(client, channel))
    assert ("Broken: Green API did not accept the webhook settings. Green API is having "
            "trouble right now (HTTP 500).") in html
    assert "setSettings" not in html
    assert fresh(channel).webhook_token is None


def test_telegram_configure_webhook_sets_a_new_secret(client, manager, telegram, fake_telegram):
    fake_telegram.require_https = True
    old_secret = telegram.secret_token
    html = page_text(configure(client, telegram))
    url = f"{PUBLIC}/webhooks/telegram/{telegram.bot_id}"
    assert escape(f"Support bot: Webhook set to {url}") in html
    channel = fresh(telegram)
    secret = channel.secret_token
    assert secret and secret != old_secret
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret)
    hook = fake_telegram.webhook
    assert hook["url"] == url and hook["secret_token"] == secret
    assert {"message", "edited_message", "channel_post", "my_chat_member"} <= set(
        hook["allowed_updates"])
    assert_encrypted(channel, "secret_token", secret)
    assert_no_secret_logged(secret, old_secret, fake_telegram.token)
    # updates signed with the new secret are accepted, the old secret is refused
    update = json.dumps(tg.message_update("hello"))
    path = f"/webhooks/telegram/{telegram.bot_id}"
    assert client.post(path, data=update,
                       headers=tg.webhook_headers(secret)).status_code == 200
    assert client.post(path, data=json.dumps(tg.message_update("again")),
                       headers=tg.webhook_headers(old_secret)).status_code == 403


def test_telegram_configure_webhook_refused_keeps_the_old_secret(app, client, manager, telegram,
                                                                 fake_telegram, monkeypatch):
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", "http://127.0.0.1:5000")
    old_secret = telegram.secret_token
    html = page_text(configure(client, telegram))
    assert "Support bot: Telegram did not accept the webhook settings." in html
    assert "bad webhook" not in html  # Telegram's own words stay out of the sentence
    assert fresh(telegram).secret_token == old_secret
    assert fake_telegram.webhook is None


def test_meta_configure_webhook_shows_what_to_paste(client, manager, meta, fake_meta):
    html = page_text(configure(client, meta))
    assert escape(f"{PUBLIC}/webhooks/meta") in html
    assert VERIFY_TOKEN in html
    assert fake_meta.request_count == 0  # nothing to call: the manager pastes it at Meta


def test_configure_several_channels_at_once(client, manager, green, telegram, fake_greenapi,
                                            fake_telegram):
    html = page_text(configure(client, green, telegram))
    assert "Main WhatsApp: Webhook set to" in html and "Support bot: Webhook set to" in html
    assert fake_greenapi.count("POST", "*/setSettings/*") == 1
    assert fake_telegram.count(path="*/setWebhook") == 1


def test_action_calls_are_logged_without_secrets(client, manager, green, telegram, meta,
                                                 fake_greenapi, fake_telegram, fake_meta):
    for channel in (green, telegram, meta):
        check_connection(client, channel)
    configure(client, green, telegram, meta)
    secrets = []
    for channel in (green, telegram, meta):
        channel = fresh(channel)
        secrets += [s for s in (channel.api_token, channel.webhook_token, channel.bot_token,
                                channel.secret_token, channel.access_token) if s]
    assert len(secrets) == 5
    # tests: Green API 1, Telegram 2, Meta 2 (number, account); configurations: 2
    assert db.session.query(ExternalCall).count() == 7
    assert_no_secret_logged(*secrets)


# --- who may act ---------------------------------------------------------------------------------

def test_another_workspace_manager_cannot_act_on_a_channel(client, auth, factory, acme, green,
                                                           telegram, fake_greenapi,
                                                           fake_telegram):
    bravo = factory.workspace("bravo")
    own = factory.channel(bravo, kind="webchat", name="B widget")
    factory.member(bravo, "bravo-manager")
    auth.login("bravo-manager")
    before = {c.id: (fresh(c).status, fresh(c).webhook_token, fresh(c).secret_token)
              for c in (green, telegram)}
    for channel in (green, telegram):
        for name in ("test_connection", "configure_webhook"):
            assert client.post(f"/channelview/action/{name}/{channel.id}").status_code == 404
            response = client.post("/channelview/action_post",
                                   data={"action": name, "rowid": [str(channel.id)]})
            assert response.status_code == 404
            # mixed with B's own row: refused as a whole
            response = client.post("/channelview/action_post",
                                   data={"action": name, "rowid": [str(own.id), str(channel.id)]})
            assert response.status_code == 404
    assert fake_greenapi.request_count == 0 and fake_telegram.request_count == 0
    after = {c.id: (fresh(c).status, fresh(c).webhook_token, fresh(c).secret_token)
             for c in (green, telegram)}
    assert after == before
    assert db.session.query(ExternalCall).count() == 0
    # control: B's own channel answers
    html = page_text(client.post(f"/channelview/action/test_connection/{own.id}",
                                 follow_redirects=True))
    assert "B widget is a web chat channel" in html


def test_an_agent_cannot_run_channel_actions(client, auth, factory, acme, green, fake_greenapi):
    factory.member(acme, "acme-agent", role="agent")
    auth.login("acme-agent")
    for name in ("test_connection", "configure_webhook"):
        response = client.post(f"/channelview/action/{name}/{green.id}")
        assert response.status_code in (302, 403)
    assert fake_greenapi.request_count == 0
    assert fresh(green).status == "unknown"
