"""What the send job needs of a message's media (app/jobs/outbound.py `_send`): the media it
carries (`attached`) and what the platform client sends for it (`to_send`)."""
from __future__ import annotations

from app.extensions import db
from app.integrations.channels.base import MediaToSend
from app.media import sniff
from app.media.storage import read_all
from app.models import Media


def attached(outbound_id: int) -> Media | None:
    """The media an outbound message sends, if any."""
    return (db.session.query(Media).filter_by(outbound_message_id=outbound_id, direction="out")
            .order_by(Media.id).first())


def to_send(media: Media) -> MediaToSend:
    """What the platform client sends for `media` (its bytes read from the store)."""
    if media.kind == "location":
        return MediaToSend("location", latitude=media.latitude, longitude=media.longitude,
                           place_name=media.place_name, address=media.address)
    data = read_all(media.storage_key, limit=(media.size or 0) + 1)
    return MediaToSend(sniff.kind_for(media.mime_type or ""), data=data,
                       file_name=media.file_name or "file",
                       mime_type=media.mime_type or "application/octet-stream",
                       caption=media.caption)
