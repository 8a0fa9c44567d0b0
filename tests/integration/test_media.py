"""Media in and out on each platform against the fakes (docs/contracts.md "Media").

Real webhook bodies with media (tests/data/payloads/, SOURCES.md there) are posted through the
real endpoints; their download URL, media id or file id are the fakes'. The event job records
the attachments, `download_media` (the RQ job, run here directly) fetches them; the files are
then read through `/media/<id>` as a member. Out: `send_media` and `POST /inbox/media`, sent by
the send job (`send_outbound`, run here directly), arrive at the fakes.
"""
from __future__ import annotations

import copy
import io
import json
from pathlib import Path

from datetime import timedelta

import pytest

from app.extensions import db
from app.models.base import utcnow
from app.jobs.events import process_event
from app.jobs.outbound import send_outbound
from app.media import inbound
from app.media.outbound import MediaRefused, send_media
from app.media.storage import storage
from app.models import Conversation, InboundEvent, Media, OutboundMessage
from tests.fakes import files
from tests.fakes import greenapi as green_hooks
from tests.fakes import meta as meta_hooks
from tests.fakes import telegram as tg_hooks
from tests.fakes.server import Reply

PAYLOADS = Path(__file__).resolve().parents[1] / "data" / "payloads"
APP_SECRET = "media-meta-app-secret"
TG_SECRET = "media-telegram-secret"
GREEN_HOOK = "media-green-hook-token"


def payload(platform: str, name: str) -> dict:
    return json.loads((PAYLOADS / platform / f"{name}.json").read_text())


def run_events() -> None:
    db.session.expire_all()
    for (event_id,) in db.session.query(InboundEvent.id).filter_by(state="pending") \
            .order_by(InboundEvent.id).all():
        process_event(event_id)
    db.session.expire_all()


def media_rows() -> list[Media]:
    db.session.expire_all()
    return db.session.query(Media).order_by(Media.id).all()


def download_all() -> list[Media]:
    for media in media_rows():
        if media.state == "pending":
            inbound.download_media(media.id)
    return media_rows()


@pytest.fixture
def workspace(factory, redis_conn):
    workspace = factory.workspace("media")
    factory.member(workspace, "media-manager", "manager")
    factory.member(workspace, "media-agent", "agent")
    return workspace


@pytest.fixture
def green(factory, workspace, fake_greenapi):
    return factory.channel(workspace, name="WhatsApp", kind="greenapi", api_url=fake_greenapi.url,
                           id_instance=fake_greenapi.id_instance,
                           api_token=fake_greenapi.api_token, webhook_token=GREEN_HOOK)


@pytest.fixture
def meta(app, factory, workspace, fake_meta, monkeypatch):
    monkeypatch.setitem(app.config, "META_GRAPH_URL", fake_meta.url)
    return factory.channel(workspace, name="Cloud", kind="meta",
                           phone_number_id=fake_meta.phone_number_id,
                           access_token=fake_meta.access_token, app_secret=APP_SECRET,
                           waba_id=meta_hooks.DEFAULT_WABA_ID)


@pytest.fixture
def tg(factory, workspace, fake_telegram):
    return factory.channel(workspace, name="Bot", kind="telegram", bot_token=fake_telegram.token,
                           api_base=fake_telegram.url, secret_token=TG_SECRET)


def post_green(client, channel, body: dict) -> None:
    body = copy.deepcopy(body)
    body["instanceData"]["idInstance"] = int(channel.id_instance)
    response = client.post("/webhooks/greenapi", data=json.dumps(body),
                           headers=green_hooks.webhook_headers(GREEN_HOOK))
    assert response.status_code == 200, response.data
    run_events()


def post_meta(client, body: dict) -> None:
    raw, headers = meta_hooks.signed_body(body, APP_SECRET)
    assert client.post("/webhooks/meta", data=raw, headers=headers).status_code == 200
    run_events()


def post_telegram(client, channel, update: dict) -> None:
    response = client.post(f"/webhooks/telegram/{channel.bot_id}", data=json.dumps(update),
                           headers=tg_hooks.webhook_headers(TG_SECRET))
    assert response.status_code == 200, response.data
    run_events()


def green_image(fake, data: bytes, content_type: str = "image/jpeg") -> dict:
    body = payload("greenapi", "gokbot_image_personal")
    body["messageData"]["fileMessageData"]["downloadUrl"] = fake.host_file(
        data, "5f6460bc.jpg", content_type)
    return body


def meta_message(name: str) -> tuple[dict, dict]:
    body = payload("meta", name)
    return body, body["entry"][0]["changes"][0]["value"]["messages"][0]


def served(client, media_id: int, suffix: str = ""):
    return client.get(f"/media/{media_id}{suffix}")


# --- in: each platform ------------------------------------------------------------------------

def test_green_image_is_downloaded_stored_and_served_to_members(client, auth, green,
                                                                fake_greenapi):
    image = files.jpeg()
    post_green(client, green, green_image(fake_greenapi, image))
    (media,) = download_all()
    assert (media.kind, media.state, media.direction, media.platform) == (
        "image", "stored", "in", "greenapi")
    assert media.mime_type == "image/jpeg" and media.size == len(image)
    assert len(media.sha256) == 64 and media.file_name == "5f6460bc-ac0d-49e7-bcd6-9a4c0ab376d4.jpg"
    assert b"".join(storage().get(media.storage_key)) == image
    auth.login("media-agent")
    answer = served(client, media.id)
    assert answer.status_code == 200 and answer.data == image
    assert answer.headers["Content-Type"] == "image/jpeg"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Content-Disposition"].startswith("inline;")
    assert "sandbox" in answer.headers["Content-Security-Policy"]
    thumb = served(client, media.id, "/thumb")
    assert thumb.status_code == 200 and thumb.headers["Content-Type"] == "image/jpeg"
    assert thumb.data.startswith(b"\xff\xd8\xff")


def test_green_location_and_contact_are_stored_without_a_file(client, green):
    post_green(client, green, payload("greenapi", "docs_location"))
    contact = payload("greenapi", "docs_contact")
    contact["idMessage"] = "F7AEC1B7086ECDC7E6E45923F5EDB826"  # both documented bodies share one
    post_green(client, green, contact)
    location, contact = media_rows()
    assert (location.kind, location.state, location.storage_key) == ("location", "stored", None)
    assert round(location.latitude, 4) == 12.3457 and round(location.longitude, 4) == 14.1516
    assert (contact.kind, contact.contact_name, contact.contact_phone) == (
        "contact", "Victor Andreevich", "79001234569")


def test_meta_image_document_and_voice_are_downloaded_with_the_token(client, meta, fake_meta):
    image, document, voice = files.jpeg(), files.pdf(), files.ogg()
    for name, data, mime in (("pywa_image_no_caption", image, "image/jpeg"),
                             ("pywa_document_caption_forwarded", document, "application/pdf"),
                             ("pywa_voice", voice, "audio/ogg")):
        body, message = meta_message(name)
        message["id"] = f"wamid.{name}"
        message[message["type"]]["id"] = fake_meta.add_media(data, mime)
        post_meta(client, body)
    rows = download_all()
    assert [(m.kind, m.state, m.mime_type) for m in rows] == [
        ("image", "stored", "image/jpeg"), ("document", "stored", "application/pdf"),
        ("voice", "stored", "audio/ogg")]
    assert rows[1].file_name == "filename.pdf" and rows[1].caption == "caption"
    lookaside = fake_meta.requests.filter("GET", "/lookaside/*")
    assert len(lookaside) == 3
    assert all(r.headers["Authorization"] == f"Bearer {fake_meta.access_token}"
               for r in lookaside)


def test_meta_location_and_contacts(client, meta):
    post_meta(client, payload("meta", "pywa_location_current"))
    body, message = meta_message("pywa_contacts")
    message["id"] = "wamid.contacts"
    post_meta(client, body)
    rows = media_rows()
    assert rows[0].kind == "location" and rows[0].latitude == 12.25089
    assert [(m.contact_name, m.contact_phone) for m in rows[1:]] == [
        ("Chandler Bing", "972987654321"), ("Monica", "972987654321"),
        ("Rachel Green", "972987654321")]


def test_telegram_photo_and_document_via_get_file(client, tg, fake_telegram):
    photo = payload("telegram", "illemius_photo_caption")
    photo["message"]["photo"][-1]["file_id"] = fake_telegram.add_file(files.jpeg(),
                                                                       "photos/file_7.jpg")
    post_telegram(client, tg, photo)
    document = payload("telegram", "tgdocs_message_with_document")
    document["message"]["document"]["file_id"] = fake_telegram.add_file(
        files.pdf(), "documents/file_8.pdf")
    document["message"]["document"]["file_size"] = len(files.pdf())
    post_telegram(client, tg, document)
    rows = download_all()
    assert [(m.kind, m.state, m.mime_type) for m in rows] == [
        ("image", "stored", "image/jpeg"), ("document", "stored", "application/pdf")]
    assert rows[0].caption == "photo description" and rows[1].file_name == "Testfile.pdf"
    assert fake_telegram.count("POST", "*/getFile") == 2


def test_telegram_location_and_contact(client, tg):
    post_telegram(client, tg, payload("telegram", "illemius_location"))
    contact = payload("telegram", "aiogram_contact")
    contact["update_id"] += 1  # both published examples use update_id 123456789
    post_telegram(client, tg, contact)
    location, contact = media_rows()
    assert (location.latitude, location.longitude) == (55.693416, 37.624605)
    assert (contact.contact_name, contact.contact_phone) == ("John Smith", "88005553535")


def test_an_event_handled_twice_records_its_media_once(client, green, fake_greenapi):
    post_green(client, green, green_image(fake_greenapi, files.jpeg()))
    event = db.session.query(InboundEvent).one()
    inbound.record([event])
    assert len(media_rows()) == 1


# --- in: limits, types, hostile URLs, failures -----------------------------------------------

def test_meta_image_over_5_mb_is_too_large_and_never_downloaded(client, meta, fake_meta):
    body, message = meta_message("pywa_image_no_caption")
    message["image"]["id"] = fake_meta.add_media(b"\xff\xd8\xff" + b"\x00" * (5 * 1024 * 1024),
                                                 "image/jpeg")
    post_meta(client, body)
    (media,) = download_all()
    assert media.state == "too_large" and media.storage_key is None
    assert fake_meta.count("GET", "/lookaside/*") == 0


def test_telegram_file_over_20_mb_is_too_large_before_any_call(client, tg, fake_telegram):
    document = payload("telegram", "tgdocs_message_with_document")
    document["message"]["document"]["file_size"] = 20 * 1024 * 1024 + 1
    post_telegram(client, tg, document)
    (media,) = download_all()
    assert media.state == "too_large" and fake_telegram.count("POST", "*/getFile") == 0


def test_workspace_cap_stops_a_stream_that_is_too_long(app, client, green, fake_greenapi,
                                                       monkeypatch):
    monkeypatch.setitem(app.config, "MEDIA_MAX_BYTES", 1000)
    post_green(client, green, green_image(fake_greenapi, files.jpeg(400, 400)))
    (media,) = download_all()
    assert media.state == "too_large" and media.storage_key is None


@pytest.mark.parametrize("data,why", [
    (files.HTML, "not allowed"), (files.SVG, "not allowed"), (files.EXE, "not allowed"),
    (files.pdf(), "a image message carried application/pdf")])
def test_disallowed_or_mismatched_type_is_refused_not_stored(client, green, fake_greenapi,
                                                             data, why, tmp_path):
    post_green(client, green, green_image(fake_greenapi, data, "image/jpeg"))
    (media,) = download_all()
    assert media.state == "refused" and why in media.reason
    assert media.storage_key is None


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/",
                                 "http://10.0.0.7/a.jpg", "file:///etc/passwd",
                                 "https://user:pw@example.com/a.jpg"])
def test_hostile_download_urls_are_refused_without_a_connection(client, green, url):
    body = payload("greenapi", "gokbot_image_personal")
    body["messageData"]["fileMessageData"]["downloadUrl"] = url
    post_green(client, green, body)
    (media,) = download_all()
    assert media.state == "refused" and "download address refused" in media.reason


def test_a_redirect_to_a_metadata_address_is_refused(client, green, fake_greenapi):
    body = green_image(fake_greenapi, files.jpeg())
    fake_greenapi.override("GET", "/download/*", Reply(
        302, "", {"Location": "http://169.254.169.254/latest/meta-data/"}))
    post_green(client, green, body)
    (media,) = download_all()
    assert media.state == "refused" and media.storage_key is None


def test_a_redirect_within_allowed_hosts_is_followed_without_credentials(client, meta,
                                                                        fake_meta, fake_greenapi):
    target = fake_greenapi.host_file(files.jpeg(), "x.jpg")
    media_id = fake_meta.add_media(b"unused", "image/jpeg")
    path = fake_meta.media[media_id]["path"]
    fake_meta.override("GET", f"/lookaside/{path}", Reply(302, "", {"Location": target}))
    body, message = meta_message("pywa_image_no_caption")
    message["image"]["id"] = media_id
    post_meta(client, body)
    (media,) = download_all()
    assert media.state == "stored"
    followed = fake_greenapi.requests.filter("GET", "/download/*")[-1]
    assert "Authorization" not in followed.headers  # the token stays with Meta's host


def test_html_error_pages_and_timeouts_are_retried_then_failed(client, green, fake_greenapi,
                                                               monkeypatch):
    monkeypatch.setattr(inbound, "TIMEOUT", 0.3)
    post_green(client, green, green_image(fake_greenapi, files.jpeg()))
    (media,) = media_rows()
    fake_greenapi.garbage_next(1, kind="html", status=502, path="/download/*")
    assert inbound.download_media(media.id) == "retrying"
    assert media_rows()[0].reason == "HTTP 502"
    fake_greenapi.delay_next(1, seconds=1.0, path="/download/*")
    assert inbound.download_media(media.id) == "retrying"
    assert "timeout" in media_rows()[0].reason
    fake_greenapi.fail_next(2, status=503, path="/download/*")
    assert inbound.download_media(media.id) == "retrying"
    assert inbound.download_media(media.id) == "failed"
    assert media_rows()[0].state == "failed" and "gave up after 4 attempts" in \
        media_rows()[0].reason


def test_a_404_download_fails_at_once(client, green, fake_greenapi):
    body = green_image(fake_greenapi, files.jpeg())
    body["messageData"]["fileMessageData"]["downloadUrl"] += "-gone"
    post_green(client, green, body)
    (media,) = download_all()
    assert (media.state, media.reason) == ("failed", "HTTP 404")


# --- serving: only members of the workspace ---------------------------------------------------

def test_media_is_404_to_other_workspaces_strangers_and_for_unknown_ids(
        client, auth, factory, green, fake_greenapi):
    post_green(client, green, green_image(fake_greenapi, files.jpeg()))
    (media,) = download_all()
    other = factory.workspace("elsewhere")
    factory.member(other, "elsewhere-manager", "manager")
    assert served(client, media.id).status_code in (302, 401)  # signed out: the login page
    auth.login("elsewhere-manager")
    for path in (f"/media/{media.id}", f"/media/{media.id}/thumb", f"/media/{media.id + 999}",
                 "/media/99999999999999999999", "/media/١٢"):
        assert client.get(path).status_code == 404, path
    auth.logout()
    auth.login("media-manager")
    assert served(client, media.id + 999).status_code == 404
    assert served(client, media.id).status_code == 200


def test_a_document_is_an_attachment_and_thumb_is_404(client, auth, tg, fake_telegram):
    document = payload("telegram", "tgdocs_message_with_document")
    document["message"]["document"]["file_id"] = fake_telegram.add_file(files.pdf(), "d/a.pdf")
    post_telegram(client, tg, document)
    (media,) = download_all()
    auth.login("media-manager")
    answer = served(client, media.id)
    assert answer.headers["Content-Type"] == "application/pdf"
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="Testfile.pdf"')
    assert served(client, media.id, "/thumb").status_code == 404


def test_the_thread_shows_media(client, auth, green, tg, fake_greenapi, fake_telegram):
    post_green(client, green, green_image(fake_greenapi, files.jpeg()))
    post_green(client, green, payload("greenapi", "docs_location"))
    download_all()
    auth.login("media-manager")
    conversations = db.session.query(Conversation).order_by(Conversation.id).all()
    image_chat = next(c for c in conversations if c.chat_id == "972547654321@c.us")
    page = client.get(f"/conversationview/show/{image_chat.id}").get_data(as_text=True)
    media = media_rows()[0]
    assert f'src="/media/{media.id}/thumb"' in page and 'id="media-attach"' in page
    location_chat = next(c for c in conversations if c.chat_id == "79001234568@c.us")
    page = client.get(f"/conversationview/show/{location_chat.id}").get_data(as_text=True)
    assert "12.345679, 14.151617" in page


# --- out ----------------------------------------------------------------------------------------

def sent_through(outbound_id: int) -> OutboundMessage:
    assert send_outbound(outbound_id) == "sent"
    db.session.expire_all()
    return db.session.get(OutboundMessage, outbound_id)


def test_send_media_on_green_uploads_the_file(green, workspace, fake_greenapi):
    pdf = files.pdf()
    outbound_id = send_media(workspace.id, green, "79001234567@c.us", file=pdf,
                             file_name="../../etc/Invoice.pdf", caption="your invoice")
    message = sent_through(outbound_id)
    sent = fake_greenapi.sent[-1]
    assert (sent["data"], sent["fileName"], sent["caption"]) == (pdf, "Invoice.pdf",
                                                                 "your invoice")
    assert message.platform_message_id == sent["idMessage"] and message.delivery_status == "sent"
    location_id = send_media(workspace.id, green, "79001234567@c.us",
                             location={"latitude": 1.5, "longitude": 2.5, "name": "Shop"})
    sent_through(location_id)
    assert fake_greenapi.sent[-1]["kind"] == "location"
    assert fake_greenapi.sent[-1]["nameLocation"] == "Shop"


def test_send_media_on_meta_uploads_then_sends_by_id(meta, workspace, fake_meta):
    image = files.jpeg()
    outbound_id = send_media(workspace.id, meta, "15551234567", file=image, caption="look")
    sent_through(outbound_id)
    body = fake_meta.sent[-1]
    assert body["type"] == "image" and body["image"]["caption"] == "look"
    assert fake_meta.uploads[body["image"]["id"]]["data"] == image
    location_id = send_media(workspace.id, meta, "15551234567",
                             location={"latitude": 1.5, "longitude": 2.5})
    sent_through(location_id)
    assert fake_meta.sent[-1]["location"] == {"latitude": 1.5, "longitude": 2.5}


def test_send_media_on_telegram_picks_the_method(tg, workspace, fake_telegram):
    for data, method in ((files.jpeg(), "sendPhoto"), (files.pdf(), "sendDocument"),
                         (files.ogg(), "sendAudio"), (files.mp4(), "sendVideo")):
        sent_through(send_media(workspace.id, tg, "123456789", file=data))
        assert fake_telegram.sent[-1]["method"] == method
        assert fake_telegram.sent[-1]["data"] == data


def test_send_media_is_idempotent_and_retries_a_5xx(green, workspace, fake_greenapi):
    first = send_media(workspace.id, green, "79001234567@c.us", file=files.pdf(),
                       idempotency_key="inbox:1")
    again = send_media(workspace.id, green, "79001234567@c.us", file=files.pdf(),
                       idempotency_key="inbox:1")
    assert first == again
    fake_greenapi.fail_next(1, status=500, path="*/sendFileByUpload/*")
    assert send_outbound(first) == "retrying"
    db.session.expire_all()
    db.session.get(OutboundMessage, first).next_attempt_at = None
    db.session.commit()
    assert send_outbound(first) == "sent"
    assert len([s for s in fake_greenapi.sent if s.get("kind") == "file"]) == 1


def test_send_media_refuses_types_off_the_allowlist(green, workspace):
    with pytest.raises(MediaRefused) as refused:
        send_media(workspace.id, green, "79001234567@c.us", file=files.HTML)
    assert refused.value.code == "type"


def test_forwarding_a_received_file(client, green, tg, workspace, fake_greenapi, fake_telegram):
    image = files.jpeg()
    post_green(client, green, green_image(fake_greenapi, image))
    (received,) = download_all()
    sent_through(send_media(workspace.id, tg, "123456789", media=received))
    assert fake_telegram.sent[-1]["method"] == "sendPhoto"
    assert fake_telegram.sent[-1]["data"] == image


def conversation_of(client, channel, fake_greenapi) -> Conversation:
    post_green(client, channel, green_hooks.incoming_message("79001234567@c.us", "hello"))
    return db.session.query(Conversation).filter_by(chat_id="79001234567@c.us").one()


def test_inbox_upload_stores_sends_and_answers_the_media_id(client, auth, green, fake_greenapi):
    conversation = conversation_of(client, green, fake_greenapi)
    auth.login("media-agent")
    answer = client.post("/inbox/media", data={
        "conversation": str(conversation.id), "caption": "here", "send": "1",
        "file": (io.BytesIO(files.pdf()), "invoice.pdf", "application/pdf")},
        headers={"Accept": "application/json"}, content_type="multipart/form-data")
    assert answer.status_code == 201, answer.data
    body = answer.get_json()
    assert body["kind"] == "document" and body["file_name"] == "invoice.pdf"
    sent_through(body["outbound_message_id"])
    assert fake_greenapi.sent[-1]["fileName"] == "invoice.pdf"
    media = db.session.get(Media, body["id"])
    assert media.outbound_message_id == body["outbound_message_id"]


@pytest.mark.parametrize("upload,message", [
    (None, "Choose a file"), ((files.HTML, "page.html", "text/html"), "cannot be sent"),
    ((b"", "empty.txt", "text/plain"), "Choose a file")])
def test_inbox_upload_refusals_are_400_next_to_the_field(client, auth, green, fake_greenapi,
                                                         upload, message):
    conversation = conversation_of(client, green, fake_greenapi)
    auth.login("media-manager")
    data = {"conversation": str(conversation.id)}
    if upload is not None:
        data["file"] = (io.BytesIO(upload[0]), upload[1], upload[2])
    answer = client.post("/inbox/media", data=data, headers={"Accept": "application/json"},
                         content_type="multipart/form-data")
    assert answer.status_code == 400
    assert message in answer.get_json()["errors"]["file"] or \
        "empty" in answer.get_json()["errors"]["file"]
    assert db.session.query(Media).count() == 0


def test_inbox_upload_to_another_workspace_conversation_is_404(client, auth, factory, green,
                                                               fake_greenapi):
    conversation = conversation_of(client, green, fake_greenapi)
    other = factory.workspace("intruder")
    factory.member(other, "intruder-manager", "manager")
    auth.login("intruder-manager")
    for value in (str(conversation.id), "abc", "999999999"):
        answer = client.post("/inbox/media", data={
            "conversation": value, "send": "1",
            "file": (io.BytesIO(files.pdf()), "a.pdf", "application/pdf")},
            content_type="multipart/form-data")
        assert answer.status_code == 404
    assert db.session.query(Media).count() == 0 and fake_greenapi.sent == []


# --- the S3 store, against moto's server ------------------------------------------------------

@pytest.fixture
def s3_store(app, monkeypatch):
    import boto3
    from moto.server import ThreadedMotoServer

    from tests.integration.webhook_support import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    config = {"MEDIA_STORAGE": "s3", "MEDIA_S3_ENDPOINT": endpoint,
              "MEDIA_S3_BUCKET": "relaydesk-media", "MEDIA_S3_ACCESS_KEY": "test-key",
              "MEDIA_S3_SECRET_KEY": "test-secret", "MEDIA_S3_REGION": "us-east-1"}
    for key, value in config.items():
        monkeypatch.setitem(app.config, key, value)
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="test-key", aws_secret_access_key="test-secret")
    client.create_bucket(Bucket="relaydesk-media")
    app.extensions.pop("relaydesk_media_storage", None)
    yield client
    app.extensions.pop("relaydesk_media_storage", None)
    server.stop()


def test_s3_store_keeps_and_serves_the_file(client, auth, s3_store, green, fake_greenapi):
    image = files.jpeg()
    post_green(client, green, green_image(fake_greenapi, image))
    (media,) = download_all()
    assert media.state == "stored"
    stored = s3_store.get_object(Bucket="relaydesk-media", Key=media.storage_key)
    assert stored["Body"].read() == image
    auth.login("media-manager")
    answer = served(client, media.id)
    assert answer.status_code == 200 and answer.data == image


def test_the_sweep_queues_a_download_left_pending(client, green, fake_greenapi, redis_conn):
    from datetime import timedelta

    from app.jobs.maintenance import sweep

    post_green(client, green, green_image(fake_greenapi, files.jpeg()))
    (media,) = media_rows()
    assert sweep()["media"] == 0  # just queued: not stale yet
    media.created_at -= inbound.STALE_AFTER + timedelta(seconds=1)
    db.session.commit()
    assert sweep()["media"] == 1
    assert inbound.download_media(media.id) == "stored"
    assert sweep()["media"] == 0


def test_inbox_upload_over_the_cap_is_refused_before_it_is_read(app, client, auth, green,
                                                                 fake_greenapi, monkeypatch):
    conversation = conversation_of(client, green, fake_greenapi)
    monkeypatch.setitem(app.config, "MEDIA_MAX_BYTES", 1024 * 1024)
    auth.login("media-manager")
    answer = client.post("/inbox/media", data={
        "conversation": str(conversation.id), "send": "1",
        "file": (io.BytesIO(b"%PDF-" + b"0" * (2 * 1024 * 1024)), "big.pdf", "application/pdf")},
        headers={"Accept": "application/json"}, content_type="multipart/form-data")
    assert answer.status_code == 400 and "at most 1 MB" in answer.get_json()["errors"]["file"]
    assert db.session.query(Media).count() == 0 and fake_greenapi.sent == []


def _flood_png(width: int, height: int) -> bytes:
    """A one-colour, 1-bit PNG of `width` × `height` pixels: small in bytes, huge decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0,
                                                               0, 0, 0))
            + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def test_a_pixel_flood_image_is_never_decoded_for_its_thumbnail(client, auth, green,
                                                                fake_greenapi):
    flood = _flood_png(6000, 6000)  # 36 million pixels in a few kilobytes
    assert len(flood) < 100_000
    post_green(client, green, green_image(fake_greenapi, flood, "image/png"))
    (media,) = download_all()
    assert media.state == "stored" and media.mime_type == "image/png"
    auth.login("media-agent")
    thumb = served(client, media.id, "/thumb")
    # served as it is (the browser scales it), not decoded by the web process
    assert thumb.status_code == 200 and thumb.headers["Content-Type"] == "image/png"
    assert thumb.data == flood


def test_inbox_upload_keeps_the_inbox_rules(client, auth, factory, green, meta, fake_greenapi,
                                            fake_meta):
    """A file goes where a reply may go: not into a provider's group (404), not through a
    switched-off channel, not to a Meta contact outside the 24-hour window."""
    def attach(conversation):
        return client.post("/inbox/media", data={
            "conversation": str(conversation.id), "send": "1",
            "file": (io.BytesIO(files.pdf()), "a.pdf", "application/pdf")},
            headers={"Accept": "application/json"}, content_type="multipart/form-data")

    provider = Conversation(workspace_id=green.workspace_id, channel_id=green.id,
                            chat_id="120363555555555555@g.us", kind="provider")
    stale = Conversation(workspace_id=meta.workspace_id, channel_id=meta.id,
                         chat_id="5511912345678",
                         last_inbound_at=utcnow() - timedelta(hours=30))
    db.session.add_all([provider, stale])
    db.session.commit()
    customer = conversation_of(client, green, fake_greenapi)
    green.enabled = False
    db.session.commit()
    auth.login("media-manager")
    assert attach(provider).status_code == 404
    off = attach(customer)
    assert off.status_code == 400 and "switched off" in off.get_json()["errors"]["file"]
    closed = attach(stale)
    assert closed.status_code == 400 and "24 hours" in closed.get_json()["errors"]["file"]
    assert db.session.query(Media).count() == 0
    assert fake_greenapi.sent == [] and fake_meta.sent == []
