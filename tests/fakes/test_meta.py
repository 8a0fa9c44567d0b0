"""FakeMetaGraph answers docs/external-apis.md §3 shapes; the builders produce §3 notifications."""
from __future__ import annotations

import hashlib
import hmac
import json

import pytest
import requests

from tests.fakes import meta
from tests.fakes.meta import FakeMetaGraph

T = 2


def send(fake, body, token=None, phone_number_id=None, version="v21.0"):
    url = f"{fake.url}/{version}/{phone_number_id or fake.phone_number_id}/messages"
    headers = {"Authorization": f"Bearer {token or fake.access_token}"}
    return requests.post(url, json=body, headers=headers, timeout=T)


TEXT = {"messaging_product": "whatsapp", "to": "+7 900 123-45-67", "type": "text",
        "text": {"body": "Your refill request was sent."}}


def assert_graph_error(answer, code):
    error = answer.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and isinstance(error["type"], str)
    assert error["fbtrace_id"]
    return error


def test_send_text_answers_the_documented_shape(fake_meta):
    answer = send(fake_meta, TEXT)
    assert answer.status_code == 200
    body = answer.json()
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": "+7 900 123-45-67", "wa_id": "79001234567"}]
    assert len(body["messages"]) == 1 and body["messages"][0]["id"].startswith("wamid.")
    assert send(fake_meta, TEXT).json()["messages"][0]["id"] != body["messages"][0]["id"]
    recorded = fake_meta.requests[0]
    assert recorded.headers["Authorization"] == f"Bearer {fake_meta.access_token}"
    assert recorded.json == TEXT and fake_meta.sent[0]["id"] == body["messages"][0]["id"]


def test_send_template(fake_meta):
    body = {"messaging_product": "whatsapp", "to": "79001234567", "type": "template",
            "template": {"name": "refill_done", "language": {"code": "en"},
                         "components": [{"type": "body",
                                         "parameters": [{"type": "text", "text": "2274209"}]}]}}
    assert send(fake_meta, body).status_code == 200
    broken = dict(body, template={"name": "refill_done"})
    assert "language" in assert_graph_error(send(fake_meta, broken), 100)["message"]


@pytest.mark.parametrize("token", ["wrong", None])
def test_bad_token_is_190(fake_meta, token):
    if token is None:
        answer = requests.post(f"{fake_meta.url}/v21.0/{fake_meta.phone_number_id}/messages",
                               json=TEXT, timeout=T)
    else:
        answer = send(fake_meta, TEXT, token=token)
    assert answer.status_code == 401
    assert assert_graph_error(answer, 190)["type"] == "OAuthException"


def test_unknown_phone_number_id_and_bad_parameters(fake_meta):
    error = assert_graph_error(send(fake_meta, TEXT, phone_number_id="999"), 100)
    assert error["error_subcode"] == 33 and error["type"] == "GraphMethodException"
    for broken in ({**TEXT, "messaging_product": None}, {**TEXT, "to": ""},
                   {**TEXT, "text": {}}, {**TEXT, "messaging_product": "sms"}):
        answer = send(fake_meta, broken)
        assert answer.status_code == 400
        assert_graph_error(answer, 100)
    assert fake_meta.sent == []


@pytest.mark.parametrize("code,status", [(190, 401), (100, 400), (130429, 400), (131056, 400),
                                         (131026, 400), (131047, 400), (131049, 400),
                                         (131050, 400), (131057, 500), (132000, 400),
                                         (132001, 404)])
def test_error_next_injects_graph_errors(fake_meta, code, status):
    fake_meta.error_next(code)
    answer = send(fake_meta, TEXT)
    assert answer.status_code == status
    error = assert_graph_error(answer, code)
    assert set(error) <= {"message", "type", "code", "error_subcode", "error_data", "fbtrace_id"}
    assert send(fake_meta, TEXT).status_code == 200


def test_error_next_accepts_custom_status_message_and_subcode(fake_meta):
    fake_meta.error_next(131056, message="(#131056) pair rate", http_status=429, subcode=2494055)
    answer = send(fake_meta, TEXT)
    assert answer.status_code == 429
    assert answer.json()["error"]["error_subcode"] == 2494055
    assert answer.json()["error"]["message"] == "(#131056) pair rate"


def test_bare_429_and_5xx_use_graph_shapes(fake_meta):
    fake_meta.fail_next(1, 429, retry_after=4)
    answer = send(fake_meta, TEXT)
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "4"
    assert_graph_error(answer, 130429)
    fake_meta.fail_next(1, 503)
    answer = send(fake_meta, TEXT)
    assert answer.status_code == 503 and assert_graph_error(answer, 2)["is_transient"] is True


def test_timeout_and_garbage(fake_meta):
    fake_meta.delay_next(1, seconds=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(f"{fake_meta.url}/v21.0/{fake_meta.phone_number_id}/messages", json=TEXT,
                      headers={"Authorization": f"Bearer {fake_meta.access_token}"}, timeout=0.2)
    fake_meta.garbage_next(1, "html", status=502)
    answer = send(fake_meta, TEXT)
    assert answer.status_code == 502 and answer.text.startswith("<html>")


def test_phone_number_lookup(fake_meta):
    headers = {"Authorization": f"Bearer {fake_meta.access_token}"}
    base = f"{fake_meta.url}/v21.0/{fake_meta.phone_number_id}"
    full = requests.get(base, headers=headers, timeout=T).json()
    assert full == {"verified_name": "Relaydesk Test", "display_phone_number": "15550001234",
                    "quality_rating": "GREEN", "code_verification_status": "VERIFIED",
                    "id": fake_meta.phone_number_id}
    narrow = requests.get(base, params={"fields": "display_phone_number"}, headers=headers,
                          timeout=T).json()
    assert narrow == {"display_phone_number": "15550001234", "id": fake_meta.phone_number_id}
    assert requests.get(base, timeout=T).status_code == 401


def test_phone_number_fields_of_the_number_check():
    """docs/external-apis.md §3: ?fields=display_phone_number,verified_name,quality_rating,
    code_verification_status answers exactly those (and the id), as seeded."""
    with FakeMetaGraph(phone_number_id="42", access_token="tok", verified_name="Shop",
                       quality_rating="YELLOW", code_verification_status="EXPIRED") as fake:
        answer = requests.get(f"{fake.url}/v21.0/42", headers={"Authorization": "Bearer tok"},
                              params={"fields": "display_phone_number,verified_name,"
                                                "quality_rating,code_verification_status"},
                              timeout=T).json()
    assert answer == {"display_phone_number": "15550001234", "verified_name": "Shop",
                      "quality_rating": "YELLOW", "code_verification_status": "EXPIRED",
                      "id": "42"}


def test_any_graph_version_is_served():
    with FakeMetaGraph(phone_number_id="42", access_token="tok") as fake:
        assert send(fake, TEXT, version="v19.0").status_code == 200
        assert fake.requests.last.path == "/v19.0/42/messages"


# ---- notification builders -------------------------------------------------------------------
def test_text_notification_matches_the_documented_shape():
    payload = meta.text_notification("79001234567", "2274209 refill", name="Alice",
                                     wamid="wamid.ABC", timestamp=1700000000)
    assert payload == {"object": "whatsapp_business_account", "entry": [{
        "id": meta.DEFAULT_WABA_ID, "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": meta.DEFAULT_DISPLAY_NUMBER,
                         "phone_number_id": meta.DEFAULT_PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": "Alice"}, "wa_id": "79001234567"}],
            "messages": [{"from": "79001234567", "id": "wamid.ABC", "timestamp": "1700000000",
                          "type": "text", "text": {"body": "2274209 refill"}}]}}]}]}


def test_failed_status_with_errors():
    payload = meta.status_notification("wamid.X", "failed", "79001234567",
                                       errors=[meta.status_error(131047)])
    item = payload["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert item["status"] == "failed" and item["recipient_id"] == "79001234567"
    assert item["errors"] == [{"code": 131047, "title": "Re-engagement message"}]
    assert "messages" not in payload["entry"][0]["changes"][0]["value"]


def test_many_entries_and_changes_in_one_post():
    messages = [meta.text_message("1", "a"), meta.text_message("2", "b")]
    first = meta.messages_change(messages=messages,
                                 statuses=[meta.status("wamid.Y", "read", "3")])
    second = meta.messages_change(phone_number_id="555",
                                  statuses=[meta.status("wamid.Z", "delivered", "4")])
    template = meta.template_status_change("REJECTED", 123456, "refill_done", reason="INCORRECT")
    payload = meta.notification(meta.entry(first, second), meta.entry(template, waba_id="9"))
    assert len(payload["entry"]) == 2 and len(payload["entry"][0]["changes"]) == 2
    assert [c["wa_id"] for c in first["value"]["contacts"]] == ["1", "2"]
    assert payload["entry"][1]["changes"][0] == {
        "field": "message_template_status_update",
        "value": {"event": "REJECTED", "message_template_id": 123456,
                  "message_template_name": "refill_done", "message_template_language": "en_US",
                  "reason": "INCORRECT"}}
    with pytest.raises(ValueError):
        meta.status("wamid.Y", "seen", "3")


def test_signature_is_hmac_sha256_of_the_raw_body():
    raw, headers = meta.signed_body(meta.text_notification("1", "x"), "app-secret")
    expected = hmac.new(b"app-secret", raw, hashlib.sha256).hexdigest()
    assert headers["X-Hub-Signature-256"] == f"sha256={expected}"
    assert meta.signature(raw + b" ", "app-secret") != headers["X-Hub-Signature-256"]
    json.loads(raw)
    assert meta.verification_params("vt", "123") == {
        "hub.mode": "subscribe", "hub.verify_token": "vt", "hub.challenge": "123"}


# ---- ownership: which token controls which number and WABA ---------------------------------
def get(fake, path, token, **params):
    return requests.get(f"{fake.url}/v21.0/{path}", params=params, timeout=T,
                        headers={"Authorization": f"Bearer {token}"})


def test_waba_lists_its_phone_numbers(fake_meta):
    answer = get(fake_meta, f"{fake_meta.waba_id}/phone_numbers", fake_meta.access_token)
    assert answer.status_code == 200
    body = answer.json()
    assert body["data"] == [fake_meta.phone]
    assert set(body["paging"]["cursors"]) == {"before", "after"} and "next" not in body["paging"]
    node = get(fake_meta, fake_meta.waba_id, fake_meta.access_token).json()
    assert node["id"] == fake_meta.waba_id and node["name"]


def test_a_token_reads_only_what_it_controls(fake_meta):
    fake_meta.add_number("555000", waba_id="777000", token="other-token")
    mine = get(fake_meta, "555000", "other-token", fields="verified_name")
    assert mine.status_code == 200 and mine.json() == {"verified_name": "Relaydesk Test",
                                                       "id": "555000"}
    for path in (fake_meta.phone_number_id, f"{fake_meta.waba_id}/phone_numbers",
                 fake_meta.waba_id):
        error = assert_graph_error(get(fake_meta, path, "other-token"), 100)
        assert error["error_subcode"] == 33 and error["type"] == "GraphMethodException"
    assert assert_graph_error(get(fake_meta, "555000", "nobody-knows-me"), 190)
    assert send(fake_meta, TEXT, token="other-token").status_code == 400  # not its number
    assert send(fake_meta, TEXT, token="other-token", phone_number_id="555000").status_code == 200
    fake_meta.grant("other-token", fake_meta.waba_id)  # shared: now it may list that WABA
    listed = get(fake_meta, f"{fake_meta.waba_id}/phone_numbers", "other-token").json()
    assert [n["id"] for n in listed["data"]] == [fake_meta.phone_number_id]


def test_waba_numbers_come_in_pages(fake_meta):
    for i in range(5):
        fake_meta.add_number(f"90{i}", waba_id=fake_meta.waba_id, token=fake_meta.access_token)
    path = f"{fake_meta.waba_id}/phone_numbers"
    first = get(fake_meta, path, fake_meta.access_token, limit=4).json()
    assert [n["id"] for n in first["data"]] == [fake_meta.phone_number_id, "900", "901", "902"]
    assert first["paging"]["next"].startswith(fake_meta.url)
    after = first["paging"]["cursors"]["after"]
    second = get(fake_meta, path, fake_meta.access_token, limit=4, after=after).json()
    assert [n["id"] for n in second["data"]] == ["903", "904"]
    assert "next" not in second["paging"]
    assert_graph_error(get(fake_meta, path, fake_meta.access_token, after="garbage!"), 100)


# ---- media (docs/external-apis.md §3 "Media") ---------------------------------------------

def _graph(fake, method, path, token=None, **kwargs):
    headers = {"Authorization": f"Bearer {token or fake.access_token}"}
    return requests.request(method, f"{fake.url}/v21.0/{path}", headers=headers, timeout=2,
                            **kwargs)


def test_media_id_answers_a_url_that_needs_the_token(fake_meta):
    media_id = fake_meta.add_media(b"\xff\xd8\xffJPEG", "image/jpeg")
    answer = _graph(fake_meta, "GET", media_id)
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"messaging_product", "url", "mime_type", "sha256", "file_size", "id"}
    assert body["file_size"] == 7 and body["id"] == media_id
    assert requests.get(body["url"], timeout=2).status_code == 401
    file = requests.get(body["url"], headers={"Authorization":
                                              f"Bearer {fake_meta.access_token}"}, timeout=2)
    assert file.status_code == 200 and file.content == b"\xff\xd8\xffJPEG"


def test_media_of_another_token_is_unknown(fake_meta):
    fake_meta.grant("OTHER-TOKEN", "999")
    media_id = fake_meta.add_media(b"x", "image/jpeg")
    answer = _graph(fake_meta, "GET", media_id, token="OTHER-TOKEN")
    assert answer.status_code == 400 and answer.json()["error"]["code"] == 100
    assert _graph(fake_meta, "GET", media_id, token="nobody").json()["error"]["code"] == 190


def test_upload_then_send_by_id(fake_meta):
    number = fake_meta.phone_number_id
    uploaded = _graph(fake_meta, "POST", f"{number}/media",
                      data={"messaging_product": "whatsapp", "type": "image/png"},
                      files={"file": ("a.png", b"\x89PNG\r\n\x1a\nDATA", "image/png")})
    assert uploaded.status_code == 200
    upload_id = uploaded.json()["id"]
    assert fake_meta.uploads[upload_id]["data"] == b"\x89PNG\r\n\x1a\nDATA"
    sent = _graph(fake_meta, "POST", f"{number}/messages", json={
        "messaging_product": "whatsapp", "to": "15551234567", "type": "image",
        "image": {"id": upload_id}})
    assert sent.status_code == 200 and fake_meta.sent[-1]["image"]["id"] == upload_id
    unknown = _graph(fake_meta, "POST", f"{number}/messages", json={
        "messaging_product": "whatsapp", "to": "15551234567", "type": "image",
        "image": {"id": "123"}})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == 100


def test_upload_over_the_image_limit_is_refused(fake_meta):
    answer = _graph(fake_meta, "POST", f"{fake_meta.phone_number_id}/media",
                    data={"messaging_product": "whatsapp", "type": "image/jpeg"},
                    files={"file": ("a.jpg", b"\xff" * (5 * 1024 * 1024 + 1), "image/jpeg")})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == 100
    assert fake_meta.uploads == {}


def test_location_send_and_media_builders(fake_meta):
    sent = _graph(fake_meta, "POST", f"{fake_meta.phone_number_id}/messages", json={
        "messaging_product": "whatsapp", "to": "15551234567", "type": "location",
        "location": {"latitude": 1.5, "longitude": 2.5}})
    assert sent.status_code == 200
    message = meta.media_message("15551234567", "document", "42", mime_type="application/pdf",
                                 filename="a.pdf", caption="c")
    assert message["document"] == {"mime_type": "application/pdf",
                                   "sha256": message["document"]["sha256"], "id": "42",
                                   "caption": "c", "filename": "a.pdf"}
    assert meta.location_message("1", 1.0, 2.0, name="Shop")["location"]["name"] == "Shop"
