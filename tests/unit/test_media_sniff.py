"""What a file really is (app/media/sniff.py) and what a message carries
(app/media/descriptors.py): pure functions, no database."""
from __future__ import annotations

import pytest

from app.media.descriptors import descriptors, vcard_contact
from app.media.sniff import fits, kind_for, sniff
from tests.fakes import files


@pytest.mark.parametrize("head,declared,expected", [
    (files.jpeg(), None, "image/jpeg"), (files.png(), "image/jpeg", "image/png"),
    (b"GIF89a....", None, "image/gif"), (b"RIFF\x00\x00\x00\x00WEBPVP8 ", None, "image/webp"),
    (files.pdf(), "image/jpeg", "application/pdf"), (files.ogg(), None, "audio/ogg"),
    (files.mp4(), None, "video/mp4"), (files.mp4(), "audio/mp4", "audio/mp4"),
    (b"ID3\x04\x00", None, "audio/mpeg"), (b"#!AMR\n", None, "audio/amr"),
    (b"PK\x03\x04rest", "application/vnd.openxmlformats-officedocument.wordprocessingml"
                        ".document",
     "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    (b"PK\x03\x04rest", "text/html", "application/zip"),
    (b"order 2274209 is late", "text/plain; charset=utf-8", "text/plain"),
    (b"order 2274209 is late", None, None),  # text needs its declared type
    (b"  <html><script>x</script>", "text/plain", None),  # markup is never text
    (files.HTML, "text/html", None), (files.SVG, "image/svg+xml", None),
    (files.EXE, "application/pdf", None), (b"", "image/jpeg", None),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/vnd.ms-excel",
     "application/vnd.ms-excel"),
])
def test_sniff(head, declared, expected):
    assert sniff(head[:64], declared) == expected


def test_a_cut_utf8_character_at_the_end_of_the_head_is_still_text():
    head = ("é" * 40).encode()[:63]
    assert sniff(head, "text/plain") == "text/plain"


@pytest.mark.parametrize("kind,content,ok", [
    ("image", "image/png", True), ("image", "application/pdf", False),
    ("sticker", "image/webp", True), ("sticker", "image/jpeg", False),
    ("voice", "audio/ogg", True), ("audio", "image/jpeg", False),
    ("video", "video/mp4", True), ("document", "application/zip", True),
    ("location", "image/jpeg", False)])
def test_fits(kind, content, ok):
    assert fits(kind, content) is ok


def test_kind_for_sending():
    assert [kind_for(t) for t in ("image/jpeg", "image/webp", "video/3gpp", "audio/ogg",
                                  "application/pdf")] == [
        "image", "document", "video", "audio", "document"]


def test_vcard_contact_reads_name_and_first_phone():
    card = "BEGIN:VCARD\nN:Andreevich;Victor;;;\nitem1.TEL;waid=79001234569:+7 900\nEND:VCARD"
    assert vcard_contact(card) == {"kind": "contact", "contact_name": "Victor Andreevich",
                                   "contact_phone": "79001234569"}
    assert vcard_contact("BEGIN:VCARD\nTEL:+1 (555) 010-99\nEND:VCARD") == {
        "kind": "contact", "contact_name": None, "contact_phone": "155501099"}
    assert vcard_contact("garbage") is None


@pytest.mark.parametrize("platform,payload", [
    ("greenapi", {"messageData": {"typeMessage": "imageMessage", "fileMessageData": "x"}}),
    ("greenapi", {"messageData": {"typeMessage": "locationMessage",
                                  "locationMessageData": {"latitude": 91, "longitude": 0}}}),
    ("meta", {"message": {"type": "image", "image": {"mime_type": "image/jpeg"}}}),
    ("meta", {"message": {"type": "location", "location": {"latitude": True,
                                                            "longitude": 1}}}),
    ("telegram", {"update_id": 1, "message": {"photo": "not a list"}}),
    ("telegram", {"update_id": 1, "edited_message": {"photo": [{"file_id": "A"}]}}),
    ("webchat", {"anything": 1}), ("meta", None),
    ("greenapi", {"messageData": {"typeMessage": "contactMessage",
                                  "contactMessageData": {"vcard": 12345}}}),
    ("meta", {"message": {"type": "contacts", "contacts": "not a list"}}),
    ("meta", {"message": {"type": "contacts", "contacts": [{"phones": "nope"}]}}),
])
def test_shapes_that_are_not_the_documented_ones_carry_nothing(platform, payload):
    assert descriptors(platform, payload) == []


def test_telegram_photo_takes_the_largest_size_and_a_venue_names_the_place():
    photo = descriptors("telegram", {"message": {"photo": [{"file_id": "small"},
                                                          {"file_id": "large"}],
                                                "caption": "2274209 refill"}})
    assert photo == [{"kind": "image", "source_ref": "large", "declared_mime_type": "image/jpeg",
                      "file_name": None, "caption": "2274209 refill", "size": None,
                      "position": 0}]
    venue = descriptors("telegram", {"message": {
        "location": {"latitude": 50.5, "longitude": 30.5},
        "venue": {"title": "Venue Name", "address": "Venue Address"}}})
    assert venue[0]["place_name"] == "Venue Name" and venue[0]["address"] == "Venue Address"
