"""Media received: recorded when their event is handled, downloaded by a job right after.

`record(events)` runs inside the event job's transaction (app/jobs/events.py `_handle`): every
incoming message's attachments (app/media/descriptors.py) become `Media` rows — `pending` for a
file, `stored` at once for a location or a contact card — one row per (event, position), so
handling an event twice records nothing new. Our own sends and the phone's (`from_me`) are not
recorded: what we send is recorded when it is sent.

`download_media(media_id)` (an RQ job, queued after the commit) fetches the file:

* Green API: GET the message's `downloadUrl` (no credentials);
* Meta: `GET /{version}/{media_id}` with the channel's token → `{"url", "mime_type",
  "file_size"}`, then GET `url` with the same token;
* Telegram: `getFile(file_id)` → `file_path`, then GET `{api_base}/file/bot{token}/{file_path}`.

Every URL passes the outbound URL policy, redirects included (a download URL inside a webhook is
chosen by whoever sent it: app/integrations/calls.py `download`). The body is streamed under a
byte cap (`limit_for`: the platform's limit for the kind, never above MEDIA_MAX_BYTES): a
bigger file ends as `too_large` without being read. Its first bytes are sniffed
(app/media/sniff.py): a type off the allowlist, or one that does not fit the message's kind,
ends as `refused` and is not stored. Timeouts, connection trouble, 429 and 5xx (an HTML error
page included) are retried (RETRY_DELAYS); anything else, or the last retry, is `failed` with
its reason.
"""
from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from urllib.parse import quote

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.integrations.calls import (REFUSED, DownloadTimeout, DownloadTooLarge, call, download)
from app.jobs import queues
from app.media import sniff
from app.media.descriptors import descriptors
from app.media.storage import StorageError, new_key, storage
from app.models import Channel, Media
from app.models.base import utcnow
from app.tenancy import workspace_scope

log = logging.getLogger(__name__)

MiB = 1024 * 1024
#: the platforms' own limits (docs/external-apis.md 2, 3, 4)
META_LIMITS = {"image": 5 * MiB, "sticker": 5 * MiB, "video": 16 * MiB, "audio": 16 * MiB,
               "voice": 16 * MiB, "document": 100 * MiB}
TELEGRAM_LIMIT = 20 * MiB
GREEN_LIMIT = 100 * MiB
RETRY_DELAYS = (10, 60, 300)  # seconds before the 2nd, 3rd and 4th attempt
STALE_AFTER = timedelta(minutes=5)  # a pending row not finished by then is queued again
TIMEOUT = 30.0  # seconds between two reads
DEADLINE = 240.0  # seconds for the whole download


def limit_for(platform: str, kind: str) -> int:
    if platform == "meta":
        own = META_LIMITS.get(kind, 100 * MiB)
    elif platform == "telegram":
        own = TELEGRAM_LIMIT
    else:
        own = GREEN_LIMIT
    return min(own, int(current_app.config.get("MEDIA_MAX_BYTES") or own))


# --- recording ------------------------------------------------------------------------------

def record(events) -> list[int]:
    """Media rows for the events' incoming attachments (see the module docstring); the ids of
    the new rows to download once the caller has committed."""
    candidates = [e for e in events if e.kind == "message" and not e.from_me and e.chat_id
                  and e.platform in ("greenapi", "meta", "telegram")]
    found = {e.id: descriptors(e.platform, e.payload) for e in candidates}
    found = {event_id: items for event_id, items in found.items() if items}
    if not found:
        return []
    table = Media.__table__
    done = set(db.session.execute(
        select(table.c.inbound_event_id, table.c.position)
        .where(table.c.inbound_event_id.in_(list(found)))).all())
    now, rows = utcnow(), []
    for event in candidates:
        for item in found.get(event.id, []):
            if (event.id, item["position"]) in done:
                continue
            has_file = item["kind"] not in ("location", "contact")
            rows.append(Media(
                workspace_id=event.workspace_id, channel_id=event.channel_id,
                platform=event.platform, chat_id=event.chat_id, direction="in",
                inbound_event_id=event.id, state="pending" if has_file else "stored",
                stored_at=None if has_file else now, created_at=now, attempts=0, **item))
    db.session.add_all(rows)
    db.session.flush()
    return [row.id for row in rows if row.state == "pending"]


def queue_downloads(media_ids: list[int]) -> None:
    for media_id in media_ids:
        queues.enqueue_media_download(media_id)


def stale_media_ids(limit: int = 500) -> list[int]:
    now = utcnow()
    table = Media.__table__
    return list(db.session.execute(
        select(table.c.id).where(
            table.c.state == "pending", table.c.direction == "in",
            ((table.c.next_attempt_at.is_(None) & (table.c.created_at < now - STALE_AFTER))
             | (table.c.next_attempt_at < now - STALE_AFTER)))
        .order_by(table.c.id).limit(limit)).scalars())


# --- the download job -------------------------------------------------------------------------

class Retry(Exception):
    """Worth another attempt later."""


class Final(Exception):
    """Ends the row in `state` with `reason`."""

    def __init__(self, state: str, reason: str) -> None:
        super().__init__(reason)
        self.state, self.reason = state, reason


def download_media(media_id: int) -> str:
    """The job: fetch, check and store one pending attachment. Answers the row's new state."""
    media = db.session.get(Media, media_id)
    if media is None or media.state != "pending" or media.direction != "in":
        return "skipped"
    with workspace_scope(media.workspace_id):
        channel = db.session.get(Channel, media.channel_id)
        media.attempts = (media.attempts or 0) + 1
        db.session.commit()
        try:
            if channel is None:
                raise Final("failed", "the channel no longer exists")
            fetched = _fetch(media, channel)
        except Retry as exc:
            return _retry_or_fail(media, str(exc))
        except Final as exc:
            return _finish(media, exc.state, exc.reason)
        except Exception as exc:  # noqa: BLE001 - a bug must not leave the row pending forever
            db.session.rollback()
            log.exception("media %s: download failed", media_id)
            return _retry_or_fail(media, f"unexpected error: {type(exc).__name__}")
        media.mime_type, media.size, media.sha256, media.storage_key = fetched
        media.state, media.reason, media.stored_at = "stored", None, utcnow()
        media.next_attempt_at = None
        db.session.commit()
        return "stored"


def _finish(media: Media, state: str, reason: str) -> str:
    media.state, media.reason, media.next_attempt_at = state, reason[:500], None
    db.session.commit()
    return state


def _retry_or_fail(media: Media, reason: str) -> str:
    attempt = media.attempts or 1
    if attempt > len(RETRY_DELAYS):
        return _finish(media, "failed", f"gave up after {attempt} attempts: {reason}")
    delay = RETRY_DELAYS[attempt - 1]
    media.reason = reason[:500]
    media.next_attempt_at = utcnow() + timedelta(seconds=delay)
    db.session.commit()
    queues.enqueue_media_download(media.id, delay=delay)
    return "retrying"


def _fetch(media: Media, channel: Channel) -> tuple[str, int, str, str]:
    """(content type, size, sha256, storage key) of the stored file.

    :raise Retry: / :raise Final:
    """
    limit = limit_for(media.platform, media.kind)
    if media.size is not None and media.size > limit:  # Telegram says the size up front
        raise Final("too_large", f"{media.size} bytes, over the limit of {limit}")
    headers, secrets = {}, ()
    if media.platform == "greenapi":
        url, secrets = media.source_ref, (channel.api_token or "",)
    elif media.platform == "meta":
        url = _meta_url(media, channel, limit)
        headers = {"Authorization": f"Bearer {channel.access_token}"}
        secrets = (channel.access_token or "",)
    else:
        url = _telegram_url(media, channel)
        secrets = (channel.bot_token or "",)
    return _stream(media, channel, url, headers, secrets, limit)


def _answer_problem(status: int | None, error: str | None, text: str) -> Exception:
    if error in REFUSED:
        return Final("refused", f"download address refused: {text}")
    if error in ("timeout", "connection") or status is None:
        return Retry(f"{error or 'no answer'}")
    if status == 429 or status >= 500:
        return Retry(f"HTTP {status}")
    return Final("failed", f"HTTP {status}")


def _meta_url(media: Media, channel: Channel, limit: int) -> str:
    config = current_app.config
    base = f"{config['META_GRAPH_URL'].rstrip('/')}/{config['META_GRAPH_VERSION']}"
    result = call("meta", "media_url", "GET", f"{base}/{quote(media.source_ref or '', safe='')}",
                  workspace_id=channel.workspace_id, channel_id=channel.id, timeout=15.0,
                  headers={"Authorization": f"Bearer {channel.access_token}"},
                  secrets=(channel.access_token or "",))
    data = result.data if isinstance(result.data, dict) else {}
    if not result.ok or not isinstance(data.get("url"), str):
        if result.ok:
            raise Retry("Meta answered without a media url")
        raise _answer_problem(result.status, result.error, result.text[:200])
    size = data.get("file_size")
    if isinstance(size, int) and size > limit:
        raise Final("too_large", f"{size} bytes, over the limit of {limit}")
    return data["url"]


def _telegram_url(media: Media, channel: Channel) -> str:
    base = (channel.api_base or "https://api.telegram.org").rstrip("/")
    result = call("telegram", "getFile", "POST", f"{base}/bot{channel.bot_token}/getFile",
                  workspace_id=channel.workspace_id, channel_id=channel.id, timeout=15.0,
                  json={"file_id": media.source_ref}, secrets=(channel.bot_token or "",))
    data = result.data if isinstance(result.data, dict) else {}
    found = data.get("result") if isinstance(data.get("result"), dict) else {}
    path = found.get("file_path")
    if not result.ok or data.get("ok") is not True or not isinstance(path, str) or not path:
        if data.get("ok") is False and result.status == 400:  # e.g. "file is too big"
            description = str(data.get("description") or "")[:200]
            state = "too_large" if "too big" in description.lower() else "failed"
            raise Final(state, f"Telegram: {description}")
        if result.ok:
            raise Retry("Telegram answered without a file_path")
        raise _answer_problem(result.status, result.error, "")
    if ".." in path.split("/") or path.startswith("/"):
        raise Final("refused", "Telegram answered an unusable file_path")
    return f"{base}/file/bot{channel.bot_token}/{quote(path)}"


def _stream(media: Media, channel: Channel, url: str, headers: dict, secrets: tuple,
            limit: int) -> tuple[str, int, str, str]:
    with download(media.platform, "download_media", url, workspace_id=channel.workspace_id,
                  channel_id=channel.id, headers=headers, limit=limit, timeout=TIMEOUT,
                  deadline=DEADLINE, secrets=secrets) as answer:
        if not answer.ok:
            raise _answer_problem(answer.status, answer.error, answer.text)
        length = answer.headers.get("Content-Length") or answer.headers.get("content-length")
        if length and length.isdigit() and int(length) > limit:
            raise Final("too_large", f"{length} bytes, over the limit of {limit}")
        chunks = answer.chunks()
        try:
            head = bytearray()
            first: list[bytes] = []
            for chunk in chunks:
                first.append(chunk)
                head += chunk
                if len(head) >= sniff.HEAD:
                    break
            content_type = sniff.sniff(bytes(head[:sniff.HEAD]), media.declared_mime_type)
            if content_type is None:
                raise Final("refused", "the file's type is not allowed")
            if not sniff.fits(media.kind, content_type):
                raise Final("refused", f"a {media.kind} message carried {content_type}")
            digest = hashlib.sha256()
            size = 0

            def body():
                nonlocal size
                for chunk in first:
                    digest.update(chunk)
                    size += len(chunk)
                    yield chunk
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    yield chunk

            key = new_key()
            try:
                storage().put(key, body())
            except DownloadTooLarge as exc:
                raise Final("too_large", f"over the limit of {limit} bytes") from exc
            except StorageError as exc:
                raise Retry(str(exc)) from exc
            return content_type, size, digest.hexdigest(), key
        except DownloadTooLarge as exc:
            raise Final("too_large", f"over the limit of {limit} bytes") from exc
        except DownloadTimeout as exc:
            raise Retry(str(exc)) from exc
        except Final:
            raise
        except Retry:
            raise
        except OSError as exc:  # requests' connection errors while reading
            raise Retry(f"connection: {type(exc).__name__}") from exc
