"""POST /webhooks/stripe — Stripe's events (docs/ARCHITECTURE.md "Card payments").

`Stripe-Signature` is verified with `stripe.Webhook.construct_event(raw body, header,
STRIPE_WEBHOOK_SECRET)` (300 s tolerance): a missing, bad or expired signature, or no secret
configured, answers 400 and stores nothing. A signed body that is not an event (JSON object with
`id`, `type`, `data.object`) answers 400. Every signed event is stored once (`PaymentEvent`,
UNIQUE provider + event id) with what was done; a repeat answers 200 and does nothing. What each
type does: app/payments/stripe_events.py. Answers never carry ids or amounts.
"""
from __future__ import annotations

import logging
from datetime import datetime

import stripe
from flask import current_app, request

from app.payments import stripe_events
from app.payments.events import answer
from app.webhooks.http import (MiB, BadPayload, parse_json, read_body, refuse, webhook_blueprint)
from app.webhooks.intake import from_epoch

log = logging.getLogger(__name__)
stripe_bp = webhook_blueprint("webhooks_stripe", __name__)

BODY_LIMIT = MiB
TOLERANCE_SECONDS = 300


def _event_parts(payload) -> tuple[str, str, dict, datetime | None]:
    if not isinstance(payload, dict):
        raise BadPayload("not an event")
    event_id, event_type = payload.get("id"), payload.get("type")
    obj = payload.get("data", {}).get("object") if isinstance(payload.get("data"), dict) \
        else None
    if not (isinstance(event_id, str) and 0 < len(event_id) <= 255
            and isinstance(event_type, str) and event_type and isinstance(obj, dict)):
        raise BadPayload("not an event")
    return event_id, event_type, obj, from_epoch(payload.get("created"))


@stripe_bp.post("/webhooks/stripe")
def receive():
    body = read_body(BODY_LIMIT)
    header = request.headers.get("Stripe-Signature", "")
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET") or ""
    if not secret:
        log.warning("stripe event refused: STRIPE_WEBHOOK_SECRET is not set")
        return refuse(400, "bad signature")
    try:
        stripe.Webhook.construct_event(body, header, secret, tolerance=TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError:
        return refuse(400, "bad signature")
    except (ValueError, TypeError, AttributeError, KeyError, IndexError):
        return refuse(400, "malformed event")  # signed, but not a Stripe event
    try:
        event_id, event_type, obj, created = _event_parts(parse_json(body))
    except BadPayload:
        return refuse(400, "malformed event")
    return answer("stripe", event_id, event_type, created,
                  lambda: stripe_events.handle(event_type, obj, created))

