"""Messaging platform clients behind one interface (`ChannelClient`).

`client_for(channel)` returns the client for a channel's kind. Each client sends one text (already
split to its platform's limit), names the rate-limit keys that apply to a send, classifies errors
as transient (retry with back-off) or permanent, and offers the channel actions managers use:
test the connection, configure the webhook. `live_state()` answers what the platform says about
the channel right now (a `LiveAnswer`: plain facts or a problem code, never upstream error text),
for the channel's show page.
"""
from __future__ import annotations

from app.integrations.channels.base import (LIVE_TIMEOUT, ActionResult, LiveAnswer, SendResult,
                                            live_problem, not_called, send_not_called,
                                            split_text)

__all__ = ["LIVE_TIMEOUT", "ActionResult", "LiveAnswer", "SendResult", "client_for",
           "live_problem", "not_called", "send_not_called", "split_text"]


def client_for(channel):
    from app.integrations.channels.greenapi import GreenApiClient
    from app.integrations.channels.meta import MetaClient
    from app.integrations.channels.telegram import TelegramClient

    clients = {"greenapi": GreenApiClient, "telegram": TelegramClient, "meta": MetaClient}
    if channel.kind not in clients:
        raise ValueError(f"no outbound client for channel kind {channel.kind}")
    return clients[channel.kind](channel)
