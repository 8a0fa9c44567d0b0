"""Media sent: `store_file` keeps a file the composer uploaded (or any file the code sends),
`send_media` sends a file or a location through the outbound machinery.

`send_media(workspace_id, channel, chat_id, …)` writes the `OutboundMessage` row first (its
idempotency key: the same key twice sends once), links the `Media` row to it, commits, and
queues the send. The send job (app/jobs/outbound.py `send_outbound`) sees the linked media and
calls the platform's `send_media` (app/integrations/channels/): Meta uploads then sends by id,
Green API `sendFileByUpload`, Telegram `sendPhoto` / `sendVideo` / `sendAudio` /
`sendDocument`; a location goes with each platform's location send. Retries, back-off,
delivery statuses and held messages are the text messages' own.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable

from flask import current_app

from app.extensions import db
from app.jobs.outbound import Deferred, defer
from app.media import sniff
from app.media.inbound import META_LIMITS
from app.media.storage import new_key, storage
from app.models import Channel, Media
from app.models.base import utcnow
from app.store import insert_outbound, outbound_row


class MediaRefused(ValueError):
    """A file Relaydesk does not keep or cannot send: `code` says why (too_large, type,
    empty, kind), for the screen to put in words."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail or code)
        self.code, self.detail = code, detail


def send_limit(platform: str, kind: str) -> int:
    cap = int(current_app.config.get("MEDIA_MAX_BYTES") or 100 * 1024 * 1024)
    if platform == "meta":
        return min(cap, META_LIMITS.get(kind, cap))
    if platform == "telegram":  # multipart uploads through the Bot API: 50 MB, photos 10 MB
        return min(cap, 10 * 1024 * 1024 if kind == "image" else 50 * 1024 * 1024)
    return cap


_UNSAFE_NAME = re.compile(r"[^\w.\- ()]+", re.UNICODE)


def safe_file_name(name: str | None, content_type: str) -> str:
    """A display name without directories or odd characters, ending in the type's extension."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE_NAME.sub("_", base).strip(" ._")[:120]
    extension = sniff.EXTENSIONS.get(content_type, "bin")
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return f"{stem or 'file'}.{extension}"


def store_file(workspace_id: int, channel: Channel, chat_id: str, chunks: Iterable[bytes],
               file_name: str | None = None, declared: str | None = None,
               caption: str | None = None) -> Media:
    """Check and keep a file to send: its first bytes must be an allowed type (sniffed; the
    declared type only refines a family the bytes prove) and it must fit the channel's limit
    for its kind and MEDIA_MAX_BYTES. Adds the `stored` row (not committed).

    :raise MediaRefused:
    """
    cap = int(current_app.config.get("MEDIA_MAX_BYTES") or 100 * 1024 * 1024)
    data = bytearray()
    for chunk in chunks:
        data += chunk
        if len(data) > cap:
            raise MediaRefused("too_large", f"over {cap} bytes")
    if not data:
        raise MediaRefused("empty")
    content_type = sniff.sniff(bytes(data[:sniff.HEAD]), declared)
    if content_type is None:
        raise MediaRefused("type")
    kind = sniff.kind_for(content_type)
    limit = send_limit(channel.kind, kind)
    if len(data) > limit:
        raise MediaRefused("too_large", f"over {limit} bytes")
    key = new_key()
    storage().put(key, [bytes(data)])
    media = Media(workspace_id=workspace_id, channel_id=channel.id, platform=channel.kind,
                  chat_id=chat_id, direction="out", kind=kind, state="stored", position=0,
                  mime_type=content_type, declared_mime_type=sniff.bare(declared)[:120] or None,
                  size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                  file_name=safe_file_name(file_name, content_type), caption=caption or None,
                  storage_key=key, attempts=0, created_at=utcnow(), stored_at=utcnow())
    db.session.add(media)
    db.session.flush()
    return media


def send_media(workspace_id: int, channel: Channel, chat_id: str, *, media: Media | None = None,
               file: bytes | None = None, file_name: str | None = None,
               caption: str | None = None, location: dict | None = None,
               idempotency_key: str | None = None, purpose: str = "agent") -> int:
    """Send a file (`file` bytes, or `media`: a stored row of the same workspace — an upload
    not sent yet, or any stored attachment, forwarded) or a `location` ({latitude, longitude,
    name?, address?}) to `chat_id` through `channel`, with `caption`. Returns the outbound
    message id (the existing one when `idempotency_key` was used before). Commits.

    :raise MediaRefused:
    """
    if media is not None and (media.workspace_id != workspace_id or media.state != "stored"
                              or not media.has_file):
        raise MediaRefused("kind", "not a stored file of this workspace")
    if location is not None:
        media = Media(workspace_id=workspace_id, channel_id=channel.id, platform=channel.kind,
                      chat_id=chat_id, direction="out", kind="location", state="stored",
                      position=0, latitude=float(location["latitude"]),
                      longitude=float(location["longitude"]),
                      place_name=(location.get("name") or None),
                      address=(location.get("address") or None), attempts=0,
                      created_at=utcnow(), stored_at=utcnow())
        db.session.add(media)
    elif file is not None:
        media = store_file(workspace_id, channel, chat_id, [file], file_name, None, caption)
    elif media is None:
        raise MediaRefused("kind", "nothing to send")
    elif media.direction != "out" or media.outbound_message_id is not None \
            or media.channel_id != channel.id or media.chat_id != chat_id:
        if send_limit(channel.kind, media.kind) < (media.size or 0):
            raise MediaRefused("too_large")
        media = Media(workspace_id=workspace_id, channel_id=channel.id, platform=channel.kind,
                      chat_id=chat_id, direction="out", kind=sniff.kind_for(media.mime_type),
                      state="stored", position=0, mime_type=media.mime_type, size=media.size,
                      sha256=media.sha256, file_name=media.file_name, storage_key=media.storage_key,
                      attempts=0, created_at=utcnow(), stored_at=utcnow())
        db.session.add(media)
    if caption is not None:
        media.caption = caption or None
    text = media.caption or media.place_name or ""
    key = idempotency_key or f"media:{secrets.token_hex(12)}"
    ((outbound_id, new),) = insert_outbound([outbound_row(channel, chat_id, text, key,
                                                          purpose)])
    if new:
        db.session.flush()
        media.outbound_message_id = outbound_id
    else:
        db.session.rollback()
        return outbound_id
    db.session.commit()
    defer(Deferred(outbound_id, workspace_id=workspace_id))
    return outbound_id
