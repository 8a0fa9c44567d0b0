"""Media a chat sent or we sent: images, documents, audio, video, stickers, locations, contacts.

One `Media` row per attachment (docs/contracts.md "Inbox contracts", "Media"). An inbound row is
written `pending` from the webhook's descriptor when its event is handled (app/media/inbound.py)
and becomes `stored`, `failed`, `too_large` or `refused` once the download job has run; an
outbound row is `stored` from the start (the composer's upload, `POST /inbox/media`) and is
linked to the `OutboundMessage` that sends it. Locations and contacts carry their data in
columns and have no file. The file itself is in the media store (app/media/storage.py) under
`storage_key`, a random name: never a path a user or a platform chose.
"""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import (BigInteger, Column, DateTime, Float, ForeignKey, Index, Integer, String,
                        Text, UniqueConstraint)
from sqlalchemy.orm import relationship

from app.labels import code_label
from app.models.base import CHAT_ID_LENGTH, WorkspaceOwned, code_column, utcnow
from app.models.events import BigId

MEDIA_KINDS = ("image", "video", "audio", "voice", "document", "sticker", "location", "contact")
#: kinds that have no file (their data is in columns)
DATA_KINDS = ("location", "contact")
MEDIA_STATES = ("pending", "stored", "failed", "too_large", "refused")
MEDIA_DIRECTIONS = ("in", "out")
MEDIA_PLATFORMS = ("greenapi", "meta", "telegram")


class Media(WorkspaceOwned, Model):
    __tablename__ = "media"
    __table_args__ = (
        # the n-th attachment of an event: recording an event twice makes no second row
        UniqueConstraint("inbound_event_id", "position", name="uq_media_event_position"),
        Index("ix_media_workspace_id_id", "workspace_id", "id"),
        Index("ix_media_chat", "workspace_id", "channel_id", "chat_id", "id"),
        Index("ix_media_state", "state", "next_attempt_at"),
    )

    id = Column(BigId, primary_key=True)
    channel_id = Column(Integer, ForeignKey("channel.id", ondelete="CASCADE"), nullable=False,
                        index=True)
    channel = relationship("Channel")
    platform = code_column(MEDIA_PLATFORMS, "media_platform")
    chat_id = Column(String(CHAT_ID_LENGTH), nullable=False)
    direction = code_column(MEDIA_DIRECTIONS, "media_direction")
    kind = code_column(MEDIA_KINDS, "media_kind")
    state = code_column(MEDIA_STATES, "media_state", default="pending")
    reason = Column(String(500), nullable=True)  # why failed / too_large / refused
    position = Column(Integer, nullable=False, default=0)

    # the file (none for locations and contacts)
    mime_type = Column(String(120), nullable=True)  # sniffed once stored; declared before
    declared_mime_type = Column(String(120), nullable=True)  # what the platform said
    size = Column(BigInteger, nullable=True)
    sha256 = Column(String(64), nullable=True)
    file_name = Column(String(255), nullable=True)
    caption = Column(Text, nullable=True)
    # random (app/media/storage.py `new_key`); a forwarded file shares its key
    storage_key = Column(String(80), nullable=True, index=True)
    # where the platform keeps it: Green `downloadUrl`, Meta media id, Telegram `file_id`
    source_ref = Column(Text, nullable=True)
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime, nullable=True)

    # a location
    latitude = Column(Float, nullable=True)
    longitude = Column(Float, nullable=True)
    place_name = Column(String(255), nullable=True)
    address = Column(String(500), nullable=True)
    # a contact card
    contact_name = Column(String(255), nullable=True)
    contact_phone = Column(String(40), nullable=True)

    inbound_event_id = Column(BigId, ForeignKey("inbound_event.id", ondelete="CASCADE"),
                              nullable=True, index=True)
    outbound_message_id = Column(BigId, ForeignKey("outbound_message.id", ondelete="SET NULL"),
                                 nullable=True, index=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    stored_at = Column(DateTime, nullable=True)

    @property
    def has_file(self) -> bool:
        return self.kind not in DATA_KINDS

    @property
    def inline(self) -> bool:
        """Shown in the page (image, audio, video), not only downloaded."""
        return bool(self.mime_type) and self.mime_type.split("/", 1)[0] in (
            "image", "audio", "video")

    def __str__(self) -> str:
        return (f"{code_label('media_kind', self.kind)} "
                f"{self.file_name or self.place_name or self.contact_name or ''}").strip()
