"""Media: serving stored attachments to the workspace's members, and the composer's upload.

* `GET /media/<id>`: the file, to a signed-in member of the media's workspace (anyone else, any
  unknown id, a file not stored: 404, the same answer). `Content-Type` is the sniffed type
  (never the platform's or the uploader's word), `X-Content-Type-Options: nosniff`, a sandbox
  Content-Security-Policy, and `Content-Disposition: attachment` for anything but images, audio
  and video (those are `inline`, for the thread's players). `GET /media/<id>/thumb`: an image
  scaled down to 320 pixels (JPEG), for the thread.
* Logs › Media (`/media/list/`): every attachment of the workspace, searchable, with its state
  and why a download failed or was refused.
* `POST /inbox/media` (CSRF; managers and agents): the composer's upload — `conversation`
  (the conversation's id), `file`, `caption`, and `send` ("1": send it now). Checks the size
  and the type (app/media/outbound.py `store_file`), stores it, sends it when asked, and answers
  JSON `{"id", "outbound_message_id", "kind", "file_name", "size"}` (201) to a script, or goes
  back to the thread with a message to a plain form. Errors: 400 with `{"errors": {field:
  message}}`; 404 for a conversation that is not the member's.
"""
from __future__ import annotations

import io
import re
import warnings
from urllib.parse import quote

from flask import Response, abort, flash, jsonify, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.labels import code_label
from app.media.outbound import MediaRefused, send_limit, send_media, store_file
from app.media.storage import StorageError, read_all, storage
from app.models import Channel, Conversation, Media
from app.security import ROLE_AGENT, ROLE_MANAGER, WRITE
from app.tenancy import current_scope, get_scoped
from app.views.base import WorkspaceModelView
from app.views.logs import LOG_PERMISSIONS, LOG_ROLES, EagerListInterface

#: what a served file may do in the browser: nothing but show itself
SANDBOX_CSP = ("default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; "
               "sandbox; frame-ancestors 'self'")
INLINE_TYPES = ("image/", "audio/", "video/")
THUMB_SIZE = 320
THUMB_SOURCE_LIMIT = 20 * 1024 * 1024  # larger images are not scaled here (served as they are)
# nor are images of more pixels than this, whatever their size in bytes: a small PNG of one
# colour may decode to gigabytes (a customer's "pixel flood"); only its header is read
THUMB_MAX_PIXELS = 25_000_000
SENDABLE = ("greenapi", "meta", "telegram")

LABELS = {
    "created_at": _l("Received or sent"), "channel": _l("Channel"), "chat_id": _l("Chat"),
    "direction": _l("Direction"), "kind": _l("Kind"), "state": _l("State"),
    "reason": _l("Why"), "mime_type": _l("File type"), "size": _l("Size (bytes)"),
    "file_name": _l("File name"), "caption": _l("Caption"), "sha256": _l("SHA-256"),
    "latitude": _l("Latitude"), "longitude": _l("Longitude"), "place_name": _l("Place"),
    "address": _l("Address"), "contact_name": _l("Contact name"),
    "contact_phone": _l("Contact phone"), "stored_at": _l("Stored at"),
    "attempts": _l("Download attempts"), "workspace": _l("Workspace"),
    "platform": _l("Platform"), "declared_mime_type": _l("Declared file type"),
}


def _visible(pk) -> Media:
    """The media row `pk` if the signed-in member's workspace owns it, else 404."""
    if not re.fullmatch(r"[0-9]{1,18}", str(pk)):
        abort(404)
    scope = current_scope()
    media = get_scoped(Media, int(pk))
    if media is None or scope.workspace_id is None or media.workspace_id != scope.workspace_id:
        abort(404)
    return media


def _disposition(media: Media, inline: bool) -> str:
    name = media.file_name or f"media-{media.id}"
    ascii_name = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:120] or "file"
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name[:200])}"


def _safe_headers(response: Response, media: Media, inline: bool) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Disposition"] = _disposition(media, inline)
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.relaydesk_csp = SANDBOX_CSP  # app/security_headers.py puts it in place
    return response


class MediaView(WorkspaceModelView):
    """Logs › Media, and the files themselves (`/media/<id>`, `/media/<id>/thumb`)."""

    route_base = "/media"
    datamodel = EagerListInterface(Media, eager=("channel",))
    base_permissions = LOG_PERMISSIONS
    relaydesk_roles = LOG_ROLES
    base_order = ("id", "desc")
    list_columns = ["created_at", "channel", "chat_id", "direction", "kind", "file_name",
                    "size", "state"]
    show_columns = ["created_at", "channel", "platform", "chat_id", "direction", "kind",
                    "state", "reason", "file_name", "mime_type", "declared_mime_type", "size",
                    "sha256", "caption", "latitude", "longitude", "place_name", "address",
                    "contact_name", "contact_phone", "attempts", "stored_at"]
    search_columns = ["created_at", "channel", "chat_id", "direction", "kind", "state",
                      "file_name", "caption"]
    order_columns = ["created_at", "size"]
    label_columns = LABELS
    method_permission_name = {"serve": "show", "thumb": "show"}

    @expose("/<pk>", methods=["GET"])
    @has_access
    def serve(self, pk):
        media = _visible(pk)
        if media.state != "stored" or not media.has_file or not media.storage_key:
            abort(404)
        content_type = media.mime_type or "application/octet-stream"
        try:
            chunks = storage().get(media.storage_key)
        except StorageError:
            abort(404)
        response = Response(chunks, mimetype=content_type, direct_passthrough=True)
        if media.size:
            response.headers["Content-Length"] = str(media.size)
        return _safe_headers(response, media, content_type.startswith(INLINE_TYPES))

    @expose("/<pk>/thumb", methods=["GET"])
    @has_access
    def thumb(self, pk):
        """The image scaled to fit THUMB_SIZE pixels, as JPEG; an image too large to scale
        here is served as it is; anything that is not an image is 404."""
        from PIL import Image, UnidentifiedImageError

        media = _visible(pk)
        if media.state != "stored" or not (media.mime_type or "").startswith("image/"):
            abort(404)
        if (media.size or 0) > THUMB_SOURCE_LIMIT:
            return self.serve(pk)
        try:
            data = read_all(media.storage_key, limit=THUMB_SOURCE_LIMIT)
            with warnings.catch_warnings(), Image.open(io.BytesIO(data)) as image:
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                if image.width * image.height > THUMB_MAX_PIXELS:
                    return self.serve(pk)  # never decoded here
                image.draft("RGB", (THUMB_SIZE, THUMB_SIZE))  # JPEG: decode at a small scale
                image.thumbnail((THUMB_SIZE, THUMB_SIZE))
                if image.mode not in ("RGB", "L"):
                    background = Image.new("RGB", image.size, "white")
                    rgba = image.convert("RGBA")
                    background.paste(rgba, mask=rgba.split()[-1])
                    image = background
                out = io.BytesIO()
                image.save(out, "JPEG", quality=80)
        except (StorageError, UnidentifiedImageError, OSError, Image.DecompressionBombError,
                Image.DecompressionBombWarning):
            abort(404)
        response = Response(out.getvalue(), mimetype="image/jpeg")
        return _safe_headers(response, media, True)


class InboxMediaView(BaseView):
    """`POST /inbox/media`: the composer's attachment (see the module docstring)."""

    route_base = "/inbox"
    default_view = "upload"
    base_permissions = ["can_upload"]
    relaydesk_roles = {ROLE_MANAGER: WRITE, ROLE_AGENT: WRITE}

    def _wants_json(self) -> bool:
        return request.accept_mimetypes.best == "application/json" or \
            request.headers.get("X-Requested-With") == "fetch"

    def _refuse(self, field: str, message: str, back: str | None):
        if self._wants_json():
            return jsonify(errors={field: message}), 400
        flash(message, "danger")
        return redirect(back or url_for("ConversationView.list"))

    @expose("/media", methods=["POST"])
    @has_access
    def upload(self):
        from flask import current_app

        cap = int(current_app.config.get("MEDIA_MAX_BYTES") or 0)
        if cap and (request.content_length or 0) > cap + 64 * 1024:  # refused unread
            return self._refuse("file", _("The file is too large: at most %(size)s MB.",
                                          size=cap // (1024 * 1024)), request.referrer)
        raw = request.form.get("conversation", "")
        if not re.fullmatch(r"[0-9]{1,18}", raw):
            abort(404)
        scope = current_scope()
        conversation = get_scoped(Conversation, int(raw))
        if conversation is None or scope.workspace_id is None \
                or conversation.workspace_id != scope.workspace_id:
            abort(404)
        if conversation.kind == "provider":  # a provider's group is not a customer's chat
            abort(404)
        back = url_for("ConversationView.show", pk=conversation.id)
        channel = db.session.get(Channel, conversation.channel_id)
        refusal = _attach_refusal(conversation, channel)
        if refusal is not None:
            return self._refuse("file", refusal, back)
        upload = request.files.get("file")
        caption = (request.form.get("caption") or "").strip()[:1024] or None
        if upload is None or not upload.filename:
            return self._refuse("file", _("Choose a file to attach."), back)
        try:
            media = store_file(conversation.workspace_id, channel, conversation.chat_id,
                               iter(lambda: upload.stream.read(64 * 1024), b""),
                               upload.filename, upload.mimetype, caption)
        except MediaRefused as exc:
            return self._refuse("file", refusal_words(exc, channel), back)
        except StorageError:
            db.session.rollback()
            return self._refuse("file", _("The file could not be stored. Try again in a "
                                          "moment."), back)
        outbound_id = None
        if request.form.get("send") == "1":
            outbound_id = send_media(conversation.workspace_id, channel, conversation.chat_id,
                                     media=media, purpose="agent")
        else:
            db.session.commit()
        if self._wants_json():
            return jsonify(id=media.id, outbound_message_id=outbound_id, kind=media.kind,
                           file_name=media.file_name, size=media.size), 201
        flash(_("%(name)s is being sent.", name=media.file_name) if outbound_id
              else _("%(name)s is stored.", name=media.file_name), "success")
        return redirect(back)


def _attach_refusal(conversation, channel) -> str | None:
    """Why a file cannot be sent into this chat now (None: it can): the rules of the inbox's
    replies — a channel that sends files and is enabled, Meta's 24-hour window."""
    from app.inbox import window, window_message

    if channel is None or channel.kind not in SENDABLE:
        return _("This chat's channel cannot send files.")
    if not channel.enabled:
        return _("This chat's channel is switched off: switch it on to send.")
    state = window(conversation)
    if state is not None and not state["open"]:
        return window_message()
    return None


def can_attach(conversation) -> bool:
    """Whether the signed-in person may send a file to this conversation from its page: a
    member of its workspace allowed to upload, on a channel that sends files."""
    from flask import current_app

    scope = current_scope()
    if scope.workspace_id is None or scope.workspace_id != conversation.workspace_id:
        return False
    channel = db.session.get(Channel, conversation.channel_id)
    if conversation.kind == "provider" or _attach_refusal(conversation, channel) is not None:
        return False
    security = current_app.appbuilder.sm
    return bool(security.has_access("can_upload", "InboxMediaView"))


def attach_limit(conversation) -> int:
    channel = db.session.get(Channel, conversation.channel_id)
    return send_limit(channel.kind, "document") if channel is not None else 0


def refusal_words(exc: MediaRefused, channel: Channel) -> str:
    if exc.code == "too_large":
        limit = send_limit(channel.kind, "document")
        return _("The file is too large: this channel takes files up to %(size)s MB (photos "
                 "and videos may have a lower limit).", size=limit // (1024 * 1024))
    if exc.code == "empty":
        return _("The file is empty.")
    return _("This type of file cannot be sent. Send images (JPEG, PNG, GIF, WebP), videos "
             "(MP4), audio (MP3, OGG, M4A), PDF, Office documents or plain text.")


def human_size(size) -> str:
    """1234567 → "1.2 MB" (bytes, KB, MB; decimal units as file managers show them)."""
    if not isinstance(size, int):
        return "?"
    if size < 1000:
        return _("%(n)s bytes", n=size)
    if size < 1000 * 1000:
        return _("%(n)s KB", n=format_decimal(round(size / 1000, 1)))
    return _("%(n)s MB", n=format_decimal(round(size / 1000 / 1000, 1)))


def install_filters(app) -> None:
    app.jinja_env.filters["media_kind"] = lambda code: code_label("media_kind", code)
    app.jinja_env.filters["media_state"] = lambda code: code_label("media_state", code)
    app.jinja_env.filters["media_size"] = human_size
