"""Media in a real browser, on each platform (Green API, Meta, Telegram) against its fake.

A customer's image and document arrive through the real webhook (the event job and the
download job run in the test process); a manager opens the conversation and sees the image
inline (its thumbnail, served by /media to the signed-in member) and the document as a
download link with its name and size. The manager then attaches a PDF with "Send a file": the
upload is stored by the app server, the send job (run here) delivers it, and the platform's
fake receives the very bytes. No page may log a JavaScript error. Screenshots go to
test-artifacts/.
"""
from __future__ import annotations

import pytest

from app.extensions import db
from app.jobs.outbound import send_outbound
from app.models import Conversation, OutboundMessage
from tests.browser.support import sign_in
from tests.browser.test_channel_setup import watch_console
from tests.fakes import files
from tests.fakes import greenapi as green_hooks
from tests.fakes import meta as meta_hooks
from tests.integration import test_media as media_support

pytestmark = pytest.mark.browser

PLATFORMS = ("greenapi", "meta", "telegram")


def _green(client, factory, workspace, fake):
    channel = factory.channel(workspace, name="WhatsApp", kind="greenapi", api_url=fake.url,
                              id_instance=fake.id_instance, api_token=fake.api_token,
                              webhook_token=media_support.GREEN_HOOK)
    media_support.post_green(client, channel, media_support.green_image(fake, files.jpeg()))
    document = green_hooks.file_message("972547654321@c.us", fake.host_file(
        files.pdf(), "price-list.pdf", "application/pdf"), kind="documentMessage",
        file_name="price-list.pdf", mime_type="application/pdf")
    media_support.post_green(client, channel, document)
    return "972547654321@c.us", lambda: fake.sent[-1]["data"]


def _meta(client, factory, workspace, fake):
    channel = factory.channel(workspace, name="Cloud", kind="meta",
                              phone_number_id=fake.phone_number_id,
                              access_token=fake.access_token,
                              app_secret=media_support.APP_SECRET,
                              waba_id=meta_hooks.DEFAULT_WABA_ID)
    body, message = media_support.meta_message("pywa_image_no_caption")
    message["image"]["id"] = fake.add_media(files.jpeg(), "image/jpeg")
    media_support.post_meta(client, body)
    body, message = media_support.meta_message("pywa_document_caption_forwarded")
    message["id"] = "wamid.document"
    message["document"]["id"] = fake.add_media(files.pdf(), "application/pdf")
    media_support.post_meta(client, body)
    assert channel.id
    return "972987654321", lambda: fake.uploads[fake.sent[-1]["document"]["id"]]["data"]


def _telegram(client, factory, workspace, fake):
    channel = factory.channel(workspace, name="Bot", kind="telegram", bot_token=fake.token,
                              api_base=fake.url, secret_token=media_support.TG_SECRET)
    photo = media_support.payload("telegram", "illemius_photo_caption")
    photo["message"]["photo"][-1]["file_id"] = fake.add_file(files.jpeg(), "photos/p.jpg")
    media_support.post_telegram(client, channel, photo)
    document = media_support.payload("telegram", "illemius_photo_caption")
    document["update_id"] += 1
    document["message"]["message_id"] += 1
    del document["message"]["photo"]
    document["message"]["document"] = {"file_id": fake.add_file(files.pdf(), "documents/d.pdf"),
                                       "file_name": "price-list.pdf",
                                       "mime_type": "application/pdf"}
    media_support.post_telegram(client, channel, document)
    return "12345678", lambda: fake.sent[-1]["data"]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_media_in_the_thread_and_a_file_sent_from_it(platform, app, client, factory,
                                                     redis_conn, new_page, artifacts_dir,
                                                     request, monkeypatch):
    workspace = factory.workspace(f"media-{platform}", name="Media Shop")
    factory.member(workspace, f"media-{platform}-manager", "manager")
    fake = request.getfixturevalue({"greenapi": "fake_greenapi", "meta": "fake_meta",
                                    "telegram": "fake_telegram"}[platform])
    if platform == "meta":
        monkeypatch.setitem(app.config, "META_GRAPH_URL", fake.url)
    build = {"greenapi": _green, "meta": _meta, "telegram": _telegram}[platform]
    chat_id, received = build(client, factory, workspace, fake)
    stored = media_support.download_all()
    assert [m.state for m in stored] == ["stored", "stored"], [m.reason for m in stored]
    conversation = db.session.query(Conversation).filter_by(
        workspace_id=workspace.id, chat_id=chat_id).one()

    page = new_page()
    errors = watch_console(page)
    sign_in(page, f"media-{platform}-manager")
    page.goto(f"/conversationview/show/{conversation.id}")
    image = page.locator("img.media-image").first
    image.wait_for()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image
                           .element_handle())
    document = page.locator(".media-document a.media-download")
    assert document.count() == 1 and "pdf" in document.inner_text().lower()
    assert "bytes" in page.locator(".media-document .media-size").inner_text()
    page.screenshot(path=str(artifacts_dir / f"media-thread-{platform}.png"), full_page=True)

    pdf = files.pdf(f"sent from the inbox on {platform}")
    page.set_input_files("#media-file", files=[{"name": "quote.pdf", "mimeType":
                                                "application/pdf", "buffer": pdf}])
    page.fill("#media-caption", "your quote")
    page.click("#media-send")
    page.wait_for_function(
        "() => document.getElementById('media-status').textContent.startsWith('Sent')")
    db.session.expire_all()
    message = db.session.query(OutboundMessage).filter_by(
        workspace_id=workspace.id, purpose="agent").one()
    assert send_outbound(message.id) == "sent"
    assert received() == pdf
    page.wait_for_load_state()
    page.goto(f"/conversationview/show/{conversation.id}")
    sent = page.locator("li.thread-out .media-document a.media-download")
    assert sent.count() == 1 and "quote.pdf" in sent.inner_text()
    page.screenshot(path=str(artifacts_dir / f"media-sent-{platform}.png"), full_page=True)
    assert errors == []
