"""The attachments a platform's message carries, read from the stored webhook body.

`descriptors(platform, payload)` answers a list of dicts with the `Media` columns known before
anything is downloaded: `kind`, `source_ref` (Green `downloadUrl`, Meta media id, Telegram
`file_id`), `declared_mime_type`, `file_name`, `caption`, `size` (when the platform says it),
or, for a location or a contact card, its data. Shapes: docs/external-apis.md 2 ("Media in"),
3 ("Media"), 4 ("Media"). Anything that does not have the documented shape is left out (never
an error): the message's text is handled as before.
"""
from __future__ import annotations

import re

GREEN_FILE_TYPES = {"imageMessage": "image", "videoMessage": "video",
                    "documentMessage": "document", "audioMessage": "audio",
                    "stickerMessage": "sticker"}
META_FILE_TYPES = ("image", "video", "audio", "document", "sticker")
TELEGRAM_FILE_TYPES = {"photo": "image", "document": "document", "audio": "audio",
                       "voice": "voice", "video": "video", "sticker": "sticker",
                       "video_note": "video", "animation": "video"}


def _s(value, limit: int = 255) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value[:limit] or None


def _coordinate(value, bound: float) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if -bound <= number <= bound else None


def _size(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 \
        else None


def _location(latitude, longitude, name=None, address=None) -> dict | None:
    lat, lon = _coordinate(latitude, 90), _coordinate(longitude, 180)
    if lat is None or lon is None:
        return None
    return {"kind": "location", "latitude": lat, "longitude": lon, "place_name": _s(name),
            "address": _s(address, 500)}


def _phone(text) -> str | None:
    digits = re.sub(r"\D", "", text or "") if isinstance(text, str) else ""
    return digits[:40] or None


def vcard_contact(vcard: str | None, display_name: str | None = None) -> dict | None:
    """Name and first phone of a vCard (FN, else N; the first TEL, or its waid)."""
    name, phone = _s(display_name), None
    if not isinstance(vcard, str):  # a platform's odd payload: no card, not a failed batch
        vcard = ""
    for raw in vcard.replace("\r\n", "\n").split("\n"):
        key, _, value = raw.partition(":")
        head = key.split(";", 1)[0].split(".")[-1].upper()
        if head == "FN" and not name:
            name = _s(value)
        elif head == "N" and not name:
            parts = [p for p in value.split(";")[:2] if p]
            name = _s(" ".join(reversed(parts)))
        elif head == "TEL" and phone is None:
            waid = re.search(r"waid=(\d+)", key)
            phone = waid.group(1) if waid else _phone(value)
    if not name and not phone:
        return None
    return {"kind": "contact", "contact_name": name, "contact_phone": phone}


def descriptors(platform: str, payload) -> list[dict]:
    if not isinstance(payload, dict):
        return []
    reader = {"greenapi": _green, "meta": _meta, "telegram": _telegram}.get(platform)
    found = reader(payload) if reader else []
    return [{**item, "position": index} for index, item in enumerate(found)]


def _green(payload: dict) -> list[dict]:
    data = payload.get("messageData")
    if not isinstance(data, dict):
        return []
    kind = data.get("typeMessage")
    if kind in GREEN_FILE_TYPES:
        file = data.get("fileMessageData")
        if not isinstance(file, dict) or not _s(file.get("downloadUrl"), 4000):
            return []
        return [{"kind": GREEN_FILE_TYPES[kind], "source_ref": _s(file["downloadUrl"], 4000),
                 "declared_mime_type": _s(file.get("mimeType"), 120),
                 "file_name": _s(file.get("fileName")), "caption": _s(file.get("caption"), 4000)}]
    if kind == "locationMessage":
        location = data.get("locationMessageData")
        if isinstance(location, dict):
            found = _location(location.get("latitude"), location.get("longitude"),
                              location.get("nameLocation"), location.get("address"))
            return [found] if found else []
    if kind == "contactMessage":
        contact = data.get("contactMessageData")
        if isinstance(contact, dict):
            found = vcard_contact(contact.get("vcard"), contact.get("displayName"))
            return [found] if found else []
    return []


def _meta(payload: dict) -> list[dict]:
    message = payload.get("message")
    if not isinstance(message, dict):
        return []
    kind = message.get("type")
    if kind in META_FILE_TYPES:
        media = message.get(kind)
        if not isinstance(media, dict) or not _s(media.get("id")):
            return []
        voice = kind == "audio" and media.get("voice") is True
        return [{"kind": "voice" if voice else kind, "source_ref": _s(media["id"]),
                 "declared_mime_type": _s(media.get("mime_type"), 120),
                 "file_name": _s(media.get("filename")), "caption": _s(media.get("caption"), 4000)}]
    if kind == "location":
        location = message.get("location")
        if isinstance(location, dict):
            found = _location(location.get("latitude"), location.get("longitude"),
                              location.get("name"), location.get("address"))
            return [found] if found else []
    if kind == "contacts":
        found = []
        contacts = message.get("contacts")
        for contact in contacts if isinstance(contacts, list) else []:
            if not isinstance(contact, dict):
                continue
            name = contact.get("name") if isinstance(contact.get("name"), dict) else {}
            listed = contact.get("phones")
            phones = [p for p in listed if isinstance(p, dict)] if isinstance(listed, list) \
                else []
            phone = (_s(phones[0].get("wa_id")) or _phone(phones[0].get("phone"))) if phones \
                else None
            display = _s(name.get("formatted_name")) or _s(
                " ".join(p for p in (name.get("first_name"), name.get("last_name"))
                         if isinstance(p, str)))
            if display or phone:
                found.append({"kind": "contact", "contact_name": display,
                              "contact_phone": _phone(phone)})
        return found[:20]
    return []


def _telegram(update: dict) -> list[dict]:
    key = next((k for k in ("message", "edited_message", "channel_post", "edited_channel_post")
                if isinstance(update.get(k), dict)), None)
    if key is None or key.startswith("edited_"):
        return []  # an edit re-sends the same file: recorded once, with the original
    message = update[key]
    caption = _s(message.get("caption"), 4000)
    for key, kind in TELEGRAM_FILE_TYPES.items():
        item = message.get(key)
        if key == "photo":  # sizes, smallest first: the largest is the picture
            sizes = [p for p in item or [] if isinstance(p, dict) and _s(p.get("file_id"))] \
                if isinstance(item, list) else []
            item = sizes[-1] if sizes else None
        if isinstance(item, dict) and _s(item.get("file_id")):
            return [{"kind": kind, "source_ref": _s(item["file_id"]),
                     "declared_mime_type": _s(item.get("mime_type"), 120)
                     or ("image/jpeg" if key == "photo" else None),
                     "file_name": _s(item.get("file_name")), "caption": caption,
                     "size": _size(item.get("file_size"))}]
    venue = message.get("venue") if isinstance(message.get("venue"), dict) else {}
    location = message.get("location")
    if isinstance(location, dict):
        found = _location(location.get("latitude"), location.get("longitude"),
                          venue.get("title"), venue.get("address"))
        return [found] if found else []
    contact = message.get("contact")
    if isinstance(contact, dict):
        name = " ".join(p for p in (contact.get("first_name"), contact.get("last_name"))
                        if isinstance(p, str) and p)
        found = vcard_contact(contact.get("vcard") if isinstance(contact.get("vcard"), str)
                              else None, name)
        if found is not None and _phone(contact.get("phone_number")):
            found["contact_phone"] = _phone(contact.get("phone_number"))
        return [found] if found else []
    return []
