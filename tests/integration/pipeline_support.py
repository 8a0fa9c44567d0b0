"""Helpers shared by the pipeline and linking test modules (not a test module itself).

`build_desk()` sets up a workspace the way a manager would: a Green API channel, a Perfect Panel
connection pointing at the panel fake, a provider (`smmrush.com`) routed to a WhatsApp group, a
linked customer `alice` with an identity in a private chat, and an admin identity. Messages come
in through the real webhook (`post_green`), are processed in-process with `process_event`, and the
outbound rows they produce are read from the database (nothing is sent: the send jobs only sit in
the test Redis queue).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from app.domain.replies import render_reply
from app.extensions import db
from app.jobs.events import process_event
from app.models import (Channel, CommandLog, CommandOrder, InboundEvent, LinkedUser,
                        OutboundMessage, PanelConnection, Provider, ProviderRoute, Workspace)
from app.models.base import utcnow
from tests.fakes import greenapi as green_hooks

CUSTOMER_CHAT = "79001234567@c.us"
ADMIN_CHAT = "79000000000@c.us"
STRANGER_CHAT = "79005550000@c.us"
GROUP_CHAT = "120363043968066561@g.us"
PROVIDER_DOMAIN = "smmrush.com"
PROVIDER_NAME = "SMMRush Wholesale"
REFILL_30 = "Instagram Followers [30 Days Refill] Start: 0-1 Hour"


@dataclass
class Desk:
    workspace: Workspace
    channel: Channel
    panel: PanelConnection
    provider: Provider
    route: ProviderRoute
    user: LinkedUser


def build_desk(factory, panel_url: str, *, panel_type: str = "perfectpanel_v2",
               api_key: str = "pp-admin-key", language: str = "en",
               timeout: float = 5.0) -> Desk:
    ws = factory.workspace("acme")
    channel = factory.channel(ws, name="Main WhatsApp", kind="greenapi",
                              api_url="http://127.0.0.1:9", webhook_token="acme-hook-token")
    panel = factory.panel(ws, panel_type=panel_type, url=panel_url, api_key=api_key,
                          requests_per_second=200.0, timeout_seconds=timeout)
    provider = factory.provider(ws, name=PROVIDER_NAME, domains=PROVIDER_DOMAIN)
    route = factory.route(provider, channel, chat_id=GROUP_CHAT)
    user = factory.linked_user(ws, username="alice", language=language)
    factory.identity(user, channel, chat_id=CUSTOMER_CHAT)
    factory.admin_identity(ws, channel, chat_id=ADMIN_CHAT, name="Owner")
    return Desk(ws, channel, panel, provider, route, user)


def post_green(client, channel: Channel, text: str, chat: str = CUSTOMER_CHAT,
               id_message: str | None = None, sender: str | None = None) -> list[int]:
    """POST one incoming message to /webhooks/greenapi; returns the ids of new events.
    In a group (`chat` ending @g.us) `sender` is the member who wrote it."""
    before = {i for (i,) in db.session.query(InboundEvent.id)}
    payload = green_hooks.incoming_message(chat, text, id_instance=channel.id_instance,
                                           id_message=id_message, sender=sender)
    response = client.post("/webhooks/greenapi", data=json.dumps(payload),
                           headers=green_hooks.webhook_headers(channel.webhook_token))
    assert response.status_code == 200, response.data
    db.session.expire_all()
    return sorted({i for (i,) in db.session.query(InboundEvent.id)} - before)


def send(client, channel: Channel, text: str, chat: str = CUSTOMER_CHAT) -> CommandLog:
    """The message goes through the webhook and the pipeline; returns its command log."""
    (event_id,) = post_green(client, channel, text, chat)
    process_event(event_id)
    db.session.expire_all()
    return db.session.query(CommandLog).filter_by(inbound_event_id=event_id).one()


def reply_of(log: CommandLog) -> str | None:
    row = (db.session.query(OutboundMessage)
           .filter_by(idempotency_key=f"reply:{log.inbound_event_id}").one_or_none())
    return row.text if row is not None else None


def dispatches(log: CommandLog | None = None) -> list[OutboundMessage]:
    query = db.session.query(OutboundMessage).filter_by(purpose="dispatch")
    if log is not None:
        query = query.filter(OutboundMessage.idempotency_key.like(f"dispatch:{log.id}:%"))
    return query.order_by(OutboundMessage.id).all()


def reasons(log: CommandLog) -> dict[str, str]:
    """order id → the recorded verdict of each (order, action) of the command."""
    rows = db.session.query(CommandOrder).filter_by(command_log_id=log.id).all()
    return {row.order_id: row.reason for row in rows}


def steps(log: CommandLog, name: str | None = None) -> list[dict]:
    return [s for s in log.trace if name is None or s["step"] == name]


def line(key: str, **values) -> str:
    """The English reply line for `key`."""
    return render_reply(key, **values)


def seed_refill_order(fake_panel, order: str, external_id: str, **fields):
    """The fake Perfect Panel holds `order`: alice's, a 30-day refill service, completed 5 days
    ago (what a refill normally needs); `fields` change any of that."""
    fake_panel.add_order(int(order), **{"user": "alice", "service_name": REFILL_30,
                                        "status": "completed", "external_id": external_id,
                                        "created": days_ago(5), **fields})
    return fake_panel


def days_ago(days: float, *, minutes: float = 0):
    return utcnow() - timedelta(days=days, minutes=minutes)
