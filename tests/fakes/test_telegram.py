"""FakeTelegram answers docs/external-apis.md §4 shapes; the builders produce §4 updates."""
from __future__ import annotations

import json

import pytest
import requests

from tests.fakes import telegram
from tests.fakes.telegram import FakeTelegram

T = 2


def api(fake, method, token=None, **kwargs):
    return requests.post(f"{fake.url}/bot{token or fake.token}/{method}", timeout=T, **kwargs)


def test_send_message_json_and_form(fake_telegram):
    first = api(fake_telegram, "sendMessage", json={"chat_id": 123456789, "text": "hello"})
    assert first.status_code == 200
    body = first.json()
    assert body["ok"] is True
    message = body["result"]
    assert message["text"] == "hello" and message["chat"]["id"] == 123456789
    assert message["chat"]["type"] == "private"
    assert message["from"] == {"id": 123456789, "is_bot": True, "first_name": "Relaydesk",
                               "username": "relaydesk_test_bot"}
    assert isinstance(message["date"], int)
    second = api(fake_telegram, "sendMessage",
                 data={"chat_id": str(telegram.SUPERGROUP_CHAT_ID), "text": "EXT-88231 refill"})
    result = second.json()["result"]
    assert result["chat"] == {"id": -1001234567890, "title": "Provider group",
                              "type": "supergroup"}
    third = api(fake_telegram, "sendMessage", json={"chat_id": 123456789, "text": "again"})
    assert third.json()["result"]["message_id"] == message["message_id"] + 1
    assert [s["text"] for s in fake_telegram.sent] == ["hello", "EXT-88231 refill", "again"]
    assert fake_telegram.requests[1].form["chat_id"] == "-1001234567890"


def test_text_length_limit(fake_telegram):
    ok = api(fake_telegram, "sendMessage", json={"chat_id": 1, "text": "x" * 4096})
    assert ok.status_code == 200
    too_long = api(fake_telegram, "sendMessage", json={"chat_id": 1, "text": "x" * 4097})
    assert too_long.status_code == 400
    assert too_long.json() == {"ok": False, "error_code": 400,
                               "description": "Bad Request: message is too long"}


@pytest.mark.parametrize("body,description", [
    ({"text": "x"}, "Bad Request: chat_id is empty"),
    ({"chat_id": 1}, "Bad Request: message text is empty"),
    ({"chat_id": 1, "text": "  "}, "Bad Request: message text is empty"),
])
def test_send_message_validation(fake_telegram, body, description):
    answer = api(fake_telegram, "sendMessage", json=body)
    assert answer.status_code == 400 and answer.json()["description"] == description


def test_token_method_and_case(fake_telegram):
    bad = api(fake_telegram, "getMe", token="1:wrong")
    assert bad.status_code == 401 and bad.json() == {"ok": False, "error_code": 401,
                                                     "description": "Unauthorized"}
    assert api(fake_telegram, "noSuchMethod").json()["error_code"] == 404
    assert requests.get(f"{fake_telegram.url}/bot{fake_telegram.token}/getme",
                        timeout=T).json()["ok"] is True


def test_get_me_reports_privacy_mode():
    with FakeTelegram(privacy_mode=False) as fake:
        me = api(fake, "getMe").json()["result"]
    assert me["is_bot"] is True and me["id"] == 123456789
    assert me["can_read_all_group_messages"] is True


def test_429_carries_retry_after(fake_telegram):
    fake_telegram.rate_limit_next(1, retry_after=3)
    answer = api(fake_telegram, "sendMessage", json={"chat_id": 1, "text": "x"})
    assert answer.status_code == 429
    assert answer.json() == {"ok": False, "error_code": 429,
                             "description": "Too Many Requests: retry after 3",
                             "parameters": {"retry_after": 3}}
    assert api(fake_telegram, "sendMessage", json={"chat_id": 1, "text": "x"}).ok


def test_chat_errors_and_migration(fake_telegram):
    fake_telegram.migrate_chat(telegram.GROUP_CHAT_ID, telegram.SUPERGROUP_CHAT_ID)
    answer = api(fake_telegram, "sendMessage", json={"chat_id": telegram.GROUP_CHAT_ID,
                                                     "text": "x"})
    assert answer.status_code == 400
    assert answer.json()["parameters"] == {"migrate_to_chat_id": telegram.SUPERGROUP_CHAT_ID}
    fake_telegram.set_chat_error(42, 403, "Forbidden: bot was blocked by the user")
    assert api(fake_telegram, "sendMessage", json={"chat_id": 42, "text": "x"}).status_code == 403


def test_5xx_timeout_and_garbage(fake_telegram):
    fake_telegram.fail_next(1, 500)
    answer = api(fake_telegram, "sendMessage", json={"chat_id": 1, "text": "x"})
    assert answer.status_code == 500 and answer.json()["ok"] is False
    fake_telegram.fail_next(1, 502)
    answer = api(fake_telegram, "sendMessage", json={"chat_id": 1, "text": "x"})
    assert answer.status_code == 502 and "nginx" in answer.text
    fake_telegram.delay_next(1, seconds=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(f"{fake_telegram.url}/bot{fake_telegram.token}/sendMessage",
                      json={"chat_id": 1, "text": "x"}, timeout=0.2)
    fake_telegram.garbage_next(1, "empty")
    with pytest.raises(ValueError):
        api(fake_telegram, "sendMessage", json={"chat_id": 1, "text": "x"}).json()


def test_set_webhook_records_and_get_webhook_info(fake_telegram):
    answer = api(fake_telegram, "setWebhook", data={
        "url": "https://relaydesk.example/webhooks/telegram/123456789",
        "secret_token": "Abc_123-xyz", "allowed_updates": json.dumps(["message", "my_chat_member"]),
        "drop_pending_updates": "true"})
    assert answer.json() == {"ok": True, "result": True, "description": "Webhook was set"}
    assert fake_telegram.webhook["secret_token"] == "Abc_123-xyz"
    assert fake_telegram.webhook["allowed_updates"] == ["message", "my_chat_member"]
    assert fake_telegram.webhook["drop_pending_updates"] is True
    fake_telegram.pending_update_count = 7
    fake_telegram.set_webhook_error("Wrong response from the webhook: 500 Internal Server Error",
                                    date=1700000000)
    info = api(fake_telegram, "getWebhookInfo").json()["result"]
    assert info["url"] == "https://relaydesk.example/webhooks/telegram/123456789"
    assert info["pending_update_count"] == 7 and info["last_error_date"] == 1700000000
    assert info["last_error_message"].startswith("Wrong response")
    assert info["allowed_updates"] == ["message", "my_chat_member"]


def test_webhook_info_without_webhook_or_errors(fake_telegram):
    info = api(fake_telegram, "getWebhookInfo").json()["result"]
    assert info == {"url": "", "has_custom_certificate": False, "pending_update_count": 0}


@pytest.mark.parametrize("secret,ok", [("a", True), ("A" * 256, True), ("Az09_-", True),
                                       ("", False), ("A" * 257, False), ("has space", False),
                                       ("colon:no", False), ("ümlaut", False)])
def test_secret_token_charset_and_length(fake_telegram, secret, ok):
    answer = api(fake_telegram, "setWebhook", json={"url": "https://h.example/w",
                                                    "secret_token": secret})
    assert answer.json()["ok"] is ok
    if not ok:
        assert answer.status_code == 400 and fake_telegram.webhook is None


def test_set_webhook_requires_https_and_empty_url_deletes(fake_telegram):
    assert api(fake_telegram, "setWebhook", json={"url": "http://h.example/w"}).status_code == 400
    api(fake_telegram, "setWebhook", json={"url": "https://h.example/w"})
    assert api(fake_telegram, "setWebhook", json={"url": ""}).json()["description"] == \
        "Webhook was deleted"
    assert fake_telegram.webhook is None
    with FakeTelegram(require_https=False) as lax:
        assert api(lax, "setWebhook", json={"url": "http://127.0.0.1:5000/w"}).json()["ok"]


# ---- update builders -------------------------------------------------------------------------
def test_message_update_shape():
    update = telegram.message_update("2274209 refill", chat_id=telegram.PRIVATE_CHAT_ID,
                                     update_id=10, message_id=5, date=1700000000)
    assert update == {"update_id": 10, "message": {
        "message_id": 5,
        "from": {"id": telegram.PRIVATE_CHAT_ID, "is_bot": False, "first_name": "Alice",
                 "username": "alice"},
        "chat": {"id": telegram.PRIVATE_CHAT_ID, "type": "private", "first_name": "Alice"},
        "date": 1700000000, "text": "2274209 refill"}}
    assert telegram.message_update("x")["update_id"] != telegram.message_update("x")["update_id"]


def test_group_ids_are_negative_and_can_exceed_32_bits():
    update = telegram.message_update("x", chat_id=telegram.SUPERGROUP_CHAT_ID, title="Rush")
    chat = update["message"]["chat"]
    assert chat == {"id": telegram.SUPERGROUP_CHAT_ID, "type": "supergroup", "title": "Rush"}
    assert chat["id"] < -(2 ** 32)
    assert json.loads(json.dumps(update))["message"]["chat"]["id"] == -1001234567890
    assert telegram.chat(telegram.GROUP_CHAT_ID)["type"] == "group"


def test_bot_sender_edited_and_channel_post():
    bot = telegram.user(555, "OtherBot", "other_bot", is_bot=True)
    assert telegram.message_update("x", sender=bot)["message"]["from"]["is_bot"] is True
    edited = telegram.edited_message_update("fixed")
    assert "edit_date" in edited["edited_message"] and "message" not in edited
    post = telegram.channel_post_update("news")["channel_post"]
    assert post["chat"]["type"] == "channel" and "from" not in post
    assert post["sender_chat"]["id"] == telegram.CHANNEL_CHAT_ID


def test_my_chat_member_added_and_removed():
    added = telegram.my_chat_member_update(telegram.SUPERGROUP_CHAT_ID)["my_chat_member"]
    assert added["old_chat_member"]["status"] == "left"
    assert added["new_chat_member"]["status"] == "member"
    assert added["new_chat_member"]["user"]["is_bot"] is True
    assert added["chat"]["type"] == "supergroup"
    removed = telegram.my_chat_member_update(old_status="member", new_status="kicked")
    assert removed["my_chat_member"]["new_chat_member"]["status"] == "kicked"


def test_migration_updates():
    to = telegram.migrate_to_chat_update(-4001, -1004001)["message"]
    assert to["chat"]["id"] == -4001 and to["migrate_to_chat_id"] == -1004001 and "text" not in to
    back = telegram.migrate_from_chat_update(-1004001, -4001)["message"]
    assert back["chat"]["type"] == "supergroup" and back["migrate_from_chat_id"] == -4001


def test_webhook_headers():
    assert telegram.webhook_headers("s3cr3t") == {"X-Telegram-Bot-Api-Secret-Token": "s3cr3t",
                                                  "Content-Type": "application/json"}


# ---- media (docs/external-apis.md §4 "Media") ---------------------------------------------

def _bot(fake, method, **kwargs):
    return requests.post(f"{fake.url}/bot{fake.token}/{method}", timeout=T, **kwargs)


def test_get_file_then_download(fake_telegram):
    file_id = fake_telegram.add_file(b"%PDF-1.4 data", "documents/file_1.pdf")
    answer = _bot(fake_telegram, "getFile", json={"file_id": file_id})
    assert answer.status_code == 200
    result = answer.json()["result"]
    assert result["file_path"] == "documents/file_1.pdf" and result["file_size"] == 13
    url = f"{fake_telegram.url}/file/bot{fake_telegram.token}/{result['file_path']}"
    assert requests.get(url, timeout=T).content == b"%PDF-1.4 data"
    wrong = f"{fake_telegram.url}/file/bot123:wrong/{result['file_path']}"
    assert requests.get(wrong, timeout=T).status_code == 401
    assert _bot(fake_telegram, "getFile", json={"file_id": "nope"}).status_code == 400


def test_get_file_over_20_mb_is_too_big(fake_telegram):
    file_id = fake_telegram.add_file(b"\x00" * (20 * 1024 * 1024 + 1))
    answer = _bot(fake_telegram, "getFile", json={"file_id": file_id})
    assert answer.status_code == 400
    assert answer.json()["description"] == "Bad Request: file is too big"


@pytest.mark.parametrize("method,field", [("sendPhoto", "photo"), ("sendDocument", "document"),
                                          ("sendAudio", "audio"), ("sendVideo", "video")])
def test_send_file_multipart(fake_telegram, method, field):
    answer = _bot(fake_telegram, method, data={"chat_id": "123456789", "caption": "hi"},
                  files={field: ("a.bin", b"DATA", "application/octet-stream")})
    assert answer.status_code == 200 and answer.json()["ok"] is True
    assert field in answer.json()["result"]
    sent = fake_telegram.sent[-1]
    assert (sent["method"], sent["data"], sent["caption"]) == (method, b"DATA", "hi")
    missing = _bot(fake_telegram, method, data={"chat_id": "123456789"})
    assert missing.status_code == 400
    assert missing.json()["description"] == f"Bad Request: there is no {field} in the request"


def test_send_location_and_media_builders(fake_telegram):
    answer = _bot(fake_telegram, "sendLocation",
                  json={"chat_id": 123456789, "latitude": 1.5, "longitude": 2.5})
    assert answer.status_code == 200 and answer.json()["result"]["location"]["latitude"] == 1.5
    assert _bot(fake_telegram, "sendLocation", json={"chat_id": 1}).status_code == 400
    photo = telegram.photo_update("FILE", caption="c")["message"]
    assert photo["photo"][-1]["file_id"] == "FILE" and photo["caption"] == "c"
    document = telegram.document_update("DOC", file_size=9)["message"]["document"]
    assert document["file_name"] == "invoice.pdf" and document["file_size"] == 9
    assert telegram.location_update(1.0, 2.0)["message"]["location"]["longitude"] == 2.0
    assert telegram.contact_update("88005553535", "John")["message"]["contact"][
        "phone_number"] == "88005553535"
