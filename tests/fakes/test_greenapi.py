"""FakeGreenAPI answers docs/external-apis.md §2 shapes; the builders produce §2 webhooks."""
from __future__ import annotations

import base64
import json
import re
import struct
import zlib

import pytest
import requests

from tests.fakes import greenapi
from tests.fakes.greenapi import FakeGreenAPI

T = 2


def call(fake, method, verb="POST", token=None, instance=None, **kwargs):
    url = (f"{fake.url}/waInstance{instance or fake.id_instance}/{method}/"
           f"{token or fake.api_token}")
    return requests.request(verb, url, timeout=T, **kwargs)


def test_send_message_answers_unique_id_messages_and_records(fake_greenapi):
    ids = set()
    for text in ("2274209 refill", "second"):
        answer = call(fake_greenapi, "sendMessage",
                      json={"chatId": "120363043968066561@g.us", "message": text})
        assert answer.status_code == 200 and list(answer.json()) == ["idMessage"]
        assert re.fullmatch(r"3EB0[0-9A-F]{16}", answer.json()["idMessage"])
        ids.add(answer.json()["idMessage"])
    assert len(ids) == 2
    assert fake_greenapi.requests.last.json == {"chatId": "120363043968066561@g.us",
                                                "message": "second"}
    assert fake_greenapi.requests.last.path == (f"/waInstance{fake_greenapi.id_instance}"
                                                f"/sendMessage/{fake_greenapi.api_token}")
    assert fake_greenapi.messages_to("120363043968066561@g.us") == ["2274209 refill", "second"]


@pytest.mark.parametrize("who", ["token", "instance"])
def test_wrong_credentials_are_401(fake_greenapi, who):
    answer = call(fake_greenapi, "sendMessage", json={"chatId": "1@c.us", "message": "x"},
                  **{who: "999" if who == "instance" else "wrong-token"})
    assert answer.status_code == 401
    assert fake_greenapi.sent == []


@pytest.mark.parametrize("body", [{"message": "x"}, {"chatId": "79001234567", "message": "x"},
                                  {"chatId": "79001234567@c.us"}, None])
def test_invalid_send_is_400(fake_greenapi, body):
    answer = call(fake_greenapi, "sendMessage", json=body)
    assert answer.status_code == 400 and answer.json()["code"] == 400


def test_wrong_verb_and_unknown_method(fake_greenapi):
    assert call(fake_greenapi, "sendMessage", verb="GET").status_code == 405
    assert call(fake_greenapi, "noSuchMethod", verb="GET").status_code == 404


def test_get_state_instance_is_settable(fake_greenapi):
    assert call(fake_greenapi, "getStateInstance", verb="GET").json() == {
        "stateInstance": "authorized"}
    fake_greenapi.state = "blocked"
    assert call(fake_greenapi, "getStateInstance", verb="GET").json() == {
        "stateInstance": "blocked"}


def test_qr_code_until_the_phone_links_the_instance():
    with FakeGreenAPI(state="notAuthorized") as fake:
        first = call(fake, "qr", verb="GET").json()
        second = call(fake, "qr", verb="GET").json()
        assert first["type"] == second["type"] == "qrCode"
        png = base64.b64decode(first["message"], validate=True)
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and png.endswith(b"IEND\xaeB`\x82")
        assert first["message"] != second["message"]  # the code changes
        assert fake.qr_served == 2
        fake.authorize()  # the phone scans it
        assert call(fake, "getStateInstance", verb="GET").json() == {
            "stateInstance": "authorized"}
        assert call(fake, "qr", verb="GET").json() == {
            "type": "alreadyLogged", "message": "instance account already authorized"}
        fake.unlink()
        assert call(fake, "getStateInstance", verb="GET").json() == {
            "stateInstance": "notAuthorized"}
        assert call(fake, "qr", verb="GET").json()["type"] == "qrCode"


def test_qr_png_is_a_valid_image():
    png = greenapi.qr_png(7)
    chunks, at = [], 8
    while at < len(png):
        length, kind = struct.unpack(">I4s", png[at:at + 8])
        data = png[at + 8:at + 8 + length]
        assert struct.unpack(">I", png[at + 8 + length:at + 12 + length])[0] == \
            zlib.crc32(kind + data) & 0xFFFFFFFF
        chunks.append(kind)
        at += 12 + length
    assert chunks == [b"IHDR", b"IDAT", b"IEND"]
    width, height = struct.unpack(">II", png[16:24])
    assert width == height == greenapi.QR_SIZE * 4
    assert len(zlib.decompress(png[41:41 + struct.unpack(">I", png[33:37])[0]])) == \
        height * (width + 1)


@pytest.mark.parametrize("state", ["starting", "blocked", "sleepMode"])
def test_qr_in_other_states_is_an_error(state):
    with FakeGreenAPI(state=state) as fake:
        answer = call(fake, "qr", verb="GET").json()
    assert answer["type"] == "error" and answer["message"]


def test_qr_needs_get_and_the_right_token(fake_greenapi):
    assert call(fake_greenapi, "qr").status_code == 405
    assert call(fake_greenapi, "qr", verb="GET", token="wrong").status_code == 401


def test_set_settings_records_settings(fake_greenapi):
    settings = {"webhookUrl": "https://relaydesk.example/webhooks/greenapi",
                "webhookUrlToken": "hook-secret", "incomingWebhook": "yes"}
    answer = call(fake_greenapi, "setSettings", json=settings)
    assert answer.json() == {"saveSettings": True}
    assert fake_greenapi.settings == settings


def test_429_with_retry_after_then_recovers(fake_greenapi):
    fake_greenapi.fail_next(1, status=429, retry_after=2, path="*/sendMessage/*")
    body = {"chatId": "79001234567@c.us", "message": "hi"}
    first = call(fake_greenapi, "sendMessage", json=body)
    assert first.status_code == 429 and first.headers["Retry-After"] == "2"
    assert call(fake_greenapi, "sendMessage", json=body).status_code == 200
    assert len(fake_greenapi.sent) == 1


def test_rate_limit_per_second():
    with FakeGreenAPI(rate_limit=2) as fake:
        codes = [call(fake, "getStateInstance", verb="GET").status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_5xx_timeout_and_garbage(fake_greenapi):
    body = {"chatId": "79001234567@c.us", "message": "hi"}
    fake_greenapi.fail_next(1, status=502)
    assert call(fake_greenapi, "sendMessage", json=body).status_code == 502
    fake_greenapi.delay_next(1, seconds=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(f"{fake_greenapi.url}/waInstance{fake_greenapi.id_instance}/sendMessage/"
                      f"{fake_greenapi.api_token}", json=body, timeout=0.2)
    fake_greenapi.garbage_next(1, "truncated")
    with pytest.raises(ValueError):
        call(fake_greenapi, "sendMessage", json=body).json()


# ---- webhook builders ------------------------------------------------------------------------
def test_incoming_text_message_matches_the_documented_shape():
    payload = greenapi.incoming_message("79001234568@c.us", "2274209 refill", timestamp=1588091580,
                                        id_message="F7AEC1B7086ECDC7E6E45923F5EDB825",
                                        chat_name="Bob", sender_name="Bob",
                                        sender_contact_name="Bob C")
    assert payload == {
        "typeWebhook": "incomingMessageReceived",
        "instanceData": {"idInstance": 1101000001, "wid": "11001234567@c.us",
                         "typeInstance": "whatsapp"},
        "timestamp": 1588091580, "idMessage": "F7AEC1B7086ECDC7E6E45923F5EDB825",
        "senderData": {"chatId": "79001234568@c.us", "sender": "79001234568@c.us",
                       "chatName": "Bob", "senderName": "Bob", "senderContactName": "Bob C"},
        "messageData": {"typeMessage": "textMessage",
                        "textMessageData": {"textMessage": "2274209 refill"}},
    }
    json.dumps(payload)


def test_extended_and_quoted_text_live_in_extended_text_message_data():
    extended = greenapi.incoming_message("79001234568@c.us", "refill 1", kind="extendedTextMessage")
    quoted = greenapi.incoming_message("79001234568@c.us", "refill 2", kind="quotedMessage")
    assert extended["messageData"] == {"typeMessage": "extendedTextMessage",
                                       "extendedTextMessageData": {"text": "refill 1"}}
    assert quoted["messageData"]["typeMessage"] == "quotedMessage"
    assert quoted["messageData"]["extendedTextMessageData"]["text"] == "refill 2"


def test_group_message_sender_is_the_member_and_ids_are_unique():
    one = greenapi.incoming_message("120363043968066561@g.us", "x")
    two = greenapi.incoming_message("120363043968066561@g.us", "x")
    assert one["senderData"]["chatId"].endswith("@g.us")
    assert one["senderData"]["sender"].endswith("@c.us")
    assert one["idMessage"] != two["idMessage"]


def test_status_outgoing_and_state_webhooks():
    status = greenapi.outgoing_message_status("79001234567@c.us", "3EB0AAAA", "read")
    assert (status["typeWebhook"], status["status"], status["idMessage"]) == (
        "outgoingMessageStatus", "read", "3EB0AAAA")
    with pytest.raises(ValueError):
        greenapi.outgoing_message_status("79001234567@c.us", "3EB0AAAA", "seen")
    assert greenapi.outgoing_message("1@c.us", "x")["typeWebhook"] == "outgoingAPIMessageReceived"
    assert greenapi.outgoing_message("1@c.us", "x", from_api=False)["typeWebhook"] == \
        "outgoingMessageReceived"
    state = greenapi.state_instance_changed("notAuthorized")
    assert state["typeWebhook"] == "stateInstanceChanged"
    assert state["stateInstance"] == "notAuthorized"


def test_webhook_headers_raw_and_bearer():
    assert greenapi.webhook_headers("tok")["Authorization"] == "tok"
    assert greenapi.webhook_headers("tok", bearer=True)["Authorization"] == "Bearer tok"


# ---- media (docs/external-apis.md §2 "Media in", "Media out") -------------------------------

def test_hosted_file_downloads_without_credentials_and_unknown_is_404(fake_greenapi):
    url = fake_greenapi.host_file(b"\xff\xd8\xffJPEGDATA", "photo.jpg", "image/jpeg")
    answer = requests.get(url, timeout=T)
    assert answer.status_code == 200 and answer.content == b"\xff\xd8\xffJPEGDATA"
    assert answer.headers["Content-Type"] == "image/jpeg"
    assert requests.get(url + "x", timeout=T).status_code == 404


def test_send_file_by_upload_keeps_the_file(fake_greenapi):
    answer = call(fake_greenapi, "sendFileByUpload",
                  data={"chatId": "79001234567@c.us", "fileName": "a.pdf", "caption": "here"},
                  files={"file": ("a.pdf", b"%PDF-1.4 x", "application/pdf")})
    assert answer.status_code == 200 and re.fullmatch(r"3EB0[0-9A-F]{16}",
                                                      answer.json()["idMessage"])
    sent = fake_greenapi.sent[-1]
    assert (sent["kind"], sent["fileName"], sent["caption"], sent["data"]) == (
        "file", "a.pdf", "here", b"%PDF-1.4 x")


@pytest.mark.parametrize("kwargs", [
    {"json": {"chatId": "79001234567@c.us"}},  # not multipart
    {"data": {"chatId": "79001234567@c.us"}, "files": {"other": ("a", b"x")}},  # no file
    {"data": {"chatId": "79001234567"}, "files": {"file": ("a", b"x")}},  # bad chat id
])
def test_send_file_by_upload_refuses_what_is_not_a_file_send(fake_greenapi, kwargs):
    answer = call(fake_greenapi, "sendFileByUpload", **kwargs)
    assert answer.status_code == 400 and answer.json()["code"] == 400
    assert fake_greenapi.sent == []


def test_send_location_and_file_by_url(fake_greenapi):
    located = call(fake_greenapi, "sendLocation", json={
        "chatId": "79001234567@c.us", "latitude": 12.5, "longitude": 14.25,
        "nameLocation": "Shop"})
    assert located.status_code == 200 and fake_greenapi.sent[-1]["kind"] == "location"
    assert call(fake_greenapi, "sendLocation", json={"chatId": "79001234567@c.us",
                                                     "latitude": "x"}).status_code == 400
    by_url = call(fake_greenapi, "sendFileByUrl", json={
        "chatId": "79001234567@c.us", "urlFile": "https://example.com/a.jpg",
        "fileName": "a.jpg"})
    assert by_url.status_code == 200 and fake_greenapi.sent[-1]["urlFile"].endswith("a.jpg")


def test_media_webhook_builders_follow_the_documented_shapes():
    image = greenapi.file_message("79001234567@c.us", "https://x/a.jpg", caption="c")
    assert image["messageData"]["typeMessage"] == "imageMessage"
    assert set(image["messageData"]["fileMessageData"]) >= {"downloadUrl", "caption",
                                                            "fileName", "mimeType"}
    location = greenapi.location_message("79001234567@c.us", 1.5, 2.5, name="Shop")
    assert location["messageData"]["locationMessageData"]["nameLocation"] == "Shop"
    contact = greenapi.contact_message("79001234567@c.us", "Victor", "79001234569")
    assert "waid=79001234569" in contact["messageData"]["contactMessageData"]["vcard"]
    with pytest.raises(ValueError):
        greenapi.file_message("1@c.us", "https://x", kind="pollMessage")
