"""Messaging channels: a Green API instance, a Meta Cloud API number, a Telegram bot, web chat.

One table with kind-specific columns keeps the screens, the REST API and the workspace file simple;
`REQUIRED_FIELDS` says which columns each kind needs. Secret columns are `EncryptedText`.
"""
from __future__ import annotations

import secrets

from flask_appbuilder import Model
from sqlalchemy import (Boolean, Column, Date, DateTime, Enum, Integer, String, Text,
                        UniqueConstraint, event, inspect)

from app.crypto import EncryptedText
from app.domain.replies import N_
from app.integrations.urlpolicy import TenantUrl
from app.models.base import Timestamps, WorkspaceOwned
from app.redaction import redacted
from app.models.sensitive import SECRET, sensitive, write_only_columns
from app.labels import code_label

CHANNEL_KINDS = ("greenapi", "meta", "telegram", "webchat")
# paused: a Green API instance is not authorised, blocked or asleep; its messages are held
CHANNEL_STATUSES = ("unknown", "ok", "error", "needs_reauth", "disabled", "paused")
#: the quality ratings Meta gives a WhatsApp number (`quality_rating` of the number's object)
META_QUALITY_RATINGS = ("GREEN", "YELLOW", "RED", "UNKNOWN")

REQUIRED_FIELDS = {
    "greenapi": ("api_url", "id_instance", "api_token"),
    "meta": ("phone_number_id", "access_token"),
    "telegram": ("bot_token",),
    "webchat": (),
}
#: the platform identifiers a webhook is routed by: each belongs to at most one channel of the
#: whole platform (a UNIQUE constraint each; app/ownership.py is the check every write path runs)
IDENTIFIER_COLUMNS = ("id_instance", "bot_id", "phone_number_id", "waba_id")
#: a change to any of these makes a Meta channel unverified again (`verified_at` NULL)
META_VERIFIED_COLUMNS = ("kind", "phone_number_id", "waba_id", "access_token", "app_secret")
#: the status detail of a Meta channel awaiting verification (screens show it translated)
AWAITING_VERIFICATION = N_("Awaiting verification: Relaydesk asks Meta whether this channel's "
                           "access token controls its number and WhatsApp Business account.")
#: Green API instance states that pause sending through the channel (status `paused`, its
#: messages `held`), with the status detail the Channels screen shows (translated there);
#: `authorized` resumes it (app/jobs/events.py `apply_green_state`)
PAUSING_STATES = {
    "notAuthorized": N_("Sending paused: WhatsApp is not authorised on this Green API instance; "
                        "scan the QR code in Green API. Held messages go out once it is "
                        "authorised again."),
    "blocked": N_("Sending paused: the WhatsApp account of this Green API instance is blocked. "
                  "Held messages go out once it is authorised again."),
    "sleepMode": N_("Sending paused: the phone of this Green API instance is offline (sleep "
                    "mode). Held messages go out once it is authorised again."),
}
DEFAULT_GREENAPI_URL = "https://api.green-api.com"
DEFAULT_TELEGRAM_API = "https://api.telegram.org"


def telegram_bot_id(bot_token: str | None) -> str | None:
    """The number before ':' in a bot token: it routes /webhooks/telegram/<bot_id>."""
    if not bot_token or ":" not in bot_token:
        return None
    head = bot_token.split(":", 1)[0].strip()
    return head if head.isdigit() else None


class Channel(Timestamps, WorkspaceOwned, Model):
    __tablename__ = "channel"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_channel_workspace_name"),
                      UniqueConstraint("waba_id", name="uq_channel_waba_id"))

    id = Column(Integer, primary_key=True)
    name = Column(String(120), nullable=False)
    kind = Column(
        Enum(*CHANNEL_KINDS, name="channel_kind", native_enum=False, create_constraint=True),
        nullable=False,
    )
    enabled = Column(Boolean, nullable=False, default=True)
    status = Column(
        Enum(*CHANNEL_STATUSES, name="channel_status", native_enum=False, create_constraint=True),
        nullable=False,
        default="unknown",
    )
    status_detail = Column(String(500), nullable=True, info=redacted())
    last_webhook_at = Column(DateTime, nullable=True)

    # Green API
    api_url = Column(String(255), nullable=True)
    id_instance = Column(String(32), nullable=True, unique=True)
    api_token = Column(EncryptedText, nullable=True, info=sensitive(SECRET))
    webhook_token = Column(EncryptedText, nullable=True, info=sensitive(SECRET))
    # Telegram
    bot_token = Column(EncryptedText, nullable=True, info=sensitive(SECRET))
    bot_id = Column(String(32), nullable=True, unique=True)
    secret_token = Column(EncryptedText, nullable=True, info=sensitive(SECRET))
    api_base = Column(String(255), nullable=True)
    # Meta Cloud API
    phone_number_id = Column(String(40), nullable=True, unique=True)
    waba_id = Column(String(40), nullable=True)
    access_token = Column(EncryptedText, nullable=True, info=sensitive(SECRET))
    # manual mode only; else META_APP_SECRET
    app_secret = Column(EncryptedText, nullable=True, info=sensitive(SECRET))
    # when a Graph call with this channel's own credentials confirmed it controls the number
    # and the WABA; a Meta channel receives events only once verified
    verified_at = Column(DateTime, nullable=True)
    # the number's quality rating as Meta last gave it (META_QUALITY_RATINGS) and when the
    # health runner read it (app/health_checks.py `refresh_meta_quality`)
    quality_rating = Column(String(10), nullable=True)
    quality_checked_at = Column(DateTime, nullable=True)
    # the day the access token expires, as the manager recorded it (Meta's API does not tell);
    # blank: it never expires (a system user's token)
    token_expires_on = Column(Date, nullable=True)
    # Web chat widget
    widget_key = Column(String(64), nullable=True, unique=True)
    notes = Column(Text, nullable=True)

    #: the URLs a manager chooses and the secrets Relaydesk sends there (outbound URL policy)
    tenant_urls = (
        TenantUrl("api_url", secrets=("api_token",), when=("kind", ("greenapi",)),
                  default=DEFAULT_GREENAPI_URL),
        TenantUrl("api_base", secrets=("bot_token",), when=("kind", ("telegram",)),
                  default=DEFAULT_TELEGRAM_API),
    )

    def __str__(self) -> str:
        return f"{self.name} ({code_label('channel_kind', self.kind)})"

    def verification(self) -> str | None:
        """`verified` or `awaiting` for a Meta channel (only a verified one receives events);
        None for the other kinds, which have nothing to verify."""
        if self.kind != "meta":
            return None
        return "verified" if self.verified_at is not None else "awaiting"

    def missing_fields(self) -> list[str]:
        return [f for f in REQUIRED_FIELDS.get(self.kind, ()) if not getattr(self, f)]


#: the channel's credentials, as declared on the columns
SECRET_FIELDS = write_only_columns(Channel)


@event.listens_for(Channel, "before_insert")
@event.listens_for(Channel, "before_update")
def _derive_channel_fields(mapper, connection, channel: Channel) -> None:
    for column in IDENTIFIER_COLUMNS:  # '' is no identifier: it must not collide as one
        value = getattr(channel, column)
        if isinstance(value, str) and (value.strip() or None) != value:
            setattr(channel, column, value.strip() or None)
    if channel.kind == "telegram":
        channel.bot_id = telegram_bot_id(channel.bot_token)
        channel.api_base = channel.api_base or DEFAULT_TELEGRAM_API
    if channel.kind == "greenapi":
        channel.api_url = (channel.api_url or DEFAULT_GREENAPI_URL).rstrip("/")
    if channel.kind == "webchat" and not channel.widget_key:
        channel.widget_key = secrets.token_urlsafe(24)


@event.listens_for(Channel, "before_insert")
def _new_meta_channel_awaits_verification(mapper, connection, channel: Channel) -> None:
    if channel.kind == "meta" and channel.verified_at is None:
        channel.status = "unknown"
        channel.status_detail = AWAITING_VERIFICATION


@event.listens_for(Channel, "before_update")
def _changed_meta_channel_is_verified_again(mapper, connection, channel: Channel) -> None:
    """A Meta channel whose number, account, credentials or kind change proves itself again
    before it receives anything: `verified_at` goes back to NULL in the same UPDATE."""
    state = inspect(channel)
    if not any(_changed(state, column) for column in META_VERIFIED_COLUMNS):
        return
    channel.verified_at = None
    if channel.kind == "meta":
        channel.status = "unknown"
        channel.status_detail = AWAITING_VERIFICATION


def _changed(state, column: str) -> bool:
    history = state.attrs[column].history
    if not history.has_changes():
        return False
    # An expired attribute has no loaded old value: count it as a change (verify again).
    return not history.deleted or list(history.deleted) != list(history.added)
